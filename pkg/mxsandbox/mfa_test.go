package mxsandbox_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// pickOption answers an option challenge with the value of the option whose
// value is want (MX's test bank: choose the option whose value is "correct").
func pickOption(want string) func(challengeWire) string {
	return func(c challengeWire) string {
		for _, o := range c.Options {
			if o.Value == want {
				return o.Value
			}
		}
		for _, o := range c.ImageOptions {
			if o.Value == want {
				return o.Value
			}
		}
		return "no-such-option"
	}
}

func wrongValue(challengeWire) string { return "wrong" }

func TestMFA(t *testing.T) {
	cases := []struct {
		reason     string
		password   string
		wantType   string
		answer     func(challengeWire) string
		wantStatus string
	}{
		{"TEXT answered correctly connects", "challenge", sandbox.ChallengeText, correctValue, sandbox.StatusConnected},
		{"TEXT answered wrongly is rejected", "challenge", sandbox.ChallengeText, wrongValue, sandbox.StatusRejected},
		{"OPTIONS with the correct option connects", "options", sandbox.ChallengeOptions, pickOption(sandbox.CorrectAnswer), sandbox.StatusConnected},
		{"OPTIONS with another option is rejected", "options", sandbox.ChallengeOptions, pickOption("email"), sandbox.StatusRejected},
		{"IMAGE_DATA answered correctly connects", "image", sandbox.ChallengeImageData, correctValue, sandbox.StatusConnected},
		{"IMAGE_DATA answered wrongly is rejected", "image", sandbox.ChallengeImageData, wrongValue, sandbox.StatusRejected},
		{"TOKEN answered correctly connects", "token", sandbox.ChallengeToken, correctValue, sandbox.StatusConnected},
		{"IMAGE_OPTIONS with the correct image connects", "image_options", sandbox.ChallengeImageOptions, pickOption(sandbox.CorrectAnswer), sandbox.StatusConnected},
		{"IMAGE_OPTIONS with another image is rejected", "image_options", sandbox.ChallengeImageOptions, pickOption("mountain"), sandbox.StatusRejected},
		{"SERVER_ERROR as an answer fails", "challenge", sandbox.ChallengeText, func(challengeWire) string { return "SERVER_ERROR" }, sandbox.StatusFailed},
		{"UNAVAILABLE as an answer fails", "challenge", sandbox.ChallengeText, func(challengeWire) string { return "UNAVAILABLE" }, sandbox.StatusFailed},
		{"DISABLED as an answer is denied", "challenge", sandbox.ChallengeText, func(challengeWire) string { return "DISABLED" }, sandbox.StatusDenied},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t)
			m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", tc.password, nil)

			g.Expect(e.do("GET", e.memberPath(m)+"/challenges", nil).status).To(Equal(http.StatusNoContent), "no challenges before CHALLENGED")

			e.sb.Advance(aggStep)
			r := e.do("GET", e.memberPath(m)+"/challenges", nil)
			g.Expect(r.status).To(Equal(http.StatusOK))
			var body struct {
				Challenges []challengeWire `json:"challenges"`
			}
			r.into(t, &body)
			g.Expect(body.Challenges).To(HaveLen(1))
			c := body.Challenges[0]
			g.Expect(c.GUID).To(HavePrefix("CRD-"))
			g.Expect(c.Label).NotTo(BeEmpty())
			g.Expect(string(c.Type)).To(Equal(`"` + tc.wantType + `"`))
			switch tc.wantType {
			case sandbox.ChallengeOptions:
				g.Expect(c.Options).To(HaveLen(3))
			case sandbox.ChallengeImageData:
				g.Expect(c.ImageData).To(HaveValue(HavePrefix("data:image/png;base64,")))
			case sandbox.ChallengeImageOptions:
				g.Expect(c.ImageOptions).To(HaveLen(3))
				g.Expect(c.ImageOptions[0].DataURI).To(HavePrefix("data:image/png;base64,"))
			}
			g.Expect(e.status(m).Challenges).To(HaveLen(1), "the status endpoint carries the challenges too")

			r = e.resume(m, answersFor(body.Challenges, tc.answer))
			g.Expect(r.status).To(Equal(http.StatusAccepted))
			resumed := decodeMember(t, r)
			g.Expect(resumed.status()).To(Equal(sandbox.StatusResumed))
			g.Expect(resumed.IsBeingAggregated).To(BeTrue())
			g.Expect(e.do("GET", e.memberPath(m)+"/challenges", nil).status).To(Equal(http.StatusNoContent))

			e.sb.Advance(aggStep)
			s := e.status(m)
			g.Expect(s.status()).To(Equal(tc.wantStatus))
			g.Expect(s.IsBeingAggregated).To(BeFalse())
			if tc.wantStatus == sandbox.StatusConnected {
				g.Expect(s.SuccessfullyAggregatedAt).To(HaveValue(Equal(ts(t0.Add(2 * aggStep)))))
			}
		})
	}
}

func TestMultiStepMFA(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", "challenge_multi", nil)
	e.sb.Advance(aggStep)

	first := e.status(m)
	g.Expect(first.status()).To(Equal(sandbox.StatusChallenged))
	g.Expect(first.Challenges).To(HaveLen(1))
	g.Expect(e.resume(m, answersFor(first.Challenges, correctValue)).status).To(Equal(http.StatusAccepted))

	e.sb.Advance(aggStep)
	second := e.status(m)
	g.Expect(second.status()).To(Equal(sandbox.StatusChallenged), "a correct first answer leads to a second challenge set")
	g.Expect(second.Challenges).To(HaveLen(2))
	for _, c := range second.Challenges {
		g.Expect(c.GUID).NotTo(Equal(first.Challenges[0].GUID), "each step has new challenge guids")
	}

	r := e.resume(m, answersFor(second.Challenges[:1], correctValue))
	g.Expect(r.status).To(Equal(http.StatusBadRequest), "every challenge of the step must be answered")

	r = e.resume(m, answersFor(first.Challenges, correctValue))
	g.Expect(r.status).To(Equal(http.StatusBadRequest), "answers to an earlier step's guids do not count")

	g.Expect(e.resume(m, answersFor(second.Challenges, correctValue)).status).To(Equal(http.StatusAccepted))
	e.sb.Advance(aggStep)
	g.Expect(e.status(m).status()).To(Equal(sandbox.StatusConnected))
}

func TestResumeWhenNotChallenged(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.connectedMember("u", "mxuser")
	r := e.resume(m, []map[string]string{{"guid": "CRD-x", "value": "correct"}})
	g.Expect(r.status).To(Equal(http.StatusMethodNotAllowed))
	g.Expect(r.errorMessage(t)).To(ContainSubstring("CHALLENGED"))
}

func TestChallengeExpires(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", "challenge", nil)
	e.sb.Advance(aggStep)
	challenges := e.status(m).Challenges

	e.sb.Advance(sandbox.ChallengeTimeout - time.Second)
	g.Expect(e.status(m).status()).To(Equal(sandbox.StatusChallenged))
	e.sb.Advance(time.Second)
	s := e.status(m)
	g.Expect(s.status()).To(Equal(sandbox.StatusExpired))
	g.Expect(s.IsBeingAggregated).To(BeFalse())
	g.Expect(e.resume(m, answersFor(challenges, correctValue)).status).To(Equal(http.StatusMethodNotAllowed))

	r := e.do("POST", e.memberPath(m)+"/aggregate", nil)
	g.Expect(r.status).To(Equal(http.StatusAccepted))
	e.sb.Advance(aggStep)
	g.Expect(e.status(m).status()).To(Equal(sandbox.StatusChallenged), "a new aggregation asks again")
}

func TestIntegerChallengeTypes(t *testing.T) {
	cases := []struct {
		password string
		wantType string
	}{
		{"challenge", "0"},
		{"options", "2"},
		{"token", "12"},
		{"image", "13"},
		{"image_options", "14"},
	}
	for _, tc := range cases {
		t.Run(tc.password+" reports type "+tc.wantType, func(t *testing.T) {
			g := NewWithT(t)
			e := newEnv(t, func(o *sandbox.Options) { o.IntegerChallengeTypes = true })
			m := e.createMember(e.createUser("u"), sandbox.InstitutionMXBank, "mxuser", tc.password, nil)
			e.sb.Advance(aggStep)
			var body struct {
				Challenges []challengeWire `json:"challenges"`
			}
			e.do("GET", e.memberPath(m)+"/challenges", nil).into(t, &body)
			g.Expect(string(body.Challenges[0].Type)).To(Equal(tc.wantType))
			g.Expect(string(e.status(m).Challenges[0].Type)).To(Equal(tc.wantType))
		})
	}
}

// OAuthAlmostExpired is just under the hour after which MX deletes a member
// still PENDING.
const OAuthAlmostExpired = sandbox.OAuthPendingTimeout - time.Minute

func TestOAuthMember(t *testing.T) {
	g := NewWithT(t)
	e := newEnv(t)
	u := e.createUser("u")
	r := e.postMember(u, sandbox.InstitutionMXBankOAuth, "", "", map[string]any{"is_oauth": true})
	g.Expect(r.status).To(Equal(http.StatusOK), "an OAuth member starts no aggregation: 200")
	m := decodeMember(t, r)
	g.Expect(m.IsOAuth).To(BeTrue())
	g.Expect(m.status()).To(Equal(sandbox.StatusPending))
	g.Expect(m.IsBeingAggregated).To(BeFalse())
	g.Expect(m.OAuthWindowURI).To(HaveValue(HavePrefix("https://")))

	r = e.do("GET", e.memberPath(m)+"/oauth_window_uri", nil)
	g.Expect(r.status).To(Equal(http.StatusOK))
	var win struct {
		Member struct {
			GUID           string  `json:"guid"`
			OAuthWindowURI *string `json:"oauth_window_uri"`
		} `json:"member"`
	}
	r.into(t, &win)
	g.Expect(win.Member.GUID).To(Equal(m.GUID))
	g.Expect(win.Member.OAuthWindowURI).To(HaveValue(HavePrefix("https://")))
	g.Expect(win.Member.OAuthWindowURI).NotTo(Equal(m.OAuthWindowURI), "each request mints a new URI")
	g.Expect(e.read(m).OAuthWindowURI).To(Equal(win.Member.OAuthWindowURI), "the member reports the newest")

	r = e.do("POST", e.memberPath(m)+"/aggregate", nil)
	g.Expect(r.status).To(Equal(http.StatusAccepted))
	g.Expect(decodeMember(t, r).MostRecentJobGUID).To(BeNil(), "nothing to aggregate before the user authorises")

	e.sb.Advance(OAuthAlmostExpired)
	g.Expect(e.status(m).status()).To(Equal(sandbox.StatusPending), "the user has not authorised yet")

	g.Expect(e.sb.AuthorizeOAuth(m.GUID)).To(Succeed())
	s := e.status(m)
	g.Expect(s.status()).To(Equal(sandbox.StatusCreated))
	g.Expect(s.IsBeingAggregated).To(BeTrue())

	e.sb.Advance(aggStep)
	s = e.status(m)
	g.Expect(s.status()).To(Equal(sandbox.StatusConnected))
	accts, _ := e.accounts(m, "")
	g.Expect(accts).To(HaveLen(sandbox.DefaultAccountCount))

	err := e.sb.AuthorizeOAuth(m.GUID)
	g.Expect(errors.Is(err, sandbox.ErrNotPending)).To(BeTrue(), "a connected member cannot be authorised again")
	err = e.sb.AuthorizeOAuth("MBR-unknown")
	g.Expect(errors.Is(err, sandbox.ErrNotFound)).To(BeTrue())

	plain := e.createMember(u, sandbox.InstitutionMXBank, "mxuser", "password", nil)
	g.Expect(errors.Is(e.sb.AuthorizeOAuth(plain.GUID), sandbox.ErrNotPending)).To(BeTrue())
	r = e.do("GET", e.memberPath(plain)+"/oauth_window_uri", nil)
	g.Expect(r.status).To(Equal(http.StatusOK))
	r.into(t, &win)
	g.Expect(win.Member.OAuthWindowURI).To(BeNil(), "a credential member has no OAuth window")
}
