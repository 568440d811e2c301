package mxsandbox_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// ctl sends a control-surface request: no MX credentials, no Accept header.
func (e *env) ctl(method, path, body string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.send(req)
}

func TestControlSurfaceIsOffByDefault(t *testing.T) {
	e := newEnv(t)
	m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBankOAuth, "", "", map[string]any{"is_oauth": true})
	cases := []struct{ method, path, body string }{
		{"GET", "/_sandbox/clock", ""},
		{"POST", "/_sandbox/clock/advance", `{"seconds":5}`},
		{"POST", "/_sandbox/members/" + m.GUID + "/authorize", ""},
		{"GET", "/_sandbox/oauth/authorize?member_guid=" + m.GUID, ""},
		{"POST", "/_sandbox/members/" + m.GUID + "/jobs", `{"kind":"verification"}`},
		{"GET", "/_sandbox/held", ""},
		{"POST", "/_sandbox/held/release", ""},
		{"GET", "/_sandbox/members", ""},
		{"PUT", "/_sandbox/faults", `{"GET /users":{"error_rate":1}}`},
		{"DELETE", "/_sandbox/faults", ""},
		{"GET", "/_sandbox/calls", ""},
		{"GET", "/_sandbox/requests", ""},
		{"DELETE", "/_sandbox/requests", ""},
		{"POST", "/_sandbox/reset", ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path+" is not found", func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(e.ctl(tc.method, tc.path, tc.body).status).To(Equal(http.StatusNotFound))
		})
	}
	g := NewWithT(t)
	g.Expect(e.sb.UserCount()).To(Equal(1), "nothing was reset")
	g.Expect(e.status(m).status()).To(Equal(sandbox.StatusPending), "nothing was authorised")
	g.Expect(*m.OAuthWindowURI).NotTo(ContainSubstring("/_sandbox/"), "the OAuth window does not point at a disabled control surface")
}

func TestControlSurface(t *testing.T) {
	e := newEnv(t, func(o *sandbox.Options) { o.EnableControl = true })

	t.Run("advancing the clock drives aggregation", func(t *testing.T) {
		g := NewWithT(t)
		m := e.createMember(e.createUser("clock"), sandbox.InstitutionMXBank, "mxuser", "password", nil)
		r := e.ctl("POST", "/_sandbox/clock/advance", `{"seconds":2}`)
		g.Expect(r.status).To(Equal(http.StatusOK))
		var clock struct {
			Now  string `json:"now"`
			Fake bool   `json:"fake"`
		}
		r.into(t, &clock)
		g.Expect(clock.Fake).To(BeTrue())
		g.Expect(clock.Now).To(Equal("2024-03-01T09:00:02Z"))
		g.Expect(e.status(m).status()).To(Equal(sandbox.StatusConnected))

		g.Expect(e.ctl("POST", "/_sandbox/clock/advance", `{"seconds":-1}`).status).To(Equal(http.StatusBadRequest))
		g.Expect(e.ctl("POST", "/_sandbox/clock/advance", `{}`).status).To(Equal(http.StatusBadRequest))
	})

	t.Run("authorizing an OAuth member", func(t *testing.T) {
		g := NewWithT(t)
		m := e.createMember(e.createUser("oauth"), sandbox.InstitutionMXBankOAuth, "", "", map[string]any{"is_oauth": true})
		g.Expect(e.ctl("POST", "/_sandbox/members/"+m.GUID+"/authorize", "").status).To(Equal(http.StatusNoContent))
		g.Expect(e.status(m).status()).To(Equal(sandbox.StatusCreated))
		g.Expect(e.ctl("POST", "/_sandbox/members/"+m.GUID+"/authorize", "").status).To(Equal(http.StatusConflict), "it is no longer PENDING")
		g.Expect(e.ctl("POST", "/_sandbox/members/MBR-unknown/authorize", "").status).To(Equal(http.StatusNotFound))
	})

	t.Run("opening the OAuth window authorizes and redirects", func(t *testing.T) {
		g := NewWithT(t)
		m := e.createMember(e.createUser("window"), sandbox.InstitutionMXBankOAuth, "", "", map[string]any{"is_oauth": true})
		g.Expect(*m.OAuthWindowURI).To(HavePrefix(e.srv.URL + "/_sandbox/oauth/authorize?"))
		r := e.ctl("GET", strings.TrimPrefix(*m.OAuthWindowURI, e.srv.URL), "")
		g.Expect(r.status).To(Equal(http.StatusOK))
		g.Expect(string(r.body)).To(ContainSubstring("authorized"))
		g.Expect(e.status(m).IsBeingAggregated).To(BeTrue())

		body := map[string]any{
			"member":              map[string]any{"institution_code": sandbox.InstitutionMXBankOAuth, "is_oauth": true},
			"client_redirect_url": "https://app.example/done",
		}
		redirected := decodeMember(t, e.do("POST", "/users/"+m.UserGUID+"/members", body))
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := noFollow.Get(*redirected.OAuthWindowURI)
		g.Expect(err).NotTo(HaveOccurred())
		defer res.Body.Close()
		g.Expect(res.StatusCode).To(Equal(http.StatusFound))
		loc, err := url.Parse(res.Header.Get("Location"))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(loc.Host).To(Equal("app.example"))
		g.Expect(loc.Query().Get("member_guid")).To(Equal(redirected.GUID))
		g.Expect(loc.Query().Get("status")).To(Equal("success"))
	})

	t.Run("faults are set and cleared over HTTP", func(t *testing.T) {
		g := NewWithT(t)
		r := e.ctl("PUT", "/_sandbox/faults", `{"POST /users":{"rate_limit_rate":1,"retry_after_seconds":7}}`)
		g.Expect(r.status).To(Equal(http.StatusNoContent))
		r = e.do("POST", "/users", createUserBody("limited"))
		g.Expect(r.status).To(Equal(http.StatusTooManyRequests))
		g.Expect(r.header.Get("Retry-After")).To(Equal("7"))

		g.Expect(e.ctl("PUT", "/_sandbox/faults", `{"POST /users":{"commit_then_fail":1}}`).status).To(Equal(http.StatusNoContent))
		g.Expect(e.do("POST", "/users", createUserBody("committed")).status).To(Equal(http.StatusInternalServerError))
		g.Expect(e.do("GET", "/users?id=committed", nil).body).To(ContainSubstring(`"total_entries":1`))

		g.Expect(e.ctl("PUT", "/_sandbox/faults", `{"GET /nope":{"error_rate":1}}`).status).To(Equal(http.StatusBadRequest))
		g.Expect(e.ctl("PUT", "/_sandbox/faults", `not json`).status).To(Equal(http.StatusBadRequest))

		g.Expect(e.ctl("PUT", "/_sandbox/faults", `{"GET /users":{"error_rate":1}}`).status).To(Equal(http.StatusNoContent))
		g.Expect(e.ctl("GET", "/_sandbox/faults", "").body).To(ContainSubstring(`"GET /users"`))
		g.Expect(e.ctl("DELETE", "/_sandbox/faults", "").status).To(Equal(http.StatusNoContent))
		g.Expect(e.do("GET", "/users", nil).status).To(Equal(http.StatusOK))
	})

	t.Run("members snapshot", func(t *testing.T) {
		g := NewWithT(t)
		r := e.ctl("GET", "/_sandbox/members", "")
		g.Expect(r.status).To(Equal(http.StatusOK))
		var body struct {
			Members []struct {
				GUID             string `json:"guid"`
				ConnectionStatus string `json:"connection_status"`
			} `json:"members"`
		}
		r.into(t, &body)
		g.Expect(body.Members).To(HaveLen(e.sb.MemberCount()))
	})

	t.Run("calls and reset", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(e.ctl("DELETE", "/_sandbox/calls", "").status).To(Equal(http.StatusNoContent))
		e.do("GET", "/users", nil)
		g.Expect(e.ctl("GET", "/_sandbox/calls", "").body).To(MatchJSON(`{"calls":{"GET /users":1},"total":1}`))
		g.Expect(e.ctl("POST", "/_sandbox/reset", "").status).To(Equal(http.StatusNoContent))
		g.Expect(e.sb.UserCount()).To(Equal(0))
		g.Expect(e.sb.TotalCalls()).To(Equal(0))
	})
}

func TestControlClockAdvanceNeedsFakeClock(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, func(o *sandbox.Options) {
		o.Clock = nil
		o.EnableControl = true
	})
	g.Expect(e.ctl("POST", "/_sandbox/clock/advance", `{"seconds":1}`).status).To(Equal(http.StatusConflict))
	r := e.ctl("GET", "/_sandbox/clock", "")
	g.Expect(r.body).To(ContainSubstring(`"fake":false`))
}
