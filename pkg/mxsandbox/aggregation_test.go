package mxsandbox_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

func TestAggregationTimeline(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	u := e.createUser("u")

	r := e.postMember(u, sandbox.InstitutionMXBank, "mxuser", "password", map[string]any{"id": "m1"})
	g.Expect(r.status).To(Equal(http.StatusAccepted), "create member answers 202 when it starts an aggregation")
	m := decodeMember(t, r)
	g.Expect(m.GUID).To(Equal("MBR-00000000-0000-0000-0000-000000000001"))
	g.Expect(*m.ID).To(Equal("m1"))
	g.Expect(m.status()).To(Equal(sandbox.StatusCreated))
	g.Expect(m.IsBeingAggregated).To(BeTrue())
	g.Expect(m.AggregatedAt).To(HaveValue(Equal(ts(t0))), "aggregated_at is when the last attempt started")
	g.Expect(m.SuccessfullyAggregatedAt).To(BeNil())
	g.Expect(m.jobGUID()).To(Equal("JOB-00000000-0000-0000-0000-000000000001"), "most_recent_job_guid is a string")
	g.Expect(m.ConnectionStatusMessage).To(HaveValue(ContainSubstring("MX Bank")))

	accts, _ := e.accounts(m, "")
	g.Expect(accts).To(BeEmpty(), "no accounts before the first successful aggregation")

	var list struct {
		Members []member `json:"members"`
	}
	e.do("GET", "/users/"+u+"/members", nil).into(t, &list)
	g.Expect(list.Members).To(HaveLen(1))
	g.Expect(list.Members[0].ID).To(HaveValue(Equal("m1")), "the members list carries the partner id")

	e.sb.Advance(aggStep - time.Second)
	s := e.status(m)
	g.Expect(s.status()).To(Equal(sandbox.StatusCreated))
	g.Expect(s.IsBeingAggregated).To(BeTrue())

	e.sb.Advance(time.Second)
	s = e.status(m)
	g.Expect(s.status()).To(Equal(sandbox.StatusConnected))
	g.Expect(s.IsBeingAggregated).To(BeFalse())
	g.Expect(s.IsAuthenticated).To(BeTrue())
	g.Expect(s.AggregatedAt).To(HaveValue(Equal(ts(t0))))
	g.Expect(s.SuccessfullyAggregatedAt).To(HaveValue(Equal(ts(t0.Add(aggStep)))))

	accts, _ = e.accounts(m, "")
	g.Expect(accts).To(HaveLen(sandbox.DefaultAccountCount))

	// A foreground aggregation of a CONNECTED member keeps CONNECTED while it runs.
	e.sb.Advance(time.Hour)
	r = e.do("POST", e.memberPath(m)+"/aggregate", nil)
	g.Expect(r.status).To(Equal(http.StatusAccepted))
	agg := decodeMember(t, r)
	g.Expect(agg.status()).To(Equal(sandbox.StatusConnected))
	g.Expect(agg.IsBeingAggregated).To(BeTrue())
	g.Expect(agg.jobGUID()).To(Equal("JOB-00000000-0000-0000-0000-000000000002"))
	g.Expect(agg.AggregatedAt).To(HaveValue(Equal(ts(t0.Add(aggStep + time.Hour)))))
	g.Expect(agg.SuccessfullyAggregatedAt).To(HaveValue(Equal(ts(t0.Add(aggStep)))), "unchanged until the job succeeds")

	r = e.do("POST", e.memberPath(m)+"/aggregate", nil)
	g.Expect(r.status).To(Equal(http.StatusAccepted), "aggregate while a job runs is still 202")
	g.Expect(decodeMember(t, r).jobGUID()).To(Equal(agg.jobGUID()), "and starts no new job")

	e.sb.Advance(aggStep)
	s = e.read(m)
	g.Expect(s.IsBeingAggregated).To(BeFalse())
	g.Expect(s.SuccessfullyAggregatedAt).To(HaveValue(Equal(ts(t0.Add(2*aggStep + time.Hour)))))
}

func TestConfigurableAggregationDuration(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, func(o *sandbox.Options) { o.AggregationDuration = time.Minute })
	m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", "password", nil)
	e.sb.Advance(59 * time.Second)
	g.Expect(e.status(m).status()).To(Equal(sandbox.StatusCreated))
	e.sb.Advance(time.Second)
	g.Expect(e.status(m).status()).To(Equal(sandbox.StatusConnected))
}

func TestRealClockAggregation(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t, func(o *sandbox.Options) {
		o.Clock = nil
		o.AggregationDuration = 20 * time.Millisecond
	})
	m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", "password", nil)
	g.Eventually(func() string { return e.status(m).status() }).Should(Equal(sandbox.StatusConnected))
	g.Expect(func() { e.sb.Advance(time.Second) }).To(Panic(), "Advance needs a fake clock")
}

func TestPasswordOutcomes(t *testing.T) {
	cases := []struct {
		password      string
		reason        string
		wantStatus    string
		wantChallenge string
	}{
		{"password", "any other password connects", sandbox.StatusConnected, ""},
		{"challenge", "challenge asks a TEXT question", sandbox.StatusChallenged, sandbox.ChallengeText},
		{"options", "options asks an OPTIONS question", sandbox.StatusChallenged, sandbox.ChallengeOptions},
		{"image", "image asks an IMAGE_DATA question", sandbox.StatusChallenged, sandbox.ChallengeImageData},
		{"token", "token asks for a TOKEN", sandbox.StatusChallenged, sandbox.ChallengeToken},
		{"image_options", "image_options asks to pick an image", sandbox.StatusChallenged, sandbox.ChallengeImageOptions},
		{"challenge_multi", "challenge_multi starts with a TEXT question", sandbox.StatusChallenged, sandbox.ChallengeText},
		{"BAD_REQUEST", "BAD_REQUEST fails", sandbox.StatusFailed, ""},
		{"UNAUTHORIZED", "UNAUTHORIZED is denied", sandbox.StatusDenied, ""},
		{"INVALID", "INVALID is denied", sandbox.StatusDenied, ""},
		{"LOCKED", "LOCKED is locked", sandbox.StatusLocked, ""},
		{"DISABLED", "DISABLED is denied", sandbox.StatusDenied, ""},
		{"SERVER_ERROR", "SERVER_ERROR fails", sandbox.StatusFailed, ""},
		{"UNAVAILABLE", "UNAVAILABLE fails", sandbox.StatusFailed, ""},
		{"IMPEDED", "IMPEDED needs action at the bank", sandbox.StatusImpeded, ""},
		{"locked", "passwords are case-sensitive", sandbox.StatusConnected, ""},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t)
			m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", tc.password, nil)
			e.sb.Advance(aggStep)

			s := e.status(m)
			g.Expect(s.status()).To(Equal(tc.wantStatus))
			g.Expect(e.read(m).ConnectionStatusMessage).To(HaveValue(Not(BeEmpty())), "the member carries the message")
			g.Expect(s.AggregatedAt).To(HaveValue(Equal(ts(t0))))
			if tc.wantStatus == sandbox.StatusConnected {
				g.Expect(s.SuccessfullyAggregatedAt).To(HaveValue(Equal(ts(t0.Add(aggStep)))))
			} else {
				g.Expect(s.SuccessfullyAggregatedAt).To(BeNil(), "only a success sets successfully_aggregated_at")
			}
			if tc.wantChallenge == "" {
				g.Expect(s.IsBeingAggregated).To(BeFalse())
				g.Expect(s.Challenges).To(BeEmpty())
				return
			}
			g.Expect(s.IsBeingAggregated).To(BeTrue(), "the job waits for the answer")
			g.Expect(s.Challenges).NotTo(BeEmpty())
			g.Expect(string(s.Challenges[0].Type)).To(Equal(`"` + tc.wantChallenge + `"`))
		})
	}
}

// TestStatusHasNoConnectionStatusMessage follows the OpenAPI
// MemberStatusResponse of readMemberStatus and MX-API.md §11 ("Status vs
// member"): the status answer has no connection_status_message; the member
// read has it.
func TestStatusHasNoConnectionStatusMessage(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", "challenge", nil)
	e.sb.Advance(aggStep)

	var body struct {
		Member map[string]json.RawMessage `json:"member"`
	}
	e.do("GET", e.memberPath(m)+"/status", nil).into(t, &body)
	keys := []string{}
	for k := range body.Member {
		keys = append(keys, k)
	}
	g.Expect(keys).To(ConsistOf("aggregated_at", "challenges", "connection_status", "guid",
		"has_processed_account_numbers", "has_processed_accounts", "has_processed_transactions",
		"is_authenticated", "is_being_aggregated", "successfully_aggregated_at"),
		"exactly MemberStatusResponse's fields")
	g.Expect(e.read(m).ConnectionStatusMessage).To(HaveValue(Not(BeEmpty())))
}

func TestDeniedThreeTimesIsPrevented(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", "INVALID", nil)
	e.sb.Advance(aggStep)
	m = e.read(m)
	g.Expect(m.status()).To(Equal(sandbox.StatusDenied))
	g.Expect(m.NeedsUpdatedCredentials).To(BeTrue())

	for _, want := range []string{sandbox.StatusDenied, sandbox.StatusPrevented} {
		g.Expect(e.do("POST", e.memberPath(m)+"/aggregate", nil).status).To(Equal(http.StatusAccepted))
		e.sb.Advance(aggStep)
		g.Expect(e.status(m).status()).To(Equal(want))
	}

	job := e.read(m).jobGUID()
	r := e.do("POST", e.memberPath(m)+"/aggregate", nil)
	g.Expect(r.status).To(Equal(http.StatusAccepted))
	g.Expect(decodeMember(t, r).jobGUID()).To(Equal(job), "a PREVENTED member needs new credentials, not another attempt")
}

func TestUpdatingCredentials(t *testing.T) {
	t.Run("new credentials show UPDATED, then aggregate", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t)
		m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", "INVALID", nil)
		e.sb.Advance(aggStep)
		g.Expect(e.status(m).status()).To(Equal(sandbox.StatusDenied))

		r := e.do("PUT", e.memberPath(m), map[string]any{"member": map[string]any{
			"credentials": []map[string]string{{"guid": passwordGUID, "value": "password"}},
		}})
		g.Expect(r.status).To(Equal(http.StatusOK))
		up := decodeMember(t, r)
		g.Expect(up.status()).To(Equal(sandbox.StatusUpdated))
		g.Expect(up.IsBeingAggregated).To(BeTrue())
		g.Expect(up.jobGUID()).To(Equal("JOB-00000000-0000-0000-0000-000000000002"))

		e.sb.Advance(aggStep)
		s := e.status(m)
		g.Expect(s.status()).To(Equal(sandbox.StatusConnected))
		g.Expect(s.IsBeingAggregated).To(BeFalse())
	})
	t.Run("skip_aggregation leaves the member UPDATED", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t)
		m := e.connectedMember("u", "mxuser")
		r := e.do("PUT", e.memberPath(m), map[string]any{"member": map[string]any{
			"credentials":      credentials(sandbox.InstitutionMXBank, "mxuser", "new-password"),
			"skip_aggregation": true,
		}})
		g.Expect(r.status).To(Equal(http.StatusOK))
		up := decodeMember(t, r)
		g.Expect(up.status()).To(Equal(sandbox.StatusUpdated))
		g.Expect(up.IsBeingAggregated).To(BeFalse())
		g.Expect(up.jobGUID()).To(Equal("JOB-00000000-0000-0000-0000-000000000001"))
		e.sb.Advance(time.Hour)
		g.Expect(e.status(m).status()).To(Equal(sandbox.StatusUpdated))
	})
	t.Run("other fields change without an aggregation", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t)
		m := e.connectedMember("u", "mxuser")
		r := e.do("PUT", e.memberPath(m), map[string]any{"member": map[string]any{"metadata": "x", "background_aggregation_is_disabled": true}})
		g.Expect(r.status).To(Equal(http.StatusOK))
		up := decodeMember(t, r)
		g.Expect(up.status()).To(Equal(sandbox.StatusConnected))
		g.Expect(up.IsBeingAggregated).To(BeFalse())
	})
}

func TestCreateMemberWithoutAggregation(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	r := e.postMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", "password", map[string]any{"skip_aggregation": true})
	g.Expect(r.status).To(Equal(http.StatusOK), "skip_aggregation answers 200")
	m := decodeMember(t, r)
	g.Expect(m.status()).To(Equal(sandbox.StatusCreated))
	g.Expect(m.IsBeingAggregated).To(BeFalse())
	g.Expect(m.MostRecentJobGUID).To(BeNil())
	g.Expect(m.AggregatedAt).To(BeNil())

	r = e.do("POST", e.memberPath(m)+"/aggregate", nil)
	g.Expect(r.status).To(Equal(http.StatusAccepted))
	g.Expect(decodeMember(t, r).IsBeingAggregated).To(BeTrue())
	e.sb.Advance(aggStep)
	g.Expect(e.status(m).status()).To(Equal(sandbox.StatusConnected))
}

// TestThrottleWindow follows MX-API.md §4 ("Aggregation throttle") and §11
// ("Throttle"): no new aggregation within three hours of the last
// SUCCESSFUL one, foreground or background; aggregate still answers 202 and
// aggregated_at stays unchanged. It applies to every institution but mxbank
// (§8: "mxbank has no throttle window").
func TestThrottleWindow(t *testing.T) {
	type setup struct {
		institution string
		password    string
		// after is how long after the first aggregation ended the aggregate
		// request comes.
		after time.Duration
		opts  func(*sandbox.Options)
	}
	cases := []struct {
		reason     string
		setup      setup
		wantNewJob bool
	}{
		{"right after a success nothing starts",
			setup{institution: sandbox.InstitutionMXBankThrottled, password: "password"}, false},
		{"just inside three hours of the success nothing starts",
			setup{institution: sandbox.InstitutionMXBankThrottled, password: "password", after: sandbox.ThrottleWindow - time.Second}, false},
		{"three hours after the success (not after the start) it aggregates",
			setup{institution: sandbox.InstitutionMXBankThrottled, password: "password", after: sandbox.ThrottleWindow}, true},
		{"a failed aggregation does not start the window",
			setup{institution: sandbox.InstitutionMXBankThrottled, password: "INVALID"}, true},
		{"the throttle applies to other institutions too",
			setup{institution: sandbox.InstitutionMXBankSlow, password: "password", after: time.Hour}, false},
		{"and to OAuth members",
			setup{institution: sandbox.InstitutionMXBankOAuth, after: time.Hour}, false},
		{"mxbank has no throttle window",
			setup{institution: sandbox.InstitutionMXBank, password: "password"}, true},
		{"Options.AggregationThrottle shortens the window",
			setup{institution: sandbox.InstitutionMXBankThrottled, password: "password", after: 10 * time.Minute,
				opts: func(o *sandbox.Options) { o.AggregationThrottle = 10 * time.Minute }}, true},
		{"a shortened window still throttles inside it",
			setup{institution: sandbox.InstitutionMXBankThrottled, password: "password", after: 9 * time.Minute,
				opts: func(o *sandbox.Options) { o.AggregationThrottle = 10 * time.Minute }}, false},
		{"a negative Options.AggregationThrottle disables it",
			setup{institution: sandbox.InstitutionMXBankThrottled, password: "password",
				opts: func(o *sandbox.Options) { o.AggregationThrottle = -1 }}, true},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			var opts []func(*sandbox.Options)
			if tc.setup.opts != nil {
				opts = append(opts, tc.setup.opts)
			}
			e := newEnv(t, opts...)
			u := e.createUser("u")
			var m member
			if tc.setup.institution == sandbox.InstitutionMXBankOAuth {
				m = e.createMember(u, tc.setup.institution, "", "", map[string]any{"is_oauth": true})
				g.Expect(e.sb.AuthorizeOAuth(m.GUID)).To(Succeed())
			} else {
				m = e.createMember(u, tc.setup.institution, "mxuser", tc.setup.password, nil)
			}
			done := aggStep
			if tc.setup.institution == sandbox.InstitutionMXBankSlow {
				done = 3 * aggStep
			}
			e.sb.Advance(done)
			before := e.read(m)
			g.Expect(before.IsBeingAggregated).To(BeFalse())

			e.sb.Advance(tc.setup.after)
			r := e.do("POST", e.memberPath(m)+"/aggregate", nil)
			g.Expect(r.status).To(Equal(http.StatusAccepted), "aggregate is 202 whether or not it starts a job")
			after := decodeMember(t, r)
			if !tc.wantNewJob {
				g.Expect(after.jobGUID()).To(Equal(before.jobGUID()))
				g.Expect(after.AggregatedAt).To(Equal(before.AggregatedAt), "aggregated_at stays unchanged")
				g.Expect(after.IsBeingAggregated).To(BeFalse())
				return
			}
			g.Expect(after.jobGUID()).NotTo(Equal(before.jobGUID()))
			g.Expect(after.AggregatedAt).To(HaveValue(Equal(ts(t0.Add(done + tc.setup.after)))))
			g.Expect(after.IsBeingAggregated).To(BeTrue())
		})
	}

	t.Run("a background success starts the window too", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t)
		m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBankThrottled, "mxuser", "password", nil)
		e.sb.Advance(24*time.Hour + aggStep) // the sweep at t0+24h succeeds at t0+24h+aggStep
		before := e.read(m)
		g.Expect(before.SuccessfullyAggregatedAt).To(HaveValue(Equal(ts(t0.Add(24*time.Hour + aggStep)))))
		e.sb.Advance(2 * time.Hour)
		after := decodeMember(t, e.do("POST", e.memberPath(m)+"/aggregate", nil))
		g.Expect(after.jobGUID()).To(Equal(before.jobGUID()), "inside three hours of the background success")
	})
}

// TestDisabledUsersMembersAreNotAggregated follows the OpenAPI createUser
// operation ("Disabling a user means that accounts and transactions
// associated with it will not be updated in the background by MX. It will
// also restrict access to that user's data") and MX-API.md §4 (403: refused).
// The exact code is not documented by either; the sandbox answers 403.
func TestDisabledUsersMembersAreNotAggregated(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.connectedMember("u", "mxuser")
	before := e.read(m)
	g.Expect(e.do("PUT", "/users/"+m.UserGUID, map[string]any{"user": map[string]any{"is_disabled": true}}).status).To(Equal(http.StatusOK))

	r := e.do("POST", e.memberPath(m)+"/aggregate", nil)
	g.Expect(r.status).To(Equal(http.StatusForbidden))
	g.Expect(r.errorMessage(t)).To(ContainSubstring("disabled"))
	g.Expect(e.read(m).jobGUID()).To(Equal(before.jobGUID()), "no job started")

	e.sb.Advance(24 * time.Hour)
	g.Expect(e.read(m).jobGUID()).To(Equal(before.jobGUID()), "nor in the background")

	g.Expect(e.do("PUT", "/users/"+m.UserGUID, map[string]any{"user": map[string]any{"is_disabled": false}}).status).To(Equal(http.StatusOK))
	r = e.do("POST", e.memberPath(m)+"/aggregate", nil)
	g.Expect(r.status).To(Equal(http.StatusAccepted))
	g.Expect(decodeMember(t, r).jobGUID()).NotTo(Equal(before.jobGUID()), "enabled again, it aggregates")
}

func TestDegradedInstitution(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBankDegraded, "mxuser", "password", nil)
	e.sb.Advance(aggStep)
	s := e.status(m)
	g.Expect(s.status()).To(Equal(sandbox.StatusDegraded))
	g.Expect(s.IsBeingAggregated).To(BeFalse())
	g.Expect(s.AggregatedAt).To(HaveValue(Equal(ts(t0))))
	g.Expect(s.SuccessfullyAggregatedAt).To(BeNil())

	g.Expect(e.do("POST", e.memberPath(m)+"/aggregate", nil).status).To(Equal(http.StatusAccepted))
	e.sb.Advance(aggStep)
	g.Expect(e.status(m).status()).To(Equal(sandbox.StatusDegraded), "it always ends DEGRADED")
}

func TestSlowInstitutionShowsDelayed(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBankSlow, "mxuser", "password", nil)
	e.sb.Advance(aggStep)
	s := e.status(m)
	g.Expect(s.status()).To(Equal(sandbox.StatusDelayed))
	g.Expect(s.IsBeingAggregated).To(BeTrue())

	e.sb.Advance(2*aggStep - time.Second)
	g.Expect(e.status(m).status()).To(Equal(sandbox.StatusDelayed))

	e.sb.Advance(time.Second)
	s = e.status(m)
	g.Expect(s.status()).To(Equal(sandbox.StatusConnected))
	g.Expect(s.SuccessfullyAggregatedAt).To(HaveValue(Equal(ts(t0.Add(3 * aggStep)))))
}

func TestBackgroundAggregation(t *testing.T) {
	type setup struct {
		createAfter time.Duration
		extra       map[string]any
		password    string
	}
	cases := []struct {
		reason     string
		setup      setup
		wantAggAt  time.Time
		wantStatus string
	}{
		{"a CONNECTED member is aggregated at the 24 h sweep",
			setup{password: "password"}, t0.Add(24 * time.Hour), sandbox.StatusConnected},
		{"a member aggregated less than 20 h ago is skipped",
			setup{createAfter: 5 * time.Hour, password: "password"}, t0.Add(5 * time.Hour), sandbox.StatusConnected},
		{"a member with background aggregation disabled is skipped",
			setup{password: "password", extra: map[string]any{"background_aggregation_is_disabled": true}}, t0, sandbox.StatusConnected},
		{"a DENIED member is skipped",
			setup{password: "INVALID"}, t0, sandbox.StatusDenied},
		{"a CREATED member that never aggregated is aggregated",
			setup{password: "password", extra: map[string]any{"skip_aggregation": true}}, t0.Add(24 * time.Hour), sandbox.StatusConnected},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t)
			u := e.createUser("u")
			e.sb.Advance(tc.setup.createAfter)
			m := e.createMember(u, sandbox.InstitutionMXBank, "mxuser", tc.setup.password, tc.setup.extra)
			e.sb.Advance(24*time.Hour - tc.setup.createAfter)

			snap := e.sb.Members()[0]
			g.Expect(snap.AggregatedAt).To(Equal(tc.wantAggAt))
			g.Expect(snap.IsBeingAggregated).To(Equal(tc.wantAggAt.Equal(t0.Add(24*time.Hour))), "a background job runs right after the sweep")

			e.sb.Advance(aggStep)
			s := e.status(m)
			g.Expect(s.status()).To(Equal(tc.wantStatus))
			g.Expect(s.IsBeingAggregated).To(BeFalse())
		})
	}

	t.Run("a skipped member is picked up by the next sweep", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t)
		e.sb.Advance(10 * time.Hour)
		e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", "password", nil)
		e.sb.Advance(38 * time.Hour)
		g.Expect(e.sb.Members()[0].AggregatedAt).To(Equal(t0.Add(48 * time.Hour)))
	})
	t.Run("an MFA member connects in the background without a challenge", func(t *testing.T) {
		g := NewWithT(t)
		e := newEnv(t)
		m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", "challenge", nil)
		e.sb.Advance(aggStep)
		challenges := e.status(m).Challenges
		g.Expect(e.resume(m, answersFor(challenges, correctValue)).status).To(Equal(http.StatusAccepted))
		e.sb.Advance(24 * time.Hour)
		g.Expect(e.sb.Members()[0].AggregatedAt).To(Equal(t0.Add(24 * time.Hour)))
		e.sb.Advance(aggStep)
		g.Expect(e.status(m).status()).To(Equal(sandbox.StatusConnected))
	})
}

func TestMembersSnapshot(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.connectedMember("user-1", "mxuser")
	snaps := e.sb.Members()
	g.Expect(snaps).To(HaveLen(1))
	g.Expect(snaps[0]).To(Equal(sandbox.MemberSnapshot{
		GUID:                     m.GUID,
		UserGUID:                 m.UserGUID,
		UserID:                   "user-1",
		InstitutionCode:          sandbox.InstitutionMXBank,
		ConnectionStatus:         sandbox.StatusConnected,
		MostRecentJobGUID:        "JOB-00000000-0000-0000-0000-000000000001",
		AggregatedAt:             t0,
		SuccessfullyAggregatedAt: t0.Add(aggStep),
	}))
}

// TestRecreatedMemberReportsItsEarlierAggregation: MX-API.md §11, "A member deleted and
// re-created inside the window reports its earlier aggregated_at"; outside it, it aggregates.
func TestRecreatedMemberReportsItsEarlierAggregation(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	u := e.createUser("u")
	m := e.createMember(u, sandbox.InstitutionMXBankThrottled, "mxuser", "password", nil)
	e.sb.Advance(aggStep)
	first := e.read(m)
	g.Expect(first.SuccessfullyAggregatedAt).NotTo(BeNil())
	g.Expect(e.do("DELETE", e.memberPath(m), nil).status).To(Equal(http.StatusNoContent))

	e.sb.Advance(time.Hour)
	again := e.createMember(u, sandbox.InstitutionMXBankThrottled, "mxuser", "password", nil)
	g.Expect(again.GUID).NotTo(Equal(m.GUID))
	g.Expect(again.AggregatedAt).To(Equal(first.AggregatedAt), "the earlier aggregated_at")
	g.Expect(again.SuccessfullyAggregatedAt).To(Equal(first.SuccessfullyAggregatedAt))
	g.Expect(again.IsBeingAggregated).To(BeFalse(), "inside the window nothing starts")
	g.Expect(e.do("DELETE", e.memberPath(again), nil).status).To(Equal(http.StatusNoContent))

	e.sb.Advance(sandbox.ThrottleWindow)
	later := e.createMember(u, sandbox.InstitutionMXBankThrottled, "mxuser", "password", nil)
	g.Expect(later.IsBeingAggregated).To(BeTrue(), "outside the window a re-created member aggregates")
}
