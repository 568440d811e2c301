package mx

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// TestSandboxConnectWidgetURL: the client mints a Connect widget URL with
// every option, the sandbox receives exactly those options, and the answer
// decodes into a WidgetURL whose URL the end user can use; the member the
// end user creates has no partner id until PUT gives it one (MX-API.md
// §11).
func TestSandboxConnectWidgetURL(t *testing.T) {
	g := NewWithT(t)
	e := newSandboxEnv(t)
	ctx := context.Background()
	u := e.newUser(g, "partner-user")

	w, err := e.c.CreateConnectWidgetURL(ctx, u.GUID, ConnectWidgetOptions{
		InstitutionCode:              sandbox.InstitutionMXBank,
		Mode:                         "verification",
		ClientRedirectURL:            "https://app.example/done",
		ColorScheme:                  "dark",
		OAuthReferralSource:          "APP",
		UIMessageVersion:             4,
		DisableBackgroundAggregation: new(false),
		DisableInstitutionSearch:     new(true),
		IsMobileWebview:              new(true),
		UpdateCredentials:            new(false),
		IncludeTransactions:          new(true),
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w.Type).To(Equal("connect_widget"))
	g.Expect(w.UserID).To(Equal("partner-user"))
	g.Expect(w.URL).To(HavePrefix(e.srv.URL + "/_sandbox/widget/"))

	minted := e.sb.WidgetURLs()
	g.Expect(minted).To(HaveLen(1))
	g.Expect(minted[0].UserGUID).To(Equal(u.GUID))
	g.Expect(minted[0].Options).To(Equal(sandbox.WidgetOptions{
		CurrentInstitutionCode:   sandbox.InstitutionMXBank,
		Mode:                     "verification",
		DisableBackgroundAgg:     new(false),
		DisableInstitutionSearch: new(true),
		ClientRedirectURL:        "https://app.example/done",
		ColorScheme:              "dark",
		IsMobileWebview:          new(true),
		OAuthReferralSource:      "APP",
		UIMessageVersion:         new(4),
		UpdateCredentials:        new(false),
		IncludeTransactions:      new(true),
	}), "every option arrived, false ones included")

	guid, err := e.sb.ConnectThroughWidget(w.URL, sandbox.WidgetConnect{Username: "mxuser", Password: "password"})
	g.Expect(err).NotTo(HaveOccurred())
	e.sb.Advance(step)
	m, err := e.c.GetMember(ctx, u.GUID, guid)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(m.ConnectionStatus).To(Equal(StatusConnected))
	g.Expect(m.ID).To(BeEmpty(), "the widget's member has no partner id")
	m, err = e.c.UpdateMember(ctx, u.GUID, guid, UpdateMemberRequest{ID: new("partner-member")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(m.ID).To(Equal("partner-member"), "PUT gives it ours")

	fix, err := e.c.CreateConnectWidgetURL(ctx, u.GUID, ConnectWidgetOptions{MemberGUID: guid})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(e.sb.WidgetURLs()[1].MemberGUID).To(Equal(guid))
	g.Expect(e.sb.WidgetURLs()[1].Options).To(Equal(sandbox.WidgetOptions{CurrentMemberGUID: guid}), "zero options are not sent")
	g.Expect(e.sb.RepairThroughWidget(fix.URL, sandbox.WidgetRepair{})).To(Succeed())

	e.expectObserverMatchesSandbox(g)
}

// TestSandboxConnectWidgetURLWithoutPartnerID: user_id null decodes as "".
func TestSandboxConnectWidgetURLWithoutPartnerID(t *testing.T) {
	g := NewWithT(t)
	e := newSandboxEnv(t)
	ctx := context.Background()
	u, err := e.c.CreateUser(ctx, CreateUserRequest{Email: "a@example.com"})
	g.Expect(err).NotTo(HaveOccurred())

	w, err := e.c.CreateConnectWidgetURL(ctx, u.GUID, ConnectWidgetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w.UserID).To(BeEmpty())
	g.Expect(e.sb.WidgetURLs()[0].Mode).To(Equal("aggregation"), "no mode sent: MX's default")
}

// TestSandboxConnectWidgetURLErrors: MX's refusals keep their classes.
func TestSandboxConnectWidgetURLErrors(t *testing.T) {
	e := newSandboxEnv(t)
	ctx := context.Background()
	u := e.newUser(NewWithT(t), "u")
	tests := []struct {
		reason string
		user   string
		opts   ConnectWidgetOptions
		class  ErrorClass
	}{
		{"an unknown user", "USR-nope", ConnectWidgetOptions{}, ClassNotFound},
		{"an unknown member", u.GUID, ConnectWidgetOptions{MemberGUID: "MBR-nope"}, ClassNotFound},
		{"an unknown institution", u.GUID, ConnectWidgetOptions{InstitutionCode: "no_such_bank"}, ClassNotFound},
		{"a mode MX does not know", u.GUID, ConnectWidgetOptions{Mode: "identification"}, ClassTerminal},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			before := e.sb.CallCount(sandbox.EndpointCreateWidgetURL)
			w, err := e.c.CreateConnectWidgetURL(ctx, tt.user, tt.opts)
			g.Expect(w).To(BeNil())
			g.Expect(Classify(err)).To(Equal(tt.class), "%v", err)
			g.Expect(e.sb.CallCount(sandbox.EndpointCreateWidgetURL)).To(Equal(before+1), "not retried")
		})
	}
	t.Run("an empty user guid is refused before sending", func(t *testing.T) {
		g := NewWithT(t)
		_, err := e.c.CreateConnectWidgetURL(ctx, "", ConnectWidgetOptions{})
		g.Expect(err).To(MatchError(ErrInvalidRequest))
	})
	t.Run("a wrong API key", func(t *testing.T) {
		g := NewWithT(t)
		c, _ := newTestClient(t, e.srv.URL, func(c *Config) { c.APIKey = "wrong-key-value" })
		before := e.sb.CallCount(sandbox.EndpointCreateWidgetURL)
		_, err := c.CreateConnectWidgetURL(ctx, u.GUID, ConnectWidgetOptions{})
		g.Expect(IsUnauthorized(err)).To(BeTrue())
		g.Expect(e.sb.CallCount(sandbox.EndpointCreateWidgetURL)).To(Equal(before + 1))
		g.Expect(err.Error()).NotTo(ContainSubstring("wrong-key-value"))
	})
	NewWithT(t).Expect(e.sb.WidgetURLs()).To(BeEmpty())
}

// TestSandboxConnectWidgetURLRetries: minting a second URL is harmless, so
// unlike the creates the call is retried after a 5xx or a lost response,
// as idempotent calls are; the URL whose answer was lost is never handed
// out and expires unused.
func TestSandboxConnectWidgetURLRetries(t *testing.T) {
	for _, drop := range []bool{false, true} {
		t.Run(map[bool]string{false: "500 after commit", true: "connection dropped after commit"}[drop], func(t *testing.T) {
			g := NewWithT(t)
			e := newSandboxEnv(t)
			ctx := context.Background()
			u := e.newUser(g, "u")

			e.sb.SetFault(sandbox.EndpointCreateWidgetURL, sandbox.Fault{CommitThenFail: 1, DropConnection: drop})
			w, err := e.c.CreateConnectWidgetURL(ctx, u.GUID, ConnectWidgetOptions{InstitutionCode: sandbox.InstitutionMXBank})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(e.sb.CallCount(sandbox.EndpointCreateWidgetURL)).To(Equal(2), "retried")
			g.Expect(e.sb.WidgetURLs()).To(HaveLen(2), "two minted")
			_, err = e.sb.ConnectThroughWidget(w.URL, sandbox.WidgetConnect{Username: "mxuser", Password: "password"})
			g.Expect(err).NotTo(HaveOccurred())
			minted := e.sb.WidgetURLs()
			g.Expect(minted[0].Used).To(BeFalse(), "the lost one is never used")
			g.Expect(minted[1].Used).To(BeTrue(), "the answered one is the one returned")
			e.expectObserverMatchesSandbox(g)
		})
	}
	t.Run("500s: retried, then retryable", func(t *testing.T) {
		g := NewWithT(t)
		e := newSandboxEnv(t)
		ctx := context.Background()
		u := e.newUser(g, "u")

		e.sb.SetFault(sandbox.EndpointCreateWidgetURL, sandbox.Fault{ErrorRate: 1})
		_, err := e.c.CreateConnectWidgetURL(ctx, u.GUID, ConnectWidgetOptions{})
		g.Expect(IsRetryable(err)).To(BeTrue())
		g.Expect(e.sb.CallCount(sandbox.EndpointCreateWidgetURL)).To(Equal(3), "1 + MaxRetries")
		g.Expect(err.Error()).To(HavePrefix("mx: POST /users/{user}/widget_urls: "))
		g.Expect(strings.Contains(err.Error(), u.GUID)).To(BeFalse(), "errors name the route template")
		e.expectObserverMatchesSandbox(g)
	})
}
