package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/mxoperator/mx-operator/internal/mx/sandbox"
)

type hook struct {
	Username, Password string
	HasAuth            bool
	ContentType        string
	Body               map[string]any
}

// receiver is a webhook endpoint that records what it is sent. respond
// decides the status of each delivery (nil: 204).
type receiver struct {
	mu      sync.Mutex
	hooks   []hook
	respond func(n int) int
	srv     *httptest.Server
}

func newReceiver(t *testing.T, respond func(n int) int) *receiver {
	rc := &receiver{respond: respond}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h := hook{ContentType: r.Header.Get("Content-Type")}
		h.Username, h.Password, h.HasAuth = r.BasicAuth()
		_ = json.Unmarshal(b, &h.Body)
		rc.mu.Lock()
		rc.hooks = append(rc.hooks, h)
		n := len(rc.hooks)
		rc.mu.Unlock()
		status := http.StatusNoContent
		if rc.respond != nil {
			status = rc.respond(n)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) received() []hook {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hook(nil), rc.hooks...)
}

func withWebhooks(url string) func(*sandbox.Options) {
	return func(o *sandbox.Options) {
		o.WebhookURL = url
		o.WebhookUsername = "hook-user"
		o.WebhookPassword = "hook-pass"
	}
}

func TestWebhooks(t *testing.T) {
	g := NewWithT(t)
	rc := newReceiver(t, nil)
	e := newEnv(t, withWebhooks(rc.srv.URL))

	u := e.createUser("partner-user")
	m := e.createMember(u, sandbox.InstitutionMXBank, "mxuser", "challenge", nil)
	e.sb.Advance(aggStep)

	g.Eventually(rc.received).Should(HaveLen(1))
	first := rc.received()[0]
	g.Expect(first.HasAuth).To(BeTrue())
	g.Expect(first.Username).To(Equal("hook-user"))
	g.Expect(first.Password).To(Equal("hook-pass"))
	g.Expect(first.ContentType).To(Equal("application/json"))
	g.Expect(first.Body).To(Equal(map[string]any{
		"action":                    "CHANGED",
		"type":                      "CONNECTION_STATUS",
		"connection_status":         "CHALLENGED",
		"connection_status_id":      3.0,
		"connection_status_message": first.Body["connection_status_message"],
		"member_guid":               m.GUID,
		"user_guid":                 u,
	}))
	g.Expect(first.Body["connection_status_message"]).NotTo(BeEmpty())

	challenges := e.status(m).Challenges
	g.Expect(e.resume(m, answersFor(challenges, correctValue)).status).To(Equal(http.StatusAccepted))
	e.sb.Advance(aggStep)

	g.Eventually(rc.received).Should(HaveLen(2), "RESUMED and CONNECTED send no CONNECTION_STATUS; completion sends AGGREGATION")
	agg := rc.received()[1].Body
	total := len(e.allTransactions(e.memberPath(m) + "/transactions"))
	g.Expect(agg).To(Equal(map[string]any{
		"action":                     "member_data_updated",
		"type":                       "AGGREGATION",
		"member_guid":                m.GUID,
		"user_guid":                  u,
		"user_id":                    "partner-user",
		"is_background":              false,
		"completed_at":               float64(t0.Add(2 * aggStep).Unix()),
		"transactions_created_count": float64(total),
		"transactions_updated_count": 0.0,
	}))

	e.sb.Advance(24*time.Hour - 2*aggStep) // the sweep at t0+24h
	e.sb.Advance(aggStep)
	g.Eventually(rc.received).Should(HaveLen(3))
	bg := rc.received()[2].Body
	g.Expect(bg["is_background"]).To(Equal(true))
	g.Expect(bg["completed_at"]).To(Equal(float64(t0.Add(24*time.Hour + aggStep).Unix())))
	g.Expect(bg["transactions_updated_count"]).To(BeNumerically(">", 0), "yesterday's pending transactions posted")
}

func TestWebhooksOnlyForUserActionableStates(t *testing.T) {
	g := NewWithT(t)
	rc := newReceiver(t, nil)
	e := newEnv(t, withWebhooks(rc.srv.URL))
	u := e.createUser("u")
	e.createMember(u, sandbox.InstitutionMXBank, "a", "SERVER_ERROR", nil)
	e.createMember(u, sandbox.InstitutionMXBankDegraded, "b", "password", nil)
	e.createMember(u, sandbox.InstitutionMXBank, "c", "LOCKED", nil)
	e.sb.Advance(aggStep)

	// Delivery is in order, so if FAILED or DEGRADED had been sent they
	// would arrive before LOCKED.
	g.Eventually(rc.received).ShouldNot(BeEmpty())
	g.Expect(rc.received()[0].Body["connection_status"]).To(Equal("LOCKED"))
}

func TestOAuthPendingSendsWebhook(t *testing.T) {
	g := NewWithT(t)
	rc := newReceiver(t, nil)
	e := newEnv(t, withWebhooks(rc.srv.URL))
	m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBankOAuth, "", "", map[string]any{"is_oauth": true})
	g.Eventually(rc.received).Should(HaveLen(1))
	g.Expect(rc.received()[0].Body).To(And(
		HaveKeyWithValue("connection_status", "PENDING"),
		HaveKeyWithValue("connection_status_id", 21.0),
		HaveKeyWithValue("member_guid", m.GUID),
	))
}

func TestWebhookDeliveryIsRetried(t *testing.T) {
	g := NewWithT(t)
	rc := newReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	e := newEnv(t, withWebhooks(rc.srv.URL))
	e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", "LOCKED", nil)
	e.sb.Advance(aggStep)
	g.Eventually(rc.received).Should(HaveLen(2))
	hooks := rc.received()
	g.Expect(hooks[1].Body).To(Equal(hooks[0].Body), "the failed delivery is sent again")
}

func TestWebhookDeliveryNeverBlocksRequests(t *testing.T) {
	g := NewWithT(t)
	release := make(chan struct{})
	blocking := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(blocking.Close)
	t.Cleanup(func() { close(release) })

	e := newEnv(t, withWebhooks(blocking.URL))
	e.client.Timeout = 2 * time.Second
	u := e.createUser("u")
	for _, name := range []string{"a", "b", "c"} {
		e.createMember(u, sandbox.InstitutionMXBank, name, "LOCKED", nil)
	}
	e.sb.Advance(aggStep)
	for _, m := range e.sb.Members() {
		g.Expect(m.ConnectionStatus).To(Equal(sandbox.StatusLocked))
	}
	g.Expect(e.do("GET", "/users/"+u+"/members", nil).status).To(Equal(http.StatusOK), "the API answers while the receiver hangs")
}
