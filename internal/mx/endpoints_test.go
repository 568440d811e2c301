package mx

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// recordedRequest is what the fake server saw.
type recordedRequest struct {
	method      string
	path        string // escaped
	query       url.Values
	body        string
	accept      string
	contentType string
	user, pass  string
	authOK      bool
	userAgent   string
	callback    string
}

// recordingServer answers every request with the next canned reply (the
// last one repeats) and records the requests.
type recordingServer struct {
	mu       sync.Mutex
	requests []recordedRequest
	replies  []reply
}

type reply struct {
	status int
	body   string
}

func (s *recordingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	user, pass, ok := r.BasicAuth()
	s.mu.Lock()
	s.requests = append(s.requests, recordedRequest{
		method: r.Method, path: r.URL.EscapedPath(), query: r.URL.Query(), body: string(body),
		accept: r.Header.Get("Accept"), contentType: r.Header.Get("Content-Type"),
		user: user, pass: pass, authOK: ok, userAgent: r.Header.Get("User-Agent"),
		callback: r.Header.Get("X-CALLBACK-PAYLOAD"),
	})
	i := min(len(s.requests)-1, len(s.replies)-1)
	rep := s.replies[i]
	s.mu.Unlock()
	if rep.status == http.StatusNoContent {
		w.WriteHeader(rep.status)
		return
	}
	writeJSON(w, rep.status, rep.body)
}

func (s *recordingServer) recorded() []recordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recordedRequest(nil), s.requests...)
}

const (
	memberJSON = `{"member":{"guid":"MBR-1","id":"m-1","user_guid":"USR-1","user_id":"u-1","institution_code":"mxbank",
		"institution_guid":"INS-1","name":"MX Bank","metadata":"md","connection_status":"CONNECTED",
		"connection_status_message":"Connected to MX Bank","is_being_aggregated":true,
		"aggregated_at":"2024-12-20T18:52:36Z","successfully_aggregated_at":null,
		"background_aggregation_is_disabled":false,"is_oauth":false,"oauth_window_uri":null,
		"is_managed_by_user":false,"is_manual":false,"needs_updated_credentials":false,
		"most_recent_job_guid":"JOB-1","use_cases":["PFM"],"unknown_field":{"x":1}}}`
	userJSON = `{"user":{"guid":"USR-1","id":"u-1","email":"a@example.com","is_disabled":false,"metadata":"md"}}`
)

// TestEndpoints proves, for every endpoint, the method, escaped path, query,
// wrapped request body and headers sent, and the domain value decoded.
func TestEndpoints(t *testing.T) {
	from := time.Date(2024, 1, 2, 15, 0, 0, 0, time.UTC)
	to := time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		reason   string
		replies  []reply
		invoke   func(ctx context.Context, c *Client) (any, error)
		method   string
		path     string
		query    url.Values // every expected query parameter
		body     string     // expected JSON body, "" for none
		callback string     // expected X-CALLBACK-PAYLOAD
		want     any
	}{
		{
			reason:  "create user wraps the user object and omits unset fields",
			replies: []reply{{200, userJSON}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateUser(ctx, CreateUserRequest{ID: "u-1", Email: "a@example.com"})
			},
			method: "POST", path: "/users",
			body: `{"user":{"id":"u-1","email":"a@example.com"}}`,
			want: &User{GUID: "USR-1", ID: "u-1", Email: "a@example.com", Metadata: "md"},
		},
		{
			reason:  "get user escapes the guid into the path",
			replies: []reply{{200, userJSON}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.GetUser(ctx, "USR-1/../x")
			},
			method: "GET", path: "/users/USR-1%2F..%2Fx",
			want: &User{GUID: "USR-1", ID: "u-1", Email: "a@example.com", Metadata: "md"},
		},
		{
			reason:  "update user sends only the set fields",
			replies: []reply{{200, userJSON}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				disabled := true
				return c.UpdateUser(ctx, "USR-1", UpdateUserRequest{IsDisabled: &disabled})
			},
			method: "PUT", path: "/users/USR-1",
			body: `{"user":{"is_disabled":true}}`,
			want: &User{GUID: "USR-1", ID: "u-1", Email: "a@example.com", Metadata: "md"},
		},
		{
			reason:  "delete user accepts 204",
			replies: []reply{{204, ""}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.DeleteUser(ctx, "USR-1")
			},
			method: "DELETE", path: "/users/USR-1",
			want: nil,
		},
		{
			reason:  "list users passes the filters and the page size",
			replies: []reply{{200, `{"users":[{"guid":"USR-1","id":"u-1"}],"pagination":{"current_page":1,"per_page":1000,"total_entries":1,"total_pages":1}}`}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.ListUsers(ctx, ListUsersOptions{ID: "u-1", Email: "a@example.com"})
			},
			method: "GET", path: "/users",
			query: url.Values{"id": {"u-1"}, "email": {"a@example.com"}, "page": {"1"}, "records_per_page": {"1000"}},
			want:  []User{{GUID: "USR-1", ID: "u-1"}},
		},
		{
			reason:  "find user by id filters by id and picks the exact match",
			replies: []reply{{200, `{"users":[{"guid":"USR-0","id":"u-10"},{"guid":"USR-1","id":"u-1"}],"pagination":{"current_page":1,"total_pages":1}}`}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.FindUserByID(ctx, "u-1")
			},
			method: "GET", path: "/users",
			query: url.Values{"id": {"u-1"}, "page": {"1"}, "records_per_page": {"1000"}},
			want:  &User{GUID: "USR-1", ID: "u-1"},
		},
		{
			reason:  "list institutions uses 100 per page, MX's maximum there",
			replies: []reply{{200, `{"institutions":[{"code":"mxbank","name":"MX Bank","supports_oauth":false}],"pagination":{"current_page":1,"total_pages":1}}`}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.ListInstitutions(ctx, "MX")
			},
			method: "GET", path: "/institutions",
			query: url.Values{"name": {"MX"}, "page": {"1"}, "records_per_page": {"100"}},
			want:  []Institution{{Code: "mxbank", Name: "MX Bank"}},
		},
		{
			reason:  "get institution decodes supports_oauth",
			replies: []reply{{200, `{"institution":{"code":"mx_bank_oauth","name":"MX Bank (OAuth)","supports_oauth":true,"url":null}}`}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.GetInstitution(ctx, "mx_bank_oauth")
			},
			method: "GET", path: "/institutions/mx_bank_oauth",
			want: &Institution{Code: "mx_bank_oauth", Name: "MX Bank (OAuth)", SupportsOAuth: true},
		},
		{
			reason:  "institution credentials decode guid, field name, label, type and order",
			replies: []reply{{200, `{"credentials":[{"guid":"CRD-1","field_name":"LOGIN","label":"Username","type":"TEXT","display_order":1},{"guid":"CRD-2","field_name":"PASSWORD","label":"Password","type":1,"display_order":2}]}`}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.ListInstitutionCredentials(ctx, "mxbank")
			},
			method: "GET", path: "/institutions/mxbank/credentials",
			query: url.Values{"page": {"1"}, "records_per_page": {"1000"}},
			want: []CredentialField{
				{GUID: "CRD-1", FieldName: "LOGIN", Label: "Username", Type: FieldTypeText, DisplayOrder: 1},
				{GUID: "CRD-2", FieldName: "PASSWORD", Label: "Password", Type: FieldTypePassword, DisplayOrder: 2},
			},
		},
		{
			reason:  "create member sends credentials, siblings of member, the callback header, and reports 202 as aggregation started",
			replies: []reply{{202, memberJSON}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				m, started, err := c.CreateMember(ctx, "USR-1", CreateMemberRequest{
					InstitutionCode: "mxbank", ID: "m-1",
					Credentials:    []CredentialValue{{GUID: "CRD-1", Value: "mxuser"}, {GUID: "CRD-2", Value: "password"}},
					ReferralSource: "APP", ClientRedirectURL: "https://example.com/cb", CallbackPayload: []byte("ref-1"),
				})
				return []any{m.GUID, started}, err
			},
			method: "POST", path: "/users/USR-1/members",
			body:     `{"member":{"institution_code":"mxbank","credentials":[{"guid":"CRD-1","value":"mxuser"},{"guid":"CRD-2","value":"password"}],"id":"m-1"},"referral_source":"APP","client_redirect_url":"https://example.com/cb"}`,
			callback: base64.StdEncoding.EncodeToString([]byte("ref-1")),
			want:     []any{"MBR-1", true},
		},
		{
			reason:  "create member of an OAuth member sends an empty credentials array and reports 200 as no aggregation started",
			replies: []reply{{200, memberJSON}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				m, started, err := c.CreateMember(ctx, "USR-1", CreateMemberRequest{InstitutionCode: "mx_bank_oauth", IsOAuth: true, SkipAggregation: true})
				return []any{m.GUID, started}, err
			},
			method: "POST", path: "/users/USR-1/members",
			body: `{"member":{"institution_code":"mx_bank_oauth","credentials":[],"skip_aggregation":true,"is_oauth":true}}`,
			want: []any{"MBR-1", false},
		},
		{
			reason:  "get member decodes every field tolerantly",
			replies: []reply{{200, memberJSON}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.GetMember(ctx, "USR-1", "MBR-1")
			},
			method: "GET", path: "/users/USR-1/members/MBR-1",
			want: &Member{
				GUID: "MBR-1", ID: "m-1", UserGUID: "USR-1", UserID: "u-1", InstitutionCode: "mxbank",
				InstitutionGUID: "INS-1", Name: "MX Bank", Metadata: "md", ConnectionStatus: StatusConnected,
				ConnectionStatusMessage: "Connected to MX Bank", IsBeingAggregated: true,
				AggregatedAt:      new(time.Date(2024, 12, 20, 18, 52, 36, 0, time.UTC)),
				MostRecentJobGUID: "JOB-1", UseCases: []string{"PFM"},
			},
		},
		{
			reason:  "update member sends new credentials and flags",
			replies: []reply{{200, memberJSON}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				skip := true
				m, err := c.UpdateMember(ctx, "USR-1", "MBR-1", UpdateMemberRequest{
					Credentials: []CredentialValue{{GUID: "CRD-2", Value: "new"}}, SkipAggregation: &skip,
				})
				return m.GUID, err
			},
			method: "PUT", path: "/users/USR-1/members/MBR-1",
			body: `{"member":{"credentials":[{"guid":"CRD-2","value":"new"}],"skip_aggregation":true}}`,
			want: "MBR-1",
		},
		{
			reason:  "delete member accepts 204",
			replies: []reply{{204, ""}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.DeleteMember(ctx, "USR-1", "MBR-1")
			},
			method: "DELETE", path: "/users/USR-1/members/MBR-1",
			want: nil,
		},
		{
			reason:  "list members walks the list",
			replies: []reply{{200, `{"members":[{"guid":"MBR-1","id":"m-1","most_recent_job_guid":false}],"pagination":{"current_page":1,"total_pages":1}}`}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.ListMembers(ctx, "USR-1")
			},
			method: "GET", path: "/users/USR-1/members",
			query: url.Values{"page": {"1"}, "records_per_page": {"1000"}},
			want:  []Member{{GUID: "MBR-1", ID: "m-1"}},
		},
		{
			reason:  "find member by id picks the exact partner id",
			replies: []reply{{200, `{"members":[{"guid":"MBR-0","id":"m-10"},{"guid":"MBR-1","id":"m-1"}],"pagination":{"current_page":1,"total_pages":1}}`}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				m, err := c.FindMemberByID(ctx, "USR-1", "m-1")
				return m.GUID, err
			},
			method: "GET", path: "/users/USR-1/members",
			query: url.Values{"page": {"1"}, "records_per_page": {"1000"}},
			want:  "MBR-1",
		},
		{
			reason:  "member status decodes challenges and null timestamps",
			replies: []reply{{200, `{"member":{"guid":"MBR-1","connection_status":"CHALLENGED","is_authenticated":false,"is_being_aggregated":true,"aggregated_at":null,"successfully_aggregated_at":null,"has_processed_accounts":false,"challenges":[{"guid":"CRD-9","label":"What city?","type":0}]}}`}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.GetMemberStatus(ctx, "USR-1", "MBR-1")
			},
			method: "GET", path: "/users/USR-1/members/MBR-1/status",
			want: &MemberStatus{GUID: "MBR-1", ConnectionStatus: StatusChallenged, IsBeingAggregated: true,
				Challenges: []Challenge{{GUID: "CRD-9", Label: "What city?", Type: FieldTypeText}}},
		},
		{
			reason:  "aggregate posts without a body and accepts 202",
			replies: []reply{{202, memberJSON}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				m, err := c.AggregateMember(ctx, "USR-1", "MBR-1")
				return m.GUID, err
			},
			method: "POST", path: "/users/USR-1/members/MBR-1/aggregate",
			want: "MBR-1",
		},
		{
			reason:  "list challenges decodes options",
			replies: []reply{{200, `{"challenges":[{"guid":"CRD-5","label":"Pick","type":"OPTIONS","options":[{"guid":"O-1","label":"A","value":"correct"}]}]}`}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.ListChallenges(ctx, "USR-1", "MBR-1")
			},
			method: "GET", path: "/users/USR-1/members/MBR-1/challenges",
			query: url.Values{"page": {"1"}, "records_per_page": {"1000"}},
			want:  []Challenge{{GUID: "CRD-5", Label: "Pick", Type: FieldTypeOptions, Options: []ChallengeOption{{GUID: "O-1", Label: "A", Value: "correct"}}}},
		},
		{
			reason:  "list challenges maps 204 to an empty list and no error",
			replies: []reply{{204, ""}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.ListChallenges(ctx, "USR-1", "MBR-1")
			},
			method: "GET", path: "/users/USR-1/members/MBR-1/challenges",
			query: url.Values{"page": {"1"}, "records_per_page": {"1000"}},
			want:  []Challenge(nil),
		},
		{
			reason:  "resume sends the answers under member.challenges",
			replies: []reply{{202, memberJSON}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				m, err := c.ResumeMember(ctx, "USR-1", "MBR-1", []ChallengeAnswer{{GUID: "CRD-9", Value: "correct"}})
				return m.GUID, err
			},
			method: "PUT", path: "/users/USR-1/members/MBR-1/resume",
			body: `{"member":{"challenges":[{"guid":"CRD-9","value":"correct"}]}}`,
			want: "MBR-1",
		},
		{
			reason:  "oauth window uri passes the options and returns the uri",
			replies: []reply{{200, `{"member":{"guid":"MBR-1","oauth_window_uri":"https://bank.example/oauth?state=1"}}`}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.OAuthWindowURI(ctx, "USR-1", "MBR-1", OAuthWindowOptions{ClientRedirectURL: "https://example.com/cb", ReferralSource: "BROWSER", SkipAggregation: true})
			},
			method: "GET", path: "/users/USR-1/members/MBR-1/oauth_window_uri",
			query: url.Values{"client_redirect_url": {"https://example.com/cb"}, "referral_source": {"BROWSER"}, "skip_aggregation": {"true"}},
			want:  "https://bank.example/oauth?state=1",
		},
		{
			reason:  "member accounts decode money as decimal text from numbers and strings",
			replies: []reply{{200, `{"accounts":[{"guid":"ACT-1","member_guid":"MBR-1","name":"Checking","type":"CHECKING","subtype":"NONE","account_number":"5366","balance":1000.10,"available_balance":"999.99","credit_limit":null,"currency_code":"USD","is_closed":false,"created_at":"2023-07-25T17:14:46Z","payment_due_at":null}],"pagination":{"current_page":1,"total_pages":1}}`}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.ListMemberAccounts(ctx, "USR-1", "MBR-1")
			},
			method: "GET", path: "/users/USR-1/members/MBR-1/accounts",
			query: url.Values{"page": {"1"}, "records_per_page": {"1000"}},
			want: []Account{{GUID: "ACT-1", MemberGUID: "MBR-1", Name: "Checking", Type: "CHECKING", Subtype: "NONE", AccountNumber: "5366",
				Balance: "1000.10", AvailableBalance: "999.99", CurrencyCode: "USD", CreatedAt: new(time.Date(2023, 7, 25, 17, 14, 46, 0, time.UTC))}},
		},
		{
			reason:  "member transactions pass the date range",
			replies: []reply{{200, `{"transactions":[{"guid":"TRN-1","amount":"12.5","type":"DEBIT","status":"POSTED","date":"2024-01-05","posted_at":"2024-01-05T12:00:00Z","transacted_at":null}],"pagination":{"current_page":1,"total_pages":1}}`}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.ListMemberTransactions(ctx, "USR-1", "MBR-1", DateRange{From: from, To: to})
			},
			method: "GET", path: "/users/USR-1/members/MBR-1/transactions",
			query: url.Values{"from_date": {"2024-01-02"}, "to_date": {"2024-03-31"}, "page": {"1"}, "records_per_page": {"1000"}},
			want:  []Transaction{{GUID: "TRN-1", Amount: "12.5", Type: "DEBIT", Status: "POSTED", Date: "2024-01-05", PostedAt: new(time.Date(2024, 1, 5, 12, 0, 0, 0, time.UTC))}},
		},
		{
			reason:  "account transactions leave unset bounds to MX",
			replies: []reply{{200, `{"transactions":[],"pagination":{"current_page":1,"total_pages":0}}`}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.ListAccountTransactions(ctx, "USR-1", "ACT-1", DateRange{From: from})
			},
			method: "GET", path: "/users/USR-1/accounts/ACT-1/transactions",
			query: url.Values{"from_date": {"2024-01-02"}, "page": {"1"}, "records_per_page": {"1000"}},
			want:  []Transaction(nil),
		},
		{
			reason:  "user transactions with no range send no dates",
			replies: []reply{{200, `{"transactions":[{"guid":"TRN-2","amount":-0.01}],"pagination":{"current_page":1,"total_pages":1}}`}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.ListUserTransactions(ctx, "USR-1", DateRange{})
			},
			method: "GET", path: "/users/USR-1/transactions",
			query: url.Values{"page": {"1"}, "records_per_page": {"1000"}},
			want:  []Transaction{{GUID: "TRN-2", Amount: "-0.01"}},
		},
		{
			reason:  "connect widget URL wraps the options, sends the set ones (false included) and decodes the URL",
			replies: []reply{{200, `{"widget_url":{"type":"connect_widget","url":"https://widgets.example/md/connect/tok","user_id":"u-1"}}`}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateConnectWidgetURL(ctx, "USR-1", ConnectWidgetOptions{
					InstitutionCode: "mxbank", MemberGUID: "MBR-1", Mode: "aggregation", ClientRedirectURL: "https://app.example/done",
					ColorScheme: "dark", OAuthReferralSource: "BROWSER", UIMessageVersion: 4,
					DisableBackgroundAggregation: new(true), DisableInstitutionSearch: new(false), IsMobileWebview: new(false),
					UpdateCredentials: new(true), IncludeTransactions: new(false),
				})
			},
			method: "POST", path: "/users/USR-1/widget_urls",
			body: `{"widget_url":{"widget_type":"connect_widget","current_institution_code":"mxbank","current_member_guid":"MBR-1",
				"mode":"aggregation","client_redirect_url":"https://app.example/done","color_scheme":"dark","oauth_referral_source":"BROWSER",
				"ui_message_version":4,"disable_background_agg":true,"disable_institution_search":false,"is_mobile_webview":false,
				"update_credentials":true,"include_transactions":false}}`,
			want: &WidgetURL{Type: "connect_widget", URL: "https://widgets.example/md/connect/tok", UserID: "u-1"},
		},
		{
			reason:  "connect widget URL with no options sends only the widget type; a null user_id is empty",
			replies: []reply{{200, `{"widget_url":{"type":"connect_widget","url":"https://widgets.example/md/connect/tok","user_id":null}}`}},
			invoke: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateConnectWidgetURL(ctx, "USR-1", ConnectWidgetOptions{})
			},
			method: "POST", path: "/users/USR-1/widget_urls",
			body: `{"widget_url":{"widget_type":"connect_widget"}}`,
			want: &WidgetURL{Type: "connect_widget", URL: "https://widgets.example/md/connect/tok"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			fake := &recordingServer{replies: tt.replies}
			srv := newServer(t, fake)
			c, _ := newTestClient(t, srv.URL)

			got, err := tt.invoke(context.Background(), c)

			g.Expect(err).NotTo(HaveOccurred(), tt.reason)
			if tt.want == nil {
				g.Expect(got).To(BeNil(), tt.reason)
			} else {
				g.Expect(got).To(BeEquivalentTo(tt.want), tt.reason)
			}
			reqs := fake.recorded()
			g.Expect(reqs).To(HaveLen(1), "one request, no retry")
			req := reqs[0]
			g.Expect(req.method).To(Equal(tt.method))
			g.Expect(req.path).To(Equal(tt.path))
			if tt.query == nil {
				tt.query = url.Values{}
			}
			g.Expect(req.query).To(Equal(tt.query))
			g.Expect(req.accept).To(Equal("application/vnd.mx.api.v1+json"), "Accept on every request")
			g.Expect(req.authOK).To(BeTrue(), "basic auth on every request")
			g.Expect(req.user).To(Equal(testClientID))
			g.Expect(req.pass).To(Equal(testAPIKey))
			g.Expect(req.userAgent).To(Equal(DefaultUserAgent))
			g.Expect(req.callback).To(Equal(tt.callback))
			if tt.body == "" {
				g.Expect(req.body).To(BeEmpty())
				g.Expect(req.contentType).To(BeEmpty())
				return
			}
			g.Expect(req.body).To(MatchJSON(tt.body))
			g.Expect(req.contentType).To(Equal("application/json"))
		})
	}
}

// TestRequestValidation proves that calls MX would reject are refused
// before anything is sent, as ErrInvalidRequest (terminal).
func TestRequestValidation(t *testing.T) {
	tests := []struct {
		reason string
		invoke func(ctx context.Context, c *Client) error
	}{
		{"an empty user object is a 400 at MX", func(ctx context.Context, c *Client) error {
			_, err := c.CreateUser(ctx, CreateUserRequest{})
			return err
		}},
		{"an empty PUT body is a 400 at MX", func(ctx context.Context, c *Client) error {
			_, err := c.UpdateUser(ctx, "USR-1", UpdateUserRequest{})
			return err
		}},
		{"an empty member update is a 400 at MX", func(ctx context.Context, c *Client) error {
			_, err := c.UpdateMember(ctx, "USR-1", "MBR-1", UpdateMemberRequest{})
			return err
		}},
		{"an empty guid would address another route", func(ctx context.Context, c *Client) error {
			_, err := c.GetMember(ctx, "USR-1", "")
			return err
		}},
		{"an institution code is required", func(ctx context.Context, c *Client) error {
			_, _, err := c.CreateMember(ctx, "USR-1", CreateMemberRequest{})
			return err
		}},
		{"resume needs answers", func(ctx context.Context, c *Client) error {
			_, err := c.ResumeMember(ctx, "USR-1", "MBR-1", nil)
			return err
		}},
		{"the callback payload is limited to 1024 encoded bytes", func(ctx context.Context, c *Client) error {
			_, _, err := c.CreateMember(ctx, "USR-1", CreateMemberRequest{InstitutionCode: "mxbank", CallbackPayload: make([]byte, 800)})
			return err
		}},
		{"a reversed date range", func(ctx context.Context, c *Client) error {
			_, err := c.ListUserTransactions(ctx, "USR-1", DateRange{From: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
			return err
		}},
		{"find by an empty id", func(ctx context.Context, c *Client) error {
			_, err := c.FindMemberByID(ctx, "USR-1", "")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			fake := &recordingServer{replies: []reply{{200, "{}"}}}
			c, _ := newTestClient(t, newServer(t, fake).URL)

			err := tt.invoke(context.Background(), c)

			g.Expect(err).To(MatchError(ErrInvalidRequest), tt.reason)
			g.Expect(Classify(err)).To(Equal(ClassTerminal))
			g.Expect(fake.recorded()).To(BeEmpty(), "nothing is sent")
		})
	}
}

// TestFindByIDNotFound proves that a Find* with no match reports
// ErrNotFound, classified like a 404.
func TestFindByIDNotFound(t *testing.T) {
	g := NewWithT(t)
	fake := &recordingServer{replies: []reply{{200, `{"users":[{"guid":"USR-0","id":"u-10"}],"members":[],"pagination":{"current_page":1,"total_pages":1}}`}}}
	c, _ := newTestClient(t, newServer(t, fake).URL)

	_, err := c.FindUserByID(context.Background(), "u-1")
	g.Expect(err).To(MatchError(ErrNotFound))
	g.Expect(IsNotFound(err)).To(BeTrue())

	_, err = c.FindMemberByID(context.Background(), "USR-1", "m-1")
	g.Expect(err).To(MatchError(ErrNotFound))
	g.Expect(IsNotFound(err)).To(BeTrue())
}

// TestCreateMemberAlwaysSendsCredentials proves, by decoding the body the
// server received, that a create member always carries a credentials array
// as MX's spec requires: empty (never absent or null) when the request has
// none, as for an OAuth member; while an update without credentials sends
// none, leaving them unchanged.
func TestCreateMemberAlwaysSendsCredentials(t *testing.T) {
	tests := []struct {
		reason     string
		creds      []CredentialValue
		wantLength int
	}{
		{"an OAuth create with nil credentials sends []", nil, 0},
		{"an empty credentials slice sends []", []CredentialValue{}, 0},
		{"credentials are sent as given", []CredentialValue{{GUID: "CRD-1", Value: "u"}, {GUID: "CRD-2", Value: "p"}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			fake := &recordingServer{replies: []reply{{200, memberJSON}}}
			c, _ := newTestClient(t, newServer(t, fake).URL)

			_, _, err := c.CreateMember(context.Background(), "USR-1", CreateMemberRequest{InstitutionCode: "mx_bank_oauth", IsOAuth: true, Credentials: tt.creds})

			g.Expect(err).NotTo(HaveOccurred())
			reqs := fake.recorded()
			g.Expect(reqs).To(HaveLen(1))
			var body struct {
				Member map[string]json.RawMessage `json:"member"`
			}
			g.Expect(json.Unmarshal([]byte(reqs[0].body), &body)).To(Succeed())
			raw, ok := body.Member["credentials"]
			g.Expect(ok).To(BeTrue(), "credentials present in %s", reqs[0].body)
			var creds []map[string]string
			g.Expect(json.Unmarshal(raw, &creds)).To(Succeed())
			g.Expect(creds).NotTo(BeNil(), "an array, not null: %s", raw)
			g.Expect(creds).To(HaveLen(tt.wantLength), tt.reason)
		})
	}

	t.Run("an update without credentials sends none", func(t *testing.T) {
		g := NewWithT(t)
		fake := &recordingServer{replies: []reply{{200, memberJSON}}}
		c, _ := newTestClient(t, newServer(t, fake).URL)

		_, err := c.UpdateMember(context.Background(), "USR-1", "MBR-1", UpdateMemberRequest{Metadata: new("md")})

		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(fake.recorded()[0].body).To(Equal(`{"member":{"metadata":"md"}}`))
	})
}
