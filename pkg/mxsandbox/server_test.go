package mxsandbox_test

import (
	"fmt"
	"go/build"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// TestDependsOnTheStandardLibraryOnly proves that importing the sandbox costs a user's module
// nothing: every import of its non-test files is in the standard library (and the standard
// library only imports itself).
func TestDependsOnTheStandardLibraryOnly(t *testing.T) {
	g := NewWithT(t)
	pkg, err := build.ImportDir(".", 0)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pkg.Imports).NotTo(BeEmpty())
	for _, path := range pkg.Imports {
		p, err := build.Import(path, ".", build.FindOnly)
		g.Expect(err).NotTo(HaveOccurred(), path)
		g.Expect(p.Goroot).To(BeTrue(), "%s is not in the standard library", path)
	}
}

func TestNewSandboxRejectsInvalidOptions(t *testing.T) {
	cases := []struct {
		reason string
		opts   sandbox.Options
		want   string
	}{
		{"no client id", sandbox.Options{APIKey: "k"}, "ClientID and Options.APIKey are required"},
		{"no api key", sandbox.Options{ClientID: "c"}, "ClientID and Options.APIKey are required"},
		{"relative webhook URL", sandbox.Options{ClientID: "c", APIKey: "k", WebhookURL: "/webhooks"}, "not an absolute http or https URL"},
		{"webhook URL of another scheme", sandbox.Options{ClientID: "c", APIKey: "k", WebhookURL: "ftp://127.0.0.1/x"}, "not an absolute http or https URL"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			sb, err := sandbox.NewSandbox(tc.opts)
			g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
			g.Expect(sb).To(BeNil())
			g.Expect(func() { sandbox.New(tc.opts) }).To(PanicWith(MatchError(err.Error())))
		})
	}
}

// fakeTB records what Start does with its test.
type fakeTB struct {
	cleanups []func()
	fatal    string
}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Cleanup(fn func())                 { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

func (f *fakeTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestStartServesOnLoopbackWithDefaultCredentials(t *testing.T) {
	g := NewWithT(t)
	sb := sandbox.Start(t, sandbox.Options{})
	g.Expect(sb.URL()).To(HavePrefix("http://127.0.0.1:"))
	g.Expect(sb.Options().ClientID).To(Equal(sandbox.DefaultClientID))
	g.Expect(sb.Options().APIKey).To(Equal(sandbox.DefaultAPIKey))

	get := func(clientID, apiKey string) int {
		req, err := http.NewRequest(http.MethodGet, sb.URL()+"/institutions/mxbank", nil)
		g.Expect(err).NotTo(HaveOccurred())
		req.SetBasicAuth(clientID, apiKey)
		req.Header.Set("Accept", sandbox.AcceptVersion)
		res, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Body.Close()).To(Succeed())
		return res.StatusCode
	}
	g.Expect(get(sandbox.DefaultClientID, sandbox.DefaultAPIKey)).To(Equal(http.StatusOK))
	g.Expect(get(sandbox.DefaultClientID, "wrong")).To(Equal(http.StatusUnauthorized))
	g.Expect(sb.CallCount(sandbox.EndpointReadInstitution)).To(Equal(2))
}

func TestStartKeepsGivenCredentials(t *testing.T) {
	g := NewWithT(t)
	sb := sandbox.Start(t, sandbox.Options{ClientID: "mine", APIKey: "secret"})
	g.Expect(sb.Options().ClientID).To(Equal("mine"))
	g.Expect(sb.Options().APIKey).To(Equal("secret"))
}

func TestStartFailsTheTestOnInvalidOptions(t *testing.T) {
	g := NewWithT(t)
	tb := &fakeTB{}
	sb := sandbox.Start(tb, sandbox.Options{WebhookURL: "not a url"})
	g.Expect(sb).To(BeNil())
	g.Expect(tb.fatal).To(ContainSubstring("starting the MX sandbox"))
	g.Expect(tb.cleanups).To(BeEmpty())
}

// TestStartClosesOnCleanupReleasingHeldRequests proves that the test's cleanup does not hang on a
// request a Hold fault holds, and that the server is gone afterwards.
func TestStartClosesOnCleanupReleasingHeldRequests(t *testing.T) {
	g := NewWithT(t)
	tb := &fakeTB{}
	sb := sandbox.Start(tb, sandbox.Options{})
	g.Expect(tb.cleanups).To(HaveLen(1))
	sb.SetFault(sandbox.EndpointCreateUser, sandbox.Fault{Hold: true})

	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, sb.URL()+"/users", strings.NewReader(`{"user":{"id":"held"}}`))
		req.SetBasicAuth(sandbox.DefaultClientID, sandbox.DefaultAPIKey)
		req.Header.Set("Accept", sandbox.AcceptVersion)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = res.Body.Close()
		}
		errc <- err
	}()
	g.Eventually(sb.HeldCount).Should(Equal(1))
	g.Expect(sb.UserCount()).To(Equal(1), "a held request has taken effect")

	closed := make(chan struct{})
	go func() {
		tb.runCleanups()
		close(closed)
	}()
	g.Eventually(closed, 5*time.Second).Should(BeClosed())
	g.Eventually(errc).Should(Receive(HaveOccurred()), "the held request ends with a closed connection")

	_, err := http.Get(sb.URL() + "/institutions")
	g.Expect(err).To(HaveOccurred(), "nothing listens after Close")
	g.Expect(sb.Close).NotTo(Panic(), "Close is safe to call again")
}

func TestNewServerForPrograms(t *testing.T) {
	g := NewWithT(t)
	sb, err := sandbox.NewServer(sandbox.Options{EnableControl: true})
	g.Expect(err).NotTo(HaveOccurred())
	defer sb.Close()
	res, err := http.Get(sb.URL() + "/_sandbox/calls")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Body.Close()).To(Succeed())
	g.Expect(res.StatusCode).To(Equal(http.StatusOK))

	_, err = sandbox.NewServer(sandbox.Options{WebhookURL: "::"})
	g.Expect(err).To(HaveOccurred())
}

func TestNowFollowsTheClock(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	g.Expect(e.sb.Now()).To(Equal(t0))
	e.sb.Advance(time.Minute)
	g.Expect(e.sb.Now()).To(Equal(t0.Add(time.Minute)))
	g.Expect(e.sb.Options().Clock).To(BeIdenticalTo(e.clock))
}

func TestMemberLooksUpOneMember(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "user", "password", nil)

	snap, ok := e.sb.Member(m.GUID)
	g.Expect(ok).To(BeTrue())
	g.Expect(snap.ConnectionStatus).To(Equal(sandbox.StatusCreated))
	g.Expect(snap.IsBeingAggregated).To(BeTrue())

	e.sb.Advance(aggStep)
	snap, ok = e.sb.Member(m.GUID)
	g.Expect(ok).To(BeTrue())
	g.Expect(snap.ConnectionStatus).To(Equal(sandbox.StatusConnected), "transitions due are applied first")

	g.Expect(e.do(http.MethodDelete, e.memberPath(m), nil).status).To(Equal(http.StatusNoContent))
	_, ok = e.sb.Member(m.GUID)
	g.Expect(ok).To(BeFalse(), "a deleted member is gone")
}

func TestSetFaultsReplacesEveryFault(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	e.sb.SetFault(sandbox.EndpointReadUser, sandbox.Fault{ErrorRate: 1})

	g.Expect(e.sb.SetFaults(map[string]sandbox.Fault{
		sandbox.AllEndpoints:         {RateLimitRate: 1},
		sandbox.EndpointCreateMember: {CommitThenFail: 2},
	})).To(Succeed())
	faults := e.sb.Faults()
	g.Expect(faults).To(HaveLen(len(sandbox.Endpoints())))
	g.Expect(faults[sandbox.EndpointReadUser]).To(Equal(sandbox.Fault{RateLimitRate: 1}), "the earlier fault is replaced")
	g.Expect(faults[sandbox.EndpointCreateMember]).To(Equal(sandbox.Fault{CommitThenFail: 2}), "a named endpoint overrides *")
	g.Expect(e.do(http.MethodGet, "/users", nil).status).To(Equal(http.StatusTooManyRequests))

	g.Expect(e.sb.SetFaults(map[string]sandbox.Fault{"GET /nope": {ErrorRate: 1}})).
		To(MatchError(ContainSubstring(`unknown endpoint "GET /nope"`)))
	g.Expect(e.sb.Faults()).To(HaveLen(len(sandbox.Endpoints())), "an unknown endpoint changes nothing")

	g.Expect(e.sb.SetFaults(nil)).To(Succeed())
	g.Expect(e.sb.Faults()).To(BeEmpty())
}

func TestFaultsReportsTheCountsStillToCome(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	e.sb.SetFault(sandbox.EndpointCreateUser, sandbox.Fault{CommitThenFail: 1, MalformedBody: 2})
	g.Expect(e.do(http.MethodPost, "/users", map[string]any{"user": map[string]any{"id": "a"}}).status).
		To(Equal(http.StatusInternalServerError))
	g.Expect(e.do(http.MethodPost, "/users", map[string]any{"user": map[string]any{"id": "b"}}).status).
		To(Equal(http.StatusOK))
	g.Expect(e.sb.Faults()).To(Equal(map[string]sandbox.Fault{
		sandbox.EndpointCreateUser: {CommitThenFail: 0, MalformedBody: 1},
	}))
}
