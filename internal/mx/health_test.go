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
)

// healthOp is one step of a health state machine scenario.
type healthOp string

const (
	// opSend admits a request (not the probe) and records its outcome.
	opSend healthOp = "send"
	// opProbe admits a request that must be the half-open probe and records
	// its outcome.
	opProbe healthOp = "probe"
	// opRefuse expects a request to be refused.
	opRefuse healthOp = "refuse"
	// opHold admits a request and keeps its ticket (in flight).
	opHold healthOp = "hold"
	// opHoldProbe is opHold for a request that must be the probe.
	opHoldProbe healthOp = "hold probe"
	// opFinish records the outcome of the held request.
	opFinish healthOp = "finish"
	// opRecheck rechecks the held request (after its wait for a token): it
	// is refused when cause is set, else it must become the probe.
	opRecheck healthOp = "recheck"
)

// hstep is one step: at a clock offset from the start, an operation, and the
// state expected after it.
type hstep struct {
	at time.Duration
	op healthOp
	// o is the outcome recorded by send, probe and finish.
	o outcome
	// ra is the Retry-After sent with o; 0 means none.
	ra time.Duration
	// cause and left are the expected refusal (refuse, refused recheck).
	cause CoolDownCause
	left  time.Duration
	// state and until (an offset; ignored when healthy) are expected after
	// the step.
	state healthState
	until time.Duration
}

// recoveredMark stands for ObserveCoolDown(zero time) in expectations.
const recoveredMark = time.Duration(-1)

// TestHealthStateMachine drives the client-wide health state machine
// through sequences of outcomes on a fake clock, with the jitter pinned
// (to its ceiling unless jitterFloor), and proves each state and cool-down
// end, every refusal's cause and time left, which request is the probe, the
// HealthObserver calls and the number of recovery callbacks.
func TestHealthStateMachine(t *testing.T) {
	const ms, s = time.Millisecond, time.Second
	ok, rl, fail, none := outcomeOK, outcomeRateLimited, outcomeFailed, outcomeUnknown
	healthy, cooling, halfOpen := stateHealthy, stateCoolingDown, stateHalfOpen
	tests := []struct {
		reason        string
		threshold     int           // 0: 3
		coolMax       time.Duration // 0: 60 s; CoolDownMin is 1 s
		jitterFloor   bool
		steps         []hstep
		wantRecovered int
		wantObserved  []time.Duration
	}{
		{
			reason: "three consecutive failures cool down for CoolDownMin; the probe's success recovers",
			steps: []hstep{
				{at: 0, op: opSend, o: fail, state: healthy},
				{at: 0, op: opSend, o: fail, state: healthy},
				{at: 0, op: opSend, o: fail, state: cooling, until: 1 * s},
				{at: 400 * ms, op: opRefuse, cause: CauseUnavailable, left: 600 * ms, state: cooling, until: 1 * s},
				{at: 1 * s, op: opProbe, o: ok, state: healthy},
				{at: 1 * s, op: opSend, o: ok, state: healthy},
			},
			wantRecovered: 1,
			wantObserved:  []time.Duration{1 * s, recoveredMark},
		},
		{
			reason: "a success between failures resets the run",
			steps: []hstep{
				{at: 0, op: opSend, o: fail, state: healthy},
				{at: 0, op: opSend, o: fail, state: healthy},
				{at: 0, op: opSend, o: ok, state: healthy},
				{at: 0, op: opSend, o: fail, state: healthy},
				{at: 0, op: opSend, o: fail, state: healthy},
			},
		},
		{
			reason: "a request that tells nothing neither breaks nor extends a run",
			steps: []hstep{
				{at: 0, op: opSend, o: fail, state: healthy},
				{at: 0, op: opSend, o: none, state: healthy},
				{at: 0, op: opSend, o: fail, state: healthy},
				{at: 0, op: opSend, o: fail, state: cooling, until: 1 * s},
			},
			wantObserved: []time.Duration{1 * s},
		},
		{
			reason: "a 429 without Retry-After cools down at once",
			steps: []hstep{
				{at: 0, op: opSend, o: rl, state: cooling, until: 1 * s},
				{at: 250 * ms, op: opRefuse, cause: CauseRateLimited, left: 750 * ms, state: cooling, until: 1 * s},
				{at: 1 * s, op: opProbe, o: ok, state: healthy},
			},
			wantRecovered: 1,
			wantObserved:  []time.Duration{1 * s, recoveredMark},
		},
		{
			reason: "a 429's Retry-After is the cool-down",
			steps: []hstep{
				{at: 0, op: opSend, o: rl, ra: 5 * s, state: cooling, until: 5 * s},
				{at: 4 * s, op: opRefuse, cause: CauseRateLimited, left: 1 * s, state: cooling, until: 5 * s},
				{at: 5 * s, op: opProbe, o: ok, state: healthy},
			},
			wantRecovered: 1,
			wantObserved:  []time.Duration{5 * s, recoveredMark},
		},
		{
			reason: "a Retry-After longer than CoolDownMax is honoured, up to ten minutes",
			steps: []hstep{
				{at: 0, op: opSend, o: rl, ra: time.Hour, state: cooling, until: 10 * time.Minute},
			},
			wantObserved: []time.Duration{10 * time.Minute},
		},
		{
			reason: "a 503 with Retry-After cools down at once, as unavailable",
			steps: []hstep{
				{at: 0, op: opSend, o: fail, ra: 2 * s, state: cooling, until: 2 * s},
				{at: 1 * s, op: opRefuse, cause: CauseUnavailable, left: 1 * s, state: cooling, until: 2 * s},
			},
			wantObserved: []time.Duration{2 * s},
		},
		{
			reason:  "each failed probe cools down twice as long, up to CoolDownMax; recovery resets the interval",
			coolMax: 10 * s,
			steps: []hstep{
				{at: 0, op: opSend, o: rl, state: cooling, until: 1 * s},
				{at: 1 * s, op: opProbe, o: rl, state: cooling, until: 3 * s},
				{at: 3 * s, op: opProbe, o: fail, state: cooling, until: 7 * s},
				{at: 5 * s, op: opRefuse, cause: CauseUnavailable, left: 2 * s, state: cooling, until: 7 * s},
				{at: 7 * s, op: opProbe, o: rl, state: cooling, until: 15 * s},
				{at: 15 * s, op: opProbe, o: rl, state: cooling, until: 25 * s},
				{at: 25 * s, op: opProbe, o: ok, state: healthy},
				{at: 25 * s, op: opSend, o: rl, state: cooling, until: 26 * s},
			},
			wantRecovered: 1,
			wantObserved:  []time.Duration{1 * s, 3 * s, 7 * s, 15 * s, 25 * s, recoveredMark, 26 * s},
		},
		{
			reason:      "equal jitter: the shortest cool-down is half the interval",
			jitterFloor: true,
			steps: []hstep{
				{at: 0, op: opSend, o: rl, state: cooling, until: 500 * ms},
				{at: 500 * ms, op: opProbe, o: rl, state: cooling, until: 1500 * ms},
				{at: 1500 * ms, op: opProbe, o: fail, state: cooling, until: 3500 * ms},
			},
			wantObserved: []time.Duration{500 * ms, 1500 * ms, 3500 * ms},
		},
		{
			reason: "after the cool-down one probe goes; the others are refused while it is in flight",
			steps: []hstep{
				{at: 0, op: opSend, o: rl, state: cooling, until: 1 * s},
				{at: 2 * s, op: opHoldProbe, state: halfOpen, until: 1 * s},
				{at: 2 * s, op: opRefuse, cause: CauseRateLimited, left: 1 * s, state: halfOpen, until: 1 * s},
				{at: 2500 * ms, op: opRefuse, cause: CauseRateLimited, left: 1 * s, state: halfOpen, until: 1 * s},
				{at: 3 * s, op: opFinish, o: ok, state: healthy},
				{at: 3 * s, op: opSend, o: ok, state: healthy},
			},
			wantRecovered: 1,
			wantObserved:  []time.Duration{1 * s, recoveredMark},
		},
		{
			reason: "a probe that tells nothing (its caller gave up) lets the next request probe",
			steps: []hstep{
				{at: 0, op: opSend, o: rl, state: cooling, until: 1 * s},
				{at: 1 * s, op: opProbe, o: none, state: halfOpen, until: 1 * s},
				{at: 1 * s, op: opProbe, o: ok, state: healthy},
			},
			wantRecovered: 1,
			wantObserved:  []time.Duration{1 * s, recoveredMark},
		},
		{
			reason: "a success of a request sent before the cool-down began does not end it",
			steps: []hstep{
				{at: 0, op: opHold, state: healthy},
				{at: 0, op: opSend, o: rl, state: cooling, until: 1 * s},
				{at: 500 * ms, op: opFinish, o: ok, state: cooling, until: 1 * s},
				{at: 500 * ms, op: opRefuse, cause: CauseRateLimited, left: 500 * ms, state: cooling, until: 1 * s},
			},
			wantObserved: []time.Duration{1 * s},
		},
		{
			reason: "a failure of a request sent before a recovery does not count towards the next run",
			steps: []hstep{
				{at: 0, op: opHold, state: healthy},
				{at: 0, op: opSend, o: rl, state: cooling, until: 1 * s},
				{at: 1 * s, op: opProbe, o: ok, state: healthy},
				{at: 1 * s, op: opFinish, o: fail, state: healthy},
				{at: 1 * s, op: opSend, o: fail, state: healthy},
				{at: 1 * s, op: opSend, o: fail, state: healthy},
			},
			wantRecovered: 1,
			wantObserved:  []time.Duration{1 * s, recoveredMark},
		},
		{
			reason: "a request admitted before a cool-down is refused when rechecked after its token wait, or probes once the cool-down is over",
			steps: []hstep{
				{at: 0, op: opHold, state: healthy},
				{at: 0, op: opSend, o: rl, state: cooling, until: 1 * s},
				{at: 300 * ms, op: opRecheck, cause: CauseRateLimited, left: 700 * ms, state: cooling, until: 1 * s},
				{at: 1 * s, op: opRecheck, state: halfOpen, until: 1 * s},
				{at: 1 * s, op: opRefuse, cause: CauseRateLimited, left: 1 * s, state: halfOpen, until: 1 * s},
				{at: 1 * s, op: opFinish, o: ok, state: healthy},
			},
			wantRecovered: 1,
			wantObserved:  []time.Duration{1 * s, recoveredMark},
		},
		{
			reason:    "a negative FailureThreshold never cools down on failures, but a 429 still does",
			threshold: -1,
			steps: []hstep{
				{at: 0, op: opSend, o: fail, state: healthy},
				{at: 0, op: opSend, o: fail, state: healthy},
				{at: 0, op: opSend, o: fail, state: healthy},
				{at: 0, op: opSend, o: fail, ra: 5 * s, state: healthy},
				{at: 0, op: opSend, o: rl, state: cooling, until: 1 * s},
			},
			wantObserved: []time.Duration{1 * s},
		},
		{
			reason: "the recovery callbacks run once per recovery",
			steps: []hstep{
				{at: 0, op: opSend, o: rl, state: cooling, until: 1 * s},
				{at: 1 * s, op: opProbe, o: ok, state: healthy},
				{at: 1 * s, op: opSend, o: ok, state: healthy},
				{at: 2 * s, op: opSend, o: rl, state: cooling, until: 3 * s},
				{at: 3 * s, op: opProbe, o: rl, state: cooling, until: 5 * s},
				{at: 5 * s, op: opProbe, o: ok, state: healthy},
			},
			wantRecovered: 2,
			wantObserved:  []time.Duration{1 * s, recoveredMark, 3 * s, 5 * s, recoveredMark},
		},
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			clock := &fakeClock{t: start}
			threshold, coolMax := tt.threshold, tt.coolMax
			if threshold == 0 {
				threshold = DefaultFailureThreshold
			}
			if coolMax == 0 {
				coolMax = time.Minute
			}
			h := newHealth(clock.Now, threshold, time.Second, coolMax)
			h.jitter = func(ceiling time.Duration) time.Duration {
				if tt.jitterFloor {
					return 0
				}
				return ceiling
			}
			h.spawn = func(f func()) { f() }
			recovered := 0
			h.onRecovered(func() { recovered++ })
			var observed []time.Duration
			h.observe = func(until time.Time) {
				if until.IsZero() {
					observed = append(observed, recoveredMark)
					return
				}
				observed = append(observed, until.Sub(start))
			}

			var held ticket
			for i, st := range tt.steps {
				clock.Set(start.Add(st.at))
				switch st.op {
				case opSend, opProbe, opHold, opHoldProbe:
					tk, refused := h.admit()
					g.Expect(refused).To(BeNil(), "step %d %s: admitted", i, st.op)
					g.Expect(tk.probe).To(Equal(st.op == opProbe || st.op == opHoldProbe), "step %d %s: probe", i, st.op)
					if st.op == opHold || st.op == opHoldProbe {
						held = tk
						break
					}
					h.record(tk, st.o, st.ra, st.ra > 0)
				case opRefuse:
					_, refused := h.admit()
					g.Expect(refused).NotTo(BeNil(), "step %d: refused", i)
					g.Expect(refused.Cause).To(Equal(st.cause), "step %d: cause", i)
					g.Expect(refused.RetryAfter).To(Equal(st.left), "step %d: time left", i)
					g.Expect(refused.Until).To(Equal(clock.Now().Add(st.left)), "step %d: Until", i)
				case opFinish:
					h.record(held, st.o, st.ra, st.ra > 0)
				case opRecheck:
					tk, refused := h.recheck(held)
					if st.cause != 0 {
						g.Expect(refused).NotTo(BeNil(), "step %d: refused", i)
						g.Expect(refused.Cause).To(Equal(st.cause))
						g.Expect(refused.RetryAfter).To(Equal(st.left))
						break
					}
					g.Expect(refused).To(BeNil(), "step %d: admitted", i)
					g.Expect(tk.probe).To(BeTrue(), "step %d: the probe", i)
					held = tk
				}
				state, until := h.state()
				g.Expect(state).To(Equal(st.state), "step %d %s: state", i, st.op)
				if st.state == stateHealthy {
					g.Expect(until).To(BeZero(), "step %d: no cool-down end when healthy", i)
					continue
				}
				g.Expect(until.Sub(start)).To(Equal(st.until), "step %d %s: cool-down end", i, st.op)
			}
			g.Expect(recovered).To(Equal(tt.wantRecovered), "recovery callbacks")
			g.Expect(observed).To(Equal(tt.wantObserved), "HealthObserver calls")
		})
	}
}

// TestHealthCoolDownJitter proves, with the production jitter, that a
// cool-down without Retry-After lasts between half the interval and the
// interval (equal jitter), and that it varies.
func TestHealthCoolDownJitter(t *testing.T) {
	g := NewWithT(t)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := map[time.Duration]bool{}
	for range 500 {
		h := newHealth(func() time.Time { return start }, 3, 4*time.Second, time.Minute)
		tk, _ := h.admit()
		h.record(tk, outcomeRateLimited, 0, false)
		_, until := h.state()
		d := until.Sub(start)
		g.Expect(d).To(And(BeNumerically(">=", 2*time.Second), BeNumerically("<=", 4*time.Second)))
		seen[d] = true
	}
	g.Expect(len(seen)).To(BeNumerically(">", 100), "jittered")
}

// healthRecorder is an Observer that also implements HealthObserver.
type healthRecorder struct {
	attemptObserver
	mu     sync.Mutex
	untils []time.Time
}

func (o *healthRecorder) ObserveCoolDown(until time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.untils = append(o.untils, until)
}

func (o *healthRecorder) coolDowns() []time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Time(nil), o.untils...)
}

// TestCoolingDownRefusesWithoutSending proves over HTTP that after a 429, or
// after three 5xx in a row, every call to every endpoint is refused at once
// without an HTTP request, with a *CoolingDownError in the class of its
// cause and the time left as RetryAfter, that CoolingDownUntil reports the
// cool-down, and that after it one request goes through and recovers the
// client.
func TestCoolingDownRefusesWithoutSending(t *testing.T) {
	tests := []struct {
		reason    string
		behave    func(int, http.ResponseWriter, *http.Request)
		wantHits  int
		wantClass ErrorClass
		wantCause CoolDownCause
	}{
		{"a 429 without Retry-After", failThen(1, 429, 200), 1, ClassRateLimited, CauseRateLimited},
		{"three 500s in a row", failThen(3, 500, 200), 3, ClassRetryable, CauseUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			h := &hitCounter{behave: tt.behave}
			obs := &healthRecorder{}
			c, sleeps := newTestClient(t, newServer(t, h).URL, func(c *Config) {
				c.MaxRetryWait = time.Millisecond // no waiting out the cool-down in-line
				c.Observer = obs
			})
			c.jitter = func(time.Duration) time.Duration { return 0 }
			c.health.jitter = func(ceiling time.Duration) time.Duration { return ceiling }
			start := sleeps.clock.Now()
			ctx := context.Background()

			_, err := c.GetMember(ctx, "USR-1", "MBR-1")
			g.Expect(Classify(err)).To(Equal(tt.wantClass))
			g.Expect(int(h.hits.Load())).To(Equal(tt.wantHits))
			g.Expect(c.CoolingDownUntil()).To(Equal(start.Add(time.Second)))
			cut, ok := errors.AsType[*CoolingDownError](err)
			g.Expect(ok).To(BeTrue(), "the call that began the cool-down says so: %v", err)
			g.Expect(cut.Err).NotTo(BeNil(), "and keeps MX's answer")

			sleeps.clock.Advance(300 * time.Millisecond)
			calls := []func() error{
				func() error { _, err := c.GetMember(ctx, "USR-1", "MBR-1"); return err },
				func() error { _, err := c.GetMemberStatus(ctx, "USR-1", "MBR-1"); return err },
				func() error { _, err := c.CreateUser(ctx, CreateUserRequest{ID: "u-1"}); return err },
				func() error { _, err := c.ListMembers(ctx, "USR-1"); return err },
			}
			for i, call := range calls {
				err := call()
				refused, ok := errors.AsType[*CoolingDownError](err)
				g.Expect(ok).To(BeTrue(), "call %d refused: %v", i, err)
				g.Expect(refused.Err).To(BeNil(), "call %d: nothing was sent", i)
				g.Expect(refused.Cause).To(Equal(tt.wantCause))
				g.Expect(err.Error()).To(ContainSubstring("not sent"))
				g.Expect(Classify(err)).To(Equal(tt.wantClass), "call %d", i)
				d, ok := RetryAfter(err)
				g.Expect(ok).To(BeTrue())
				g.Expect(d).To(Equal(700 * time.Millisecond))
			}
			g.Expect(int(h.hits.Load())).To(Equal(tt.wantHits), "no HTTP request while cooling down")

			sleeps.clock.Advance(700 * time.Millisecond)
			_, err = c.GetMember(ctx, "USR-1", "MBR-1")
			g.Expect(err).NotTo(HaveOccurred(), "the probe")
			g.Expect(int(h.hits.Load())).To(Equal(tt.wantHits + 1))
			g.Expect(c.CoolingDownUntil()).To(BeZero())
			g.Expect(obs.coolDowns()).To(Equal([]time.Time{start.Add(time.Second), {}}), "the HealthObserver saw the cool-down and the recovery")
		})
	}
}

// TestFiveXXStormCostsOneProbePerCoolDown proves that under a 5xx storm the
// client as a whole sends one probe per cool-down instead of 1 + MaxRetries
// attempts per call: forty calls spread over the storm reach MX eight times.
func TestFiveXXStormCostsOneProbePerCoolDown(t *testing.T) {
	g := NewWithT(t)
	h := &hitCounter{behave: status(503)}
	c, sleeps := newTestClient(t, newServer(t, h).URL)
	c.jitter = func(time.Duration) time.Duration { return 0 }
	c.health.jitter = func(ceiling time.Duration) time.Duration { return ceiling }
	ctx := context.Background()

	var untils []time.Duration
	start := sleeps.clock.Now()
	for range 5 {
		for range 8 {
			_, err := c.GetMemberStatus(ctx, "USR-1", "MBR-1")
			g.Expect(IsRetryable(err)).To(BeTrue(), "%v", err)
		}
		until := c.CoolingDownUntil()
		untils = append(untils, until.Sub(start))
		sleeps.clock.Set(until)
	}

	s := time.Second
	g.Expect(untils).To(Equal([]time.Duration{1 * s, 3 * s, 7 * s, 12 * s, 17 * s}), "cool-downs of 1, 2, 4 s, then capped at DefaultCoolDownMax (5 s)")
	g.Expect(int(h.hits.Load())).To(Equal(3+4), "three attempts to trip, then one probe per cool-down")
}

// TestOneProbeAtATime proves over HTTP that when a cool-down is over exactly
// one request is let through: a second caller is refused while the probe is
// in flight, and the probe's success makes the client healthy and calls the
// OnRecovered callback.
func TestOneProbeAtATime(t *testing.T) {
	g := NewWithT(t)
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	h := &hitCounter{behave: func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			answer(w, 429)
			return
		}
		arrived <- struct{}{}
		<-release
		answer(w, 200)
	}}
	c, sleeps := newTestClient(t, newServer(t, h).URL, func(c *Config) { c.MaxRetries = -1 })
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the server's Close, which waits for the handler
	recovered := make(chan struct{}, 4)
	c.OnRecovered(func() { recovered <- struct{}{} })
	ctx := context.Background()

	_, err := c.GetUser(ctx, "USR-1")
	g.Expect(IsRateLimited(err)).To(BeTrue())
	sleeps.clock.Set(c.CoolingDownUntil())

	probe := make(chan error, 1)
	go func() {
		_, err := c.GetUser(ctx, "USR-1")
		probe <- err
	}()
	<-arrived
	_, err = c.GetMember(ctx, "USR-1", "MBR-1")
	refused, ok := errors.AsType[*CoolingDownError](err)
	g.Expect(ok).To(BeTrue(), "refused while the probe is in flight: %v", err)
	g.Expect(refused.RetryAfter).To(Equal(DefaultCoolDownMin))
	g.Expect(IsRateLimited(err)).To(BeTrue())
	g.Expect(int(h.hits.Load())).To(Equal(2), "the 429 and the probe")

	unblock()
	g.Expect(<-probe).NotTo(HaveOccurred())
	g.Expect(c.CoolingDownUntil()).To(BeZero())
	select {
	case <-recovered:
	case <-time.After(10 * time.Second):
		t.Fatal("OnRecovered callback not called")
	}
}

// blockingWaiter is a token bucket whose first Wait blocks until released.
type blockingWaiter struct {
	entered chan struct{}
	release chan struct{}
	n       atomic.Int32
}

func (w *blockingWaiter) Wait(ctx context.Context) error {
	if w.n.Add(1) == 1 {
		close(w.entered)
		<-w.release
	}
	return ctx.Err()
}

// TestQueuedRequestRefusedWhenCoolDownBegins proves that a request waiting
// for a token when a cool-down begins is refused after its wait instead of
// being sent into the storm.
func TestQueuedRequestRefusedWhenCoolDownBegins(t *testing.T) {
	g := NewWithT(t)
	h := &hitCounter{behave: status(429)}
	c, _ := newTestClient(t, newServer(t, h).URL, func(c *Config) { c.MaxRetries = -1 })
	w := &blockingWaiter{entered: make(chan struct{}), release: make(chan struct{})}
	c.limiter = w
	ctx := context.Background()

	queued := make(chan error, 1)
	go func() {
		_, err := c.GetMember(ctx, "USR-1", "MBR-1")
		queued <- err
	}()
	<-w.entered
	_, err := c.GetUser(ctx, "USR-1")
	g.Expect(IsRateLimited(err)).To(BeTrue())
	close(w.release)

	err = <-queued
	refused, ok := errors.AsType[*CoolingDownError](err)
	g.Expect(ok).To(BeTrue(), "refused after its token wait: %v", err)
	g.Expect(refused.Err).To(BeNil())
	g.Expect(int(h.hits.Load())).To(Equal(1), "only the request that met the 429 was sent")
}

// TestLastErrorKeptWhenRetryRefused proves that a call whose retry is
// refused because another caller took the probe returns a *CoolingDownError
// wrapping its own last answer from MX.
func TestLastErrorKeptWhenRetryRefused(t *testing.T) {
	g := NewWithT(t)
	h := &hitCounter{behave: status(503)}
	c, sleeps := newTestClient(t, newServer(t, h).URL)
	c.health.jitter = func(ceiling time.Duration) time.Duration { return ceiling }
	// Another caller takes the probe during this call's wait.
	c.sleep = func(ctx context.Context, d time.Duration) error {
		if err := sleeps.sleep(ctx, d); err != nil {
			return err
		}
		if c.health.left() == 0 {
			_, _ = c.health.admit()
		}
		return nil
	}
	c.health.failures = 2 // two failures elsewhere: this call's first 503 trips

	_, err := c.GetUser(context.Background(), "USR-1")

	cdErr, ok := errors.AsType[*CoolingDownError](err)
	g.Expect(ok).To(BeTrue(), "%v", err)
	apiErr, ok := errors.AsType[*APIError](cdErr.Err)
	g.Expect(ok).To(BeTrue(), "wraps MX's answer: %v", err)
	g.Expect(apiErr.StatusCode).To(Equal(503))
	g.Expect(IsRetryable(err)).To(BeTrue())
	g.Expect(int(h.hits.Load())).To(Equal(1))
	g.Expect(sleeps.recorded()).To(Equal([]time.Duration{time.Second}), "waited for the cool-down, then was refused")
}
