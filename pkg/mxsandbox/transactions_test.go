package mxsandbox_test

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

type transactionTimes struct {
	GUID        string  `json:"guid"`
	AccountGUID string  `json:"account_guid"`
	Date        string  `json:"date"`
	Description string  `json:"description"`
	Amount      float64 `json:"amount"`
	Status      string  `json:"status"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
}

func (e *env) transactionTimes(path string) []transactionTimes {
	e.t.Helper()
	r := e.do("GET", path, nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("%s: %d %s", path, r.status, r.body)
	}
	var body struct {
		Transactions []transactionTimes `json:"transactions"`
	}
	r.into(e.t, &body)
	return body.Transactions
}

// TestTransactionFilters follows the OpenAPI parameters of
// listTransactionsByMember, listTransactionsByAccount and listTransactions
// (fromDate, toDate, fromCreatedAt, toCreatedAt, fromUpdatedAt, toUpdatedAt)
// and MX-API.md §11 ("Transactions": YYYY-MM-DD, ranges of at most 6 months).
func TestTransactionFilters(t *testing.T) {
	e := newEnv(t)
	m := e.connectedMember("u", "mxuser") // 2024-03-01: 90 days found, today's pending
	e.sb.Advance(24*time.Hour + aggStep)  // 2024-03-02: yesterday's post, today's pending
	base := e.memberPath(m) + "/transactions?records_per_page=1000"
	all := e.transactionTimes(base)
	accts, _ := e.accounts(m, "")
	paths := map[string]string{
		"member":  base,
		"account": "/users/" + m.UserGUID + "/accounts/" + accts[0].GUID + "/transactions?records_per_page=1000",
		"user":    "/users/" + m.UserGUID + "/transactions?records_per_page=1000",
	}
	cases := []struct {
		reason string
		query  string
		want   func(tx transactionTimes) bool
	}{
		{"from_updated_at: the ones updated on 03-02 (posted or found that day)", "&from_updated_at=2024-03-02",
			func(tx transactionTimes) bool { return tx.Date >= "2024-03-01" }},
		{"to_updated_at is inclusive: everything untouched since 03-01", "&to_updated_at=2024-03-01",
			func(tx transactionTimes) bool { return tx.Date < "2024-03-01" }},
		{"from_created_at: only what the 03-02 aggregation found", "&from_created_at=2024-03-02",
			func(tx transactionTimes) bool { return tx.Date == "2024-03-02" }},
		{"created and updated together", "&to_created_at=2024-03-01&from_updated_at=2024-03-02",
			func(tx transactionTimes) bool { return tx.Date == "2024-03-01" }},
		{"combined with the date window", "&from_date=2024-03-02&to_updated_at=2024-03-01",
			func(transactionTimes) bool { return false }},
		{"from_date and to_date are inclusive", "&from_date=2024-02-10&to_date=2024-02-12",
			func(tx transactionTimes) bool { return tx.Date >= "2024-02-10" && tx.Date <= "2024-02-12" }},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			var want []string
			for _, tx := range all {
				if tc.want(tx) {
					want = append(want, tx.GUID)
				}
			}
			var got []string
			for _, tx := range e.transactionTimes(base + tc.query) {
				got = append(got, tx.GUID)
			}
			g.Expect(got).To(Equal(want))
			for name, p := range paths {
				for _, tx := range e.transactionTimes(p + tc.query) {
					g.Expect(tc.want(tx)).To(BeTrue(), "%s list: %+v", name, tx)
				}
			}
		})
	}
	t.Run("a non-empty filter result is not the whole list", func(t *testing.T) {
		g := NewWithT(t)
		n := len(e.transactionTimes(base + "&from_updated_at=2024-03-02"))
		g.Expect(n).To(BeNumerically(">", 0))
		g.Expect(n).To(BeNumerically("<", len(all)))
	})
	t.Run("bad parameters are 400", func(t *testing.T) {
		for _, q := range []string{
			"&from_updated_at=03/02/2024",
			"&to_created_at=yesterday",
			"&from_updated_at=2024-01-01&to_updated_at=2024-07-02",
			"&from_created_at=2023-09-01&to_created_at=2024-03-02",
		} {
			g := NewWithT(t)
			r := e.do("GET", base+q, nil)
			g.Expect(r.status).To(Equal(http.StatusBadRequest), q)
			g.Expect(r.errorMessage(t)).NotTo(BeEmpty())
		}
		NewWithT(t).Expect(e.do("GET", base+"&from_updated_at=2024-01-01&to_updated_at=2024-07-01", nil).status).To(Equal(http.StatusOK), "six months is allowed")
	})
}

// TestDefaultTransactionWindow follows the OpenAPI fromDate ("Defaults to
// 120 days ago") once the history is longer than that.
func TestDefaultTransactionWindow(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.connectedMember("u", "mxuser")
	for range 40 {
		e.sb.Advance(24 * time.Hour) // daily background aggregations extend the history
	}
	oldest := "9999-99-99"
	for _, tx := range e.allTransactions(e.memberPath(m) + "/transactions") {
		oldest = min(oldest, tx.Date)
	}
	g.Expect(oldest).To(Equal(t0.AddDate(0, 0, 40-120).Format(time.DateOnly)))
	all := e.allTransactions(e.memberPath(m) + "/transactions?from_date=2023-01-01")
	g.Expect(all[len(all)-1].Date).To(Equal("2023-12-03"), "an explicit from_date reaches the 130 days of history")
}

// TestPendingPostsWithNewGUID follows MX-API.md §11 ("Transactions": a
// pending transaction may be replaced by a posted one with a new guid) with
// Options.PendingPostsWithNewGUID; without it the guid is kept.
func TestPendingPostsWithNewGUID(t *testing.T) {
	for _, newGUID := range []bool{true, false} {
		t.Run(map[bool]string{true: "replaced by a posted transaction", false: "the same transaction posts"}[newGUID], func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t, func(o *sandbox.Options) { o.PendingPostsWithNewGUID = newGUID })
			m := e.connectedMember("u", "mxuser")
			path := e.memberPath(m) + "/transactions?records_per_page=1000&from_date=2024-03-01&to_date=2024-03-01"
			pending := e.transactionTimes(path)
			g.Expect(pending).NotTo(BeEmpty())
			for _, tx := range pending {
				g.Expect(tx.Status).To(Equal("PENDING"))
			}

			e.sb.Advance(24*time.Hour + aggStep) // the next aggregation, a day later
			posted := e.transactionTimes(path)
			g.Expect(posted).To(HaveLen(len(pending)))
			for i, tx := range posted {
				was := pending[i]
				g.Expect(tx.Status).To(Equal("POSTED"))
				g.Expect([]any{tx.AccountGUID, tx.Date, tx.Description, tx.Amount}).To(Equal([]any{was.AccountGUID, was.Date, was.Description, was.Amount}))
				g.Expect(tx.UpdatedAt).To(Equal(ts(t0.Add(24*time.Hour+aggStep))), "the background success at t0+24h+step")
				if newGUID {
					g.Expect(tx.GUID).NotTo(Equal(was.GUID), "a new guid")
					g.Expect(tx.CreatedAt).To(Equal(tx.UpdatedAt), "created when it posted")
				} else {
					g.Expect(tx.GUID).To(Equal(was.GUID))
					g.Expect(tx.CreatedAt).To(Equal(was.CreatedAt))
				}
			}
			guids := map[string]bool{}
			for _, tx := range e.transactionTimes(e.memberPath(m) + "/transactions?records_per_page=1000") {
				guids[tx.GUID] = true
			}
			for _, was := range pending {
				g.Expect(guids[was.GUID]).To(Equal(!newGUID), "the pending transaction is gone only when replaced")
			}
		})
	}
}

// TestTransactionDescriptionPrefix puts a canary into every transaction's description and
// original_description, for tests that prove where transaction content never goes.
func TestTransactionDescriptionPrefix(t *testing.T) {
	g := NewWithT(t)
	plain := newEnv(t)
	canary := newEnv(t, func(o *sandbox.Options) { o.TransactionDescriptionPrefix = "CANARY-7c1e " })
	list := func(e *env) []map[string]any {
		m := e.connectedMember("u", "mxuser")
		r := e.do("GET", e.memberPath(m)+"/transactions?records_per_page=1000", nil)
		g.Expect(r.status).To(Equal(http.StatusOK))
		var body struct{ Transactions []map[string]any }
		r.into(t, &body)
		return body.Transactions
	}
	want, got := list(plain), list(canary)
	g.Expect(got).To(HaveLen(len(want)))
	g.Expect(len(got)).To(BeNumerically(">", 10))
	for i := range got {
		for _, k := range []string{"description", "original_description"} {
			g.Expect(got[i][k]).To(Equal("CANARY-7c1e "+want[i][k].(string)), k)
			delete(got[i], k)
			delete(want[i], k)
		}
		g.Expect(got[i]).To(Equal(want[i]), "nothing else changes")
	}
}
