package mx

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// Integration tests: the client against the real sandbox over HTTP on
// 127.0.0.1, on a fake clock, so every transition is driven by Advance.

var sandboxStart = time.Date(2024, time.March, 1, 9, 0, 0, 0, time.UTC)

// sandboxEnv is a sandbox on a fake clock and a client pointed at it.
type sandboxEnv struct {
	sb     *sandbox.Sandbox
	srv    *httptest.Server
	c      *Client
	obs    *attemptObserver
	sleeps *sleepRecorder
}

func newSandboxEnv(t *testing.T, mutate ...func(*sandbox.Options)) *sandboxEnv {
	t.Helper()
	opts := sandbox.Options{ClientID: testClientID, APIKey: testAPIKey, Clock: sandbox.NewFakeClock(sandboxStart)}
	for _, m := range mutate {
		m(&opts)
	}
	sb := sandbox.New(opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(func() {
		srv.Close()
		sb.Close()
	})
	obs := &attemptObserver{}
	c, sleeps := newTestClient(t, srv.URL, func(c *Config) { c.Observer = obs })
	return &sandboxEnv{sb: sb, srv: srv, c: c, obs: obs, sleeps: sleeps}
}

// step is one aggregation step of sandbox time.
const step = sandbox.DefaultAggregationDuration

// expectObserverMatchesSandbox proves the client's Observer endpoint names
// are the sandbox's counter keys: the per-endpoint attempt counts are equal.
func (e *sandboxEnv) expectObserverMatchesSandbox(g Gomega) {
	observed := map[string]int{}
	for _, o := range e.obs.all() {
		observed[o.endpoint]++
	}
	g.Expect(observed).To(Equal(e.sb.Calls()), "Observer endpoints are the sandbox's endpoint names")
}

// TestEndpointNamesMatchSandbox proves the client's endpoint names (the
// Observer's label values) are exactly the sandbox's endpoint names.
func TestEndpointNamesMatchSandbox(t *testing.T) {
	g := NewWithT(t)
	g.Expect(Endpoints()).To(ConsistOf(sandbox.Endpoints()))
	g.Expect(Endpoints()).To(HaveLen(23))
}

// mxbankCreds returns credentials for the sandbox's mxbank.
func mxbankCreds(username, password string) []CredentialValue {
	return []CredentialValue{
		{GUID: sandbox.CredentialGUID(sandbox.InstitutionMXBank, sandbox.CredentialFieldUsername), Value: username},
		{GUID: sandbox.CredentialGUID(sandbox.InstitutionMXBank, sandbox.CredentialFieldPassword), Value: password},
	}
}

// newUser creates a user with the given partner id.
func (e *sandboxEnv) newUser(g Gomega, id string) *User {
	u, err := e.c.CreateUser(context.Background(), CreateUserRequest{ID: id})
	g.Expect(err).NotTo(HaveOccurred())
	return u
}

// TestSandboxUsers covers create, read, update, list, find and delete of
// users, and their error classes.
func TestSandboxUsers(t *testing.T) {
	g := NewWithT(t)
	e := newSandboxEnv(t)
	ctx := context.Background()

	u, err := e.c.CreateUser(ctx, CreateUserRequest{ID: "partner-1", Email: "a@example.com", Metadata: `{"k":"v"}`})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(u.GUID).To(HavePrefix("USR-"))
	g.Expect(u).To(Equal(&User{GUID: u.GUID, ID: "partner-1", Email: "a@example.com", Metadata: `{"k":"v"}`}))

	_, err = e.c.CreateUser(ctx, CreateUserRequest{ID: "partner-1"})
	g.Expect(IsConflict(err)).To(BeTrue(), "duplicate partner id: %v", err)

	got, err := e.c.GetUser(ctx, u.GUID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(u))

	email, disabled := "b@example.com", true
	upd, err := e.c.UpdateUser(ctx, u.GUID, UpdateUserRequest{Email: &email, IsDisabled: &disabled})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(upd.Email).To(Equal(email))
	g.Expect(upd.IsDisabled).To(BeTrue())

	e.newUser(g, "partner-2")
	all, err := e.c.ListUsers(ctx, ListUsersOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(all).To(HaveLen(2))
	byEmail, err := e.c.ListUsers(ctx, ListUsersOptions{Email: email})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(byEmail).To(HaveLen(1))

	found, err := e.c.FindUserByID(ctx, "partner-2")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found.ID).To(Equal("partner-2"))
	_, err = e.c.FindUserByID(ctx, "nobody")
	g.Expect(IsNotFound(err)).To(BeTrue())

	g.Expect(e.c.DeleteUser(ctx, u.GUID)).To(Succeed())
	_, err = e.c.GetUser(ctx, u.GUID)
	g.Expect(IsNotFound(err)).To(BeTrue())
	g.Expect(IsNotFound(e.c.DeleteUser(ctx, u.GUID))).To(BeTrue(), "deleting again is not found")
	g.Expect(e.sb.UserCount()).To(Equal(1))
	e.expectObserverMatchesSandbox(g)
}

// TestSandboxInstitutions covers institution search, read and credentials.
func TestSandboxInstitutions(t *testing.T) {
	g := NewWithT(t)
	e := newSandboxEnv(t)
	ctx := context.Background()

	bank, err := e.c.GetInstitution(ctx, sandbox.InstitutionMXBank)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(bank.Code).To(Equal("mxbank"))
	g.Expect(bank.Name).NotTo(BeEmpty())
	g.Expect(bank.SupportsOAuth).To(BeFalse())

	oauth, err := e.c.GetInstitution(ctx, sandbox.InstitutionMXBankOAuth)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(oauth.SupportsOAuth).To(BeTrue())

	insts, err := e.c.ListInstitutions(ctx, "mx")
	g.Expect(err).NotTo(HaveOccurred())
	codes := []string{}
	for _, in := range insts {
		codes = append(codes, in.Code)
	}
	g.Expect(codes).To(ContainElements("mxbank", "mx_bank_oauth"))

	creds, err := e.c.ListInstitutionCredentials(ctx, sandbox.InstitutionMXBank)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(creds).To(HaveLen(2))
	g.Expect(creds[0].GUID).To(Equal(sandbox.CredentialGUID(sandbox.InstitutionMXBank, sandbox.CredentialFieldUsername)))
	g.Expect(creds[0].Type).To(Equal(FieldTypeText))
	g.Expect(creds[1].GUID).To(Equal(sandbox.CredentialGUID(sandbox.InstitutionMXBank, sandbox.CredentialFieldPassword)))
	g.Expect(creds[1].Type).To(Equal(FieldTypePassword))
	g.Expect(creds[1].DisplayOrder).To(Equal(2))

	_, err = e.c.GetInstitution(ctx, "no_such_bank")
	g.Expect(IsNotFound(err)).To(BeTrue())
	_, err = e.c.ListInstitutionCredentials(ctx, "no_such_bank")
	g.Expect(IsNotFound(err)).To(BeTrue())
	e.expectObserverMatchesSandbox(g)
}

// TestSandboxMemberLifecycle covers a member from creation to CONNECTED,
// its accounts and transactions, aggregate, update, find, list and delete.
func TestSandboxMemberLifecycle(t *testing.T) {
	g := NewWithT(t)
	e := newSandboxEnv(t)
	ctx := context.Background()
	u := e.newUser(g, "partner-1")

	m, started, err := e.c.CreateMember(ctx, u.GUID, CreateMemberRequest{
		InstitutionCode: sandbox.InstitutionMXBank, ID: "member-1", Metadata: "md",
		Credentials: mxbankCreds("mxuser", "password"),
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(started).To(BeTrue(), "202: aggregation started")
	g.Expect(m.GUID).To(HavePrefix("MBR-"))
	g.Expect(m.ID).To(Equal("member-1"))
	g.Expect(m.UserGUID).To(Equal(u.GUID))
	g.Expect(m.ConnectionStatus).To(Equal(StatusCreated))
	g.Expect(m.ConnectionStatus.Class()).To(Equal(StatusClassTransient))
	g.Expect(m.IsBeingAggregated).To(BeTrue())
	g.Expect(m.MostRecentJobGUID).To(HavePrefix("JOB-"), "a real job guid string, not the spec's boolean")
	g.Expect(m.AggregatedAt).NotTo(BeNil())
	g.Expect(m.SuccessfullyAggregatedAt).To(BeNil(), "null until the first success")

	_, _, err = e.c.CreateMember(ctx, u.GUID, CreateMemberRequest{InstitutionCode: sandbox.InstitutionMXBank, Credentials: mxbankCreds("mxuser", "password")})
	g.Expect(IsConflict(err)).To(BeTrue(), "same user, institution and credentials: %v", err)

	st, err := e.c.GetMemberStatus(ctx, u.GUID, m.GUID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st.AggregationComplete()).To(BeFalse())

	e.sb.Advance(step)
	st, err = e.c.GetMemberStatus(ctx, u.GUID, m.GUID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st.ConnectionStatus).To(Equal(StatusConnected))
	g.Expect(st.AggregationComplete()).To(BeTrue())
	g.Expect(st.SuccessfullyAggregatedAt).NotTo(BeNil())
	g.Expect(st.HasProcessedAccounts).To(BeTrue())

	challenges, err := e.c.ListChallenges(ctx, u.GUID, m.GUID)
	g.Expect(err).NotTo(HaveOccurred(), "204 is not an error")
	g.Expect(challenges).To(BeEmpty())

	got, err := e.c.GetMember(ctx, u.GUID, m.GUID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.ConnectionStatus).To(Equal(StatusConnected))
	g.Expect(got.ConnectionStatusMessage).NotTo(BeEmpty())
	g.Expect(got.Metadata).To(Equal("md"))

	found, err := e.c.FindMemberByID(ctx, u.GUID, "member-1")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found.GUID).To(Equal(m.GUID))
	members, err := e.c.ListMembers(ctx, u.GUID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(members).To(HaveLen(1))

	accounts, err := e.c.ListMemberAccounts(ctx, u.GUID, m.GUID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(accounts).To(HaveLen(sandbox.DefaultAccountCount))
	for _, a := range accounts {
		g.Expect(a.GUID).To(HavePrefix("ACT-"))
		g.Expect(a.MemberGUID).To(Equal(m.GUID))
		g.Expect(a.Type).NotTo(BeEmpty())
		g.Expect(a.CurrencyCode).To(HaveLen(3))
		g.Expect(a.Balance).NotTo(BeEmpty())
		g.Expect(isJSONNumber(string(a.Balance))).To(BeTrue(), "exact decimal text %q", a.Balance)
	}

	r := DateRange{From: sandboxStart.AddDate(0, 0, -30), To: sandboxStart}
	memberTxns, err := e.c.ListMemberTransactions(ctx, u.GUID, m.GUID, r)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(memberTxns).NotTo(BeEmpty())
	for _, tr := range memberTxns {
		g.Expect(tr.Date >= "2024-01-31" && tr.Date <= "2024-03-01").To(BeTrue(), "date %s within the range", tr.Date)
		g.Expect(isJSONNumber(string(tr.Amount))).To(BeTrue())
		g.Expect(tr.Type).To(BeElementOf("CREDIT", "DEBIT"))
	}
	accountTxns, err := e.c.ListAccountTransactions(ctx, u.GUID, accounts[0].GUID, r)
	g.Expect(err).NotTo(HaveOccurred())
	for _, tr := range accountTxns {
		g.Expect(tr.AccountGUID).To(Equal(accounts[0].GUID))
	}
	userTxns, err := e.c.ListUserTransactions(ctx, u.GUID, r)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(userTxns).To(HaveLen(len(memberTxns)), "one member: the user's transactions are the member's")
	allTxns, err := e.c.ListUserTransactions(ctx, u.GUID, DateRange{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(allTxns)).To(BeNumerically(">=", len(memberTxns)), "MX's default range is wider")

	agg, err := e.c.AggregateMember(ctx, u.GUID, m.GUID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(agg.IsBeingAggregated).To(BeTrue())
	g.Expect(agg.MostRecentJobGUID).NotTo(Equal(m.MostRecentJobGUID), "a new job")
	e.sb.Advance(step)

	newID := "member-1b"
	upd, err := e.c.UpdateMember(ctx, u.GUID, m.GUID, UpdateMemberRequest{ID: &newID})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(upd.ID).To(Equal(newID))
	g.Expect(upd.IsBeingAggregated).To(BeFalse(), "no new credentials, no aggregation")

	upd, err = e.c.UpdateMember(ctx, u.GUID, m.GUID, UpdateMemberRequest{Credentials: mxbankCreds("mxuser", "INVALID")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(upd.ConnectionStatus).To(Equal(StatusUpdated))
	e.sb.Advance(step)
	st, err = e.c.GetMemberStatus(ctx, u.GUID, m.GUID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st.ConnectionStatus).To(Equal(StatusDenied))

	g.Expect(e.c.DeleteMember(ctx, u.GUID, m.GUID)).To(Succeed())
	_, err = e.c.GetMember(ctx, u.GUID, m.GUID)
	g.Expect(IsNotFound(err)).To(BeTrue())
	g.Expect(IsNotFound(e.c.DeleteMember(ctx, u.GUID, m.GUID))).To(BeTrue())
	_, err = e.c.FindMemberByID(ctx, u.GUID, newID)
	g.Expect(IsNotFound(err)).To(BeTrue())
	e.expectObserverMatchesSandbox(g)
}

// TestSandboxPasswordOutcomes proves the test bank's password table maps to
// the statuses and classes of MX-API.md §5 and §8.
func TestSandboxPasswordOutcomes(t *testing.T) {
	tests := []struct {
		password  string
		want      ConnectionStatus
		wantClass StatusClass
		reason    string
	}{
		{"password", StatusConnected, StatusClassSuccess, "any other password connects"},
		{"INVALID", StatusDenied, StatusClassNeedsUser, "bad credentials"},
		{"UNAUTHORIZED", StatusDenied, StatusClassNeedsUser, "bad credentials"},
		{"DISABLED", StatusDenied, StatusClassNeedsUser, "MX-API.md §8: DISABLED is DENIED"},
		{"LOCKED", StatusLocked, StatusClassNeedsUser, "locked at the institution"},
		{"BAD_REQUEST", StatusFailed, StatusClassRetryLater, "FAILED"},
		{"SERVER_ERROR", StatusFailed, StatusClassRetryLater, "FAILED"},
		{"UNAVAILABLE", StatusFailed, StatusClassRetryLater, "FAILED"},
	}
	for _, tt := range tests {
		t.Run(tt.password, func(t *testing.T) {
			g := NewWithT(t)
			e := newSandboxEnv(t)
			ctx := context.Background()
			u := e.newUser(g, "p")
			m, _, err := e.c.CreateMember(ctx, u.GUID, CreateMemberRequest{InstitutionCode: sandbox.InstitutionMXBank, Credentials: mxbankCreds("mxuser", tt.password)})
			g.Expect(err).NotTo(HaveOccurred())

			e.sb.Advance(step)
			st, err := e.c.GetMemberStatus(ctx, u.GUID, m.GUID)

			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(st.ConnectionStatus).To(Equal(tt.want), tt.reason)
			g.Expect(st.ConnectionStatus.Class()).To(Equal(tt.wantClass))
			g.Expect(st.IsBeingAggregated).To(BeFalse())
		})
	}
}

// TestSandboxMFA covers every challenge type in both encodings: list the
// challenges, answer them, and connect; a wrong answer is REJECTED; resume
// outside CHALLENGED is a terminal 405.
func TestSandboxMFA(t *testing.T) {
	tests := []struct {
		password string
		wantType FieldType
	}{
		{"challenge", FieldTypeText},
		{"options", FieldTypeOptions},
		{"image", FieldTypeImageData},
		{"token", FieldTypeToken},
		{"image_options", FieldTypeImageOptions},
	}
	for _, integer := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(tt.password+map[bool]string{false: "/string types", true: "/integer types"}[integer], func(t *testing.T) {
				g := NewWithT(t)
				e := newSandboxEnv(t, func(o *sandbox.Options) { o.IntegerChallengeTypes = integer })
				ctx := context.Background()
				u := e.newUser(g, "p")
				m, _, err := e.c.CreateMember(ctx, u.GUID, CreateMemberRequest{InstitutionCode: sandbox.InstitutionMXBank, Credentials: mxbankCreds("mxuser", tt.password)})
				g.Expect(err).NotTo(HaveOccurred())

				none, err := e.c.ListChallenges(ctx, u.GUID, m.GUID)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(none).To(BeEmpty(), "not CHALLENGED yet: 204")
				_, err = e.c.ResumeMember(ctx, u.GUID, m.GUID, []ChallengeAnswer{{GUID: "CRD-x", Value: "correct"}})
				g.Expect(IsTerminal(err)).To(BeTrue(), "405 outside CHALLENGED: %v", err)

				e.sb.Advance(step)
				st, err := e.c.GetMemberStatus(ctx, u.GUID, m.GUID)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(st.ConnectionStatus).To(Equal(StatusChallenged))
				g.Expect(st.Challenges).To(HaveLen(1))
				g.Expect(st.Challenges[0].Type).To(Equal(tt.wantType), "status challenges decode the type")

				challenges, err := e.c.ListChallenges(ctx, u.GUID, m.GUID)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(challenges).To(HaveLen(1))
				ch := challenges[0]
				g.Expect(ch.Type).To(Equal(tt.wantType), "integer codes are normalised to names")
				g.Expect(ch.Label).NotTo(BeEmpty())
				answer := sandbox.CorrectAnswer
				switch tt.wantType {
				case FieldTypeOptions:
					g.Expect(ch.Options).NotTo(BeEmpty())
					answer = ""
					for _, o := range ch.Options {
						if o.Value == sandbox.CorrectAnswer {
							answer = o.Value
						}
					}
				case FieldTypeImageOptions:
					g.Expect(ch.ImageOptions).NotTo(BeEmpty())
					g.Expect(ch.ImageOptions[0].DataURI).To(HavePrefix("data:"))
				case FieldTypeImageData:
					g.Expect(ch.ImageData).To(HavePrefix("data:"))
				}
				g.Expect(answer).NotTo(BeEmpty(), "an option has the value %q", sandbox.CorrectAnswer)

				resumed, err := e.c.ResumeMember(ctx, u.GUID, m.GUID, []ChallengeAnswer{{GUID: ch.GUID, Value: answer}})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(resumed.ConnectionStatus).To(Equal(StatusResumed))
				g.Expect(resumed.ConnectionStatus.Class()).To(Equal(StatusClassTransient))

				e.sb.Advance(step)
				st, err = e.c.GetMemberStatus(ctx, u.GUID, m.GUID)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(st.AggregationComplete()).To(BeTrue(), "status %s", st.ConnectionStatus)
				e.expectObserverMatchesSandbox(g)
			})
		}
	}
}

// TestSandboxMFAWrongAnswer proves a wrong answer leads to REJECTED (needs
// the user) and that multi-step MFA presents new challenge guids.
func TestSandboxMFAWrongAnswer(t *testing.T) {
	g := NewWithT(t)
	e := newSandboxEnv(t)
	ctx := context.Background()
	u := e.newUser(g, "p")
	m, _, err := e.c.CreateMember(ctx, u.GUID, CreateMemberRequest{InstitutionCode: sandbox.InstitutionMXBank, Credentials: mxbankCreds("mxuser", "challenge")})
	g.Expect(err).NotTo(HaveOccurred())
	e.sb.Advance(step)
	challenges, err := e.c.ListChallenges(ctx, u.GUID, m.GUID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(challenges).To(HaveLen(1))

	_, err = e.c.ResumeMember(ctx, u.GUID, m.GUID, []ChallengeAnswer{{GUID: challenges[0].GUID, Value: "wrong"}})
	g.Expect(err).NotTo(HaveOccurred())
	e.sb.Advance(step)
	st, err := e.c.GetMemberStatus(ctx, u.GUID, m.GUID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st.ConnectionStatus).To(Equal(StatusRejected))
	g.Expect(st.ConnectionStatus.Class()).To(Equal(StatusClassNeedsUser))

	// Multi-step MFA: the second step has new guids.
	m2, _, err := e.c.CreateMember(ctx, u.GUID, CreateMemberRequest{InstitutionCode: sandbox.InstitutionMXBank, Credentials: mxbankCreds("mxuser2", "challenge_multi")})
	g.Expect(err).NotTo(HaveOccurred())
	e.sb.Advance(step)
	first, err := e.c.ListChallenges(ctx, u.GUID, m2.GUID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(first).NotTo(BeEmpty())
	answers := []ChallengeAnswer{}
	for _, ch := range first {
		answers = append(answers, ChallengeAnswer{GUID: ch.GUID, Value: sandbox.CorrectAnswer})
	}
	_, err = e.c.ResumeMember(ctx, u.GUID, m2.GUID, answers)
	g.Expect(err).NotTo(HaveOccurred())
	e.sb.Advance(step)
	second, err := e.c.ListChallenges(ctx, u.GUID, m2.GUID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(second).NotTo(BeEmpty())
	g.Expect(second[0].GUID).NotTo(Equal(first[0].GUID))
}

// TestSandboxOAuth covers an OAuth member: 200 (no aggregation), PENDING,
// the window URI, then CONNECTED once the user authorises.
func TestSandboxOAuth(t *testing.T) {
	g := NewWithT(t)
	e := newSandboxEnv(t)
	ctx := context.Background()
	u := e.newUser(g, "p")

	m, started, err := e.c.CreateMember(ctx, u.GUID, CreateMemberRequest{
		InstitutionCode: sandbox.InstitutionMXBankOAuth, IsOAuth: true, ID: "oauth-1",
		ReferralSource: "BROWSER", ClientRedirectURL: "https://example.com/done",
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(started).To(BeFalse(), "200: no aggregation until the user authorises")
	g.Expect(m.IsOAuth).To(BeTrue())
	g.Expect(m.ConnectionStatus).To(Equal(StatusPending))
	g.Expect(m.ConnectionStatus.Class()).To(Equal(StatusClassNeedsUser))

	uri, err := e.c.OAuthWindowURI(ctx, u.GUID, m.GUID, OAuthWindowOptions{ClientRedirectURL: "https://example.com/done", ReferralSource: "BROWSER"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(uri).To(HavePrefix("https://"))

	g.Expect(e.sb.AuthorizeOAuth(m.GUID)).To(Succeed())
	e.sb.Advance(step)
	st, err := e.c.GetMemberStatus(ctx, u.GUID, m.GUID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st.AggregationComplete()).To(BeTrue(), "status %s", st.ConnectionStatus)

	_, err = e.c.OAuthWindowURI(ctx, u.GUID, "MBR-missing", OAuthWindowOptions{})
	g.Expect(IsNotFound(err)).To(BeTrue())
	e.expectObserverMatchesSandbox(g)
}

// TestSandboxPagination proves that every account is returned across pages
// and counts the requests the walk takes per page size.
func TestSandboxPagination(t *testing.T) {
	tests := []struct {
		reason       string
		username     string
		pageSize     int
		wantAccounts int
		wantCalls    int
	}{
		{"60 accounts at 10 per page take 6 requests", "mxuser_accounts_60", 10, 60, 6},
		{"60 accounts at 25 per page take 3 requests", "mxuser_accounts_60", 25, 60, 3},
		{"60 accounts at the default 1000 take 1 request", "mxuser_accounts_60", 0, 60, 1},
		{"1000 accounts at MX's maximum page size take 1 request", "mxuser_accounts_1000", 1000, 1000, 1},
		{"1000 accounts at 100 per page take 10 requests", "mxuser_accounts_1000", 100, 1000, 10},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			e := newSandboxEnv(t)
			ctx := context.Background()
			c, _ := newTestClient(t, e.srv.URL, func(c *Config) { c.PageSize = tt.pageSize })
			u := e.newUser(g, "p")
			m, _, err := c.CreateMember(ctx, u.GUID, CreateMemberRequest{InstitutionCode: sandbox.InstitutionMXBank, Credentials: mxbankCreds(tt.username, "password")})
			g.Expect(err).NotTo(HaveOccurred())
			e.sb.Advance(step)

			accounts, err := c.ListMemberAccounts(ctx, u.GUID, m.GUID)

			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(accounts).To(HaveLen(tt.wantAccounts))
			seen := map[string]bool{}
			for _, a := range accounts {
				seen[a.GUID] = true
			}
			g.Expect(seen).To(HaveLen(tt.wantAccounts), "no account twice")
			g.Expect(e.sb.CallCount(sandbox.EndpointListMemberAccounts)).To(Equal(tt.wantCalls))
		})
	}
}

// TestSandboxCreatesWithLostResponses proves the create contract against
// the sandbox's commit-then-fail faults: the create is sent once, not
// retried, reports a retryable error, and FindUserByID / FindMemberByID
// resolve the unknown outcome; a blind retry would conflict.
func TestSandboxCreatesWithLostResponses(t *testing.T) {
	for _, drop := range []bool{false, true} {
		t.Run(map[bool]string{false: "500 after commit", true: "connection dropped after commit"}[drop], func(t *testing.T) {
			g := NewWithT(t)
			e := newSandboxEnv(t)
			ctx := context.Background()

			e.sb.SetFault(sandbox.EndpointCreateUser, sandbox.Fault{CommitThenFail: 1, DropConnection: drop})
			_, err := e.c.CreateUser(ctx, CreateUserRequest{ID: "partner-1"})
			g.Expect(IsRetryable(err)).To(BeTrue(), "outcome unknown: %v", err)
			g.Expect(e.sb.CallCount(sandbox.EndpointCreateUser)).To(Equal(1), "not retried")
			g.Expect(e.sb.UserCount()).To(Equal(1), "yet committed")
			u, err := e.c.FindUserByID(ctx, "partner-1")
			g.Expect(err).NotTo(HaveOccurred(), "resolved by partner id")
			_, err = e.c.CreateUser(ctx, CreateUserRequest{ID: "partner-1"})
			g.Expect(IsConflict(err)).To(BeTrue(), "a blind retry conflicts")

			e.sb.SetFault(sandbox.EndpointCreateMember, sandbox.Fault{CommitThenFail: 1, DropConnection: drop})
			_, _, err = e.c.CreateMember(ctx, u.GUID, CreateMemberRequest{InstitutionCode: sandbox.InstitutionMXBank, ID: "member-1", Credentials: mxbankCreds("mxuser", "password")})
			g.Expect(IsRetryable(err)).To(BeTrue(), "outcome unknown: %v", err)
			g.Expect(e.sb.CallCount(sandbox.EndpointCreateMember)).To(Equal(1), "not retried")
			g.Expect(e.sb.MemberCount()).To(Equal(1), "yet committed")
			m, err := e.c.FindMemberByID(ctx, u.GUID, "member-1")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(m.IsBeingAggregated).To(BeTrue())
			_, _, err = e.c.CreateMember(ctx, u.GUID, CreateMemberRequest{InstitutionCode: sandbox.InstitutionMXBank, ID: "member-1", Credentials: mxbankCreds("mxuser", "password")})
			g.Expect(IsConflict(err)).To(BeTrue())
			e.expectObserverMatchesSandbox(g)
		})
	}
}

// TestSandboxFaultRetries proves the retry policy and the client-wide
// cool-down against the sandbox's injected 500s, lost responses and 429s,
// counted by the sandbox: a GET makes 1 + MaxRetries attempts, the third
// consecutive failure stops the client sending anything until one probe
// after the cool-down succeeds; a read survives two lost responses; a 429
// without Retry-After is retried after the first short cool-down; a 429
// whose Retry-After is longer than MaxRetryWait is returned at once and
// silences every endpoint for that long.
func TestSandboxFaultRetries(t *testing.T) {
	g := NewWithT(t)
	e := newSandboxEnv(t)
	ctx := context.Background()
	u := e.newUser(g, "p")
	e.c.health.jitter = func(ceiling time.Duration) time.Duration { return ceiling }

	e.sb.SetFault(sandbox.EndpointReadUser, sandbox.Fault{ErrorRate: 1})
	_, err := e.c.GetUser(ctx, u.GUID)
	g.Expect(IsRetryable(err)).To(BeTrue())
	g.Expect(e.sb.CallCount(sandbox.EndpointReadUser)).To(Equal(3), "1 + MaxRetries")
	e.expectObserverMatchesSandbox(g)
	g.Expect(e.c.CoolingDownUntil()).To(Equal(e.sleeps.clock.Now().Add(time.Second)), "three failures in a row: cooling down for CoolDownMin")

	_, err = e.c.GetUser(ctx, u.GUID)
	cdErr, ok := errors.AsType[*CoolingDownError](err)
	g.Expect(ok).To(BeTrue(), "refused: %v", err)
	g.Expect(cdErr.Err).To(BeNil(), "nothing was sent")
	g.Expect(IsRetryable(err)).To(BeTrue())
	g.Expect(e.sb.CallCount(sandbox.EndpointReadUser)).To(Equal(3), "not sent while cooling down")

	e.sb.ClearFaults()
	e.sleeps.clock.Advance(time.Second)
	_, err = e.c.GetUser(ctx, u.GUID)
	g.Expect(err).NotTo(HaveOccurred(), "the probe succeeds")
	g.Expect(e.c.CoolingDownUntil()).To(BeZero(), "healthy again")
	g.Expect(e.sb.CallCount(sandbox.EndpointReadUser)).To(Equal(4))

	// net/http itself may replay a GET once when a reused keep-alive
	// connection drops, so from here the sandbox can count more requests
	// than the client made attempts; it still sees exactly two drops and one
	// success.
	e.sb.SetFault(sandbox.EndpointReadUser, sandbox.Fault{CommitThenFail: 2, DropConnection: true})
	got, err := e.c.GetUser(ctx, u.GUID)
	g.Expect(err).NotTo(HaveOccurred(), "a read survives two lost responses")
	g.Expect(got.GUID).To(Equal(u.GUID))
	g.Expect(e.sb.CallCount(sandbox.EndpointReadUser)).To(Equal(4 + 3))

	// The 429s stop during the first cool-down: the retried create succeeds.
	e.c.sleep = func(ctx context.Context, d time.Duration) error {
		e.sb.ClearFaults()
		return e.sleeps.sleep(ctx, d)
	}
	e.sb.SetFault(sandbox.EndpointCreateUser, sandbox.Fault{RateLimitRate: 1})
	created, err := e.c.CreateUser(ctx, CreateUserRequest{ID: "q"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(created.ID).To(Equal("q"))
	g.Expect(e.sb.CallCount(sandbox.EndpointCreateUser)).To(Equal(1+2), "a create IS retried on 429")
	g.Expect(e.sleeps.recorded()).To(ContainElement(time.Second), "after the first cool-down, CoolDownMin")
	g.Expect(e.sb.UserCount()).To(Equal(2), "exactly one user q")

	e.sb.SetFault(sandbox.EndpointCreateUser, sandbox.Fault{RateLimitRate: 1, RetryAfter: 2 * time.Second})
	_, err = e.c.CreateUser(ctx, CreateUserRequest{ID: "r"})
	g.Expect(IsRateLimited(err)).To(BeTrue())
	g.Expect(e.sb.CallCount(sandbox.EndpointCreateUser)).To(Equal(3+1), "a Retry-After above MaxRetryWait is not waited for")
	d, ok := RetryAfter(err)
	g.Expect(ok).To(BeTrue())
	g.Expect(d).To(Equal(2 * time.Second))

	_, err = e.c.GetUser(ctx, u.GUID)
	g.Expect(IsRateLimited(err)).To(BeTrue(), "every endpoint waits out the 429's cool-down")
	g.Expect(e.sb.CallCount(sandbox.EndpointReadUser)).To(Equal(4+3), "not sent")
}

// TestSandboxUnauthorized proves a wrong API key is a 401, not retried, and
// that the key is not in the error.
func TestSandboxUnauthorized(t *testing.T) {
	g := NewWithT(t)
	e := newSandboxEnv(t)
	c, _ := newTestClient(t, e.srv.URL, func(c *Config) { c.APIKey = "wrong-key-value" })

	_, err := c.ListUsers(context.Background(), ListUsersOptions{})

	g.Expect(IsUnauthorized(err)).To(BeTrue())
	g.Expect(e.sb.CallCount(sandbox.EndpointListUsers)).To(Equal(1))
	g.Expect(err.Error()).NotTo(ContainSubstring("wrong-key-value"))
}
