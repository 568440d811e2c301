package mxsandbox

import "time"

type user struct {
	guid       string
	id         string
	email      string
	metadata   string
	isDisabled bool
	members    []*member
	deleted    bool
	// past remembers, per institution code, the aggregation times of the user's last deleted
	// member there, so one re-created inside the throttle window reports them (MX-API.md §11).
	past map[string]pastAggregation
}

// pastAggregation is when a deleted member last aggregated, and last did so successfully.
type pastAggregation struct{ aggregatedAt, successAt time.Time }

type challenge struct {
	guid        string
	tmpl        challengeTemplate
	optionGUIDs []string
}

type member struct {
	guid            string
	id              string
	user            *user
	inst            *institution
	metadata        string
	username        string
	password        string
	isOAuth         bool
	oauthAuthorized bool
	oauthWindowURI  string
	// oauthWindows maps the token of every oauth_window_uri minted for the
	// member to whether it has been opened (each is single-use).
	oauthWindows      map[string]bool
	oauthWindowToken  string
	clientRedirectURL string
	bgDisabled        bool
	useCases          []string
	deleted           bool

	// status is the connection status ("" before any: null on the wire).
	status          string
	aggregating     bool
	isAuthenticated bool
	failedLogins    int

	jobGUID       string
	jobKind       string
	jobBackground bool
	aggregatedAt  time.Time
	successAt     time.Time

	// mfa: the password's challenge scenario, the step being presented and
	// the challenges of that step (nil unless CHALLENGED).
	mfaSteps   [][]challengeTemplate
	mfaStep    int
	challenges []*challenge
	// widgetAnswers are the MFA answers of the Connect widget session that
	// started or joined the running job, still to be given
	// (answerFromWidget); any other job start and the job's end drop them.
	widgetAnswers []string

	// pendingFinal is the status the running job ends in at evFinish.
	pendingFinal string
	next         eventKind
	nextAt       time.Time
	gen          uint64

	// accounts are created at the first successful aggregation; successes
	// are the completion times of every successful aggregation.
	accounts  []*account
	successes []time.Time
}

// startAggregation starts a job on m at time at. status, when not empty, is
// the status the member shows while the job runs (CREATED, UPDATED,
// RESUMED); otherwise it keeps its current one. Background jobs never ask
// for MFA (the institution remembers the device).
func (s *Sandbox) startAggregation(m *member, at time.Time, background bool, status string) {
	m.jobGUID = s.newGUID("JOB")
	m.jobKind = JobAggregation
	m.jobBackground = background
	m.aggregating = true
	m.aggregatedAt = at
	m.challenges = nil
	m.mfaSteps = nil
	m.mfaStep = 0
	m.widgetAnswers = nil
	if status != "" {
		s.setStatus(m, status)
	}
	done := at.Add(s.duration)
	if m.inst.AlwaysDegraded {
		m.pendingFinal = StatusDegraded
		s.schedule(m, done, evFinish)
		return
	}
	if steps, ok := mfaScenarios[m.password]; ok && !background {
		m.mfaSteps = steps
		s.schedule(m, done, evChallenge)
		return
	}
	m.pendingFinal = passwordOutcome(m.password)
	if m.pendingFinal == StatusConnected && m.inst.Slow {
		s.schedule(m, done, evDelayed)
		return
	}
	s.schedule(m, done, evFinish)
}

// startOtherJob starts a job of a kind other than aggregation (verification,
// identification) on m at time at. It takes one aggregation step, never
// asks for MFA, ends in the password's outcome and, unlike an aggregation,
// neither records data nor counts as a successful aggregation. Like every
// job it sets aggregated_at (MX's member webhook documentation: aggregated_at
// may be "a different process such as identification, verification").
func (s *Sandbox) startOtherJob(m *member, at time.Time, kind string) {
	m.jobGUID = s.newGUID("JOB")
	m.jobKind = kind
	m.jobBackground = false
	m.aggregating = true
	m.aggregatedAt = at
	m.challenges = nil
	m.mfaSteps = nil
	m.mfaStep = 0
	m.widgetAnswers = nil
	m.pendingFinal = passwordOutcome(m.password)
	if m.inst.AlwaysDegraded {
		m.pendingFinal = StatusDegraded
	}
	s.schedule(m, at.Add(s.duration), evFinish)
}

// resume takes the answers to the current challenges at time at: the member
// shows RESUMED while the institution checks them, then either presents the
// next challenge step, connects, or fails.
func (s *Sandbox) resume(m *member, at time.Time, values []string) {
	m.challenges = nil
	m.aggregating = true
	s.setStatus(m, StatusResumed)
	done := at.Add(s.duration)
	if failed := answerOutcome(values); failed != "" {
		m.pendingFinal = failed
		s.schedule(m, done, evFinish)
		return
	}
	if m.mfaStep+1 < len(m.mfaSteps) {
		m.mfaStep++
		s.schedule(m, done, evChallenge)
		return
	}
	m.pendingFinal = StatusConnected
	if m.inst.Slow {
		s.schedule(m, done, evDelayed)
		return
	}
	s.schedule(m, done, evFinish)
}

// fire applies the member's pending transition, due at at.
func (s *Sandbox) fire(m *member, at time.Time) {
	kind := m.next
	s.unschedule(m)
	switch kind {
	case evFinish:
		s.finish(m, m.pendingFinal, at)
	case evChallenge:
		m.challenges = nil
		for _, tmpl := range m.mfaSteps[m.mfaStep] {
			c := &challenge{guid: s.newGUID("CRD"), tmpl: tmpl}
			for range tmpl.Options {
				c.optionGUIDs = append(c.optionGUIDs, s.newGUID("CRD"))
			}
			m.challenges = append(m.challenges, c)
		}
		s.setStatus(m, StatusChallenged)
		s.schedule(m, at.Add(ChallengeTimeout), evExpire)
		s.answerFromWidget(m, at)
	case evDelayed:
		s.setStatus(m, StatusDelayed)
		s.schedule(m, at.Add(2*s.duration), evFinish)
	case evExpire:
		s.finish(m, StatusExpired, at)
	case evOAuthExpire:
		if m.status == StatusPending {
			s.removeMember(m)
		}
	}
}

// finish ends the running job at time at in status. A successful
// aggregation records its data (accounts, transactions, AGGREGATION
// webhook); a third consecutive DENIED becomes PREVENTED.
func (s *Sandbox) finish(m *member, status string, at time.Time) {
	s.unschedule(m)
	m.aggregating = false
	m.challenges = nil
	m.widgetAnswers = nil
	switch status {
	case StatusDenied:
		m.failedLogins++
		if m.failedLogins >= 3 {
			status = StatusPrevented
		}
	case StatusConnected:
		m.failedLogins = 0
		m.isAuthenticated = true
		if m.jobKind == JobAggregation {
			m.successAt = at
			created, updated := s.recordSuccess(m, at)
			s.setStatus(m, status)
			s.queueAggregationWebhook(m, at, created, updated)
			return
		}
	}
	s.setStatus(m, status)
}

// setStatus changes the member's connection status; entering a state that
// needs the end user queues a CONNECTION_STATUS webhook.
func (s *Sandbox) setStatus(m *member, status string) {
	m.status = status
	if userActionable[status] {
		s.queueConnectionStatusWebhook(m)
	}
}

// sweep is MX's periodic background aggregation at time at: every member
// that is CONNECTED, UPDATED or CREATED, not aggregating, has background
// aggregation enabled, belongs to an enabled user and was not aggregated in
// the last BackgroundFreshness starts a background job.
func (s *Sandbox) sweep(at time.Time) {
	for _, m := range s.memberOrder {
		switch m.status {
		case StatusConnected, StatusUpdated, StatusCreated:
		default:
			continue
		}
		if m.aggregating || m.bgDisabled || m.user.isDisabled {
			continue
		}
		if !m.aggregatedAt.IsZero() && at.Sub(m.aggregatedAt) < BackgroundFreshness {
			continue
		}
		if m.isOAuth && !m.oauthAuthorized {
			continue
		}
		s.startAggregation(m, at, true, "")
	}
}

// throttled reports whether a foreground aggregation of m requested at time
// at falls inside MX's throttle window (MX-API.md §11, "Throttle"): it counts
// from the last successful aggregation, foreground or background, and
// applies to every institution but mxbank (MX-API.md §8).
func (s *Sandbox) throttled(m *member, at time.Time) bool {
	return s.throttle > 0 && !m.inst.Unthrottled && !m.successAt.IsZero() && at.Sub(m.successAt) < s.throttle
}
