package mx

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"golang.org/x/time/rate"
)

// hitCounter is a test server whose behaviour depends on the hit number
// (0-based); it counts hits.
type hitCounter struct {
	hits   atomic.Int32
	behave func(n int, w http.ResponseWriter, r *http.Request)
}

func (h *hitCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(h.hits.Add(1)) - 1
	h.behave(n, w, r)
}

// status answers every hit with code (and a member body on 2xx).
func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { answer(w, code) }
}

// failThen answers the first n hits with code, then 2xx.
func failThen(n, code, okCode int) func(int, http.ResponseWriter, *http.Request) {
	return func(i int, w http.ResponseWriter, _ *http.Request) {
		if i < n {
			answer(w, code)
			return
		}
		answer(w, okCode)
	}
}

// dropped drops every connection after reading the request.
func dropped(_ int, w http.ResponseWriter, _ *http.Request) { dropConnection(w) }

func answer(w http.ResponseWriter, code int) {
	switch {
	case code == http.StatusNoContent:
		w.WriteHeader(code)
	case code < 300:
		writeJSON(w, code, `{"member":{"guid":"MBR-1"},"user":{"guid":"USR-1"}}`)
	default:
		writeJSON(w, code, `{"error":{"message":"nope"}}`)
	}
}

// TestRetryPolicy counts server hits: idempotent calls are retried on 5xx
// and dropped connections up to MaxRetries (2 by default, so a GET makes at
// most 3 attempts per call); a 429 is retried once its cool-down (1 s at
// first) has passed, but the next, longer cool-down ends the call; the
// non-idempotent creates and resume are retried on 429 only, never on 5xx
// or a lost response.
func TestRetryPolicy(t *testing.T) {
	getMember := func(ctx context.Context, c *Client) error { _, err := c.GetMember(ctx, "USR-1", "MBR-1"); return err }
	createUser := func(ctx context.Context, c *Client) error {
		_, err := c.CreateUser(ctx, CreateUserRequest{ID: "u-1"})
		return err
	}
	createMember := func(ctx context.Context, c *Client) error {
		_, _, err := c.CreateMember(ctx, "USR-1", CreateMemberRequest{InstitutionCode: "mxbank", ID: "m-1"})
		return err
	}
	resume := func(ctx context.Context, c *Client) error {
		_, err := c.ResumeMember(ctx, "USR-1", "MBR-1", []ChallengeAnswer{{GUID: "CRD-1", Value: "correct"}})
		return err
	}
	aggregate := func(ctx context.Context, c *Client) error {
		_, err := c.AggregateMember(ctx, "USR-1", "MBR-1")
		return err
	}
	deleteMember := func(ctx context.Context, c *Client) error { return c.DeleteMember(ctx, "USR-1", "MBR-1") }

	tests := []struct {
		reason     string
		invoke     func(context.Context, *Client) error
		behave     func(int, http.ResponseWriter, *http.Request)
		maxRetries int
		wantHits   int
		wantClass  ErrorClass
	}{
		{"an idempotent read is retried on 500 up to MaxRetries (2 by default)", getMember, status(500), 0, 3, ClassRetryable},
		{"an idempotent read succeeds once 503s stop", getMember, failThen(2, 503, 200), 0, 3, ClassNone},
		{"an idempotent read is retried on dropped connections", getMember, dropped, 0, 3, ClassRetryable},
		{"an idempotent read is retried once on 429 after the first cool-down, then reports rate limited", getMember, status(429), 0, 2, ClassRateLimited},
		{"404 is not retried", getMember, status(404), 0, 1, ClassNotFound},
		{"400 is not retried", getMember, status(400), 0, 1, ClassTerminal},
		{"401 is not retried", getMember, status(401), 0, 1, ClassUnauthorized},
		{"409 is not retried", getMember, status(409), 0, 1, ClassConflict},
		{"MaxRetries bounds the attempts", getMember, status(502), 5, 6, ClassRetryable},
		{"a negative MaxRetries disables retries", getMember, status(500), -1, 1, ClassRetryable},
		{"create user is NOT retried on 500: it may have been created", createUser, status(500), 0, 1, ClassRetryable},
		{"create user is NOT retried on a lost response", createUser, dropped, 0, 1, ClassRetryable},
		{"create user IS retried on 429: rejected before processing", createUser, failThen(1, 429, 200), 0, 2, ClassNone},
		{"create member is NOT retried on 502", createMember, status(502), 0, 1, ClassRetryable},
		{"create member is NOT retried on 504", createMember, status(504), 0, 1, ClassRetryable},
		{"create member is NOT retried on a lost response", createMember, dropped, 0, 1, ClassRetryable},
		{"create member IS retried on 429 after the first cool-down, then reports rate limited", createMember, status(429), 0, 2, ClassRateLimited},
		{"create member succeeds after a 429", createMember, failThen(1, 429, 202), 0, 2, ClassNone},
		{"resume is NOT retried on 500: the answers may have been taken", resume, status(500), 0, 1, ClassRetryable},
		{"resume is NOT retried on a lost response", resume, dropped, 0, 1, ClassRetryable},
		{"resume IS retried on 429", resume, failThen(1, 429, 202), 0, 2, ClassNone},
		{"aggregate is idempotent at MX (202, no new job) and retried on 500", aggregate, failThen(1, 500, 202), 0, 2, ClassNone},
		{"delete is retried on 504", deleteMember, failThen(1, 504, 204), 0, 2, ClassNone},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			h := &hitCounter{behave: tt.behave}
			c, sleeps := newTestClient(t, newServer(t, h).URL, func(c *Config) {
				c.MaxRetries = tt.maxRetries
				if tt.maxRetries > 0 {
					// Only MaxRetries may end these calls, not a cool-down.
					c.FailureThreshold = -1
				}
			})

			err := tt.invoke(context.Background(), c)

			g.Expect(int(h.hits.Load())).To(Equal(tt.wantHits), tt.reason)
			g.Expect(Classify(err)).To(Equal(tt.wantClass), "error %v", err)
			g.Expect(sleeps.recorded()).To(HaveLen(tt.wantHits-1), "one backoff wait between attempts")
		})
	}
}

// TestCreateRetriedWhenConnectingFails proves that a create is retried when
// the connection could not be opened (the request never left), and that
// each attempt is reported to the Observer with code 0.
func TestCreateRetriedWhenConnectingFails(t *testing.T) {
	g := NewWithT(t)
	obs := &attemptObserver{}
	c, _ := newTestClient(t, closedAddr(t), func(c *Config) { c.Observer = obs })

	_, _, err := c.CreateMember(context.Background(), "USR-1", CreateMemberRequest{InstitutionCode: "mxbank"})

	g.Expect(IsRetryable(err)).To(BeTrue())
	g.Expect(obs.all()).To(Equal([]observed{
		{"POST /users/{user}/members", 0}, {"POST /users/{user}/members", 0},
		{"POST /users/{user}/members", 0},
	}), "1 + MaxRetries (2 by default)")
}

// TestRetryAfter proves that a Retry-After (seconds or HTTP date) starts a
// cool-down of exactly that length, which is the computed wait before the
// one retry, and that one longer than MaxBackoff ends the call at once and
// is reported to the caller. Without a usable Retry-After the wait is the
// first cool-down interval (CoolDownMin, jitter pinned to its ceiling).
// MaxRetryWait is raised to MaxBackoff so that only MaxBackoff limits a wait
// here; TestRetryWaitBudget covers the default budget.
func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		reason         string
		code           int
		header         string
		wantWaits      []time.Duration
		wantHits       int
		wantRetryAfter time.Duration
	}{
		{"delay-seconds is waited exactly", 429, "3", []time.Duration{3 * time.Second}, 2, 0},
		{"an HTTP date is converted with the client's clock", 429, now.Add(4 * time.Second).Format(http.TimeFormat), []time.Duration{4 * time.Second}, 2, 0},
		{"a date in the past means retry at once", 429, now.Add(-time.Hour).Format(http.TimeFormat), []time.Duration{0}, 2, 0},
		{"503 maintenance with Retry-After is honoured too", 503, "2", []time.Duration{2 * time.Second}, 2, 0},
		{"a Retry-After up to MaxBackoff is honoured", 429, "10", []time.Duration{10 * time.Second}, 2, 0},
		{"a Retry-After above MaxBackoff is not waited for in-line but returned", 429, "60", nil, 1, 60 * time.Second},
		{"an unparsable Retry-After is ignored: the wait is the first cool-down", 429, "soon", []time.Duration{time.Second}, 2, 0},
		{"no Retry-After: the wait is the first cool-down", 429, "", []time.Duration{time.Second}, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			h := &hitCounter{behave: func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 0 {
					if tt.header != "" {
						w.Header().Set("Retry-After", tt.header)
					}
					answer(w, tt.code)
					return
				}
				answer(w, 200)
			}}
			c, sleeps := newTestClient(t, newServer(t, h).URL, func(c *Config) {
				c.MaxBackoff = 10 * time.Second
				c.MaxRetryWait = 10 * time.Second
			})
			sleeps.clock.Set(now)
			c.jitter = func(ceiling time.Duration) time.Duration { return ceiling }
			c.health.jitter = func(ceiling time.Duration) time.Duration { return ceiling }

			_, err := c.GetUser(context.Background(), "USR-1")

			g.Expect(sleeps.recorded()).To(Equal(tt.wantWaits), tt.reason)
			g.Expect(int(h.hits.Load())).To(Equal(tt.wantHits))
			if tt.wantRetryAfter == 0 {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(c.CoolingDownUntil()).To(BeZero(), "the retry was the probe; its success ended the cool-down")
				return
			}
			g.Expect(IsRateLimited(err)).To(BeTrue())
			d, ok := RetryAfter(err)
			g.Expect(ok).To(BeTrue())
			g.Expect(d).To(Equal(tt.wantRetryAfter))
			g.Expect(c.CoolingDownUntil()).To(Equal(now.Add(tt.wantRetryAfter)))
		})
	}
}

// TestRetryWaitBudget proves that with the default MaxRetryWait (1 s) no
// call waits in-line for long: a Retry-After of 3 s is returned at once
// (not waited for, one hit), and after one wait of 1 s a second 429 ends the
// call even though MaxRetries would allow another attempt.
func TestRetryWaitBudget(t *testing.T) {
	tests := []struct {
		reason    string
		header    string
		wantWaits []time.Duration
		wantHits  int
		wantLeft  time.Duration
	}{
		{"a Retry-After above MaxRetryWait is not waited for", "3", nil, 1, 3 * time.Second},
		{"one wait of 1 s uses the budget; the second 429 is returned", "1", []time.Duration{time.Second}, 2, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			h := &hitCounter{behave: func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", tt.header)
				answer(w, 429)
			}}
			c, sleeps := newTestClient(t, newServer(t, h).URL, func(c *Config) { c.MaxRetryWait = 0 })
			g.Expect(c.cfg.MaxRetryWait).To(Equal(DefaultMaxRetryWait))

			_, err := c.GetUser(context.Background(), "USR-1")

			g.Expect(IsRateLimited(err)).To(BeTrue())
			g.Expect(sleeps.recorded()).To(Equal(tt.wantWaits), tt.reason)
			g.Expect(int(h.hits.Load())).To(Equal(tt.wantHits))
			d, ok := RetryAfter(err)
			g.Expect(ok).To(BeTrue())
			g.Expect(d).To(Equal(tt.wantLeft), "the cool-down left, for the caller's requeue")
			apiErr, ok := errors.AsType[*APIError](err)
			g.Expect(ok).To(BeTrue(), "MX's own answer is kept: %v", err)
			g.Expect(apiErr.StatusCode).To(Equal(429))
		})
	}
}

// TestRetryAfterBeyondDeadline proves that the client does not start a wait
// that would outlast the caller's deadline: it returns the 429 at once.
func TestRetryAfterBeyondDeadline(t *testing.T) {
	g := NewWithT(t)
	h := &hitCounter{behave: func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "8")
		answer(w, 429)
	}}
	// Only the deadline may stop the wait here.
	c, sleeps := newTestClient(t, newServer(t, h).URL, func(c *Config) { c.MaxRetryWait = time.Minute })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	_, err := c.GetUser(ctx, "USR-1")

	g.Expect(IsRateLimited(err)).To(BeTrue())
	g.Expect(int(h.hits.Load())).To(Equal(1))
	g.Expect(sleeps.recorded()).To(BeEmpty())
	d, _ := RetryAfter(err)
	g.Expect(d).To(Equal(8 * time.Second))
}

// TestBackoffIsExponentialWithCap proves the full-jitter ceilings:
// min(MaxBackoff, MinBackoff*2^attempt).
func TestBackoffIsExponentialWithCap(t *testing.T) {
	g := NewWithT(t)
	h := &hitCounter{behave: status(500)}
	c, sleeps := newTestClient(t, newServer(t, h).URL, func(c *Config) {
		c.MinBackoff = 100 * time.Millisecond
		c.MaxBackoff = 350 * time.Millisecond
		c.MaxRetries = 5
		c.FailureThreshold = -1 // no cool-down: only the backoff is measured
	})
	var ceilings []time.Duration
	c.jitter = func(ceiling time.Duration) time.Duration {
		ceilings = append(ceilings, ceiling)
		return ceiling / 2
	}

	_, err := c.GetUser(context.Background(), "USR-1")

	g.Expect(IsRetryable(err)).To(BeTrue())
	ms := time.Millisecond
	g.Expect(ceilings).To(Equal([]time.Duration{100 * ms, 200 * ms, 350 * ms, 350 * ms, 350 * ms}))
	g.Expect(sleeps.recorded()).To(Equal([]time.Duration{50 * ms, 100 * ms, 175 * ms, 175 * ms, 175 * ms}), "the jittered value is what is waited")
}

// TestFullJitterRange proves that the production jitter stays within
// [0, ceiling] and is not constant.
func TestFullJitterRange(t *testing.T) {
	g := NewWithT(t)
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := fullJitter(10 * time.Millisecond)
		g.Expect(d).To(And(BeNumerically(">=", 0), BeNumerically("<=", 10*time.Millisecond)))
		seen[d] = true
	}
	g.Expect(len(seen)).To(BeNumerically(">", 100), "jittered")
	g.Expect(fullJitter(0)).To(BeZero())
}

// TestRetryStopsWhenContextEnds proves that a caller cancelling during the
// backoff stops the retries.
func TestRetryStopsWhenContextEnds(t *testing.T) {
	g := NewWithT(t)
	h := &hitCounter{behave: status(500)}
	c, _ := newTestClient(t, newServer(t, h).URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		return sleepContext(ctx, time.Hour)
	}

	_, err := c.GetUser(ctx, "USR-1")

	g.Expect(int(h.hits.Load())).To(Equal(1))
	g.Expect(err).To(HaveOccurred())
	g.Expect(IsRetryable(err)).To(BeTrue())

	_, err = c.GetUser(ctx, "USR-1")
	g.Expect(errors.Is(err, context.Canceled)).To(BeTrue(), "a cancelled context sends nothing")
	g.Expect(int(h.hits.Load())).To(Equal(1))
}

// TestObserverSeesEveryAttempt proves the metrics hook: one observation per
// attempt, with the route template and status code.
func TestObserverSeesEveryAttempt(t *testing.T) {
	g := NewWithT(t)
	h := &hitCounter{behave: failThen(2, 500, 200)}
	obs := &attemptObserver{}
	c, _ := newTestClient(t, newServer(t, h).URL, func(c *Config) { c.Observer = obs })

	_, err := c.GetMemberStatus(context.Background(), "USR-1", "MBR-1")

	g.Expect(err).NotTo(HaveOccurred())
	e := "GET /users/{user}/members/{member}/status"
	g.Expect(obs.all()).To(Equal([]observed{{e, 500}, {e, 500}, {e, 200}}))
}

// countingWaiter counts token requests on the real limiter.
type countingWaiter struct {
	inner *rate.Limiter
	n     atomic.Int32
}

func (w *countingWaiter) Wait(ctx context.Context) error {
	w.n.Add(1)
	return w.inner.Wait(ctx)
}

// TestRateLimiterIsSharedAcrossGoroutines proves the token bucket is one
// per Client: concurrent callers drain the same Burst, and a caller that
// would have to wait past its deadline fails at once without sending.
func TestRateLimiterIsSharedAcrossGoroutines(t *testing.T) {
	g := NewWithT(t)
	h := &hitCounter{behave: status(200)}
	// One token per 1000 s: after the burst nothing refills during the test.
	c, _ := newTestClient(t, newServer(t, h).URL, func(c *Config) {
		c.QPS = 0.001
		c.Burst = 5
	})
	lim := c.limiter.(*rate.Limiter)
	g.Expect(lim.Burst()).To(Equal(5))

	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Go(func() {
			_, err := c.GetUser(context.Background(), "USR-1")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(lim.Tokens()).To(BeNumerically("<", 1), "the five goroutines drained one shared bucket")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.GetUser(ctx, "USR-1")
	g.Expect(err).To(HaveOccurred(), "the next token is 1000 s away, past the deadline")
	g.Expect(IsRetryable(err)).To(BeTrue())
	g.Expect(int(h.hits.Load())).To(Equal(5), "the sixth call was not sent")
}

// TestRetriesTakeTokens proves that every attempt, including retries, takes
// a token from the shared bucket.
func TestRetriesTakeTokens(t *testing.T) {
	g := NewWithT(t)
	h := &hitCounter{behave: failThen(2, 503, 200)}
	c, _ := newTestClient(t, newServer(t, h).URL, func(c *Config) { c.QPS = 1000; c.Burst = 100 })
	w := &countingWaiter{inner: c.limiter.(*rate.Limiter)}
	c.limiter = w

	_, err := c.GetUser(context.Background(), "USR-1")

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(int(w.n.Load())).To(Equal(3))
	g.Expect(int(h.hits.Load())).To(Equal(3))
}

// TestUnlimitedAndDefaultBurst proves QPS <= 0 means no limit and that the
// burst defaults to ceil(QPS).
func TestUnlimitedAndDefaultBurst(t *testing.T) {
	g := NewWithT(t)
	c, _ := newTestClient(t, "http://127.0.0.1:1")
	g.Expect(c.limiter.(*rate.Limiter).Limit()).To(Equal(rate.Inf))

	c, _ = newTestClient(t, "http://127.0.0.1:1", func(c *Config) { c.QPS = 2.5 })
	g.Expect(c.limiter.(*rate.Limiter).Burst()).To(Equal(3))
	g.Expect(c.limiter.(*rate.Limiter).Limit()).To(Equal(rate.Limit(2.5)))
}
