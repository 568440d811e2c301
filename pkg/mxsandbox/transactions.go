package mxsandbox

import (
	"net/http"
	"net/url"
	"sort"
	"time"
)

// Transaction lists (OpenAPI listTransactionsByMember,
// listTransactionsByAccount, listTransactions; MX-API.md §2 and §11).

// maxUpdatedRangeMonths is the longest from_created_at..to_created_at or
// from_updated_at..to_updated_at range MX accepts (MX-API.md §11: "ranges of
// at most 6 months").
const maxUpdatedRangeMonths = 6

// txnQuery is what a transaction list request asks for.
type txnQuery struct {
	// from and to bound the transaction date (inclusive).
	from, to time.Time
	// created and updated bound the day of created_at and updated_at
	// (inclusive); an empty bound is open.
	created, updated dayRange
}

// dayRange is an inclusive range of YYYY-MM-DD days; "" is open.
type dayRange struct{ from, to string }

func (r dayRange) contains(ts *string) bool {
	if r.from == "" && r.to == "" {
		return true
	}
	if ts == nil || len(*ts) < len(time.DateOnly) {
		return false
	}
	d := (*ts)[:len(time.DateOnly)]
	return (r.from == "" || d >= r.from) && (r.to == "" || d <= r.to)
}

func (q txnQuery) keep(t transactionJSON) bool {
	return q.created.contains(t.CreatedAt) && q.updated.contains(t.UpdatedAt)
}

// parseTxnQuery reads from_date and to_date (YYYY-MM-DD, inclusive; default
// today-120 days and today+5 days, OpenAPI fromDate/toDate), and
// from_created_at/to_created_at and from_updated_at/to_updated_at
// (YYYY-MM-DD, inclusive, open when absent, at most six months apart). A
// malformed date or a longer range is a 400.
func parseTxnQuery(q url.Values, now time.Time) (txnQuery, *reply) {
	today := day(now)
	tq := txnQuery{from: today.AddDate(0, 0, -120), to: today.AddDate(0, 0, 5)}
	parse := func(name string) (time.Time, bool, *reply) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, false, nil
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			r := errReply(http.StatusBadRequest, "%s must be a date in YYYY-MM-DD format.", name)
			return t, false, &r
		}
		return t, true, nil
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from_date", &tq.from}, {"to_date", &tq.to}} {
		t, ok, rep := parse(p.name)
		if rep != nil {
			return tq, rep
		}
		if ok {
			*p.dst = t
		}
	}
	for _, p := range []struct {
		field string
		dst   *dayRange
	}{{"created_at", &tq.created}, {"updated_at", &tq.updated}} {
		from, hasFrom, rep := parse("from_" + p.field)
		if rep != nil {
			return tq, rep
		}
		to, hasTo, rep := parse("to_" + p.field)
		if rep != nil {
			return tq, rep
		}
		if hasFrom && hasTo && to.After(from.AddDate(0, maxUpdatedRangeMonths, 0)) {
			r := errReply(http.StatusBadRequest, "from_%s and to_%s may be at most %d months apart.", p.field, p.field, maxUpdatedRangeMonths)
			return tq, &r
		}
		if hasFrom {
			p.dst.from = from.Format(time.DateOnly)
		}
		if hasTo {
			p.dst.to = to.Format(time.DateOnly)
		}
	}
	return tq, nil
}

// transactionsOf returns the transactions of accts (of m) that tq asks for.
func (s *Sandbox) transactionsOf(m *member, accts []*account, tq txnQuery) []transactionJSON {
	all := m.transactions(accts, tq.from, tq.to, s.opts.PendingPostsWithNewGUID)
	out := all[:0]
	for _, t := range all {
		if tq.keep(t) {
			if p := s.opts.TransactionDescriptionPrefix; p != "" {
				t.Description, t.OriginalDescription = p+t.Description, p+t.OriginalDescription
			}
			out = append(out, t)
		}
	}
	return out
}

func transactionsReply(q url.Values, txns []transactionJSON) reply {
	start, end, p := paginate(q, len(txns), MaxPerPage)
	return reply{status: http.StatusOK, body: transactionsResponse{Transactions: nonNil(txns[start:end]), Pagination: p}}
}

func (s *Sandbox) listMemberTransactions(req *request) reply {
	m, rep := s.lookupMember(req)
	if rep != nil {
		return *rep
	}
	q := req.URL.Query()
	tq, rep := parseTxnQuery(q, req.now)
	if rep != nil {
		return *rep
	}
	return transactionsReply(q, s.transactionsOf(m, m.accounts, tq))
}

func (s *Sandbox) listAccountTransactions(req *request) reply {
	u, rep := s.lookupUser(req)
	if rep != nil {
		return *rep
	}
	a, ok := s.accounts[req.PathValue("account")]
	if !ok || a.member.user != u {
		return errReply(http.StatusNotFound, "Account not found.")
	}
	q := req.URL.Query()
	tq, rep := parseTxnQuery(q, req.now)
	if rep != nil {
		return *rep
	}
	return transactionsReply(q, s.transactionsOf(a.member, []*account{a}, tq))
}

func (s *Sandbox) listUserTransactions(req *request) reply {
	u, rep := s.lookupUser(req)
	if rep != nil {
		return *rep
	}
	q := req.URL.Query()
	tq, rep := parseTxnQuery(q, req.now)
	if rep != nil {
		return *rep
	}
	var txns []transactionJSON
	for _, m := range u.members {
		txns = append(txns, s.transactionsOf(m, m.accounts, tq)...)
	}
	sort.SliceStable(txns, func(i, j int) bool { return txns[i].Date > txns[j].Date })
	return transactionsReply(q, txns)
}
