package mxsandbox

import (
	"errors"
	"fmt"
	"time"
)

// Job kinds. The MX API the sandbox serves starts only aggregations; a job
// of another kind is what MX runs when, for example, the Connect widget is
// opened in verification mode on the member (MX-API.md §11). StartJob plays
// such a job, so that aggregate meets MX's 409 "a job of another kind is
// running" (MX-API.md §2).
const (
	JobAggregation    = "aggregation"
	JobVerification   = "verification"
	JobIdentification = "identification"
)

// Errors returned by StartJob.
var (
	// ErrJobRunning: the member already runs a job (of any kind).
	ErrJobRunning = errors.New("a job is running")
	// ErrJobRefused: the member cannot start a job now (unknown kind, an
	// OAuth member not yet authorised, PREVENTED, or a disabled user).
	ErrJobRefused = errors.New("job refused")
)

// StartJob starts a job of kind (JobAggregation, JobVerification or
// JobIdentification) on the member, as if started outside the API (by the
// Connect widget). The job takes one aggregation step and shows
// is_being_aggregated with a new most_recent_job_guid; while a verification
// or identification job runs, POST …/aggregate answers 409. Verification and
// identification never ask for MFA and do not count as a successful
// aggregation (no data, no AGGREGATION webhook, no throttle window). It
// returns ErrNotFound, ErrJobRunning or ErrJobRefused (wrapped).
func (s *Sandbox) StartJob(memberGUID, kind string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.processLocked(now)
	m, ok := s.members[memberGUID]
	if !ok {
		return fmt.Errorf("member %q: %w", memberGUID, ErrNotFound)
	}
	return s.startJobLocked(m, kind, now)
}

// startJobLocked starts a job of kind on m at now, or returns why it cannot
// (ErrJobRunning, ErrJobRefused, wrapped), as StartJob documents.
func (s *Sandbox) startJobLocked(m *member, kind string, now time.Time) error {
	switch {
	case kind != JobAggregation && kind != JobVerification && kind != JobIdentification:
		return fmt.Errorf("unknown job kind %q: %w", kind, ErrJobRefused)
	case m.aggregating:
		return fmt.Errorf("member %q runs a %s job: %w", m.guid, m.jobKind, ErrJobRunning)
	case m.isOAuth && !m.oauthAuthorized:
		return fmt.Errorf("OAuth member %q is not authorised: %w", m.guid, ErrJobRefused)
	case m.status == StatusPrevented:
		return fmt.Errorf("member %q is PREVENTED: %w", m.guid, ErrJobRefused)
	case m.user.isDisabled:
		return fmt.Errorf("the user of member %q is disabled: %w", m.guid, ErrJobRefused)
	case kind == JobAggregation:
		s.startAggregation(m, now, false, "")
	default:
		s.startOtherJob(m, now, kind)
	}
	return nil
}
