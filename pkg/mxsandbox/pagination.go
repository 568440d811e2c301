package mxsandbox

import (
	"net/url"
	"strconv"
)

// Pagination limits (MX-API.md §3; OpenAPI parameters recordsPerPage, used by
// listInstitutions, and recordsPerPageMax1000, used by every other list the
// sandbox serves: users, members, accounts, transactions, credentials and
// challenges).
const (
	DefaultPerPage         = 25
	MinPerPage             = 10
	MaxPerPage             = 1000
	MaxInstitutionsPerPage = 100
)

// paginate picks the page of a list of total entries that the query asks
// for. page starts at 1 (missing, invalid or < 1 means 1). records_per_page
// defaults to 25; a value above maxPer silently falls back to 25 (it is not
// clamped), a value below MinPerPage is raised to MinPerPage. A page past
// the end is empty. An empty list reports total_pages 0.
func paginate(q url.Values, total, maxPer int) (start, end int, p paginationJSON) {
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	per, err := strconv.Atoi(q.Get("records_per_page"))
	switch {
	case err != nil, per > maxPer:
		per = DefaultPerPage
	case per < MinPerPage:
		per = MinPerPage
	}
	p = paginationJSON{
		CurrentPage:  page,
		PerPage:      per,
		TotalEntries: total,
		TotalPages:   (total + per - 1) / per,
	}
	start = total
	if page-1 <= total/per {
		start = min((page-1)*per, total)
	}
	end = min(start+per, total)
	return start, end, p
}
