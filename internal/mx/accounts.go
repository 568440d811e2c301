package mx

import (
	"context"
	"fmt"
	"net/url"
)

// dateLayout is MX's from_date/to_date format.
const dateLayout = "2006-01-02"

// ListMemberAccounts returns every account of the member, walking all pages.
func (c *Client) ListMemberAccounts(ctx context.Context, userGUID, memberGUID string) ([]Account, error) {
	return listAll[Account](ctx, c, call{route: routeMemberAccounts, args: []string{userGUID, memberGUID}}, "accounts", c.cfg.PageSize)
}

// ListMemberTransactions returns every transaction of the member's accounts
// within r, walking all pages.
func (c *Client) ListMemberTransactions(ctx context.Context, userGUID, memberGUID string, r DateRange) ([]Transaction, error) {
	return c.listTransactions(ctx, routeMemberTransactions, r, userGUID, memberGUID)
}

// ListAccountTransactions returns every transaction of one account within
// r, walking all pages.
func (c *Client) ListAccountTransactions(ctx context.Context, userGUID, accountGUID string, r DateRange) ([]Transaction, error) {
	return c.listTransactions(ctx, routeAccountTransactions, r, userGUID, accountGUID)
}

// ListUserTransactions returns every transaction of the user within r,
// across all members and accounts, walking all pages.
func (c *Client) ListUserTransactions(ctx context.Context, userGUID string, r DateRange) ([]Transaction, error) {
	return c.listTransactions(ctx, routeUserTransactions, r, userGUID)
}

// listTransactions lists a transaction route with the date range as
// from_date/to_date. A range whose From is after its To is ErrInvalidRequest.
func (c *Client) listTransactions(ctx context.Context, rt route, r DateRange, args ...string) ([]Transaction, error) {
	q := url.Values{}
	var from, to string
	if !r.From.IsZero() {
		from = r.From.Format(dateLayout)
		q.Set("from_date", from)
	}
	if !r.To.IsZero() {
		to = r.To.Format(dateLayout)
		q.Set("to_date", to)
	}
	if from != "" && to != "" && from > to {
		return nil, fmt.Errorf("mx: %s: from_date %s is after to_date %s: %w", rt.endpoint(), from, to, ErrInvalidRequest)
	}
	return listAll[Transaction](ctx, c, call{route: rt, args: args, query: q}, "transactions", c.cfg.PageSize)
}
