package sandbox

import (
	"fmt"
	"time"
)

// Fault describes misbehaviour injected into one endpoint. The zero Fault
// injects nothing.
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
	// RetryAfter is sent as Retry-After (whole seconds) on injected 429s;
	// zero omits the header.
	RetryAfter time.Duration
	// CommitThenFail makes the next N requests take full effect (objects
	// created, updated, deleted) while their response is lost: a 500, or a
	// closed connection with DropConnection.
	CommitThenFail int
	// DropConnection makes CommitThenFail close the connection without any
	// response instead of answering 500.
	DropConnection bool
	// Seed seeds the endpoint's random draws, so a sequence of requests gets
	// the same sequence of injected failures every run.
	Seed int64
}

type faultState struct {
	fault     Fault
	rng       splitMix
	remaining int
}

type faultDecision struct {
	rateLimited    bool
	serverError    bool
	retryAfter     time.Duration
	commitThenFail bool
	drop           bool
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

func (s *Sandbox) setFaultLocked(endpoint string, f Fault) {
	if f == (Fault{}) {
		delete(s.faults, endpoint)
		return
	}
	s.faults[endpoint] = &faultState{fault: f, rng: splitMix(f.Seed), remaining: f.CommitThenFail}
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
	if f.RateLimitRate > 0 || f.ErrorRate > 0 {
		p := fs.rng.float64()
		switch {
		case p < f.RateLimitRate:
			return faultDecision{rateLimited: true, retryAfter: f.RetryAfter}
		case p < f.RateLimitRate+f.ErrorRate:
			return faultDecision{serverError: true}
		}
	}
	if fs.remaining > 0 {
		fs.remaining--
		return faultDecision{commitThenFail: true, drop: f.DropConnection}
	}
	return faultDecision{}
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
