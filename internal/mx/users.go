package mx

import (
	"context"
	"fmt"
	"net/url"
)

// userEnvelope is the {"user":{…}} request body.
type userEnvelope struct {
	User userWire `json:"user"`
}

// CreateUser creates a user (POST /users) and returns it.
//
// Creating is not idempotent, so the client retries it only on 429 and on
// failures to connect, when MX provably did not process it; never on 5xx or
// a lost response. When CreateUser returns an error for which
// [IsRetryable] is true (including a 2xx whose body could not be decoded,
// [ErrUndecodableResponse]), the outcome is unknown: the user may exist. Resolve
// it with [Client.FindUserByID] (hence req.ID should always be set) before
// creating again; a blind retry may create a duplicate or fail with 409.
//
// Errors: [IsConflict] when a user with req.ID already exists;
// ErrInvalidRequest when req sets nothing (MX rejects an empty user).
func (c *Client) CreateUser(ctx context.Context, req CreateUserRequest) (*User, error) {
	w := userWire{ID: nonEmpty(req.ID), Email: nonEmpty(req.Email), IsDisabled: trueOrNil(req.IsDisabled), Metadata: nonEmpty(req.Metadata)}
	if w == (userWire{}) {
		return nil, fmt.Errorf("mx: %s: the user object must not be empty: %w", routeCreateUser.endpoint(), ErrInvalidRequest)
	}
	res, err := c.do(ctx, call{route: routeCreateUser, body: userEnvelope{User: w}})
	if err != nil {
		return nil, err
	}
	return decodeObject[User](res, "user")
}

// GetUser reads a user by GUID. A missing user is [IsNotFound].
func (c *Client) GetUser(ctx context.Context, userGUID string) (*User, error) {
	res, err := c.do(ctx, call{route: routeGetUser, args: []string{userGUID}})
	if err != nil {
		return nil, err
	}
	return decodeObject[User](res, "user")
}

// UpdateUser changes the fields set in req and returns the updated user. At
// least one field must be set (ErrInvalidRequest otherwise). A missing user
// is [IsNotFound]; an ID taken by another user is [IsConflict].
func (c *Client) UpdateUser(ctx context.Context, userGUID string, req UpdateUserRequest) (*User, error) {
	w := userWire(req)
	if w == (userWire{}) {
		return nil, fmt.Errorf("mx: %s: the user object must not be empty: %w", routeUpdateUser.endpoint(), ErrInvalidRequest)
	}
	res, err := c.do(ctx, call{route: routeUpdateUser, args: []string{userGUID}, body: userEnvelope{User: w}})
	if err != nil {
		return nil, err
	}
	return decodeObject[User](res, "user")
}

// DeleteUser deletes a user and everything under it (permanent). A user that
// is already gone is [IsNotFound], which deleting callers treat as done; a
// retried delete whose first attempt succeeded also reports IsNotFound.
func (c *Client) DeleteUser(ctx context.Context, userGUID string) error {
	_, err := c.do(ctx, call{route: routeDeleteUser, args: []string{userGUID}})
	return err
}

// ListUsers returns every user matching opts, walking all pages.
func (c *Client) ListUsers(ctx context.Context, opts ListUsersOptions) ([]User, error) {
	q := url.Values{}
	if opts.ID != "" {
		q.Set("id", opts.ID)
	}
	if opts.Email != "" {
		q.Set("email", opts.Email)
	}
	return listAll[User](ctx, c, call{route: routeListUsers, query: q}, "users", c.cfg.PageSize)
}

// FindUserByID returns the user whose partner id is exactly id. When there
// is none the error wraps ErrNotFound ([IsNotFound]). It is how a caller
// resolves a [Client.CreateUser] whose outcome is unknown.
func (c *Client) FindUserByID(ctx context.Context, id string) (*User, error) {
	if id == "" {
		return nil, fmt.Errorf("mx: %s: empty id: %w", routeListUsers.endpoint(), ErrInvalidRequest)
	}
	users, err := c.ListUsers(ctx, ListUsersOptions{ID: id})
	if err != nil {
		return nil, err
	}
	for i := range users {
		if users[i].ID == id {
			return &users[i], nil
		}
	}
	return nil, fmt.Errorf("mx: user with id %q: %w", id, ErrNotFound)
}
