package mx

import (
	"fmt"
	"sync"
	"time"
)

// CoolDownCause is what made a [Client] stop sending requests for a while.
type CoolDownCause int

// Cool-down causes, reported in [CoolingDownError.Cause].
const (
	// CauseRateLimited: MX answered 429. Errors with this cause are
	// [ClassRateLimited].
	CauseRateLimited CoolDownCause = iota + 1
	// CauseUnavailable: Config.FailureThreshold consecutive 5xx, 408 or
	// network failures, or a 503 with Retry-After. Errors with this cause are
	// [ClassRetryable].
	CauseUnavailable
)

// String returns "RateLimited" or "Unavailable".
func (c CoolDownCause) String() string {
	switch c {
	case CauseRateLimited:
		return "RateLimited"
	case CauseUnavailable:
		return "Unavailable"
	}
	return fmt.Sprintf("CoolDownCause(%d)", int(c))
}

// CoolingDownError is returned when a [Client] refused to send a request
// because MX is rate limiting or failing (see [Client.CoolingDownUntil]), and
// when a call stopped retrying because such a cool-down began or was under
// way. [Classify] puts a refusal (Err nil: nothing was sent) in the class
// of its cause, [ClassRateLimited] for [CauseRateLimited] and
// [ClassRetryable] for [CauseUnavailable], and a call cut short in the class
// of its own last error (so a create whose outcome is unknown stays
// [ClassRetryable]). [RetryAfter] returns its RetryAfter.
type CoolingDownError struct {
	// Endpoint is the route template of the refused call.
	Endpoint string
	// Cause is why the client is cooling down.
	Cause CoolDownCause
	// Until is the earliest time the client lets a request through again.
	// While the one probe request after a cool-down is in flight it is an
	// estimate (now + Config.CoolDownMin).
	Until time.Time
	// RetryAfter is Until minus the time of the refusal; always positive.
	RetryAfter time.Duration
	// Err is the last error MX gave this call, when the call was sent before
	// it stopped; nil when nothing was sent (the request provably did not
	// reach MX).
	Err error
}

// Error returns "mx: <endpoint>: not sent: …" when nothing was sent, else the
// last error followed by the cool-down. It never contains a request body, a
// credential or the API key.
func (e *CoolingDownError) Error() string {
	var why string
	switch e.Cause {
	case CauseRateLimited:
		why = "MX is rate limiting"
	default:
		why = "MX is unavailable"
	}
	if e.Err != nil {
		return fmt.Sprintf("%v (%s; the client is cooling down for %s)", e.Err, why, e.RetryAfter.Round(time.Millisecond))
	}
	return fmt.Sprintf("mx: %s: not sent: %s; the client is cooling down for %s", e.Endpoint, why, e.RetryAfter.Round(time.Millisecond))
}

// Unwrap returns the last error MX gave the call, if any.
func (e *CoolingDownError) Unwrap() error { return e.Err }

// HealthObserver is an optional extension of [Observer]: when the
// Config.Observer also implements it, ObserveCoolDown is called with the end
// of each cool-down when it begins, and with the zero time when the client
// is healthy again. Calls are made in order, with the client's health lock
// held: the method must not block and must not call the Client.
type HealthObserver interface {
	ObserveCoolDown(until time.Time)
}

// healthState is the client-wide view of MX's health.
type healthState int

const (
	// stateHealthy: every request is let through.
	stateHealthy healthState = iota
	// stateCoolingDown: until has not passed; every request is refused.
	stateCoolingDown
	// stateHalfOpen: until has passed; one probe request is let through at a
	// time, the others are refused.
	stateHalfOpen
)

// String returns the state name.
func (s healthState) String() string {
	switch s {
	case stateHealthy:
		return "Healthy"
	case stateCoolingDown:
		return "CoolingDown"
	case stateHalfOpen:
		return "HalfOpen"
	}
	return fmt.Sprintf("healthState(%d)", int(s))
}

// outcome is what one HTTP attempt tells about MX's health.
type outcome int

const (
	// outcomeUnknown: nothing was learnt (the caller's context ended, the
	// request was not sent).
	outcomeUnknown outcome = iota
	// outcomeOK: MX answered with something other than 429, 408 or 5xx.
	outcomeOK
	// outcomeRateLimited: MX answered 429.
	outcomeRateLimited
	// outcomeFailed: 5xx, 408 or no response.
	outcomeFailed
)

// ticket is the permission to send one request, from health.admit. Only the
// outcome of a ticket of the current epoch changes the state; a request let
// through before the last transition is a straggler whose outcome says
// nothing new.
type ticket struct {
	epoch uint64
	probe bool
}

// health is the client-wide circuit breaker in front of MX. It is healthy
// until MX answers 429, or threshold consecutive requests fail (5xx, 408,
// network), or a failure carries a Retry-After (a 503 for maintenance). It
// then cools down: every request is refused until a time that is the
// Retry-After when MX sent one (at most maxRetryAfter), else the current interval
// with equal jitter (uniform in [interval/2, interval]). The interval starts
// at minCool and doubles, up to maxCool, with every cool-down that follows
// without recovery. After the cool-down one probe request is let through
// (half-open); its success makes the client healthy (interval reset,
// recovery callbacks run), its failure or 429 starts the next, longer
// cool-down, and an outcome that says nothing (the caller gave up) lets the
// next request probe. The zero value is not usable; see newHealth.
type health struct {
	// now is the clock.
	now func() time.Time
	// jitter returns a uniformly random duration in [0, ceiling].
	jitter func(ceiling time.Duration) time.Duration
	// threshold is the number of consecutive failures that starts a
	// cool-down; <= 0 means failures never do (429s still do).
	threshold int
	// minCool and maxCool bound the jittered interval used without a Retry-After.
	minCool, maxCool time.Duration
	// observe, when not nil, is told of every cool-down (until) and of every
	// recovery (the zero time), with mu held.
	observe func(until time.Time)
	// spawn runs a recovery callback without blocking the caller.
	spawn func(func())

	mu sync.Mutex
	// epoch counts transitions (cool-down begun, recovered).
	epoch uint64
	// cooling is true from a cool-down's start until recovery, including
	// the half-open time after until.
	cooling  bool
	until    time.Time
	cause    CoolDownCause
	interval time.Duration
	// failures counts consecutive failures while healthy.
	failures int
	// probing is true while the half-open probe is in flight.
	probing   bool
	recovered []func()
}

// newHealth returns a healthy state machine.
// maxRetryAfter caps the Retry-After MX's answers ask for, so that a bogus header cannot
// silence the client for hours; up to it, MX's word is honoured.
const maxRetryAfter = 10 * time.Minute

func newHealth(now func() time.Time, threshold int, minCool, maxCool time.Duration) *health {
	return &health{
		now:       now,
		jitter:    fullJitter,
		threshold: threshold,
		minCool:   minCool,
		maxCool:   maxCool,
		spawn:     func(f func()) { go f() },
		interval:  minCool,
	}
}

// admit asks to send one request now. It returns a ticket whose outcome
// must be passed to record, or a refusal (without Endpoint) when the client
// is cooling down or another request is probing.
func (h *health) admit() (ticket, *CoolingDownError) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.admitLocked()
}

func (h *health) admitLocked() (ticket, *CoolingDownError) {
	if !h.cooling {
		return ticket{epoch: h.epoch}, nil
	}
	now := h.now()
	if now.Before(h.until) {
		return ticket{}, &CoolingDownError{Cause: h.cause, Until: h.until, RetryAfter: h.until.Sub(now)}
	}
	if h.probing {
		return ticket{}, &CoolingDownError{Cause: h.cause, Until: now.Add(h.minCool), RetryAfter: h.minCool}
	}
	h.probing = true
	return ticket{epoch: h.epoch, probe: true}, nil
}

// recheck is admit again for a request that has waited (for the token
// bucket) since it was admitted with t: a probe keeps its permission, a
// request admitted while healthy is refused if a cool-down began meanwhile
// (or becomes the probe if that cool-down has already ended).
func (h *health) recheck(t ticket) (ticket, *CoolingDownError) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t.probe {
		return t, nil
	}
	return h.admitLocked()
}

// record reports the outcome of the request sent with t. retryAfter is MX's
// Retry-After when hasRetryAfter.
func (h *health) record(t ticket, o outcome, retryAfter time.Duration, hasRetryAfter bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t.epoch != h.epoch {
		return
	}
	if t.probe {
		h.probing = false
		switch o {
		case outcomeOK:
			h.recoverLocked()
		case outcomeRateLimited:
			h.tripLocked(CauseRateLimited, retryAfter, hasRetryAfter)
		case outcomeFailed:
			h.tripLocked(CauseUnavailable, retryAfter, hasRetryAfter)
		}
		return
	}
	if h.cooling {
		return
	}
	switch o {
	case outcomeOK:
		h.failures = 0
	case outcomeRateLimited:
		h.tripLocked(CauseRateLimited, retryAfter, hasRetryAfter)
	case outcomeFailed:
		h.failures++
		if h.threshold > 0 && (hasRetryAfter || h.failures >= h.threshold) {
			h.tripLocked(CauseUnavailable, retryAfter, hasRetryAfter)
		}
	}
}

// tripLocked begins a cool-down and lengthens the next one.
func (h *health) tripLocked(cause CoolDownCause, retryAfter time.Duration, hasRetryAfter bool) {
	d := h.interval/2 + h.jitter(h.interval-h.interval/2)
	if hasRetryAfter {
		d = min(max(retryAfter, 0), maxRetryAfter)
	}
	h.interval = min(2*h.interval, h.maxCool)
	h.epoch++
	h.cooling, h.until, h.cause, h.failures, h.probing = true, h.now().Add(d), cause, 0, false
	if h.observe != nil {
		h.observe(h.until)
	}
}

// recoverLocked makes the client healthy and starts the recovery callbacks.
func (h *health) recoverLocked() {
	h.epoch++
	h.cooling, h.until, h.cause, h.failures, h.interval = false, time.Time{}, 0, 0, h.minCool
	if h.observe != nil {
		h.observe(time.Time{})
	}
	for _, f := range h.recovered {
		h.spawn(f)
	}
}

// state returns the current state and the end of the cool-down (zero when
// healthy).
func (h *health) state() (healthState, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.cooling:
		return stateHealthy, time.Time{}
	case h.now().Before(h.until):
		return stateCoolingDown, h.until
	}
	return stateHalfOpen, h.until
}

// left returns how long until a request may be let through, 0 when one may
// be now (healthy, or half-open).
func (h *health) left() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.cooling {
		return 0
	}
	return max(h.until.Sub(h.now()), 0)
}

// coolingDown returns the refusal a request would get now, without asking
// for a probe, or nil when the client is healthy.
func (h *health) coolingDown() *CoolingDownError {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.cooling {
		return nil
	}
	now := h.now()
	if d := h.until.Sub(now); d > 0 {
		return &CoolingDownError{Cause: h.cause, Until: h.until, RetryAfter: d}
	}
	return &CoolingDownError{Cause: h.cause, Until: now.Add(h.minCool), RetryAfter: h.minCool}
}

// onRecovered registers f; see Client.OnRecovered.
func (h *health) onRecovered(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recovered = append(h.recovered, f)
}

// CoolingDownUntil returns the end of the client's current cool-down, or the
// zero time when the client is healthy. A time in the past means the
// cool-down is over and the client is letting one probe request through; it
// stays so until that probe succeeds (then the client is healthy again and
// [Client.OnRecovered] callbacks run) or fails (then a longer cool-down
// begins).
func (c *Client) CoolingDownUntil() time.Time {
	_, until := c.health.state()
	return until
}

// OnRecovered registers f to be called once per transition of the client
// from cooling down to healthy, that is when a probe request after a
// cool-down got an answer from MX other than 429, 408 or 5xx. Each call runs
// in its own goroutine, so f never blocks a request; f must be safe for
// concurrent use (two recoveries may overlap). A controller uses it to wake
// the objects it requeued while MX was refusing, for example by sending on a
// channel source without blocking. There is no call for a client that was
// never cooling down, and callbacks cannot be unregistered.
func (c *Client) OnRecovered(f func()) { c.health.onRecovered(f) }
