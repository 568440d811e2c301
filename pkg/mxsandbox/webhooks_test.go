package mxsandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
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
	// MX-API.md §9 and MX's aggregation webhook reference: completed_at is
	// Unix time, completed_on the date, job_guid the aggregation's job.
	g.Expect(agg).To(Equal(map[string]any{
		"action":                     "member_data_updated",
		"type":                       "AGGREGATION",
		"member_guid":                m.GUID,
		"user_guid":                  u,
		"user_id":                    "partner-user",
		"is_background":              false,
		"job_guid":                   m.jobGUID(),
		"completed_at":               float64(t0.Add(2 * aggStep).Unix()),
		"completed_on":               "2024-03-01",
		"transactions_created_count": float64(total),
		"transactions_updated_count": 0.0,
	}))

	e.sb.Advance(24*time.Hour - 2*aggStep) // the sweep at t0+24h
	e.sb.Advance(aggStep)
	g.Eventually(rc.received).Should(HaveLen(3))
	bg := rc.received()[2].Body
	g.Expect(bg["is_background"]).To(Equal(true))
	g.Expect(bg["completed_at"]).To(Equal(float64(t0.Add(24*time.Hour + aggStep).Unix())))
	g.Expect(bg["completed_on"]).To(Equal("2024-03-02"))
	g.Expect(bg["job_guid"]).To(Equal(e.read(m).jobGUID()))
	g.Expect(bg["job_guid"]).NotTo(Equal(m.jobGUID()), "the background job is a new job")
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

// TestWebhookDeliveryIsRetried follows MX-API.md §9: MX retries failed
// deliveries up to 12 times over about 24 h. The sandbox retries on its
// clock, each wait twice the one before, and stops at the first 2xx.
func TestWebhookDeliveryIsRetried(t *testing.T) {
	const interval = sandbox.DefaultWebhookRetryInterval
	short := func(g Gomega, rc *receiver, n int, why string) {
		g.Consistently(rc.received, 200*time.Millisecond, 20*time.Millisecond).Should(HaveLen(n), why)
	}

	t.Run("retries follow the sandbox clock and stop at the first 2xx", func(t *testing.T) {
		g := NewWithT(t)
		rc := newReceiver(t, func(n int) int {
			if n <= 2 {
				return http.StatusInternalServerError
			}
			return http.StatusNoContent
		})
		e := newEnv(t, withWebhooks(rc.srv.URL))
		e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", "LOCKED", nil)
		e.sb.Advance(aggStep)
		g.Eventually(rc.received).Should(HaveLen(1))
		short(g, rc, 1, "no retry until sandbox time passes")

		e.sb.Advance(interval - time.Second)
		short(g, rc, 1, "not before the first interval")
		e.sb.Advance(time.Second)
		g.Eventually(rc.received).Should(HaveLen(2), "the first retry")
		e.sb.Advance(2*interval - time.Second)
		short(g, rc, 2, "the second retry waits twice as long")
		e.sb.Advance(time.Second)
		g.Eventually(rc.received).Should(HaveLen(3), "the second retry, answered 204")

		e.sb.Advance(48 * time.Hour)
		short(g, rc, 3, "a 2xx ends the retries")
		hooks := rc.received()
		g.Expect(hooks[2].Body).To(Equal(hooks[0].Body), "the same payload each time")
	})

	t.Run("twelve retries over about a day, then the payload is dropped", func(t *testing.T) {
		g := NewWithT(t)
		rc := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
		e := newEnv(t, withWebhooks(rc.srv.URL))
		e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", "LOCKED", nil)
		e.sb.Advance(aggStep)
		g.Eventually(rc.received).Should(HaveLen(1))
		var elapsed time.Duration
		for n := 1; n <= sandbox.WebhookRetries; n++ {
			wait := interval << (n - 1)
			e.sb.Advance(wait)
			elapsed += wait
			g.Eventually(rc.received).Should(HaveLen(1+n), "retry %d", n)
		}
		g.Expect(elapsed).To(BeNumerically("~", 24*time.Hour, 30*time.Minute), "about 24 h")
		e.sb.Advance(72 * time.Hour)
		short(g, rc, 1+sandbox.WebhookRetries, "no thirteenth retry")
	})

	t.Run("Options.WebhookRetryInterval compresses the schedule", func(t *testing.T) {
		g := NewWithT(t)
		rc := newReceiver(t, func(n int) int {
			if n == 1 {
				return http.StatusInternalServerError
			}
			return http.StatusNoContent
		})
		e := newEnv(t, withWebhooks(rc.srv.URL), func(o *sandbox.Options) { o.WebhookRetryInterval = time.Second })
		e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", "LOCKED", nil)
		e.sb.Advance(aggStep)
		g.Eventually(rc.received).Should(HaveLen(1))
		e.sb.Advance(time.Second)
		g.Eventually(rc.received).Should(HaveLen(2))
	})

	t.Run("a failing payload does not hold back later ones", func(t *testing.T) {
		g := NewWithT(t)
		rc := newReceiver(t, func(n int) int {
			if n == 1 {
				return http.StatusInternalServerError
			}
			return http.StatusNoContent
		})
		e := newEnv(t, withWebhooks(rc.srv.URL))
		u := e.createUser("u")
		e.createMember(u, sandbox.InstitutionMXBank, "a", "LOCKED", nil)
		e.sb.Advance(aggStep)
		g.Eventually(rc.received).Should(HaveLen(1))
		e.createMember(u, sandbox.InstitutionMXBank, "b", "INVALID", nil)
		e.sb.Advance(aggStep)
		g.Eventually(rc.received).Should(HaveLen(2), "the DENIED webhook goes out while LOCKED waits for its retry")
		g.Expect(rc.received()[1].Body["connection_status"]).To(Equal("DENIED"))
	})
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

// TestAggregationWebhookCountsReplacedPendingAsCreated: with
// Options.PendingPostsWithNewGUID a pending transaction that posts is a new
// transaction (MX-API.md §11), so the AGGREGATION webhook counts it as
// created, not updated.
func TestAggregationWebhookCountsReplacedPendingAsCreated(t *testing.T) {
	for _, newGUID := range []bool{false, true} {
		g := NewWithT(t)
		rc := newReceiver(t, nil)
		e := newEnv(t, withWebhooks(rc.srv.URL), func(o *sandbox.Options) { o.PendingPostsWithNewGUID = newGUID })
		m := e.connectedMember("u", "mxuser")
		todays := len(e.allTransactions(e.memberPath(m) + "/transactions?from_date=2024-03-01&to_date=2024-03-01"))
		e.sb.Advance(24*time.Hour + aggStep)
		tomorrows := len(e.allTransactions(e.memberPath(m) + "/transactions?from_date=2024-03-02&to_date=2024-03-02"))
		g.Eventually(rc.received).Should(HaveLen(2))
		bg := rc.received()[1].Body
		if newGUID {
			g.Expect(bg["transactions_created_count"]).To(Equal(float64(todays + tomorrows)))
			g.Expect(bg["transactions_updated_count"]).To(Equal(0.0))
			continue
		}
		g.Expect(bg["transactions_created_count"]).To(Equal(float64(tomorrows)))
		g.Expect(bg["transactions_updated_count"]).To(Equal(float64(todays)))
	}
}
