package mx

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
)

// maxPages bounds every list walk, so that a server whose pagination never
// ends cannot keep a caller looping (10 000 pages of 1 000 records). A
// variable only so that tests can lower it.
var maxPages = 10_000

// listAll walks every page of a list endpoint and returns the items under
// key. It asks for perPage records per page but trusts the pagination MX
// echoes, never the size it asked for: when the first page reports another
// per_page (MX may clamp records_per_page, or fall back to 25), the
// following pages are requested with that size, so that MX's page offsets
// line up. It stops when current_page >= total_pages, when a page is empty,
// when there is no pagination object (a single-page list), or on 204 No
// Content (an empty list). A *DecodeError reports pagination that would
// skip or repeat records: a page number other than the one requested, a
// per_page that changes after the first page, a page holding more records
// than its per_page, or more than maxPages pages.
func listAll[T any](ctx context.Context, c *Client, cl call, key string, perPage int) ([]T, error) {
	var all []T
	base := cl.query
	for page := 1; ; page++ {
		if page > maxPages {
			return nil, &DecodeError{Endpoint: cl.route.endpoint(), StatusCode: http.StatusOK, Err: fmt.Errorf("pagination does not end after %d pages", maxPages)}
		}
		q := url.Values{}
		maps.Copy(q, base)
		q.Set("page", strconv.Itoa(page))
		q.Set("records_per_page", strconv.Itoa(perPage))
		cl.query = q
		res, err := c.do(ctx, cl)
		if err != nil {
			return nil, err
		}
		if res.status == http.StatusNoContent {
			return all, nil
		}
		items, pag, err := decodePage[T](res, key)
		if err != nil {
			return nil, err
		}
		if pag == nil {
			return append(all, items...), nil
		}
		current := pag.CurrentPage
		if current == 0 {
			current = page
		}
		if current != page {
			return nil, res.decodeError(fmt.Errorf("requested page %d, got page %d", page, current))
		}
		if pag.PerPage > 0 {
			switch {
			case len(items) > pag.PerPage:
				return nil, res.decodeError(fmt.Errorf("page %d holds %d records, more than its per_page %d", page, len(items), pag.PerPage))
			case pag.PerPage != perPage && page > 1:
				return nil, res.decodeError(fmt.Errorf("page %d has per_page %d, earlier pages %d", page, pag.PerPage, perPage))
			}
			perPage = pag.PerPage
		}
		all = append(all, items...)
		if len(items) == 0 || current >= pag.TotalPages {
			return all, nil
		}
	}
}

// decodePage decodes one list page: the items under key (absent or null
// means none) and the pagination object (nil when absent).
func decodePage[T any](res *response, key string) ([]T, *pagination, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(res.body, &env); err != nil {
		return nil, nil, res.decodeError(err)
	}
	var items []T
	if raw, ok := env[key]; ok && !isJSONNull(raw) {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, nil, res.decodeError(err)
		}
	}
	raw, ok := env["pagination"]
	if !ok || isJSONNull(raw) {
		return items, nil, nil
	}
	pag := new(pagination)
	if err := json.Unmarshal(raw, pag); err != nil {
		return nil, nil, res.decodeError(err)
	}
	return items, pag, nil
}
