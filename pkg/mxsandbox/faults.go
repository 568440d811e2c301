package mxsandbox

import (
	"fmt"
	"net/http"
	"time"
)

// Fault describes misbehaviour injected into one endpoint. The zero Fault
// injects nothing.
//
// Each request that passed the credential and Accept checks meets at most
// one injected outcome, decided in this order: one random draw p against
// RateLimitRate (429), then ErrorRate (500), then ServiceUnavailableRate
// (503), all without effect; then, for requests that take effect,
// CommitThenFail, MalformedBody and Hold.
type Fault struct {
	// Latency delays every request to the endpoint (real time, before any
	// other check); a request whose context ends first gets no answer.
	Latency time.Duration
	// ErrorRate is the probability in [0,1] that a request is answered 500
	// without any effect.
	ErrorRate float64
	// RateLimitRate is the probability in [0,1] that a request is answered 429
	// without any effect. It is drawn before ErrorRate from the same number:
	// a request is rate limited when the draw is below RateLimitRate, fails
	// when it is below RateLimitRate+ErrorRate.
	RateLimitRate float64
	// ServiceUnavailableRate is the probability in [0,1] that a request is
	// answered 503 (MX's maintenance answer, MX-API.md §4) without any
	// effect: when the draw is below RateLimitRate+ErrorRate+
	// ServiceUnavailableRate and not below RateLimitRate+ErrorRate.
	ServiceUnavailableRate float64
	// RetryAfter is sent as Retry-After (whole seconds) on injected 429s and
	// 503s; zero omits the header.
	RetryAfter time.Duration
	// CommitThenFail makes the next N requests take full effect (objects
	// created, updated, deleted) while their response is lost: a 500, or a
	// closed connection with DropConnection.
	CommitThenFail int
	// DropConnection makes CommitThenFail close the connection without any
	// response instead of answering 500.
	DropConnection bool
	// MalformedBody makes the next N requests (after any CommitThenFail ones)
	// take full effect and be answered with their normal status and headers
	// but a body cut in half, which is not valid JSON
	// ({"member":{"guid":"MBR-…). A reply without a body (204) is sent as
	// is and still counts.
	MalformedBody int
	// Hold makes every request take full effect, then holds its response
	// back: the handler blocks, without the sandbox lock, until the
	// request's context ends (the client gave up or died) or ReleaseHeld,
	// Reset or Close is called, which answer with a closed connection.
	// HeldCount says how many requests are held.
	Hold bool
	// Seed seeds the endpoint's random draws, so a sequence of requests gets
	// the same sequence of injected failures every run.
	Seed int64
}

type faultState struct {
	fault     Fault
	rng       splitMix
	remaining int
	malformed int
}

type faultDecision struct {
	rateLimited        bool
	serverError        bool
	serviceUnavailable bool
	retryAfter         time.Duration
	commitThenFail     bool
	drop               bool
	malformed          bool
	hold               bool
}

// noEffect reports whether the request must be answered without running.
func (d faultDecision) noEffect() bool {
	return d.rateLimited || d.serverError || d.serviceUnavailable
}

// SetFault injects f into endpoint (one of the Endpoint constants),
// replacing any earlier fault there and restarting its random sequence from
// f.Seed. The zero Fault removes the endpoint's fault. It panics on an
// unknown endpoint name, so a typo cannot silently disable a test.
func (s *Sandbox) SetFault(endpoint string, f Fault) {
	if !knownEndpoint(endpoint) {
		panic(fmt.Sprintf("sandbox: SetFault: unknown endpoint %q", endpoint))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setFaultLocked(endpoint, f)
}

// SetFaultAll injects f into every endpoint at once, as SetFault does for
// each (every endpoint gets its own random sequence from f.Seed and its own
// CommitThenFail and MalformedBody counts). SetFaultAll(Fault{}) removes
// every fault, like ClearFaults: a storm of RateLimitRate 1 is started and
// ended with two calls.
func (s *Sandbox) SetFaultAll(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, endpoint := range Endpoints() {
		s.setFaultLocked(endpoint, f)
	}
}

func (s *Sandbox) setFaultLocked(endpoint string, f Fault) {
	if f == (Fault{}) {
		delete(s.faults, endpoint)
		return
	}
	s.faults[endpoint] = &faultState{fault: f, rng: splitMix(f.Seed), remaining: f.CommitThenFail, malformed: f.MalformedBody}
}

// AllEndpoints is the key of SetFaults (and of PUT /_sandbox/faults) that
// means every endpoint.
const AllEndpoints = "*"

// SetFaults replaces every fault with faults, a map from endpoint name (an
// Endpoint constant) to its fault, as PUT /_sandbox/faults does: the key
// AllEndpoints sets a fault on every endpoint (as SetFaultAll), and named
// endpoints override it. An empty map clears every fault. On an unknown
// endpoint name it changes nothing and returns an error.
func (s *Sandbox) SetFaults(faults map[string]Fault) error {
	for endpoint := range faults {
		if endpoint != AllEndpoints && !knownEndpoint(endpoint) {
			return fmt.Errorf("mxsandbox: SetFaults: unknown endpoint %q", endpoint)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[string]*faultState{}
	if f, ok := faults[AllEndpoints]; ok {
		for _, endpoint := range Endpoints() {
			s.setFaultLocked(endpoint, f)
		}
	}
	for endpoint, f := range faults {
		if endpoint != AllEndpoints {
			s.setFaultLocked(endpoint, f)
		}
	}
	return nil
}

// Faults returns the fault of every endpoint that has one (GET
// /_sandbox/faults). CommitThenFail and MalformedBody are the counts still
// to come, not the ones set.
func (s *Sandbox) Faults() map[string]Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Fault, len(s.faults))
	for endpoint, fs := range s.faults {
		f := fs.fault
		f.CommitThenFail = fs.remaining
		f.MalformedBody = fs.malformed
		out[endpoint] = f
	}
	return out
}

// ClearFaults removes every injected fault.
func (s *Sandbox) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[string]*faultState{}
}

func (s *Sandbox) faultLatencyLocked(endpoint string) time.Duration {
	if fs, ok := s.faults[endpoint]; ok {
		return fs.fault.Latency
	}
	return 0
}

// decideFaultLocked draws the fate of one request that passed
// authentication.
func (s *Sandbox) decideFaultLocked(endpoint string) faultDecision {
	fs, ok := s.faults[endpoint]
	if !ok {
		return faultDecision{}
	}
	f := fs.fault
	if f.RateLimitRate > 0 || f.ErrorRate > 0 || f.ServiceUnavailableRate > 0 {
		p := fs.rng.float64()
		switch {
		case p < f.RateLimitRate:
			return faultDecision{rateLimited: true, retryAfter: f.RetryAfter}
		case p < f.RateLimitRate+f.ErrorRate:
			return faultDecision{serverError: true}
		case p < f.RateLimitRate+f.ErrorRate+f.ServiceUnavailableRate:
			return faultDecision{serviceUnavailable: true, retryAfter: f.RetryAfter}
		}
	}
	switch {
	case fs.remaining > 0:
		fs.remaining--
		return faultDecision{commitThenFail: true, drop: f.DropConnection}
	case fs.malformed > 0:
		fs.malformed--
		return faultDecision{malformed: true}
	case f.Hold:
		return faultDecision{hold: true}
	}
	return faultDecision{}
}

// HeldCount returns how many requests a Hold fault is holding right now
// (each has taken effect and waits for ReleaseHeld or its client).
func (s *Sandbox) HeldCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// ReleaseHeld ends every request held right now with a closed connection.
// Requests that arrive later are held again while the Hold fault is set.
func (s *Sandbox) ReleaseHeld() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseHeldLocked()
}

func (s *Sandbox) releaseHeldLocked() {
	close(s.release)
	s.release = make(chan struct{})
}

// holdResponse blocks a request that has taken effect until its context
// ends (no answer: the client is gone) or it is released (closed
// connection). The sandbox lock is not held while it waits.
func (s *Sandbox) holdResponse(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.held++
	release := s.release
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.held--
		s.mu.Unlock()
	}()
	select {
	case <-r.Context().Done():
	case <-release:
		dropConnection(w)
	case <-s.stop:
		dropConnection(w)
	}
}

// splitMix is a tiny deterministic random generator (SplitMix64) whose
// sequence, unlike math/rand's helpers, is fixed forever.
type splitMix uint64

func (r *splitMix) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float64 returns a number in [0,1).
func (r *splitMix) float64() float64 {
	return float64(r.next()>>11) / (1 << 53)
}

// intn returns a number in [0,n).
func (r *splitMix) intn(n int) int {
	return int(r.next() % uint64(n))
}
