package mxsandbox_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// widgetAnswer is the answer of POST /users/{user}/widget_urls.
type widgetAnswer struct {
	WidgetURL struct {
		Type   string  `json:"type"`
		URL    string  `json:"url"`
		UserID *string `json:"user_id"`
	} `json:"widget_url"`
}

// postWidgetURL asks for a Connect widget URL for the user with the given
// options (widget_type connect_widget unless options set another).
func (e *env) postWidgetURL(userGUID string, options map[string]any) resp {
	e.t.Helper()
	fields := map[string]any{"widget_type": "connect_widget"}
	for k, v := range options {
		fields[k] = v
	}
	return e.do("POST", "/users/"+userGUID+"/widget_urls", map[string]any{"widget_url": fields})
}

// widgetURL mints a Connect widget URL and fails unless the answer is 200.
func (e *env) widgetURL(userGUID string, options map[string]any) string {
	e.t.Helper()
	r := e.postWidgetURL(userGUID, options)
	if r.status != http.StatusOK {
		e.t.Fatalf("widget URL: %d %s", r.status, r.body)
	}
	var a widgetAnswer
	r.into(e.t, &a)
	return a.WidgetURL.URL
}

// widgetToken is the secret part of a widget URL.
func widgetToken(t *testing.T, widgetURL string) string {
	t.Helper()
	u, err := url.Parse(widgetURL)
	if err != nil {
		t.Fatal(err)
	}
	token, ok := strings.CutPrefix(u.Path, "/_sandbox/widget/")
	if !ok || token == "" {
		t.Fatalf("widget URL path %q is not /_sandbox/widget/<token>", u.Path)
	}
	return token
}

// backgroundDisabled reads the member's background_aggregation_is_disabled.
func (e *env) backgroundDisabled(userGUID, memberGUID string) bool {
	e.t.Helper()
	var body struct {
		Member struct {
			Disabled bool `json:"background_aggregation_is_disabled"`
		} `json:"member"`
	}
	e.do("GET", "/users/"+userGUID+"/members/"+memberGUID, nil).into(e.t, &body)
	return body.Member.Disabled
}

// institutionGUID reads the guid of the institution with code.
func (e *env) institutionGUID(code string) string {
	e.t.Helper()
	var body struct {
		Institution struct {
			GUID string `json:"guid"`
		} `json:"institution"`
	}
	e.do("GET", "/institutions/"+code, nil).into(e.t, &body)
	return body.Institution.GUID
}

func ptr[T any](v T) *T { return &v }

// TestWidgetURLAnswer follows OpenAPI requestWidgetURL (WidgetResponseBody)
// and MX-API.md §11: 200 with the widget_url wrapper, the type, a URL and
// the user's partner id (null without one); the options are kept with the
// minted URL, which expires ten minutes later.
func TestWidgetURLAnswer(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	u := e.createUser("partner-user")

	r := e.postWidgetURL(u, map[string]any{
		"current_institution_code":   sandbox.InstitutionMXBank,
		"mode":                       "verification",
		"disable_background_agg":     false,
		"disable_institution_search": true,
		"client_redirect_url":        "https://app.example/done",
		"color_scheme":               "dark",
		"is_mobile_webview":          true,
		"oauth_referral_source":      "APP",
		"ui_message_version":         4,
		"update_credentials":         false,
		"include_transactions":       true,
	})
	g.Expect(r.status).To(Equal(http.StatusOK))
	g.Expect(r.header.Get("Content-Type")).To(HavePrefix(sandbox.AcceptVersion))
	var a widgetAnswer
	r.into(t, &a)
	g.Expect(a.WidgetURL.Type).To(Equal("connect_widget"))
	g.Expect(a.WidgetURL.UserID).To(HaveValue(Equal("partner-user")))
	g.Expect(a.WidgetURL.URL).To(HavePrefix(e.srv.URL + "/_sandbox/widget/"))
	token := widgetToken(t, a.WidgetURL.URL)
	g.Expect(len(token)).To(BeNumerically(">=", 26), "at least 128 random bits")
	g.Expect(token).NotTo(ContainSubstring(u), "the token is not derived from the user")

	again := e.widgetURL(u, nil)
	g.Expect(widgetToken(t, again)).NotTo(Equal(token), "every request mints a new URL")

	var anonymous widgetAnswer
	e.postWidgetURL(e.createUser(""), nil).into(t, &anonymous)
	g.Expect(anonymous.WidgetURL.UserID).To(BeNil(), "a user without partner id: null")

	minted := e.sb.WidgetURLs()
	g.Expect(minted).To(HaveLen(3))
	g.Expect(minted[0]).To(Equal(sandbox.WidgetURLSnapshot{
		UserGUID:        u,
		InstitutionCode: sandbox.InstitutionMXBank,
		Mode:            "verification",
		MintedAt:        t0,
		ExpiresAt:       t0.Add(10 * time.Minute),
		Options: sandbox.WidgetOptions{
			CurrentInstitutionCode:   sandbox.InstitutionMXBank,
			Mode:                     "verification",
			DisableBackgroundAgg:     ptr(false),
			DisableInstitutionSearch: ptr(true),
			ClientRedirectURL:        "https://app.example/done",
			ColorScheme:              "dark",
			IsMobileWebview:          ptr(true),
			OAuthReferralSource:      "APP",
			UIMessageVersion:         ptr(4),
			UpdateCredentials:        ptr(false),
			IncludeTransactions:      ptr(true),
		},
	}))
	g.Expect(minted[1]).To(Equal(sandbox.WidgetURLSnapshot{
		UserGUID: u, Mode: "aggregation", MintedAt: t0, ExpiresAt: t0.Add(sandbox.WidgetURLLifetime),
	}), "options not sent stay unset; mode defaults to aggregation")
	g.Expect(sandbox.WidgetURLLifetime).To(Equal(10 * time.Minute))
	g.Expect(e.sb.CallCount(sandbox.EndpointCreateWidgetURL)).To(Equal(3))
}

// TestWidgetURLInstitutionAndMember: current_member_guid names a member of
// the user and takes precedence over the institution options
// (OpenAPI WidgetRequest); current_institution_guid works like the code.
func TestWidgetURLInstitutionAndMember(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.connectedMember("u", "mxuser")

	e.widgetURL(m.UserGUID, map[string]any{"current_member_guid": m.GUID, "current_institution_code": "no_such_bank"})
	e.widgetURL(m.UserGUID, map[string]any{"current_institution_guid": e.institutionGUID(sandbox.InstitutionMXBankSlow)})

	minted := e.sb.WidgetURLs()
	g.Expect(minted).To(HaveLen(2))
	g.Expect(minted[0].MemberGUID).To(Equal(m.GUID))
	g.Expect(minted[0].InstitutionCode).To(Equal(sandbox.InstitutionMXBank), "the member's institution")
	g.Expect(minted[0].Options.CurrentInstitutionCode).To(Equal("no_such_bank"), "kept as sent, but not used")
	g.Expect(minted[1].InstitutionCode).To(Equal(sandbox.InstitutionMXBankSlow))
	g.Expect(minted[1].MemberGUID).To(BeEmpty())
}

// TestWidgetURLRefusals: the credential and Accept checks of every MX
// endpoint, 404 for an unknown user, member or institution, and 400 for a
// request the sandbox cannot serve, each with MX's error body; nothing is
// minted.
func TestWidgetURLRefusals(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("u")
	other := e.connectedMember("other", "mxuser")
	cases := []struct {
		reason      string
		req         func() *http.Request
		wantStatus  int
		wantMessage string
	}{
		{"no credentials", func() *http.Request {
			r := e.newRequest("POST", "/users/"+u+"/widget_urls", map[string]any{"widget_url": map[string]any{"widget_type": "connect_widget"}})
			r.Header.Del("Authorization")
			return r
		}, http.StatusUnauthorized, "not valid"},
		{"no Accept version", func() *http.Request {
			r := e.newRequest("POST", "/users/"+u+"/widget_urls", map[string]any{"widget_url": map[string]any{"widget_type": "connect_widget"}})
			r.Header.Del("Accept")
			return r
		}, http.StatusNotAcceptable, "Accept"},
		{"an unknown user", func() *http.Request {
			return e.newRequest("POST", "/users/USR-nope/widget_urls", map[string]any{"widget_url": map[string]any{"widget_type": "connect_widget"}})
		}, http.StatusNotFound, "User not found"},
		{"no body", func() *http.Request { return e.newRequest("POST", "/users/"+u+"/widget_urls", nil) }, http.StatusBadRequest, "widget_url"},
		{"no widget_url object", func() *http.Request {
			return e.newRequest("POST", "/users/"+u+"/widget_urls", map[string]any{"widget_type": "connect_widget"})
		}, http.StatusBadRequest, "widget_url"},
		{"a mistyped option", func() *http.Request {
			return e.newRequest("POST", "/users/"+u+"/widget_urls", map[string]any{"widget_url": map[string]any{"widget_type": "connect_widget", "ui_message_version": "four"}})
		}, http.StatusBadRequest, "widget_url"},
		{"no widget_type", func() *http.Request {
			return e.newRequest("POST", "/users/"+u+"/widget_urls", map[string]any{"widget_url": map[string]any{"mode": "aggregation"}})
		}, http.StatusBadRequest, "widget_type is required"},
		{"another widget type", func() *http.Request {
			return e.newRequest("POST", "/users/"+u+"/widget_urls", map[string]any{"widget_url": map[string]any{"widget_type": "pulse_widget"}})
		}, http.StatusBadRequest, "only connect_widget"},
		{"an unknown mode", func() *http.Request {
			return e.newRequest("POST", "/users/"+u+"/widget_urls", map[string]any{"widget_url": map[string]any{"widget_type": "connect_widget", "mode": "identification"}})
		}, http.StatusBadRequest, "mode"},
		{"an unknown member", func() *http.Request {
			return e.newRequest("POST", "/users/"+u+"/widget_urls", map[string]any{"widget_url": map[string]any{"widget_type": "connect_widget", "current_member_guid": "MBR-nope"}})
		}, http.StatusNotFound, "Member not found"},
		{"a member of another user", func() *http.Request {
			return e.newRequest("POST", "/users/"+u+"/widget_urls", map[string]any{"widget_url": map[string]any{"widget_type": "connect_widget", "current_member_guid": other.GUID}})
		}, http.StatusNotFound, "Member not found"},
		{"an unknown institution code", func() *http.Request {
			return e.newRequest("POST", "/users/"+u+"/widget_urls", map[string]any{"widget_url": map[string]any{"widget_type": "connect_widget", "current_institution_code": "no_such_bank"}})
		}, http.StatusNotFound, "Institution not found"},
		{"an unknown institution guid", func() *http.Request {
			return e.newRequest("POST", "/users/"+u+"/widget_urls", map[string]any{"widget_url": map[string]any{"widget_type": "connect_widget", "current_institution_guid": "INS-nope"}})
		}, http.StatusNotFound, "Institution not found"},
		{"code and guid of different institutions", func() *http.Request {
			return e.newRequest("POST", "/users/"+u+"/widget_urls", map[string]any{"widget_url": map[string]any{
				"widget_type": "connect_widget", "current_institution_code": sandbox.InstitutionMXBank,
				"current_institution_guid": e.institutionGUID(sandbox.InstitutionMXBankSlow),
			}})
		}, http.StatusBadRequest, "different institutions"},
		{"institution search disabled without an institution", func() *http.Request {
			return e.newRequest("POST", "/users/"+u+"/widget_urls", map[string]any{"widget_url": map[string]any{"widget_type": "connect_widget", "disable_institution_search": true}})
		}, http.StatusBadRequest, "disable_institution_search"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			r := e.send(tc.req())
			g.Expect(r.status).To(Equal(tc.wantStatus))
			g.Expect(r.errorMessage(t)).To(ContainSubstring(tc.wantMessage))
		})
	}
	NewWithT(t).Expect(e.sb.WidgetURLs()).To(BeEmpty(), "no refused request minted a URL")
}

// TestWidgetURLFaults: the endpoint's faults are keyed by its name, like
// every other endpoint's, and a request without effect mints nothing.
func TestWidgetURLFaults(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	u := e.createUser("u")
	g.Expect(sandbox.Endpoints()).To(ContainElement(sandbox.EndpointCreateWidgetURL))
	g.Expect(sandbox.EndpointCreateWidgetURL).To(Equal("POST /users/{user}/widget_urls"))

	e.sb.SetFault(sandbox.EndpointCreateWidgetURL, sandbox.Fault{RateLimitRate: 1})
	g.Expect(e.postWidgetURL(u, nil).status).To(Equal(http.StatusTooManyRequests))
	g.Expect(e.sb.WidgetURLs()).To(BeEmpty())
	e.sb.SetFault(sandbox.EndpointCreateWidgetURL, sandbox.Fault{CommitThenFail: 1})
	g.Expect(e.postWidgetURL(u, nil).status).To(Equal(http.StatusInternalServerError))
	g.Expect(e.sb.WidgetURLs()).To(HaveLen(1), "committed: a URL was minted, its answer lost")
	g.Expect(e.sb.CallCount(sandbox.EndpointCreateWidgetURL)).To(Equal(2))
}

// TestWidgetURLExpiresAfterTenMinutes follows OpenAPI requestWidgetURL: the
// URL expires ten minutes after it was minted, on the sandbox clock.
func TestWidgetURLExpiresAfterTenMinutes(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	u := e.createUser("u")
	early := e.widgetURL(u, map[string]any{"current_institution_code": sandbox.InstitutionMXBank})
	late := e.widgetURL(u, map[string]any{"current_institution_code": sandbox.InstitutionMXBank})

	e.sb.Advance(9*time.Minute + 59*time.Second)
	_, err := e.sb.ConnectThroughWidget(early, sandbox.WidgetConnect{Username: "mxuser", Password: "password"})
	g.Expect(err).NotTo(HaveOccurred(), "9m59s after minting it still works")

	e.sb.Advance(2 * time.Second)
	_, err = e.sb.ConnectThroughWidget(late, sandbox.WidgetConnect{Username: "other", Password: "password"})
	g.Expect(err).To(MatchError(sandbox.ErrWidgetURLExpired), "10m01s after minting it has expired")
	g.Expect(e.sb.MemberCount()).To(Equal(1))
	g.Expect(e.sb.WidgetURLs()[1].Used).To(BeFalse(), "an expired URL was not opened")
}

// TestWidgetURLIsSingleUse follows OpenAPI requestWidgetURL: the URL
// expires on first use, whatever the outcome of that use.
func TestWidgetURLIsSingleUse(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	u := e.createUser("u")
	link := e.widgetURL(u, map[string]any{"current_institution_code": sandbox.InstitutionMXBank})

	_, err := e.sb.ConnectThroughWidget(link, sandbox.WidgetConnect{Username: "mxuser", Password: "password"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.sb.WidgetURLs()[0].Used).To(BeTrue())
	_, err = e.sb.ConnectThroughWidget(link, sandbox.WidgetConnect{Username: "other", Password: "password"})
	g.Expect(err).To(MatchError(sandbox.ErrWidgetURLUsed))
	g.Expect(e.sb.MemberCount()).To(Equal(1))

	failed := e.widgetURL(u, map[string]any{"current_institution_code": sandbox.InstitutionMXBank})
	_, err = e.sb.ConnectThroughWidget(failed, sandbox.WidgetConnect{Username: "mxuser"})
	g.Expect(err).To(MatchError(ContainSubstring("Password")), "the missing field is named")
	_, err = e.sb.ConnectThroughWidget(failed, sandbox.WidgetConnect{InstitutionCode: sandbox.InstitutionMXBank, Username: "mxuser", Password: "password"})
	g.Expect(err).To(MatchError(sandbox.ErrWidgetURLUsed), "a URL opened by a failed session is used up too")

	_, err = e.sb.ConnectThroughWidget(e.srv.URL+"/_sandbox/widget/not-a-minted-token", sandbox.WidgetConnect{Username: "u", Password: "p"})
	g.Expect(err).To(MatchError(sandbox.ErrWidgetURLUnknown))
	_, err = e.sb.ConnectThroughWidget("https://int-widgets.moneydesktop.com/md/connect/abc", sandbox.WidgetConnect{Username: "u", Password: "p"})
	g.Expect(err).To(MatchError(sandbox.ErrWidgetURLUnknown))
	g.Expect(e.sb.RepairThroughWidget(":not a url", sandbox.WidgetRepair{})).To(MatchError(sandbox.ErrWidgetURLUnknown))
}

// TestConnectThroughWidget: the end user connects in the widget as MX's
// widget would (MX-API.md §11): the member has no partner id, aggregates
// like a member created by POST …/members, and the mxbank password picks
// the outcome (MX-API.md §8).
func TestConnectThroughWidget(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		reason   string
		password string
		answers  []string
		steps    int
		want     string
	}{
		{"a good password connects", "password", nil, 1, sandbox.StatusConnected},
		{"a wrong password is denied", "UNAUTHORIZED", nil, 1, sandbox.StatusDenied},
		{"a locked account", "LOCKED", nil, 1, sandbox.StatusLocked},
		{"MFA without answers waits for the end user", "challenge", nil, 1, sandbox.StatusChallenged},
		{"MFA answered in the widget connects", "challenge", []string{sandbox.CorrectAnswer}, 2, sandbox.StatusConnected},
		{"an options challenge answered in the widget", "options", []string{sandbox.CorrectAnswer}, 2, sandbox.StatusConnected},
		{"a wrong answer is rejected", "image", []string{"a cat"}, 2, sandbox.StatusRejected},
		{"two MFA rounds, answered in order", "challenge_multi", []string{sandbox.CorrectAnswer, sandbox.CorrectAnswer, sandbox.CorrectAnswer}, 3, sandbox.StatusConnected},
		{"too few answers for the second round", "challenge_multi", []string{sandbox.CorrectAnswer, sandbox.CorrectAnswer}, 3, sandbox.StatusChallenged},
	}
	for i, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			u := e.createUser(fmt.Sprintf("user-%d", i))
			link := e.widgetURL(u, map[string]any{"current_institution_code": sandbox.InstitutionMXBank})

			guid, err := e.sb.ConnectThroughWidget(link, sandbox.WidgetConnect{Username: "mxuser", Password: tc.password, Answers: tc.answers})
			g.Expect(err).NotTo(HaveOccurred())
			created, ok := e.sb.Member(guid)
			g.Expect(ok).To(BeTrue())
			g.Expect(created.ConnectionStatus).To(Equal(sandbox.StatusCreated))
			g.Expect(created.IsBeingAggregated).To(BeTrue())

			for range tc.steps {
				e.sb.Advance(aggStep)
			}
			got, _ := e.sb.Member(guid)
			g.Expect(got.ConnectionStatus).To(Equal(tc.want))
			g.Expect(got.UserGUID).To(Equal(u))
			g.Expect(got.ID).To(BeEmpty(), "the widget's member has no partner id")
			g.Expect(got.InstitutionCode).To(Equal(sandbox.InstitutionMXBank))

			m := e.read(member{GUID: guid, UserGUID: u})
			g.Expect(m.ID).To(BeNil(), "id is null on the wire")
			if tc.want == sandbox.StatusConnected {
				accounts, _ := e.accounts(m, "")
				g.Expect(accounts).To(HaveLen(sandbox.DefaultAccountCount))
			}
			if tc.want == sandbox.StatusChallenged {
				g.Expect(e.status(m).Challenges).NotTo(BeEmpty())
			}
		})
	}
}

// TestConnectThroughWidgetInstitution: the end user connects at the URL's
// institution, or searches for another unless the URL disabled the search.
func TestConnectThroughWidgetInstitution(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	u := e.createUser("u")
	connect := func(options map[string]any, code string) (sandbox.MemberSnapshot, error) {
		t.Helper()
		guid, err := e.sb.ConnectThroughWidget(e.widgetURL(u, options), sandbox.WidgetConnect{InstitutionCode: code, Username: "mxuser-" + code, Password: "password"})
		if err != nil {
			return sandbox.MemberSnapshot{}, err
		}
		m, _ := e.sb.Member(guid)
		return m, nil
	}
	atMXBank := map[string]any{"current_institution_code": sandbox.InstitutionMXBank}

	m, err := connect(atMXBank, sandbox.InstitutionMXBankSlow)
	g.Expect(err).NotTo(HaveOccurred(), "the end user searched for another institution")
	g.Expect(m.InstitutionCode).To(Equal(sandbox.InstitutionMXBankSlow))
	e.sb.Advance(aggStep)
	slow, _ := e.sb.Member(m.GUID)
	g.Expect(slow.ConnectionStatus).To(Equal(sandbox.StatusDelayed), "it behaves as that institution does")

	m, err = connect(nil, sandbox.InstitutionMXBankThrottled)
	g.Expect(err).NotTo(HaveOccurred(), "a URL without institution: the end user searched")
	g.Expect(m.InstitutionCode).To(Equal(sandbox.InstitutionMXBankThrottled))

	_, err = connect(nil, "")
	g.Expect(err).To(MatchError(ContainSubstring("InstitutionCode")), "no institution in the URL or the call")

	_, err = connect(map[string]any{"current_institution_code": sandbox.InstitutionMXBank, "disable_institution_search": true}, sandbox.InstitutionMXBankSlow)
	g.Expect(err).To(MatchError(ContainSubstring("institution search")))
	m, err = connect(map[string]any{"current_institution_code": sandbox.InstitutionMXBank, "disable_institution_search": true}, sandbox.InstitutionMXBank)
	g.Expect(err).NotTo(HaveOccurred(), "naming the URL's own institution is fine")
	g.Expect(m.InstitutionCode).To(Equal(sandbox.InstitutionMXBank))

	_, err = connect(nil, "no_such_bank")
	g.Expect(err).To(MatchError(sandbox.ErrNotFound))
	_, err = connect(nil, sandbox.InstitutionMXBankOAuth)
	g.Expect(err).To(MatchError(ContainSubstring("OAuth")))
}

// TestConnectThroughWidgetOptions: disable_background_agg decides the new
// member's background aggregation, defaulting to true in verification mode
// (OpenAPI WidgetRequest); the widget refuses the same credentials twice,
// as POST …/members does (409); a deleted user is ErrNotFound; a URL that
// opens a member's fix view is for RepairThroughWidget.
func TestConnectThroughWidgetOptions(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	u := e.createUser("u")
	connect := func(options map[string]any, username string) (string, error) {
		t.Helper()
		options["current_institution_code"] = sandbox.InstitutionMXBank
		return e.sb.ConnectThroughWidget(e.widgetURL(u, options), sandbox.WidgetConnect{Username: username, Password: "password"})
	}
	for _, tc := range []struct {
		reason  string
		options map[string]any
		want    bool
	}{
		{"aggregation mode: background aggregation on", map[string]any{}, false},
		{"disabled explicitly", map[string]any{"disable_background_agg": true}, true},
		{"verification mode: off by default", map[string]any{"mode": "verification"}, true},
		{"verification mode, enabled explicitly", map[string]any{"mode": "verification", "disable_background_agg": false}, false},
	} {
		guid, err := connect(tc.options, "user-"+tc.reason)
		g.Expect(err).NotTo(HaveOccurred(), tc.reason)
		g.Expect(e.backgroundDisabled(u, guid)).To(Equal(tc.want), tc.reason)
	}

	_, err := connect(map[string]any{}, "twice")
	g.Expect(err).NotTo(HaveOccurred())
	_, err = connect(map[string]any{}, "twice")
	g.Expect(err).To(MatchError(ContainSubstring("already")), "the same credentials twice")

	_, err = e.sb.ConnectThroughWidget(e.widgetURL(u, map[string]any{"current_member_guid": e.sb.Members()[0].GUID}), sandbox.WidgetConnect{Username: "x", Password: "password"})
	g.Expect(err).To(MatchError(ContainSubstring("RepairThroughWidget")))
	g.Expect(e.sb.WidgetURLs()[len(e.sb.WidgetURLs())-1].Used).To(BeFalse(), "the wrong call does not use the URL up")

	gone := e.createUser("gone")
	link := e.widgetURL(gone, map[string]any{"current_institution_code": sandbox.InstitutionMXBank})
	g.Expect(e.do("DELETE", "/users/"+gone, nil).status).To(Equal(http.StatusNoContent))
	_, err = e.sb.ConnectThroughWidget(link, sandbox.WidgetConnect{Username: "x", Password: "password"})
	g.Expect(err).To(MatchError(sandbox.ErrNotFound))
}

// TestConnectThroughWidgetSendsWebhooks: the widget's member sends the
// webhooks any member sends (MX-API.md §9).
func TestConnectThroughWidgetSendsWebhooks(t *testing.T) {
	g := NewWithT(t)
	rc := newReceiver(t, nil)
	e := newEnv(t, withWebhooks(rc.srv.URL))
	u := e.createUser("u")
	guid, err := e.sb.ConnectThroughWidget(e.widgetURL(u, map[string]any{"current_institution_code": sandbox.InstitutionMXBank}),
		sandbox.WidgetConnect{Username: "mxuser", Password: "challenge", Answers: []string{sandbox.CorrectAnswer}})
	g.Expect(err).NotTo(HaveOccurred())
	e.sb.Advance(aggStep)
	e.sb.Advance(aggStep)

	g.Eventually(rc.received).Should(HaveLen(2))
	hooks := rc.received()
	g.Expect(hooks[0].Body).To(HaveKeyWithValue("type", "CONNECTION_STATUS"))
	g.Expect(hooks[0].Body).To(HaveKeyWithValue("connection_status", sandbox.StatusChallenged))
	g.Expect(hooks[0].Body).To(HaveKeyWithValue("member_guid", guid))
	g.Expect(hooks[1].Body).To(HaveKeyWithValue("type", "AGGREGATION"))
	g.Expect(hooks[1].Body).To(HaveKeyWithValue("member_guid", guid))
}

// TestRepairThroughWidget: a URL minted with current_member_guid opens the
// member's fix view (MX-API.md §11): new credentials start an aggregation,
// as PUT …/members/{member} does; answers resume a CHALLENGED member; with
// neither, the end user re-runs the aggregation. The member keeps its guid
// and partner id.
func TestRepairThroughWidget(t *testing.T) {
	e := newEnv(t)
	newMember := func(id, password string) member {
		e.t.Helper()
		m := e.createMember(e.createUser(id), sandbox.InstitutionMXBank, "mxuser", password, map[string]any{"id": id})
		e.sb.Advance(aggStep)
		return m
	}
	repair := func(m member, r sandbox.WidgetRepair) error {
		e.t.Helper()
		return e.sb.RepairThroughWidget(e.widgetURL(m.UserGUID, map[string]any{"current_member_guid": m.GUID}), r)
	}

	t.Run("a DENIED member gets a good password", func(t *testing.T) {
		g := NewWithT(t)
		m := newMember("denied", "UNAUTHORIZED")
		g.Expect(e.status(m).status()).To(Equal(sandbox.StatusDenied))
		g.Expect(repair(m, sandbox.WidgetRepair{Password: "password"})).To(Succeed())
		g.Expect(e.status(m).status()).To(Equal(sandbox.StatusUpdated))
		g.Expect(e.status(m).IsBeingAggregated).To(BeTrue())
		e.sb.Advance(aggStep)
		got := e.read(m)
		g.Expect(got.status()).To(Equal(sandbox.StatusConnected))
		g.Expect(got.GUID).To(Equal(m.GUID))
		g.Expect(got.ID).To(HaveValue(Equal("denied")), "the partner id is kept")
		g.Expect(e.sb.MemberCount()).To(Equal(1), "no new member")
	})
	t.Run("a CHALLENGED member is answered", func(t *testing.T) {
		g := NewWithT(t)
		m := newMember("challenged", "challenge")
		g.Expect(e.status(m).status()).To(Equal(sandbox.StatusChallenged))
		g.Expect(repair(m, sandbox.WidgetRepair{Answers: []string{sandbox.CorrectAnswer}})).To(Succeed())
		g.Expect(e.status(m).status()).To(Equal(sandbox.StatusResumed))
		e.sb.Advance(aggStep)
		got := e.read(m)
		g.Expect(got.status()).To(Equal(sandbox.StatusConnected))
		g.Expect(got.ID).To(HaveValue(Equal("challenged")))
	})
	t.Run("new credentials that ask MFA, answered in the same session", func(t *testing.T) {
		g := NewWithT(t)
		m := newMember("locked", "LOCKED")
		g.Expect(repair(m, sandbox.WidgetRepair{Username: "mxuser2", Password: "challenge", Answers: []string{sandbox.CorrectAnswer}})).To(Succeed())
		e.sb.Advance(aggStep)
		e.sb.Advance(aggStep)
		g.Expect(e.read(m).status()).To(Equal(sandbox.StatusConnected))
	})
	t.Run("an EXPIRED member re-runs and is answered", func(t *testing.T) {
		g := NewWithT(t)
		m := newMember("expired", "challenge")
		e.sb.Advance(sandbox.ChallengeTimeout)
		g.Expect(e.status(m).status()).To(Equal(sandbox.StatusExpired))
		g.Expect(repair(m, sandbox.WidgetRepair{Answers: []string{sandbox.CorrectAnswer}})).To(Succeed())
		e.sb.Advance(aggStep)
		e.sb.Advance(aggStep)
		g.Expect(e.read(m).status()).To(Equal(sandbox.StatusConnected))
	})
	t.Run("neither: the end user re-runs the aggregation", func(t *testing.T) {
		g := NewWithT(t)
		m := newMember("rerun", "password")
		before := e.read(m).jobGUID()
		g.Expect(before).NotTo(BeEmpty())
		g.Expect(repair(m, sandbox.WidgetRepair{})).To(Succeed())
		got := e.read(m)
		g.Expect(got.IsBeingAggregated).To(BeTrue())
		g.Expect(got.jobGUID()).NotTo(Equal(before))
		g.Expect(repair(m, sandbox.WidgetRepair{})).To(MatchError(sandbox.ErrJobRunning), "it is still aggregating")
	})
	t.Run("refusals", func(t *testing.T) {
		g := NewWithT(t)
		m := newMember("refusals", "password")
		plain := e.widgetURL(m.UserGUID, map[string]any{"current_institution_code": sandbox.InstitutionMXBank})
		g.Expect(e.sb.RepairThroughWidget(plain, sandbox.WidgetRepair{Password: "password"})).To(MatchError(ContainSubstring("current_member_guid")))
		_, err := e.sb.ConnectThroughWidget(plain, sandbox.WidgetConnect{Username: "other", Password: "password"})
		g.Expect(err).NotTo(HaveOccurred(), "the refused repair did not use the URL up")

		link := e.widgetURL(m.UserGUID, map[string]any{"current_member_guid": m.GUID})
		g.Expect(repair(m, sandbox.WidgetRepair{Password: "password"})).To(Succeed())
		g.Expect(e.do("DELETE", e.memberPath(m), nil).status).To(Equal(http.StatusNoContent))
		g.Expect(e.sb.RepairThroughWidget(link, sandbox.WidgetRepair{Password: "password"})).To(MatchError(sandbox.ErrNotFound), "the member is gone")
		g.Expect(e.sb.RepairThroughWidget(link, sandbox.WidgetRepair{Password: "password"})).To(MatchError(sandbox.ErrWidgetURLUsed))
	})
}

// TestWidgetTokenNeverLeaks: the token of a widget URL is a bearer secret;
// it appears in no error, request record, call counter, snapshot or
// control-surface answer.
func TestWidgetTokenNeverLeaks(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, func(o *sandbox.Options) { o.EnableControl = true })
	u := e.createUser("u")
	m := e.connectedMember("fix", "mxuser")
	links := []string{
		e.widgetURL(u, map[string]any{"current_institution_code": sandbox.InstitutionMXBank}),
		e.widgetURL(u, nil),
		e.widgetURL(m.UserGUID, map[string]any{"current_member_guid": m.GUID}),
	}
	var outputs []string
	collect := func(err error) {
		if err != nil {
			outputs = append(outputs, err.Error(), fmt.Sprintf("%+v", err))
		}
	}
	for _, link := range links {
		_, err := e.sb.ConnectThroughWidget(link, sandbox.WidgetConnect{Username: "mxuser"})
		collect(err)
		_, err = e.sb.ConnectThroughWidget(link, sandbox.WidgetConnect{Username: "mxuser", Password: "password"})
		collect(err)
		collect(e.sb.RepairThroughWidget(link, sandbox.WidgetRepair{}))
		outputs = append(outputs, string(e.ctl("POST", "/_sandbox/widget/connect", fmt.Sprintf(`{"url":%q,"username":"a","password":"b"}`, link)).body))
		outputs = append(outputs, string(e.ctl("POST", "/_sandbox/widget/repair", fmt.Sprintf(`{"url":%q}`, link)).body))
		outputs = append(outputs, string(e.ctl("GET", strings.TrimPrefix(link, e.srv.URL), "").body))
	}
	expired := e.widgetURL(u, nil)
	e.sb.Advance(sandbox.WidgetURLLifetime)
	_, err := e.sb.ConnectThroughWidget(expired, sandbox.WidgetConnect{Username: "mxuser", Password: "password"})
	g.Expect(err).To(MatchError(sandbox.ErrWidgetURLExpired))
	collect(err)
	outputs = append(outputs,
		fmt.Sprintf("%+v", e.sb.Requests()), fmt.Sprintf("%+v", e.sb.Calls()), fmt.Sprintf("%#v", e.sb.WidgetURLs()),
		string(e.ctl("GET", "/_sandbox/requests", "").body), string(e.ctl("GET", "/_sandbox/calls", "").body),
		string(e.ctl("GET", "/_sandbox/widget_urls", "").body), string(e.ctl("GET", "/_sandbox/members", "").body))

	g.Expect(strings.Join(outputs, "\n")).To(ContainSubstring("used"), "the outputs say something")
	for _, link := range append(links, expired) {
		token := widgetToken(t, link)
		for _, out := range outputs {
			g.Expect(out).NotTo(ContainSubstring(token))
		}
	}
}

// TestWidgetControlSurface: the end-user controls over HTTP, with the
// status codes of the control surface; the page the URL points at does not
// use it up.
func TestWidgetControlSurface(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, func(o *sandbox.Options) { o.EnableControl = true })
	u := e.createUser("u")
	link := e.widgetURL(u, map[string]any{"current_institution_code": sandbox.InstitutionMXBank})

	page := e.ctl("GET", strings.TrimPrefix(link, e.srv.URL), "")
	g.Expect(page.status).To(Equal(http.StatusOK))
	g.Expect(page.header.Get("Content-Type")).To(HavePrefix("text/html"))
	g.Expect(string(page.body)).To(ContainSubstring("POST /_sandbox/widget/connect"))
	g.Expect(e.sb.WidgetURLs()[0].Used).To(BeFalse(), "the page does not use the URL up")
	g.Expect(e.ctl("GET", "/_sandbox/widget/not-a-token", "").status).To(Equal(http.StatusNotFound))

	r := e.ctl("POST", "/_sandbox/widget/connect", fmt.Sprintf(`{"url":%q,"username":"mxuser","password":"challenge","answers":["correct"]}`, link))
	g.Expect(r.status).To(Equal(http.StatusCreated))
	var created struct {
		MemberGUID string `json:"member_guid"`
	}
	r.into(t, &created)
	g.Expect(created.MemberGUID).To(HavePrefix("MBR-"))
	e.sb.Advance(aggStep)
	e.sb.Advance(aggStep)
	got, _ := e.sb.Member(created.MemberGUID)
	g.Expect(got.ConnectionStatus).To(Equal(sandbox.StatusConnected))

	other := e.widgetURL(u, nil)
	r = e.ctl("POST", "/_sandbox/widget/connect", fmt.Sprintf(`{"url":%q,"institution_code":%q,"username":"slow","password":"password"}`, other, sandbox.InstitutionMXBankSlow))
	g.Expect(r.status).To(Equal(http.StatusCreated))
	r.into(t, &created)
	got, _ = e.sb.Member(created.MemberGUID)
	g.Expect(got.InstitutionCode).To(Equal(sandbox.InstitutionMXBankSlow))

	fix := e.widgetURL(u, map[string]any{"current_member_guid": created.MemberGUID})
	r = e.ctl("POST", "/_sandbox/widget/repair", fmt.Sprintf(`{"url":%q,"username":"slow2","password":"UNAUTHORIZED"}`, fix))
	g.Expect(r.status).To(Equal(http.StatusNoContent))
	e.sb.Advance(aggStep)
	got, _ = e.sb.Member(created.MemberGUID)
	g.Expect(got.ConnectionStatus).To(Equal(sandbox.StatusDenied))

	expired := e.widgetURL(u, nil)
	e.sb.Advance(sandbox.WidgetURLLifetime)
	for _, tc := range []struct {
		reason, path, body string
		want               int
	}{
		{"a used URL", "/_sandbox/widget/connect", fmt.Sprintf(`{"url":%q,"username":"a","password":"b"}`, link), http.StatusConflict},
		{"a used URL, repair", "/_sandbox/widget/repair", fmt.Sprintf(`{"url":%q}`, fix), http.StatusConflict},
		{"an expired URL", "/_sandbox/widget/connect", fmt.Sprintf(`{"url":%q,"username":"a","password":"b"}`, expired), http.StatusGone},
		{"an unknown URL", "/_sandbox/widget/connect", `{"url":"http://127.0.0.1/_sandbox/widget/nope","username":"a","password":"b"}`, http.StatusNotFound},
		{"an unknown URL, repair", "/_sandbox/widget/repair", `{"url":"http://127.0.0.1/_sandbox/widget/nope"}`, http.StatusNotFound},
		{"not JSON", "/_sandbox/widget/connect", `nope`, http.StatusBadRequest},
		{"no url", "/_sandbox/widget/connect", `{"username":"a","password":"b"}`, http.StatusBadRequest},
		{"no url, repair", "/_sandbox/widget/repair", `{}`, http.StatusBadRequest},
		{"a missing password", "/_sandbox/widget/connect", fmt.Sprintf(`{"url":%q,"username":"a"}`, e.widgetURL(u, map[string]any{"current_institution_code": sandbox.InstitutionMXBank})), http.StatusBadRequest},
		{"an unknown institution", "/_sandbox/widget/connect", fmt.Sprintf(`{"url":%q,"institution_code":"nope","username":"a","password":"b"}`, e.widgetURL(u, nil)), http.StatusNotFound},
	} {
		r := e.ctl("POST", tc.path, tc.body)
		g.Expect(r.status).To(Equal(tc.want), tc.reason)
		g.Expect(r.errorMessage(t)).NotTo(BeEmpty(), tc.reason)
	}

	r = e.ctl("GET", "/_sandbox/widget_urls", "")
	g.Expect(r.status).To(Equal(http.StatusOK))
	var listed struct {
		WidgetURLs []struct {
			UserGUID        string `json:"user_guid"`
			InstitutionCode string `json:"institution_code"`
			MemberGUID      string `json:"member_guid"`
			Mode            string `json:"mode"`
			MintedAt        string `json:"minted_at"`
			ExpiresAt       string `json:"expires_at"`
			Used            bool   `json:"used"`
			Options         struct {
				CurrentInstitutionCode string `json:"current_institution_code"`
			} `json:"options"`
		} `json:"widget_urls"`
	}
	r.into(t, &listed)
	g.Expect(listed.WidgetURLs).To(HaveLen(len(e.sb.WidgetURLs())))
	first := listed.WidgetURLs[0]
	g.Expect(first.UserGUID).To(Equal(u))
	g.Expect(first.InstitutionCode).To(Equal(sandbox.InstitutionMXBank))
	g.Expect(first.Options.CurrentInstitutionCode).To(Equal(sandbox.InstitutionMXBank))
	g.Expect(first.Mode).To(Equal("aggregation"))
	g.Expect(first.MintedAt).To(Equal("2024-03-01T09:00:00Z"))
	g.Expect(first.ExpiresAt).To(Equal("2024-03-01T09:10:00Z"))
	g.Expect(first.Used).To(BeTrue())
	g.Expect(listed.WidgetURLs[2].MemberGUID).To(Equal(created.MemberGUID))

	g.Expect(e.ctl("POST", "/_sandbox/reset", "").status).To(Equal(http.StatusNoContent))
	g.Expect(e.sb.WidgetURLs()).To(BeEmpty(), "Reset forgets every minted URL")
	g.Expect(e.ctl("GET", "/_sandbox/widget_urls", "").body).To(MatchJSON(`{"widget_urls":[]}`))
}

// TestWidgetControlSurfaceIsOffByDefault: without EnableControl the widget
// page and controls are not served (the Go API still works).
func TestWidgetControlSurfaceIsOffByDefault(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	u := e.createUser("u")
	link := e.widgetURL(u, map[string]any{"current_institution_code": sandbox.InstitutionMXBank})
	g.Expect(link).To(HavePrefix(e.srv.URL + "/_sandbox/widget/"))
	page := e.ctl("GET", strings.TrimPrefix(link, e.srv.URL), "")
	g.Expect(page.status).To(Equal(http.StatusNotFound))
	g.Expect(string(page.body)).NotTo(ContainSubstring(widgetToken(t, link)), "the 404 does not echo the token")
	g.Expect(e.ctl("POST", "/_sandbox/widget/connect", fmt.Sprintf(`{"url":%q,"username":"a","password":"b"}`, link)).status).To(Equal(http.StatusNotFound))
	g.Expect(e.ctl("POST", "/_sandbox/widget/repair", fmt.Sprintf(`{"url":%q}`, link)).status).To(Equal(http.StatusNotFound))
	g.Expect(e.ctl("GET", "/_sandbox/widget_urls", "").status).To(Equal(http.StatusNotFound))
	_, err := e.sb.ConnectThroughWidget(link, sandbox.WidgetConnect{Username: "mxuser", Password: "password"})
	g.Expect(err).NotTo(HaveOccurred())
}

// TestRedactPath: a widget URL path loses its token; the control routes
// beside it and every other path are unchanged.
func TestRedactPath(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/_sandbox/widget/NFWDI2OYHEJF22FMAH266RPU27", "/_sandbox/widget/{token}"},
		{"/_sandbox/widget/a/b", "/_sandbox/widget/{token}"},
		{"/_sandbox/widget/connect", "/_sandbox/widget/connect"},
		{"/_sandbox/widget/repair", "/_sandbox/widget/repair"},
		{"/_sandbox/widget_urls", "/_sandbox/widget_urls"},
		{"/users/USR-1/widget_urls", "/users/USR-1/widget_urls"},
	} {
		NewWithT(t).Expect(sandbox.RedactPath(tc.path)).To(Equal(tc.want), tc.path)
	}
}
