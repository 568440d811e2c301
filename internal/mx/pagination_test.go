package mx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
)

// pagedServer serves total records under key like MX: records_per_page
// defaults to 25 and a value outside min..max silently falls back to 25.
type pagedServer struct {
	key        string
	total      int
	min, max   int
	mu         sync.Mutex
	perPageAsk []int
}

func (s *pagedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	per, err := strconv.Atoi(r.URL.Query().Get("records_per_page"))
	s.mu.Lock()
	s.perPageAsk = append(s.perPageAsk, per)
	s.mu.Unlock()
	if err != nil || per < s.min || per > s.max {
		per = 25
	}
	pages := (s.total + per - 1) / per
	items := []map[string]any{}
	for i := (page - 1) * per; i < min(page*per, s.total); i++ {
		items = append(items, map[string]any{"guid": fmt.Sprintf("G-%05d", i), "code": fmt.Sprintf("G-%05d", i)})
	}
	writeJSON(w, 200, map[string]any{
		s.key:        items,
		"pagination": map[string]int{"current_page": page, "per_page": per, "total_entries": s.total, "total_pages": pages},
	})
}

func (s *pagedServer) asks() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.perPageAsk...)
}

// TestPaginationWalksEveryPage proves every record of every page is
// returned once, in order, with records_per_page within MX's maximum.
func TestPaginationWalksEveryPage(t *testing.T) {
	tests := []struct {
		reason       string
		pageSize     int
		total        int
		institutions bool
		wantRequests int
		wantPerPage  int
	}{
		{"the default 1000 per page takes three requests for 2345 accounts", 0, 2345, false, 3, 1000},
		{"a configured page size is used", 100, 250, false, 3, 100},
		{"an exact multiple needs no extra request", 10, 30, false, 3, 10},
		{"institutions use 100, their maximum, whatever PageSize is", 1000, 250, true, 3, 100},
		{"an empty list takes one request", 0, 0, false, 1, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			key, maxPer := "accounts", 1000
			if tt.institutions {
				key, maxPer = "institutions", 100
			}
			srv := &pagedServer{key: key, total: tt.total, min: 10, max: maxPer}
			c, _ := newTestClient(t, newServer(t, srv).URL, func(c *Config) { c.PageSize = tt.pageSize })

			var guids []string
			if tt.institutions {
				insts, err := c.ListInstitutions(context.Background(), "bank")
				g.Expect(err).NotTo(HaveOccurred())
				for _, in := range insts {
					guids = append(guids, in.Code)
				}
			} else {
				accts, err := c.ListMemberAccounts(context.Background(), "USR-1", "MBR-1")
				g.Expect(err).NotTo(HaveOccurred())
				for _, a := range accts {
					guids = append(guids, a.GUID)
				}
			}

			g.Expect(guids).To(HaveLen(tt.total), tt.reason)
			for i, guid := range guids {
				g.Expect(guid).To(Equal(fmt.Sprintf("G-%05d", i)), "in order, no duplicates")
			}
			asks := srv.asks()
			g.Expect(asks).To(HaveLen(tt.wantRequests))
			for _, per := range asks {
				g.Expect(per).To(Equal(tt.wantPerPage), "never above MX's maximum, which would fall back to 25")
			}
		})
	}
}

// TestPageSizeValidated proves a page size MX would not honour is refused
// by New rather than silently degraded to 25 per page.
func TestPageSizeValidated(t *testing.T) {
	for _, size := range []int{9, 1001, -1} {
		_, err := New(Config{ClientID: "c", APIKey: "k", PageSize: size})
		NewWithT(t).Expect(err).To(MatchError(ContainSubstring("PageSize")), "page size %d", size)
	}
}

// TestPaginationGuards proves the walk ends on servers that misbehave.
func TestPaginationGuards(t *testing.T) {
	tests := []struct {
		reason       string
		respond      func(page int) string
		wantRequests int
		wantItems    int
		wantDecode   bool
	}{
		{
			reason: "a server whose total_pages keeps growing is cut off at maxPages",
			respond: func(page int) string {
				return fmt.Sprintf(`{"members":[{"guid":"MBR-%d"}],"pagination":{"current_page":%d,"total_pages":%d}}`, page, page, page+1)
			},
			wantRequests: 50, wantDecode: true,
		},
		{
			reason: "a server that ignores page is detected on the second request",
			respond: func(int) string {
				return `{"members":[{"guid":"MBR-1"}],"pagination":{"current_page":1,"total_pages":3}}`
			},
			wantRequests: 2, wantDecode: true,
		},
		{
			reason: "an empty page before total_pages ends the walk",
			respond: func(page int) string {
				if page == 2 {
					return `{"members":[],"pagination":{"current_page":2,"total_pages":5}}`
				}
				return fmt.Sprintf(`{"members":[{"guid":"MBR-%d"}],"pagination":{"current_page":%d,"total_pages":5}}`, page, page)
			},
			wantRequests: 2, wantItems: 1,
		},
		{
			reason:       "no pagination object means a single page",
			respond:      func(int) string { return `{"members":[{"guid":"MBR-1"},{"guid":"MBR-2"}]}` },
			wantRequests: 1, wantItems: 2,
		},
		{
			reason: "an empty list may say total_pages 0",
			respond: func(int) string {
				return `{"members":[],"pagination":{"current_page":1,"total_pages":0,"total_entries":0}}`
			},
			wantRequests: 1, wantItems: 0,
		},
		{
			reason: "a missing current_page is taken as the requested one",
			respond: func(page int) string {
				return fmt.Sprintf(`{"members":[{"guid":"MBR-%d"}],"pagination":{"total_pages":2}}`, page)
			},
			wantRequests: 2, wantItems: 2,
		},
	}
	saved := maxPages
	maxPages = 50
	t.Cleanup(func() { maxPages = saved })
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			h := &hitCounter{behave: func(_ int, w http.ResponseWriter, r *http.Request) {
				page, _ := strconv.Atoi(r.URL.Query().Get("page"))
				writeJSON(w, 200, tt.respond(page))
			}}
			c, _ := newTestClient(t, newServer(t, h).URL)

			members, err := c.ListMembers(context.Background(), "USR-1")

			g.Expect(int(h.hits.Load())).To(Equal(tt.wantRequests), tt.reason)
			if tt.wantDecode {
				_, ok := errors.AsType[*DecodeError](err)
				g.Expect(ok).To(BeTrue(), "a *DecodeError, got %v", err)
				g.Expect(IsRetryable(err)).To(BeTrue(), "a misbehaving server is not the caller's fault")
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(members).To(HaveLen(tt.wantItems))
		})
	}
}

// TestPaginationFollowsEchoedPerPage proves the walk trusts the pagination
// MX returns rather than the records_per_page it asked for: against a
// server that clamps per_page to 25, a list of 60 records asked for 1000 per
// page is read completely in three pages, and the pages after the first are
// requested with the size MX echoed.
func TestPaginationFollowsEchoedPerPage(t *testing.T) {
	g := NewWithT(t)
	srv := &pagedServer{key: "accounts", total: 60, min: 10, max: 25}
	c, _ := newTestClient(t, newServer(t, srv).URL)

	accts, err := c.ListMemberAccounts(context.Background(), "USR-1", "MBR-1")

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(accts).To(HaveLen(60), "every record, none skipped")
	for i, a := range accts {
		g.Expect(a.GUID).To(Equal(fmt.Sprintf("G-%05d", i)), "in order, no duplicates")
	}
	g.Expect(srv.asks()).To(Equal([]int{1000, 25, 25}), "the echoed per_page is used after the first page")
}

// TestPaginationInconsistentPerPage proves that pagination which would skip
// or repeat records is reported as an undecodable response (retryable)
// rather than returned as a silently incomplete list.
func TestPaginationInconsistentPerPage(t *testing.T) {
	tests := []struct {
		reason       string
		respond      func(page int) string
		wantRequests int
	}{
		{
			reason: "per_page changing after the first page",
			respond: func(page int) string {
				per := 10
				if page > 1 {
					per = 20
				}
				return fmt.Sprintf(`{"members":[{"guid":"MBR-%d"}],"pagination":{"current_page":%d,"per_page":%d,"total_pages":3}}`, page, page, per)
			},
			wantRequests: 2,
		},
		{
			reason: "a page holding more records than its per_page",
			respond: func(page int) string {
				return fmt.Sprintf(`{"members":[{"guid":"MBR-a"},{"guid":"MBR-b"}],"pagination":{"current_page":%d,"per_page":1,"total_pages":3}}`, page)
			},
			wantRequests: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			h := &hitCounter{behave: func(_ int, w http.ResponseWriter, r *http.Request) {
				page, _ := strconv.Atoi(r.URL.Query().Get("page"))
				writeJSON(w, 200, tt.respond(page))
			}}
			c, _ := newTestClient(t, newServer(t, h).URL)

			members, err := c.ListMembers(context.Background(), "USR-1")

			g.Expect(members).To(BeNil())
			g.Expect(err).To(MatchError(ErrUndecodableResponse), tt.reason)
			g.Expect(IsRetryable(err)).To(BeTrue())
			g.Expect(int(h.hits.Load())).To(Equal(tt.wantRequests))
		})
	}
}
