package mx

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// RawTransaction is one transaction as MX sent it (JSON, byte for byte: amounts are never
// parsed into floats) together with the fields a caller needs to identify it.
type RawTransaction struct {
	// JSON is the transaction object exactly as it appeared in MX's answer.
	JSON json.RawMessage
	// Transaction is the decoded form of JSON.
	Transaction Transaction
}

// TransactionPage is one page of a transaction list.
type TransactionPage struct {
	// Number is the page (from 1); TotalPages and TotalEntries are what MX reported.
	Number, TotalPages, TotalEntries int
	Transactions                     []RawTransaction
}

// MemberTransactionPages walks the transactions of the member's accounts within r one page at
// a time, calling fn with each page before asking for the next, so that a caller never holds
// more than one page. It asks for the largest page MX accepts (Config.PageSize) and follows
// the pagination MX echoes exactly as the List methods do (a page number, per_page or size
// that would skip or repeat records is a *DecodeError). An error from fn stops the walk and is
// returned as it is; MX errors are classified as for every other call.
func (c *Client) MemberTransactionPages(ctx context.Context, userGUID, memberGUID string, r DateRange, fn func(TransactionPage) error) error {
	q := url.Values{}
	if !r.From.IsZero() {
		q.Set("from_date", r.From.Format(dateLayout))
	}
	if !r.To.IsZero() {
		q.Set("to_date", r.To.Format(dateLayout))
	}
	if !r.From.IsZero() && !r.To.IsZero() && r.From.After(r.To) {
		return fmt.Errorf("mx: %s: from_date %s is after to_date %s: %w", routeMemberTransactions.endpoint(), q.Get("from_date"), q.Get("to_date"), ErrInvalidRequest)
	}
	return walkPages(ctx, c, call{route: routeMemberTransactions, args: []string{userGUID, memberGUID}, query: q}, "transactions", c.cfg.PageSize, func(page int, pag *pagination, items []json.RawMessage) error {
		p := TransactionPage{Number: page, TotalPages: 1, TotalEntries: len(items), Transactions: make([]RawTransaction, len(items))}
		if pag != nil {
			p.TotalPages, p.TotalEntries = pag.TotalPages, pag.TotalEntries
		}
		for i, raw := range items {
			p.Transactions[i].JSON = raw
			if err := json.Unmarshal(raw, &p.Transactions[i].Transaction); err != nil {
				return &DecodeError{Endpoint: routeMemberTransactions.endpoint(), StatusCode: http.StatusOK, Err: fmt.Errorf("transaction %d of page %d: %w", i, page, err)}
			}
		}
		return fn(p)
	})
}

// walkPages is listAll handing each page to fn instead of collecting them, with the same
// checks of the pagination MX echoes.
func walkPages(ctx context.Context, c *Client, cl call, key string, perPage int, fn func(page int, pag *pagination, items []json.RawMessage) error) error {
	base := cl.query
	for page := 1; ; page++ {
		if page > maxPages {
			return &DecodeError{Endpoint: cl.route.endpoint(), StatusCode: http.StatusOK, Err: fmt.Errorf("pagination does not end after %d pages", maxPages)}
		}
		q := url.Values{}
		for k, v := range base {
			q[k] = v
		}
		q.Set("page", strconv.Itoa(page))
		q.Set("records_per_page", strconv.Itoa(perPage))
		cl.query = q
		res, err := c.do(ctx, cl)
		if err != nil {
			return err
		}
		if res.status == http.StatusNoContent {
			return nil
		}
		items, pag, err := decodePage[json.RawMessage](res, key)
		if err != nil {
			return err
		}
		if pag == nil {
			return fn(page, nil, items)
		}
		current := pag.CurrentPage
		if current == 0 {
			current = page
		}
		if current != page {
			return res.decodeError(fmt.Errorf("requested page %d, got page %d", page, current))
		}
		if pag.PerPage > 0 {
			switch {
			case len(items) > pag.PerPage:
				return res.decodeError(fmt.Errorf("page %d holds %d records, more than its per_page %d", page, len(items), pag.PerPage))
			case pag.PerPage != perPage && page > 1:
				return res.decodeError(fmt.Errorf("page %d has per_page %d, earlier pages %d", page, pag.PerPage, perPage))
			}
			perPage = pag.PerPage
		}
		if len(items) > 0 {
			if err := fn(page, pag, items); err != nil {
				return err
			}
		}
		if len(items) == 0 || current >= pag.TotalPages {
			return nil
		}
	}
}
