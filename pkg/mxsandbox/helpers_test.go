package mxsandbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

const (
	testClientID = "test-client-id"
	testAPIKey   = "test-api-key"
	aggStep      = sandbox.DefaultAggregationDuration
)

// t0 is when every fake-clock test starts.
var t0 = time.Date(2024, time.March, 1, 9, 0, 0, 0, time.UTC)

var (
	usernameGUID = sandbox.CredentialGUID(sandbox.InstitutionMXBank, sandbox.CredentialFieldUsername)
	passwordGUID = sandbox.CredentialGUID(sandbox.InstitutionMXBank, sandbox.CredentialFieldPassword)
)

// env is a sandbox on a fake clock served over real HTTP on 127.0.0.1.
type env struct {
	t      *testing.T
	sb     *sandbox.Sandbox
	srv    *httptest.Server
	clock  *sandbox.FakeClock
	client *http.Client
}

func newEnv(t *testing.T, mutate ...func(*sandbox.Options)) *env {
	t.Helper()
	clock := sandbox.NewFakeClock(t0)
	opts := sandbox.Options{ClientID: testClientID, APIKey: testAPIKey, Clock: clock}
	for _, f := range mutate {
		f(&opts)
	}
	sb := sandbox.New(opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(func() {
		sb.ReleaseHeld() // a held request would keep srv.Close waiting
		srv.Close()
		sb.Close()
	})
	return &env{t: t, sb: sb, srv: srv, clock: clock, client: &http.Client{Timeout: 10 * time.Second}}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

// into decodes the body into v and fails the test if it cannot.
func (r resp) into(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %d body %q: %v", r.status, r.body, err)
	}
}

func (r resp) errorMessage(t *testing.T) string {
	t.Helper()
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	r.into(t, &e)
	return e.Error.Message
}

// newRequest builds an authenticated MX request; body may be nil, a string
// (sent as is) or a value encoded as JSON.
func (e *env) newRequest(method, path string, body any) *http.Request {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.SetBasicAuth(testClientID, testAPIKey)
	req.Header.Set("Accept", sandbox.AcceptVersion)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func (e *env) send(req *http.Request) resp {
	e.t.Helper()
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) do(method, path string, body any) resp {
	e.t.Helper()
	return e.send(e.newRequest(method, path, body))
}

// member is the subset of MX's member object the tests look at.
type member struct {
	GUID                     string          `json:"guid"`
	ID                       *string         `json:"id"`
	UserGUID                 string          `json:"user_guid"`
	UserID                   *string         `json:"user_id"`
	InstitutionCode          string          `json:"institution_code"`
	ConnectionStatus         *string         `json:"connection_status"`
	ConnectionStatusMessage  *string         `json:"connection_status_message"`
	IsBeingAggregated        bool            `json:"is_being_aggregated"`
	IsAuthenticated          bool            `json:"is_authenticated"`
	IsOAuth                  bool            `json:"is_oauth"`
	AggregatedAt             *string         `json:"aggregated_at"`
	SuccessfullyAggregatedAt *string         `json:"successfully_aggregated_at"`
	MostRecentJobGUID        *string         `json:"most_recent_job_guid"`
	OAuthWindowURI           *string         `json:"oauth_window_uri"`
	NeedsUpdatedCredentials  bool            `json:"needs_updated_credentials"`
	Challenges               []challengeWire `json:"challenges"`
}

type challengeWire struct {
	GUID      string          `json:"guid"`
	Label     string          `json:"label"`
	Type      json.RawMessage `json:"type"`
	ImageData *string         `json:"image_data"`
	Options   []struct {
		GUID  string `json:"guid"`
		Label string `json:"label"`
		Value string `json:"value"`
	} `json:"options"`
	ImageOptions []struct {
		GUID    string `json:"guid"`
		Value   string `json:"value"`
		DataURI string `json:"data_uri"`
	} `json:"image_options"`
}

func (m member) status() string {
	if m.ConnectionStatus == nil {
		return ""
	}
	return *m.ConnectionStatus
}

func (m member) jobGUID() string {
	if m.MostRecentJobGUID == nil {
		return ""
	}
	return *m.MostRecentJobGUID
}

type pagination struct {
	CurrentPage  int `json:"current_page"`
	PerPage      int `json:"per_page"`
	TotalEntries int `json:"total_entries"`
	TotalPages   int `json:"total_pages"`
}

// ts is how the sandbox writes t.
func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (e *env) createUser(id string) string {
	e.t.Helper()
	r := e.do("POST", "/users", map[string]any{"user": map[string]any{"id": id}})
	if r.status != http.StatusOK {
		e.t.Fatalf("create user %q: %d %s", id, r.status, r.body)
	}
	var body struct {
		User struct {
			GUID string `json:"guid"`
		} `json:"user"`
	}
	r.into(e.t, &body)
	return body.User.GUID
}

func credentials(inst, username, password string) []map[string]string {
	return []map[string]string{
		{"guid": sandbox.CredentialGUID(inst, sandbox.CredentialFieldUsername), "value": username},
		{"guid": sandbox.CredentialGUID(inst, sandbox.CredentialFieldPassword), "value": password},
	}
}

// postMember creates a member with the given fields (merged over a
// credential member of inst) and returns the raw response.
func (e *env) postMember(userGUID, inst, username, password string, extra map[string]any) resp {
	e.t.Helper()
	fields := map[string]any{"institution_code": inst}
	if username != "" || password != "" {
		fields["credentials"] = credentials(inst, username, password)
	}
	for k, v := range extra {
		fields[k] = v
	}
	return e.do("POST", "/users/"+userGUID+"/members", map[string]any{"member": fields})
}

// createMember creates a member and fails unless the answer is 200 or 202.
func (e *env) createMember(userGUID, inst, username, password string, extra map[string]any) member {
	e.t.Helper()
	r := e.postMember(userGUID, inst, username, password, extra)
	if r.status != http.StatusOK && r.status != http.StatusAccepted {
		e.t.Fatalf("create member: %d %s", r.status, r.body)
	}
	return decodeMember(e.t, r)
}

func decodeMember(t *testing.T, r resp) member {
	t.Helper()
	var body struct {
		Member member `json:"member"`
	}
	r.into(t, &body)
	return body.Member
}

func (e *env) memberPath(m member) string {
	return "/users/" + m.UserGUID + "/members/" + m.GUID
}

// status reads the member's status endpoint.
func (e *env) status(m member) member {
	e.t.Helper()
	r := e.do("GET", e.memberPath(m)+"/status", nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("status: %d %s", r.status, r.body)
	}
	return decodeMember(e.t, r)
}

// read reads the member.
func (e *env) read(m member) member {
	e.t.Helper()
	r := e.do("GET", e.memberPath(m), nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("read member: %d %s", r.status, r.body)
	}
	return decodeMember(e.t, r)
}

// answerAll answers every challenge with value(challenge).
func (e *env) resume(m member, answers []map[string]string) resp {
	e.t.Helper()
	return e.do("PUT", e.memberPath(m)+"/resume", map[string]any{"member": map[string]any{"challenges": answers}})
}

func answersFor(cs []challengeWire, value func(challengeWire) string) []map[string]string {
	out := []map[string]string{}
	for _, c := range cs {
		out = append(out, map[string]string{"guid": c.GUID, "value": value(c)})
	}
	return out
}

// correctValue answers a challenge correctly: the value "correct", which for
// option challenges is the value of the right option.
func correctValue(challengeWire) string { return sandbox.CorrectAnswer }

type accountWire struct {
	GUID         string   `json:"guid"`
	ID           string   `json:"id"`
	MemberGUID   string   `json:"member_guid"`
	Name         string   `json:"name"`
	Type         string   `json:"type"`
	Subtype      string   `json:"subtype"`
	Balance      float64  `json:"balance"`
	CurrencyCode string   `json:"currency_code"`
	CreditLimit  *float64 `json:"credit_limit"`
	Number       string   `json:"account_number"`
}

type transactionWire struct {
	GUID         string  `json:"guid"`
	AccountGUID  string  `json:"account_guid"`
	MemberGUID   string  `json:"member_guid"`
	Amount       float64 `json:"amount"`
	Date         string  `json:"date"`
	Description  string  `json:"description"`
	Status       string  `json:"status"`
	Type         string  `json:"type"`
	CurrencyCode string  `json:"currency_code"`
}

func (e *env) accounts(m member, query string) ([]accountWire, pagination) {
	e.t.Helper()
	r := e.do("GET", e.memberPath(m)+"/accounts"+query, nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("accounts: %d %s", r.status, r.body)
	}
	var body struct {
		Accounts   []accountWire `json:"accounts"`
		Pagination pagination    `json:"pagination"`
	}
	r.into(e.t, &body)
	return body.Accounts, body.Pagination
}

// allTransactions reads every page of a transactions list.
func (e *env) allTransactions(path string) []transactionWire {
	e.t.Helper()
	var out []transactionWire
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	for page := 1; ; page++ {
		r := e.do("GET", fmt.Sprintf("%s%spage=%d&records_per_page=1000", path, sep, page), nil)
		if r.status != http.StatusOK {
			e.t.Fatalf("transactions: %d %s", r.status, r.body)
		}
		var body struct {
			Transactions []transactionWire `json:"transactions"`
			Pagination   pagination        `json:"pagination"`
		}
		r.into(e.t, &body)
		out = append(out, body.Transactions...)
		if body.Pagination.CurrentPage >= body.Pagination.TotalPages {
			return out
		}
	}
}

// connectedMember creates a user and an mxbank member with password
// "password" and advances until it is CONNECTED.
func (e *env) connectedMember(userID, username string) member {
	e.t.Helper()
	u := e.createUser(userID)
	m := e.createMember(u, sandbox.InstitutionMXBank, username, "password", nil)
	e.sb.Advance(aggStep)
	got := e.status(m)
	NewWithT(e.t).Expect(got.status()).To(Equal(sandbox.StatusConnected))
	return m
}
