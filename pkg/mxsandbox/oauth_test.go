package mxsandbox_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

func (e *env) oauthMember(userID string) member {
	e.t.Helper()
	return e.createMember(e.createUser(userID), sandbox.InstitutionMXBankOAuth, "", "", map[string]any{"is_oauth": true})
}

// TestOAuthPendingMemberIsDeletedAfterAnHour follows MX-API.md §11 ("OAuth"):
// PENDING appears only on OAuth members under an hour old; MX deletes members
// that stay PENDING longer. The hour runs on the sandbox clock.
func TestOAuthPendingMemberIsDeletedAfterAnHour(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	pending := e.oauthMember("pending")
	authorised := e.oauthMember("authorised")

	e.sb.Advance(30 * time.Minute)
	g.Expect(e.sb.AuthorizeOAuth(authorised.GUID)).To(Succeed())
	e.sb.Advance(OAuthAlmostExpired - 30*time.Minute)
	g.Expect(e.read(pending).status()).To(Equal(sandbox.StatusPending), "just under an hour: still there")

	e.sb.Advance(2 * time.Minute)
	g.Expect(e.do("GET", e.memberPath(pending), nil).status).To(Equal(http.StatusNotFound), "61 minutes PENDING: deleted")
	g.Expect(e.do("GET", e.memberPath(pending)+"/status", nil).status).To(Equal(http.StatusNotFound))
	g.Expect(e.sb.AuthorizeOAuth(pending.GUID)).To(MatchError(sandbox.ErrNotFound))
	g.Expect(e.sb.Members()).To(HaveLen(1))
	g.Expect(e.sb.Members()[0].GUID).To(Equal(authorised.GUID), "a member that left PENDING stays")

	e.sb.Advance(2 * time.Hour)
	g.Expect(e.read(authorised).status()).To(Equal(sandbox.StatusConnected))
}

// TestOAuthWindowURIIsSingleUse follows OpenAPI requestOAuthWindowURI ("will
// generate an oauth_window_uri") and MX-API.md §11 ("A new window URI can be
// requested"): every GET …/oauth_window_uri mints a new URI, and a URI that
// has been opened cannot be opened again.
func TestOAuthWindowURIIsSingleUse(t *testing.T) {
	e := newEnv(t, func(o *sandbox.Options) { o.EnableControl = true })
	open := func(uri string) int {
		e.t.Helper()
		return e.ctl("GET", strings.TrimPrefix(uri, e.srv.URL), "").status
	}
	fresh := func(m member) string {
		e.t.Helper()
		var win struct {
			Member struct {
				OAuthWindowURI *string `json:"oauth_window_uri"`
			} `json:"member"`
		}
		e.do("GET", e.memberPath(m)+"/oauth_window_uri", nil).into(e.t, &win)
		return *win.Member.OAuthWindowURI
	}

	t.Run("opening a URI twice", func(t *testing.T) {
		g := NewWithT(t)
		m := e.oauthMember("twice")
		first := *m.OAuthWindowURI
		second := fresh(m)
		g.Expect(second).NotTo(Equal(first), "a new URI is minted")
		g.Expect(open(first)).To(Equal(http.StatusOK), "an earlier, unopened URI still works")
		g.Expect(e.status(m).status()).To(Equal(sandbox.StatusCreated))
		g.Expect(open(first)).To(Equal(http.StatusGone), "the same URI again: already used")
		g.Expect(open(second)).To(Equal(http.StatusConflict), "an unused one: the member is no longer PENDING")
		g.Expect(open(second)).To(Equal(http.StatusGone), "and now that one is used too")
	})
	t.Run("AuthorizeOAuth uses up the member's URI", func(t *testing.T) {
		g := NewWithT(t)
		m := e.oauthMember("go-api")
		g.Expect(e.sb.AuthorizeOAuth(m.GUID)).To(Succeed())
		g.Expect(open(*m.OAuthWindowURI)).To(Equal(http.StatusGone))
	})
	t.Run("a URI the sandbox never minted", func(t *testing.T) {
		g := NewWithT(t)
		m := e.oauthMember("forged")
		g.Expect(e.ctl("GET", "/_sandbox/oauth/authorize?member_guid="+m.GUID, "").status).To(Equal(http.StatusNotFound))
		g.Expect(e.ctl("GET", "/_sandbox/oauth/authorize?member_guid="+m.GUID+"&token=OAW-nope", "").status).To(Equal(http.StatusNotFound))
		g.Expect(e.status(m).status()).To(Equal(sandbox.StatusPending))
	})
}

// TestOpenOAuthWindowWithoutControlSurface: OpenOAuthWindow opens the
// placeholder URIs minted when the control surface is off, once each.
func TestOpenOAuthWindowWithoutControlSurface(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.oauthMember("u")
	g.Expect(e.sb.OpenOAuthWindow(*m.OAuthWindowURI)).To(Succeed())
	g.Expect(e.status(m).IsBeingAggregated).To(BeTrue())
	g.Expect(e.sb.OpenOAuthWindow(*m.OAuthWindowURI)).To(MatchError(sandbox.ErrOAuthWindowUsed))
	g.Expect(e.sb.OpenOAuthWindow("https://oauth.mxbank.example/authorize?member_guid=MBR-x&token=y")).To(MatchError(sandbox.ErrNotFound))
}
