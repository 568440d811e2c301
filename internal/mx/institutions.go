package mx

import (
	"context"
	"net/url"
)

// ListInstitutions returns every institution whose name matches name (all
// institutions when name is empty, which is thousands: avoid), walking all
// pages at 100 records per page, MX's maximum for this list.
func (c *Client) ListInstitutions(ctx context.Context, name string) ([]Institution, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	return listAll[Institution](ctx, c, call{route: routeListInstitutions, query: q}, "institutions", institutionPageSize)
}

// GetInstitution reads an institution by code, e.g. "mxbank". An unknown
// code is [IsNotFound].
func (c *Client) GetInstitution(ctx context.Context, code string) (*Institution, error) {
	res, err := c.do(ctx, call{route: routeGetInstitution, args: []string{code}})
	if err != nil {
		return nil, err
	}
	return decodeObject[Institution](res, "institution")
}

// ListInstitutionCredentials returns the credential fields needed to create
// a member at the institution, in MX's order (see DisplayOrder). An unknown
// code is [IsNotFound].
func (c *Client) ListInstitutionCredentials(ctx context.Context, code string) ([]CredentialField, error) {
	return listAll[CredentialField](ctx, c, call{route: routeInstitutionCredentials, args: []string{code}}, "credentials", c.cfg.PageSize)
}
