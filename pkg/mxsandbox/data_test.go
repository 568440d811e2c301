package mxsandbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

func TestDefaultAccounts(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.connectedMember("u", "mxuser")
	accts, p := e.accounts(m, "")
	g.Expect(p).To(Equal(pagination{CurrentPage: 1, PerPage: 25, TotalEntries: 6, TotalPages: 1}))

	type row struct {
		Name, Type, Subtype, Currency string
		Balance                       float64
	}
	var got []row
	for _, a := range accts {
		got = append(got, row{a.Name, a.Type, a.Subtype, a.CurrencyCode, a.Balance})
		g.Expect(a.MemberGUID).To(Equal(m.GUID))
		g.Expect(a.GUID).To(HavePrefix("ACT-"))
	}
	// Golden values: they change only if the generator changes, which would
	// break every test that asserts exact data.
	g.Expect(got).To(Equal([]row{
		{"Everyday Checking", "CHECKING", "NONE", "USD", 5731.25},
		{"High Yield Savings", "SAVINGS", "NONE", "USD", 14443.01},
		{"Rewards Visa", "CREDIT_CARD", "NONE", "USD", 3585.69},
		{"Auto Loan", "LOAN", "AUTO", "USD", 28595.57},
		{"Home Mortgage", "MORTGAGE", "NONE", "USD", 176066.87},
		{"Euro Savings", "SAVINGS", "NONE", "EUR", 22568.36},
	}))
	g.Expect(accts[2].CreditLimit).To(HaveValue(Equal(8500.0)))

	raw := e.do("GET", e.memberPath(m)+"/accounts", nil).body
	g.Expect(string(raw)).To(ContainSubstring(`"credit_limit":8500.00`), "amounts are written with two decimals")
	for _, match := range regexp.MustCompile(`"balance":([^,}]*)`).FindAllStringSubmatch(string(raw), -1) {
		g.Expect(match[1]).To(MatchRegexp(`^-?\d+\.\d{2}$`))
	}
}

// accountContent strips what may differ between sandboxes (guids, times).
func accountContent(t *testing.T, raw []byte) []map[string]any {
	var body struct {
		Accounts []map[string]any `json:"accounts"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	for _, a := range body.Accounts {
		for _, k := range []string{"guid", "member_guid", "user_guid", "user_id", "member_id", "created_at", "updated_at"} {
			delete(a, k)
		}
	}
	return body.Accounts
}

func TestAccountContentDependsOnlyOnInstitutionUsernameAndIndex(t *testing.T) {
	g := NewWithT(t)
	a := newEnv(t)
	ma := a.connectedMember("first", "alice")

	b := newEnv(t)
	bobMember := b.connectedMember("someone-else", "bob")
	b.sb.Advance(30 * time.Hour)
	mb := b.connectedMember("second", "alice")

	rawA := a.do("GET", a.memberPath(ma)+"/accounts", nil).body
	rawB := b.do("GET", b.memberPath(mb)+"/accounts", nil).body
	g.Expect(accountContent(t, rawB)).To(Equal(accountContent(t, rawA)))

	bob := b.do("GET", b.memberPath(bobMember)+"/accounts", nil).body
	g.Expect(accountContent(t, bob)).NotTo(Equal(accountContent(t, rawA)), "another username has other balances")
}

func TestAccountCountFromUsername(t *testing.T) {
	cases := []struct {
		username string
		want     int
	}{
		{"mxuser", sandbox.DefaultAccountCount},
		{"mxuser_accounts_0", 0},
		{"mxuser_accounts_1", 1},
		{"mxuser_accounts_60", 60},
		{"mxuser_accounts_x", sandbox.DefaultAccountCount},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s has %d accounts", tc.username, tc.want), func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t)
			m := e.connectedMember("u", tc.username)
			_, p := e.accounts(m, "?records_per_page=1000")
			g.Expect(p.TotalEntries).To(Equal(tc.want))
		})
	}
}

func TestPagination(t *testing.T) {
	e := newEnv(t)
	m := e.connectedMember("u", "mxuser_accounts_60")
	cases := []struct {
		reason   string
		query    string
		wantLen  int
		wantPage pagination
	}{
		{"defaults to page 1 of 25", "", 25, pagination{1, 25, 60, 3}},
		{"the last page holds the rest", "?page=3", 10, pagination{3, 25, 60, 3}},
		{"a page past the end is empty", "?page=4", 0, pagination{4, 25, 60, 3}},
		{"records_per_page within range is honoured", "?records_per_page=10&page=2", 10, pagination{2, 10, 60, 6}},
		{"the maximum is allowed", "?records_per_page=1000", 60, pagination{1, 1000, 60, 1}},
		{"above the maximum falls back to 25, not 1000", "?records_per_page=1001", 25, pagination{1, 25, 60, 3}},
		{"below the minimum is raised to 10", "?records_per_page=3", 10, pagination{1, 10, 60, 6}},
		{"page 0 means page 1", "?page=0", 25, pagination{1, 25, 60, 3}},
		{"garbage means the defaults", "?page=x&records_per_page=y", 25, pagination{1, 25, 60, 3}},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			accts, p := e.accounts(m, tc.query)
			g.Expect(accts).To(HaveLen(tc.wantLen))
			g.Expect(p).To(Equal(tc.wantPage))
		})
	}

	t.Run("pages partition the list", func(t *testing.T) {
		g := NewWithT(t)
		seen := map[string]bool{}
		for page := 1; page <= 6; page++ {
			accts, _ := e.accounts(m, fmt.Sprintf("?records_per_page=10&page=%d", page))
			for _, a := range accts {
				g.Expect(seen).NotTo(HaveKey(a.GUID))
				seen[a.GUID] = true
			}
		}
		g.Expect(seen).To(HaveLen(60))
	})

	t.Run("institutions allow at most 100 per page", func(t *testing.T) {
		g := NewWithT(t)
		var body struct {
			Pagination pagination `json:"pagination"`
		}
		e.do("GET", "/institutions?records_per_page=100", nil).into(t, &body)
		g.Expect(body.Pagination.PerPage).To(Equal(100))
		e.do("GET", "/institutions?records_per_page=101", nil).into(t, &body)
		g.Expect(body.Pagination.PerPage).To(Equal(25), "101 is above the institutions maximum")
	})

	t.Run("an empty list has zero pages", func(t *testing.T) {
		g := NewWithT(t)
		var body struct {
			Members    []any      `json:"members"`
			Pagination pagination `json:"pagination"`
		}
		r := e.do("GET", "/users/"+e.createUser("empty")+"/members", nil)
		r.into(t, &body)
		g.Expect(body.Members).NotTo(BeNil(), "an empty page is [] not null")
		g.Expect(body.Pagination).To(Equal(pagination{1, 25, 0, 0}))
	})
}

// TestEveryListEchoesTheRecordsPerPageItUsed follows MX-API.md §3 and the
// OpenAPI parameters recordsPerPage / recordsPerPageMax1000: records_per_page
// defaults to 25, is valid from 10 to 100 (institutions) or 1000 (every other
// list), a value above the maximum falls back to 25 (not clamped, not a
// 400), and pagination.per_page says what was used.
func TestEveryListEchoesTheRecordsPerPageItUsed(t *testing.T) {
	e := newEnv(t)
	m := e.connectedMember("u", "mxuser")
	challenged := e.createMember(m.UserGUID, sandbox.InstitutionMXBank, "mfa", "challenge_multi", nil)
	e.sb.Advance(aggStep)
	g := NewWithT(t)
	g.Expect(e.status(challenged).status()).To(Equal(sandbox.StatusChallenged))
	accts, _ := e.accounts(m, "")
	lists := []struct {
		path string
		max  int
	}{
		{"/users", 1000},
		{"/institutions", 100},
		{"/institutions/mxbank/credentials", 1000},
		{"/users/" + m.UserGUID + "/members", 1000},
		{e.memberPath(m) + "/accounts", 1000},
		{e.memberPath(challenged) + "/challenges", 1000},
		{e.memberPath(m) + "/transactions", 1000},
		{"/users/" + m.UserGUID + "/accounts/" + accts[0].GUID + "/transactions", 1000},
		{"/users/" + m.UserGUID + "/transactions", 1000},
	}
	for _, l := range lists {
		cases := []struct {
			query string
			want  int
		}{
			{"", 25},
			{"?records_per_page=10", 10},
			{"?records_per_page=37", 37},
			{fmt.Sprintf("?records_per_page=%d", l.max), l.max},
			{fmt.Sprintf("?records_per_page=%d", l.max+1), 25},
			{"?records_per_page=3", 10},
		}
		for _, tc := range cases {
			t.Run(l.path+tc.query, func(t *testing.T) {
				g := NewWithT(t)
				r := e.do("GET", l.path+tc.query, nil)
				g.Expect(r.status).To(Equal(http.StatusOK), string(r.body))
				var body struct {
					Pagination pagination `json:"pagination"`
				}
				r.into(t, &body)
				g.Expect(body.Pagination.PerPage).To(Equal(tc.want))
				g.Expect(body.Pagination.TotalPages).To(Equal((body.Pagination.TotalEntries + tc.want - 1) / tc.want))
			})
		}
	}
}

func TestTransactions(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.connectedMember("u", "mxuser")
	accts, _ := e.accounts(m, "")
	txns := e.allTransactions(e.memberPath(m) + "/transactions")
	g.Expect(txns).To(HaveLen(136), "golden: the generator is deterministic")

	dates := map[string]bool{}
	for _, tx := range txns {
		dates[tx.Date] = true
		g.Expect(tx.GUID).To(HavePrefix("TRN-"))
		g.Expect(tx.Amount).To(BeNumerically(">", 0), "amounts are positive; type carries the direction")
		g.Expect(tx.Type).To(BeElementOf("CREDIT", "DEBIT"))
		if tx.Date == "2024-03-01" {
			g.Expect(tx.Status).To(Equal("PENDING"), "today's transactions are pending")
		} else {
			g.Expect(tx.Status).To(Equal("POSTED"))
		}
	}
	sorted := []string{}
	for d := range dates {
		sorted = append(sorted, d)
	}
	sort.Strings(sorted)
	g.Expect(sorted[0]).To(Equal("2023-12-03"), "90 days of history")
	g.Expect(sorted[len(sorted)-1]).To(Equal("2024-03-01"))
	g.Expect(txns[0].Date).To(Equal("2024-03-01"), "newest first")

	var payroll []transactionWire
	for _, tx := range txns {
		if tx.Description == "Acme Corp" {
			payroll = append(payroll, tx)
		}
	}
	g.Expect(payroll).To(HaveLen(6), "paid on the 1st and 15th")
	for _, p := range payroll {
		g.Expect(p.Amount).To(Equal(3108.26))
		g.Expect(p.Type).To(Equal("CREDIT"))
		g.Expect(p.AccountGUID).To(Equal(accts[0].GUID))
	}

	euro := e.allTransactions("/users/" + m.UserGUID + "/accounts/" + accts[5].GUID + "/transactions")
	g.Expect(euro).NotTo(BeEmpty())
	for _, tx := range euro {
		g.Expect(tx.AccountGUID).To(Equal(accts[5].GUID))
		g.Expect(tx.CurrencyCode).To(Equal("EUR"))
	}

	feb := e.allTransactions(e.memberPath(m) + "/transactions?from_date=2024-02-01&to_date=2024-02-29")
	g.Expect(feb).NotTo(BeEmpty())
	for _, tx := range feb {
		g.Expect(tx.Date).To(HavePrefix("2024-02-"))
	}

	// A second member: the user's list merges both, newest first.
	second := e.createMember(m.UserGUID, sandbox.InstitutionMXBank, "mxuser_accounts_1", "password", nil)
	e.sb.Advance(aggStep)
	g.Expect(e.status(second).status()).To(Equal(sandbox.StatusConnected))
	secondTxns := e.allTransactions(e.memberPath(second) + "/transactions")
	all := e.allTransactions("/users/" + m.UserGUID + "/transactions")
	g.Expect(all).To(HaveLen(len(txns) + len(secondTxns)))
	for i := 1; i < len(all); i++ {
		g.Expect(all[i-1].Date >= all[i].Date).To(BeTrue())
	}
}

func TestTransactionsGrowWithLaterAggregations(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.connectedMember("u", "mxuser")
	before := e.allTransactions(e.memberPath(m) + "/transactions")

	e.sb.Advance(24*time.Hour + aggStep) // the background sweep aggregates again a day later
	after := e.allTransactions(e.memberPath(m) + "/transactions")
	g.Expect(len(after)).To(BeNumerically(">=", len(before)))

	byGUID := map[string]transactionWire{}
	for _, tx := range after {
		byGUID[tx.GUID] = tx
	}
	for _, tx := range before {
		g.Expect(byGUID).To(HaveKey(tx.GUID), "earlier transactions keep their guid")
		later := byGUID[tx.GUID]
		g.Expect(later.Amount).To(Equal(tx.Amount))
		g.Expect(later.Status).To(Equal("POSTED"), "yesterday's pending transactions have posted")
	}
	for _, tx := range after {
		if tx.Date == "2024-03-02" {
			g.Expect(tx.Status).To(Equal("PENDING"))
		}
	}
}

func TestNoDataBeforeSuccess(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", "LOCKED", nil)
	e.sb.Advance(aggStep)
	r := e.do("GET", e.memberPath(m)+"/transactions", nil)
	g.Expect(r.status).To(Equal(http.StatusOK))
	var body struct {
		Transactions []transactionWire `json:"transactions"`
		Pagination   pagination        `json:"pagination"`
	}
	r.into(t, &body)
	g.Expect(body.Transactions).To(BeEmpty())
	g.Expect(body.Pagination.TotalEntries).To(Equal(0))
}
