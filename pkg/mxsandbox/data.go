package mxsandbox

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Deterministic financial data. An account's content depends only on the
// institution code, the username and the account's index; a transaction's
// only on those and its date. Guids come from the sandbox's sequences.

// DefaultAccountCount is how many accounts a username gets unless it has the
// form mxuser_accounts_N.
const DefaultAccountCount = 6

// MaxAccountCount bounds N in mxuser_accounts_N.
const MaxAccountCount = 1000

// HistoryDays is how many days of transactions the first successful
// aggregation finds (the aggregation day included).
const HistoryDays = 90

const accountCountPrefix = "mxuser_accounts_"

type account struct {
	guid   string
	member *member
	index  int
}

type accountTemplate struct {
	Type, Subtype, Name, Currency string
}

// accountTemplates cycle by account index; the first DefaultAccountCount
// are what a plain username gets.
var accountTemplates = []accountTemplate{
	{Type: "CHECKING", Subtype: "NONE", Name: "Everyday Checking", Currency: "USD"},
	{Type: "SAVINGS", Subtype: "NONE", Name: "High Yield Savings", Currency: "USD"},
	{Type: "CREDIT_CARD", Subtype: "NONE", Name: "Rewards Visa", Currency: "USD"},
	{Type: "LOAN", Subtype: "AUTO", Name: "Auto Loan", Currency: "USD"},
	{Type: "MORTGAGE", Subtype: "NONE", Name: "Home Mortgage", Currency: "USD"},
	{Type: "SAVINGS", Subtype: "NONE", Name: "Euro Savings", Currency: "EUR"},
	{Type: "INVESTMENT", Subtype: "BROKERAGE", Name: "Brokerage", Currency: "USD"},
	{Type: "LINE_OF_CREDIT", Subtype: "NONE", Name: "Personal Line of Credit", Currency: "CAD"},
}

// accountCount is how many accounts an aggregation of username finds.
func accountCount(username string) int {
	rest, ok := strings.CutPrefix(username, accountCountPrefix)
	if !ok {
		return DefaultAccountCount
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return DefaultAccountCount
	}
	return min(n, MaxAccountCount)
}

// hash64 is a stable 64-bit hash of parts.
func hash64(parts ...string) uint64 {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return binary.BigEndian.Uint64(sum[:8])
}

// between returns a deterministic amount in [lo, hi] cents from r.
func between(r *splitMix, lo, hi int64) cents {
	return cents(lo + int64(r.next()%uint64(hi-lo+1)))
}

func pct(v int64) *cents { c := cents(v); return &c }

// accountFacts is the date-independent content of an account.
type accountFacts struct {
	tmpl            accountTemplate
	name            string
	id              string
	number          string
	balance         cents
	available       *cents
	availableCredit *cents
	creditLimit     *cents
	originalBalance *cents
	minimumPayment  *cents
	apr, apy, rate  *cents
	dayPaymentIsDue *int
	salary          cents
	monthlyPayment  cents
}

func facts(instCode, username string, index int) accountFacts {
	tmpl := accountTemplates[index%len(accountTemplates)]
	f := accountFacts{tmpl: tmpl, name: tmpl.Name}
	if cycle := index / len(accountTemplates); cycle > 0 {
		f.name = fmt.Sprintf("%s %d", tmpl.Name, cycle+1)
	}
	seed := hash64("account", instCode, username, strconv.Itoa(index))
	r := splitMix(seed)
	f.id = fmt.Sprintf("%010d", seed%10_000_000_000)
	f.number = fmt.Sprintf("%04d", r.intn(10_000))
	due := 15
	switch tmpl.Type {
	case "CHECKING":
		f.balance = between(&r, 50_000, 999_999)
		f.available = pct(int64(f.balance))
		f.apy = pct(between(&r, 1, 50).int64())
		f.salary = between(&r, 180_000, 420_000)
	case "SAVINGS":
		f.balance = between(&r, 100_000, 5_000_000)
		f.available = pct(int64(f.balance))
		f.apy = pct(between(&r, 300, 500).int64())
	case "CREDIT_CARD":
		limit := between(&r, 10, 30) * 50_000
		f.creditLimit = &limit
		f.balance = between(&r, 0, int64(limit)/2)
		avail := limit - f.balance
		f.availableCredit = &avail
		f.apr = pct(between(&r, 1_499, 2_999).int64())
		f.minimumPayment = pct(max(2_500, int64(f.balance)/50))
		f.dayPaymentIsDue = &due
	case "LOAN", "MORTGAGE":
		lo, hi := int64(1_500_000), int64(4_500_000)
		if tmpl.Type == "MORTGAGE" {
			lo, hi = 20_000_000, 60_000_000
		}
		orig := between(&r, lo, hi)
		f.originalBalance = &orig
		f.balance = orig * cents(between(&r, 40, 95)) / 100
		f.rate = pct(between(&r, 299, 899).int64())
		f.monthlyPayment = orig / 60
		if tmpl.Type == "MORTGAGE" {
			f.monthlyPayment = orig / 360
		}
		f.minimumPayment = pct(int64(f.monthlyPayment))
		f.dayPaymentIsDue = &due
	case "INVESTMENT":
		f.balance = between(&r, 500_000, 25_000_000)
		f.available = pct(int64(f.balance) / 10)
	case "LINE_OF_CREDIT":
		limit := between(&r, 10, 50) * 100_000
		f.creditLimit = &limit
		f.balance = between(&r, 0, int64(limit))
		avail := limit - f.balance
		f.availableCredit = &avail
		f.rate = pct(between(&r, 699, 1_299).int64())
	}
	return f
}

func (c cents) int64() int64 { return int64(c) }

func (s *Sandbox) accountJSON(a *account) accountJSON {
	m := a.member
	f := facts(m.inst.Code, m.username, a.index)
	return accountJSON{
		AccountNumber:    f.number,
		APR:              f.apr,
		APY:              f.apy,
		AvailableBalance: f.available,
		AvailableCredit:  f.availableCredit,
		Balance:          f.balance,
		CreatedAt:        timestamp(m.successes[0]),
		CreditLimit:      f.creditLimit,
		CurrencyCode:     f.tmpl.Currency,
		DayPaymentIsDue:  f.dayPaymentIsDue,
		GUID:             a.guid,
		ID:               f.id,
		InstitutionCode:  m.inst.Code,
		InstitutionGUID:  m.inst.GUID,
		InterestRate:     f.rate,
		MemberGUID:       m.guid,
		MemberID:         strPtr(m.id),
		MinimumPayment:   f.minimumPayment,
		Name:             f.name,
		OriginalBalance:  f.originalBalance,
		Subtype:          f.tmpl.Subtype,
		Type:             f.tmpl.Type,
		UpdatedAt:        timestamp(m.successes[len(m.successes)-1]),
		UserGUID:         m.user.guid,
		UserID:           strPtr(m.user.id),
	}
}

// txnSpec is a generated transaction before it is placed on an account.
type txnSpec struct {
	description, original, category, topLevel, merchant string
	amount                                              cents
	credit                                              bool
	hour                                                int
	billPay, directDeposit, fee, income, recurring, sub bool
}

type merchant struct {
	name, original, category, topLevel string
	lo, hi                             int64
}

var merchants = []merchant{
	{"Smith's Food & Drug", "SMITHS FOOD #4123", "Groceries", "Food & Dining", 1_500, 18_000},
	{"Cafe Rio", "CAFE RIO 0231", "Restaurants", "Food & Dining", 900, 4_500},
	{"Chevron", "CHEVRON 0098712", "Gas", "Auto & Transport", 2_500, 7_500},
	{"Starbucks", "STARBUCKS STORE 11873", "Coffee Shops", "Food & Dining", 350, 1_200},
	{"Target", "TARGET T-1932", "Shopping", "Shopping", 1_000, 15_000},
	{"Walgreens", "WALGREENS #7781", "Pharmacy", "Health & Fitness", 500, 6_000},
	{"Cinemark", "CINEMARK THEATRES 412", "Movies & DVDs", "Entertainment", 1_200, 4_800},
}

// dayTransactions generates the transactions of one account on one day.
func dayTransactions(instCode, username string, index int, f accountFacts, day time.Time) []txnSpec {
	r := splitMix(hash64("txn", instCode, username, strconv.Itoa(index), day.Format(time.DateOnly)))
	dom := day.Day()
	var out []txnSpec
	purchase := func() {
		mc := merchants[r.intn(len(merchants))]
		out = append(out, txnSpec{description: mc.name, original: mc.original, category: mc.category, topLevel: mc.topLevel,
			merchant: mc.name, amount: between(&r, mc.lo, mc.hi), hour: 8 + r.intn(12)})
	}
	switch f.tmpl.Type {
	case "CHECKING":
		if dom == 1 || dom == 15 {
			out = append(out, txnSpec{description: "Acme Corp", original: "ACME CORP PAYROLL PPD", category: "Paycheck", topLevel: "Income",
				amount: f.salary, credit: true, hour: 6, directDeposit: true, income: true, recurring: true})
		}
		if dom == 5 {
			out = append(out, txnSpec{description: "Rocky Mountain Power", original: "ROCKY MTN POWER BILLPAY", category: "Utilities", topLevel: "Bills & Utilities",
				merchant: "Rocky Mountain Power", amount: between(&r, 6_000, 18_000), hour: 9, billPay: true, recurring: true})
		}
		if dom == 28 {
			out = append(out, txnSpec{description: "Monthly Service Fee", original: "MONTHLY SERVICE FEE", category: "Service Fee", topLevel: "Fees & Charges",
				amount: 500, hour: 23, fee: true, recurring: true})
		}
		if r.float64() < 0.55 {
			purchase()
		}
	case "SAVINGS":
		if dom == 1 {
			out = append(out, txnSpec{description: "Interest Paid", original: "INTEREST PAYMENT", category: "Interest Income", topLevel: "Income",
				amount: between(&r, 50, 2_000), credit: true, hour: 3, income: true, recurring: true})
		}
		if dom == 16 {
			out = append(out, txnSpec{description: "Transfer from Checking", original: "ONLINE TRANSFER FROM CHK", category: "Transfer", topLevel: "Transfer",
				amount: between(&r, 10_000, 50_000), credit: true, hour: 10})
		}
	case "CREDIT_CARD":
		if dom == 12 {
			out = append(out, txnSpec{description: "Netflix", original: "NETFLIX.COM", category: "Movies & DVDs", topLevel: "Entertainment",
				merchant: "Netflix", amount: 1_549, hour: 4, recurring: true, sub: true})
		}
		if dom == 20 {
			out = append(out, txnSpec{description: "Payment - Thank You", original: "PAYMENT THANK YOU", category: "Credit Card Payment", topLevel: "Transfer",
				amount: between(&r, 20_000, 120_000), credit: true, hour: 7})
		}
		if r.float64() < 0.5 {
			purchase()
		}
	case "LOAN", "MORTGAGE":
		if dom == 3 {
			out = append(out, txnSpec{description: "Loan Payment", original: "LOAN PAYMENT RECEIVED", category: "Loan Payment", topLevel: "Transfer",
				amount: f.monthlyPayment, credit: true, hour: 8, recurring: true})
		}
	case "INVESTMENT":
		if dom == 25 {
			out = append(out, txnSpec{description: "Dividend", original: "DIVIDEND REINVESTMENT", category: "Dividend & Cap Gains", topLevel: "Investments",
				amount: between(&r, 500, 10_000), credit: true, hour: 12, income: true})
		}
	case "LINE_OF_CREDIT":
		if dom == 12 {
			out = append(out, txnSpec{description: "Interest Charge", original: "INTEREST CHARGE", category: "Finance Charge", topLevel: "Fees & Charges",
				amount: between(&r, 300, 4_000), hour: 23, fee: true})
		}
	}
	return out
}

// day truncates t to its UTC calendar day.
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// history reports the days with transactions: from HistoryDays before the
// first successful aggregation to the day of the last one.
func (m *member) history() (first, last time.Time, ok bool) {
	if len(m.successes) == 0 {
		return time.Time{}, time.Time{}, false
	}
	first = day(m.successes[0]).AddDate(0, 0, -(HistoryDays - 1))
	last = day(m.successes[len(m.successes)-1])
	return first, last, true
}

// countTransactions counts the member's transactions dated from..to inclusive.
func (m *member) countTransactions(from, to time.Time) int {
	n := 0
	for _, a := range m.accounts {
		f := facts(m.inst.Code, m.username, a.index)
		for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
			n += len(dayTransactions(m.inst.Code, m.username, a.index, f, d))
		}
	}
	return n
}

// recordSuccess records a successful aggregation completed at at: the first
// one creates the accounts. It returns how many transactions the
// aggregation created and updated (pending ones that posted; with
// Options.PendingPostsWithNewGUID those are created instead).
func (s *Sandbox) recordSuccess(m *member, at time.Time) (created, updated int) {
	if len(m.successes) == 0 {
		for i := range accountCount(m.username) {
			a := &account{guid: s.newGUID("ACT"), member: m, index: i}
			m.accounts = append(m.accounts, a)
			s.accounts[a.guid] = a
		}
		m.successes = append(m.successes, at)
		first, last, _ := m.history()
		return m.countTransactions(first, last), 0
	}
	prevDay := day(m.successes[len(m.successes)-1])
	m.successes = append(m.successes, at)
	today := day(at)
	if !today.After(prevDay) {
		return 0, 0
	}
	created, updated = m.countTransactions(prevDay.AddDate(0, 0, 1), today), m.countTransactions(prevDay, prevDay)
	if s.opts.PendingPostsWithNewGUID {
		return created + updated, 0
	}
	return created, updated
}

// successesAround returns the first successful aggregation whose day
// is on or after d, and the one after it.
func (m *member) successesAround(d time.Time) (covering, next time.Time) {
	for i, t := range m.successes {
		if !day(t).Before(d) {
			covering = t
			if i+1 < len(m.successes) {
				for _, u := range m.successes[i+1:] {
					if day(u).After(day(t)) {
						return covering, u
					}
				}
			}
			return covering, time.Time{}
		}
	}
	return time.Time{}, time.Time{}
}

// transactions returns the transactions of the given accounts of m dated
// from..to inclusive, newest day first, then by account and order of the day.
// With newGUIDOnPost a transaction that was pending when found and has since
// posted is a new transaction (new guid, created when it posted).
func (m *member) transactions(accts []*account, from, to time.Time, newGUIDOnPost bool) []transactionJSON {
	first, last, ok := m.history()
	if !ok {
		return nil
	}
	if from.Before(first) {
		from = first
	}
	if to.After(last) {
		to = last
	}
	var out []transactionJSON
	for d := to; !d.Before(from); d = d.AddDate(0, 0, -1) {
		covering, next := m.successesAround(d)
		for _, a := range accts {
			f := facts(m.inst.Code, m.username, a.index)
			for n, t := range dayTransactions(m.inst.Code, m.username, a.index, f, d) {
				out = append(out, m.transactionJSON(a, f, d, n, t, covering, next, d.Equal(last), newGUIDOnPost))
			}
		}
	}
	return out
}

// transactionJSON renders the n-th transaction t of account a on day d,
// found by the aggregation at created. When it was pending then (d is that
// aggregation's day) it posted with the aggregation at posted; pending says
// it still is.
func (m *member) transactionJSON(a *account, f accountFacts, d time.Time, n int, t txnSpec, created, posted time.Time, pending, newGUIDOnPost bool) transactionJSON {
	date := d.Format(time.DateOnly)
	kind, status := "DEBIT", "POSTED"
	if t.credit {
		kind = "CREDIT"
	}
	guid := stableGUID("TRN", m.guid, strconv.Itoa(a.index), date, strconv.Itoa(n))
	updated := created
	var postedAt *string
	if pending {
		status = "PENDING"
	} else {
		postedAt = timestamp(d.Add(23 * time.Hour))
		if day(created).Equal(d) && !posted.IsZero() {
			updated = posted
			if newGUIDOnPost {
				// The pending transaction is gone; the posted one is new.
				created = posted
				guid = stableGUID("TRN", m.guid, strconv.Itoa(a.index), date, strconv.Itoa(n), "posted")
			}
		}
	}
	var merchantGUID *string
	if t.merchant != "" {
		g := stableGUID("MCH", t.merchant)
		merchantGUID = &g
	}
	return transactionJSON{
		AccountGUID:         a.guid,
		AccountID:           f.id,
		Amount:              t.amount,
		Category:            t.category,
		CategoryGUID:        stableGUID("CAT", t.category),
		CreatedAt:           timestamp(created),
		CurrencyCode:        f.tmpl.Currency,
		Date:                date,
		Description:         t.description,
		GUID:                guid,
		ID:                  fmt.Sprintf("%s-%s-%d", f.id, d.Format("20060102"), n),
		IsBillPay:           t.billPay,
		IsDirectDeposit:     t.directDeposit,
		IsExpense:           !t.credit,
		IsFee:               t.fee,
		IsIncome:            t.income,
		IsRecurring:         t.recurring,
		IsSubscription:      t.sub,
		MemberGUID:          m.guid,
		MerchantGUID:        merchantGUID,
		OriginalDescription: t.original,
		PostedAt:            postedAt,
		Status:              status,
		TopLevelCategory:    t.topLevel,
		TransactedAt:        timestamp(d.Add(time.Duration(t.hour) * time.Hour)),
		Type:                kind,
		UpdatedAt:           timestamp(updated),
		UserGUID:            m.user.guid,
		UserID:              strPtr(m.user.id),
	}
}
