package controller_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/manager"
	"github.com/mxoperator/mx-operator/internal/mx"
	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// Sandbox endpoint names, shortened for the call-count tables.
const (
	epListUsers     = sandbox.EndpointListUsers
	epCreateUser    = sandbox.EndpointCreateUser
	epUpdateUser    = sandbox.EndpointUpdateUser
	epReadUser      = sandbox.EndpointReadUser
	epDeleteUser    = sandbox.EndpointDeleteUser
	epCredentials   = sandbox.EndpointListCredentials
	epCreateMember  = sandbox.EndpointCreateMember
	epListMembers   = sandbox.EndpointListMembers
	epUpdateMember  = sandbox.EndpointUpdateMember
	epDeleteMember  = sandbox.EndpointDeleteMember
	epStatus        = sandbox.EndpointReadMemberStatus
	epAccounts      = sandbox.EndpointListMemberAccounts
	epResume        = sandbox.EndpointResumeMember
	epAggregate     = sandbox.EndpointAggregateMember
	epOAuthWindow   = sandbox.EndpointReadOAuthWindowURI
	mxbankUser      = "mxuser"
	defaultPassword = "password"
)

// eventuallyInMX waits until MX holds the member under its partner id. On a fake clock that is
// the signal to move time: the member's status is written with its first read, which waits for
// the clock.
func (s *story) eventuallyInMX(m *mxv1alpha1.MXMember) {
	id := "test:" + m.Namespace + "/" + m.Name
	EventuallyWithOffset(1, func(g Gomega) {
		var ids []string
		for _, inMX := range s.sb.Members() {
			ids = append(ids, inMX.ID)
		}
		g.Expect(ids).To(ContainElement(id))
	}).Should(Succeed())
}

// credentials is the Secret data of an mxbank member.
func credentials(username, password string) map[string]string {
	return map[string]string{"username": username, "password": password}
}

var _ = Describe("MXUser", func() {
	It("creates the user once, then costs no MX call when reconciled again or restarted, and sends spec changes", func() {
		s := newStory(storyOptions{})
		u := s.user("alice")
		s.create(u)
		eventuallyReady(u)
		Expect(u.Status.ID).To(Equal("test:" + s.ns + "/alice"))
		Expect(u.Status.GUID).To(Equal("USR-00000000-0000-0000-0000-000000000001"))
		Expect(s.calls()).To(Equal(map[string]int{epCreateUser: 1}), "one create: no lookup before it (a 409 would resolve a duplicate)")
		Expect(s.sb.UserCount()).To(Equal(1))

		before := reconciles("mxuser")
		s.restart(s.mxClient())
		Eventually(func() float64 { return reconciles("mxuser") }).Should(BeNumerically(">", before), "the new manager reconciled the user")
		Consistently(s.calls).Should(Equal(map[string]int{epCreateUser: 1}), "no MX call after a restart")

		update(u, func(u *mxv1alpha1.MXUser) { u.Spec.Email = "alice@example.org" })
		Eventually(func(g Gomega) {
			get(g, u)
			g.Expect(u.Status.ObservedGeneration).To(Equal(u.Generation))
			g.Expect(s.calls()).To(HaveKeyWithValue(epUpdateUser, 1))
		}).Should(Succeed())
		eventuallyReady(u)
		Expect(s.calls()).To(Equal(map[string]int{epCreateUser: 1, epUpdateUser: 1}))
	})
})

var _ = Describe("MXMember happy path", func() {
	It("costs exactly create + status reads + one accounts list, and nothing when reconciled again or restarted", func() {
		s := newStory(storyOptions{})
		s.readyUser("alice")
		m := s.member("alice-bank", "alice", "alice-creds")
		s.create(s.secret("alice-creds", credentials(mxbankUser, defaultPassword)), m)
		eventuallyReady(m)

		By("converging one member: one institution lookup for the process, then create + 1 status read + 1 accounts list")
		Expect(s.calls()).To(Equal(map[string]int{epCredentials: 1, epCreateMember: 1, epStatus: 1, epAccounts: 1}))
		Expect(m.Status.ConnectionStatus).To(Equal("CONNECTED"))
		Expect(m.Status.GUID).To(Equal("MBR-00000000-0000-0000-0000-000000000001"))
		Expect(m.Status.ID).To(Equal("test:" + s.ns + "/alice-bank"))
		Expect(m.Status.AccountCount).To(Equal(int32(6)))
		Expect(m.Status.AccountsTruncated).To(BeFalse())
		Expect(m.Status.AccountsAsOf).NotTo(BeNil())
		Expect(m.Status.AccountsAsOf.Time).To(BeTemporally("==", m.Status.SuccessfullyAggregatedAt.Time))
		Expect(m.Status.Accounts).To(Equal(expectedAccounts))
		ready := meta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.ReadyCondition)
		Expect(ready.Message).To(Equal("Connected with 6 account(s)."), "a CONNECTED member needs no extra read for MX's message")
		Expect(m.Status.ObservedGeneration).To(Equal(m.Generation))

		By("a second member of the same user: no institution call (cached), create + 1 status read + 1 accounts list")
		s.sb.ResetCalls()
		m2 := s.member("alice-bank-2", "alice", "alice-creds-2")
		s.create(s.secret("alice-creds-2", credentials("mxuser_accounts_60", defaultPassword)), m2)
		eventuallyReady(m2)
		Expect(s.calls()).To(Equal(map[string]int{epCreateMember: 1, epStatus: 1, epAccounts: 1}))
		Expect(m2.Status.AccountCount).To(Equal(int32(60)))
		Expect(m2.Status.Accounts).To(HaveLen(mxv1alpha1.MaxAccountSummaries))
		Expect(m2.Status.AccountsTruncated).To(BeTrue())

		By("reconciling the converged member again: zero MX calls and no status write")
		s.sb.ResetCalls()
		get(Default, m)
		rv := m.ResourceVersion
		res, err := s.members.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKeyFromObject(m)})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(BeNumerically(">", 10*time.Hour), "the next read is the long resync")
		Expect(s.sb.TotalCalls()).To(BeZero())
		Expect(get(Default, m).ResourceVersion).To(Equal(rv), "a reconcile that changes nothing writes nothing")

		By("restarting the manager: zero MX calls")
		before := reconciles("mxmember")
		s.restart(s.mxClient())
		Eventually(func() float64 { return reconciles("mxmember") }).Should(BeNumerically(">=", before+2), "the new manager reconciled both members")
		Consistently(s.sb.TotalCalls).Should(BeZero())
		Expect(get(Default, m).ResourceVersion).To(Equal(rv))
		Expect(kstatus(m)).To(Equal(statusCurrent))

		By("events tell what happened, once")
		Consistently(func() []string { return eventReasons(s, m) }).Should(BeEmpty(), "routine success is not news: no event (each is an API write)")
	})
})

// expectedAccounts is the summary of the accounts the sandbox gives mxbank's mxuser: their
// content depends only on the institution, the username and the index, their guids on the
// sandbox's sequence.
var expectedAccounts = []mxv1alpha1.AccountSummary{
	{GUID: "ACT-00000000-0000-0000-0000-000000000001", Name: "Everyday Checking", Type: "CHECKING", Subtype: "NONE", LastFour: "7585", Balance: "5731.25", AvailableBalance: "5731.25", Currency: "USD"},
	{GUID: "ACT-00000000-0000-0000-0000-000000000002", Name: "High Yield Savings", Type: "SAVINGS", Subtype: "NONE", LastFour: "1922", Balance: "14443.01", AvailableBalance: "14443.01", Currency: "USD"},
	{GUID: "ACT-00000000-0000-0000-0000-000000000003", Name: "Rewards Visa", Type: "CREDIT_CARD", Subtype: "NONE", LastFour: "0226", Balance: "3585.69", Currency: "USD"},
	{GUID: "ACT-00000000-0000-0000-0000-000000000004", Name: "Auto Loan", Type: "LOAN", Subtype: "AUTO", LastFour: "8784", Balance: "28595.57", Currency: "USD"},
	{GUID: "ACT-00000000-0000-0000-0000-000000000005", Name: "Home Mortgage", Type: "MORTGAGE", Subtype: "NONE", LastFour: "5702", Balance: "176066.87", Currency: "USD"},
	{GUID: "ACT-00000000-0000-0000-0000-000000000006", Name: "Euro Savings", Type: "SAVINGS", Subtype: "NONE", LastFour: "7636", Balance: "22568.36", AvailableBalance: "22568.36", Currency: "EUR"},
}

// eventReasons returns the reasons of the events about obj.
func eventReasons(s *story, obj client.Object) []string {
	list := &eventsv1.EventList{}
	Expect(k8sClient.List(context.Background(), list, client.InNamespace(s.ns))).To(Succeed())
	var reasons []string
	for _, e := range list.Items {
		if e.Regarding.UID == obj.GetUID() {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

// update changes obj with mutate and writes it, retrying on conflicts with the operator's
// status writes.
func update[T client.Object](obj T, mutate func(T)) {
	EventuallyWithOffset(1, func(g Gomega) {
		get(g, obj)
		mutate(obj)
		g.Expect(k8sClient.Update(context.Background(), obj)).To(Succeed())
	}).Should(Succeed())
}

var _ = Describe("MXMember connection statuses", func() {
	DescribeTable("each mxbank password outcome is reported after exactly one status read",
		func(password, status, reason, kstatusWant, message string) {
			s := newStory(storyOptions{})
			s.readyUser("bob")
			m := s.member("bob-bank", "bob", "bob-creds")
			s.create(s.secret("bob-creds", credentials(mxbankUser, password)), m)
			Eventually(func(g Gomega) {
				get(g, m)
				g.Expect(m.Status.ConnectionStatus).To(Equal(status))
				ready := expectCondition(g, m, mxv1alpha1.ReadyCondition, readyStatus(reason), reason)
				g.Expect(ready.Message).To(HavePrefix(message))
				g.Expect(kstatus(m)).To(Equal(kstatusWant))
			}).Should(Succeed())
			Expect(s.calls()).To(HaveKeyWithValue(epStatus, 1), "MX's final status is seen by the first read")
			Expect(s.calls()).To(HaveKeyWithValue(epCreateMember, 1))
			Consistently(func() int { return s.sb.CallCount(epStatus) }, time.Second).Should(Equal(1), "no polling in a settled status")
		},
		Entry("password connects", "password", "CONNECTED", mxv1alpha1.ReasonSucceeded, statusCurrent, "Connected with 6 account(s)."),
		Entry("challenge asks a TEXT question", "challenge", "CHALLENGED", "Challenged", statusFailed, "MX Bank needs a little more information"),
		Entry("options asks an OPTIONS question", "options", "CHALLENGED", "Challenged", statusFailed, "MX Bank needs a little more information"),
		Entry("image asks an IMAGE_DATA question", "image", "CHALLENGED", "Challenged", statusFailed, "MX Bank needs a little more information"),
		Entry("BAD_REQUEST fails, retried later", "BAD_REQUEST", "FAILED", mxv1alpha1.ReasonRetryLater, statusInProgress, "MX reports the connection status FAILED. MX usually recovers by itself"),
		Entry("UNAUTHORIZED is denied", "UNAUTHORIZED", "DENIED", "Denied", statusFailed, "The credentials you entered for MX Bank were not accepted."),
		Entry("INVALID is denied", "INVALID", "DENIED", "Denied", statusFailed, "The credentials you entered for MX Bank were not accepted."),
		Entry("LOCKED is locked", "LOCKED", "LOCKED", "Locked", statusFailed, "Your MX Bank account is locked."),
		Entry("DISABLED is denied", "DISABLED", "DENIED", "Denied", statusFailed, "The credentials you entered for MX Bank were not accepted."),
		Entry("SERVER_ERROR fails, retried later", "SERVER_ERROR", "FAILED", mxv1alpha1.ReasonRetryLater, statusInProgress, "MX reports the connection status FAILED. MX usually recovers by itself"),
		Entry("UNAVAILABLE fails, retried later", "UNAVAILABLE", "FAILED", mxv1alpha1.ReasonRetryLater, statusInProgress, "MX reports the connection status FAILED. MX usually recovers by itself"),
	)
})

// readyStatus is the Ready status that goes with a reason.
func readyStatus(reason string) metav1.ConditionStatus {
	if reason == mxv1alpha1.ReasonSucceeded || reason == mxv1alpha1.ReasonAggregationThrottled {
		return metav1.ConditionTrue
	}
	return metav1.ConditionFalse
}

// withAnswers makes the member read MFA answers from the Secret answers.
func withAnswers(answers string) func(*mxv1alpha1.MXMember) {
	return func(m *mxv1alpha1.MXMember) {
		m.Spec.MFA = &mxv1alpha1.MFASpec{AnswersSecretRef: &mxv1alpha1.LocalObjectReference{Name: answers}}
	}
}

// eventuallyChallenged waits until the member shows n challenges and returns them.
func eventuallyChallenged(m *mxv1alpha1.MXMember, n int) []mxv1alpha1.Challenge {
	EventuallyWithOffset(1, func(g Gomega) {
		get(g, m)
		g.Expect(m.Status.ConnectionStatus).To(Equal("CHALLENGED"))
		g.Expect(m.Status.Challenges).To(HaveLen(n))
		g.Expect(kstatus(m)).To(Equal(statusFailed))
	}).Should(Succeed())
	return m.Status.Challenges
}

var _ = Describe("MFA", func() {
	DescribeTable("each challenge type is shown in status and answered once from the answers Secret",
		func(password, challengeType, answer string, right bool) {
			s := newStory(storyOptions{})
			s.readyUser("carol")
			m := s.member("carol-bank", "carol", "carol-creds", withAnswers("carol-mfa"))
			s.create(s.secret("carol-creds", credentials(mxbankUser, password)), m)
			challenges := eventuallyChallenged(m, 1)
			eventuallyStalled(m, "Challenged")
			c := challenges[0]
			Expect(c.Type).To(Equal(challengeType))
			Expect(c.Label).NotTo(BeEmpty())
			if challengeType == "OPTIONS" {
				Expect(c.Options).To(ContainElement(mxv1alpha1.ChallengeOption{Label: "Text (***) ***-1234", Value: "correct"}))
			}
			raw, err := json.Marshal(m.Status)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(raw)).NotTo(ContainSubstring("data:image"), "images are never copied into status")

			s.create(s.secret("carol-mfa", map[string]string{c.GUID: answer}))
			if right {
				eventuallyReady(m)
			} else {
				cond := eventuallyStalled(m, "Rejected")
				Expect(cond.Message).To(HavePrefix("MX Bank did not accept the answer to its security question."))
			}
			Expect(s.calls()).To(HaveKeyWithValue(epResume, 1), "one set of challenges, answered once")
			Expect(s.calls()).To(HaveKeyWithValue(epStatus, 2), "one read finds the challenge, one the result")
			Expect(m.Status.AnsweredChallenges).To(Equal(c.GUID))
		},
		Entry("TEXT, right answer", "challenge", "TEXT", "correct", true),
		Entry("TEXT, wrong answer", "challenge", "TEXT", "Paris", false),
		Entry("OPTIONS, right choice", "options", "OPTIONS", "correct", true),
		Entry("OPTIONS, wrong choice", "options", "OPTIONS", "email", false),
		Entry("IMAGE_DATA, right answer", "image", "IMAGE_DATA", "correct", true),
		Entry("IMAGE_DATA, wrong answer", "image", "IMAGE_DATA", "a cat", false),
	)

	It("follows multi-step MFA: each new set of challenges is answered once", func() {
		s := newStory(storyOptions{})
		s.readyUser("dave")
		m := s.member("dave-bank", "dave", "dave-creds", withAnswers("dave-mfa"))
		s.create(s.secret("dave-creds", credentials(mxbankUser, "challenge_multi")), m)
		first := eventuallyChallenged(m, 1)
		answers := s.secret("dave-mfa", map[string]string{first[0].GUID: "correct"})
		s.create(answers)

		second := eventuallyChallenged(m, 2)
		Expect(second[0].GUID).NotTo(Equal(first[0].GUID), "the second step has new guids")
		Expect(m.Status.AnsweredChallenges).To(Equal(first[0].GUID))
		cond := eventuallyStalled(m, "Challenged")
		Expect(cond.Message).To(ContainSubstring("dave-mfa"))

		By("a partial answer waits for the rest")
		update(answers, func(a *corev1.Secret) { a.StringData = map[string]string{second[0].GUID: "correct"} })
		cond = eventuallyStalled(m, mxv1alpha1.ReasonAwaitingMFAAnswers)
		Expect(cond.Message).To(ContainSubstring(second[1].GUID))
		Expect(s.calls()).To(HaveKeyWithValue(epResume, 1))

		update(answers, func(a *corev1.Secret) { a.StringData = map[string]string{second[1].GUID: "correct"} })
		eventuallyReady(m)
		Expect(s.calls()).To(HaveKeyWithValue(epResume, 2))
		Expect(m.Status.Challenges).To(BeEmpty())
	})
})

var _ = Describe("OAuth", func() {
	It("shows the OAuth window, notices the authorisation by webhook and follows it to CONNECTED", func() {
		s := newStory(storyOptions{webhooks: true})
		s.readyUser("erin")
		m := s.member("erin-oauth", "erin", "", func(m *mxv1alpha1.MXMember) {
			m.Spec.OAuth = true
			m.Spec.CredentialsSecretRef = nil
			m.Spec.InstitutionCode = sandbox.InstitutionMXBankOAuth
		})
		s.create(m)
		cond := eventuallyStalled(m, "Pending")
		Expect(s.endUserURL(m, mxv1alpha1.EndUserURLOAuthWindow)).To(HavePrefix("https://"))
		Expect(cond.Message).To(ContainSubstring(`Secret "erin-oauth-end-user-url"`))
		expectNoURLOutsideTheSecret(s, m)
		Expect(s.calls()).To(HaveKeyWithValue(epCreateMember, 1))
		Expect(s.calls()).NotTo(HaveKey(epOAuthWindow), "the create answer carries the URI")

		By("the end user authorises; MX's webhook brings the operator back, no polling needed")
		Expect(s.sb.AuthorizeOAuth(m.Status.GUID)).To(Succeed())
		eventuallyReady(m)
		Expect(m.Status.EndUserURL.Available).To(BeFalse(), "the window is removed once the member is not PENDING")
		Expect(s.urlSecretData(m)).NotTo(HaveKey("url"))
		Expect(m.Status.AccountCount).To(Equal(int32(sandbox.DefaultAccountCount)))
		Expect(s.calls()[epStatus]).To(BeNumerically("<=", 2), "one read per webhook (PENDING, AGGREGATION)")
		Expect(s.calls()).To(HaveKeyWithValue(epAccounts, 1))
	})
})

var _ = Describe("Credential rotation", func() {
	It("recovers a DENIED member when the credentials Secret changes", func() {
		s := newStory(storyOptions{})
		s.readyUser("frank")
		creds := s.secret("frank-creds", credentials(mxbankUser, "INVALID"))
		m := s.member("frank-bank", "frank", "frank-creds")
		s.create(creds, m)
		cond := eventuallyStalled(m, "Denied")
		Expect(cond.Message).To(ContainSubstring(`Put the end user's correct credentials into Secret "frank-creds"`))
		firstRevision := m.Status.CredentialsRevision
		Expect(firstRevision).NotTo(BeEmpty())

		update(creds, func(c *corev1.Secret) { c.StringData = map[string]string{"password": defaultPassword} })
		eventuallyReady(m)
		Expect(m.Status.CredentialsRevision).To(Equal(creds.ResourceVersion))
		Expect(s.calls()).To(HaveKeyWithValue(epUpdateMember, 1), "the new credentials are sent once")
		Expect(s.calls()).To(HaveKeyWithValue(epCreateMember, 1))
		Eventually(func() []string { return eventReasons(s, m) }).Should(ContainElement("CredentialsUpdated"))
	})
})

var _ = Describe("Aggregation on demand", func() {
	It("does not call MX inside the throttle window, says when it is allowed, and aggregates once outside it", func() {
		s := newStory(storyOptions{fakeClock: true})
		s.readyUser("gina")
		m := s.member("gina-bank", "gina", "gina-creds", func(m *mxv1alpha1.MXMember) {
			m.Spec.InstitutionCode = sandbox.InstitutionMXBankThrottled
		})
		s.create(s.secret("gina-creds", credentials(mxbankUser, defaultPassword)), m)
		s.eventuallyInMX(m)
		// Both the sandbox and the operator live on the fake clock: a step must pass the
		// sandbox's aggregation step and the operator's poll delay.
		step := 2 * testTiming.PollInterval
		s.sb.Advance(step)
		eventuallyReady(m)
		createdAt := m.Status.AggregatedAt.Time

		By("inside the window: no call, Ready stays True with reason AggregationThrottled")
		annotate(m, mxv1alpha1.AggregateRequestedAtAnnotation, "first")
		allowed := createdAt.Add(3 * time.Hour)
		Eventually(func(g Gomega) {
			get(g, m)
			c := expectCondition(g, m, mxv1alpha1.ReadyCondition, metav1.ConditionTrue, mxv1alpha1.ReasonAggregationThrottled)
			g.Expect(c.Message).To(ContainSubstring("allowed from " + allowed.UTC().Format(time.RFC3339)))
			g.Expect(m.Status.NextAggregationAllowedAt).NotTo(BeNil())
			g.Expect(m.Status.NextAggregationAllowedAt.Time).To(BeTemporally("==", allowed))
			g.Expect(kstatus(m)).To(Equal(statusCurrent))
		}).Should(Succeed())
		Consistently(func() int { return s.sb.CallCount(epAggregate) }).Should(BeZero())
		Expect(m.Status.LastHandledAggregateAt).To(BeEmpty(), "the request waits")

		By("outside the window: one aggregate call, then the new aggregation is followed and the accounts relisted")
		s.sb.Advance(3 * time.Hour)
		annotate(m, mxv1alpha1.ReconcileRequestedAtAnnotation, "wake-up")
		Eventually(func(g Gomega) {
			g.Expect(s.sb.CallCount(epAggregate)).To(Equal(1))
			g.Expect(get(g, m).Status.LastHandledAggregateAt).To(Equal("first"))
		}).Should(Succeed())
		s.sb.Advance(step)
		Eventually(func(g Gomega) {
			get(g, m)
			expectCondition(g, m, mxv1alpha1.ReadyCondition, metav1.ConditionTrue, mxv1alpha1.ReasonSucceeded)
			g.Expect(m.Status.SuccessfullyAggregatedAt.Time).To(BeTemporally(">", createdAt))
			g.Expect(m.Status.NextAggregationAllowedAt).To(BeNil())
		}).Should(Succeed())
		Expect(s.calls()).To(HaveKeyWithValue(epAggregate, 1))
		Expect(s.calls()).To(HaveKeyWithValue(epAccounts, 2), "accounts are listed after each new successful aggregation")
		Expect(kstatus(m)).To(Equal(statusCurrent))
	})
})

// annotate sets an annotation on obj.
func annotate(obj client.Object, k, v string) {
	EventuallyWithOffset(1, func(g Gomega) {
		get(g, obj)
		a := obj.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[k] = v
		obj.SetAnnotations(a)
		g.Expect(k8sClient.Update(context.Background(), obj)).To(Succeed())
	}).Should(Succeed())
}

// eventuallyGone waits until obj no longer exists.
func eventuallyGone(obj client.Object) {
	EventuallyWithOffset(1, func(g Gomega) {
		err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		g.Expect(client.IgnoreNotFound(err)).To(Succeed())
		g.Expect(err).To(HaveOccurred(), "still exists")
	}).Should(Succeed())
}

var _ = Describe("Deletion and adoption", func() {
	It("deletes members and then their user from MX with deletionPolicy Delete; the user waits for its members", func() {
		s := newStory(storyOptions{})
		u := s.readyUser("hana")
		m := s.member("hana-bank", "hana", "hana-creds")
		s.create(s.secret("hana-creds", credentials(mxbankUser, defaultPassword)), m)
		eventuallyReady(m)

		Expect(k8sClient.Delete(context.Background(), u)).To(Succeed())
		Eventually(func(g Gomega) {
			get(g, u)
			c := expectCondition(g, u, mxv1alpha1.ReconcilingCondition, metav1.ConditionTrue, mxv1alpha1.ReasonMembersRemaining)
			g.Expect(c.Message).To(Equal("Waiting for 1 MXMember(s) referencing this user to be deleted first: hana-bank."))
			g.Expect(kstatus(u)).To(Equal(statusTerminating))
		}).Should(Succeed())
		Expect(s.sb.UserCount()).To(Equal(1))

		Expect(k8sClient.Delete(context.Background(), m)).To(Succeed())
		eventuallyGone(m)
		eventuallyGone(u)
		Expect(s.sb.MemberCount()).To(BeZero())
		Expect(s.sb.UserCount()).To(BeZero())
		Expect(s.calls()).To(HaveKeyWithValue(epDeleteMember, 1))
		Expect(s.calls()).To(HaveKeyWithValue(epDeleteUser, 1))
	})

	It("leaves the MX objects with deletionPolicy Orphan and adopts them when the objects are applied again", func() {
		s := newStory(storyOptions{})
		orphan := func(u *mxv1alpha1.MXUser) { u.Spec.DeletionPolicy = mxv1alpha1.DeletionPolicyOrphan }
		orphanMember := func(m *mxv1alpha1.MXMember) { m.Spec.DeletionPolicy = mxv1alpha1.DeletionPolicyOrphan }
		u := s.user("ivan", orphan)
		m := s.member("ivan-bank", "ivan", "ivan-creds", orphanMember)
		s.create(u, s.secret("ivan-creds", credentials(mxbankUser, defaultPassword)), m)
		eventuallyReady(m)
		userGUID, memberGUID := get(Default, u).Status.GUID, m.Status.GUID

		Expect(k8sClient.Delete(context.Background(), m)).To(Succeed())
		eventuallyGone(m)
		Expect(k8sClient.Delete(context.Background(), u)).To(Succeed())
		eventuallyGone(u)
		Expect(s.sb.UserCount()).To(Equal(1))
		Expect(s.sb.MemberCount()).To(Equal(1))
		Expect(s.calls()).NotTo(HaveKey(epDeleteMember))
		Expect(s.calls()).NotTo(HaveKey(epDeleteUser))

		By("applying the same objects again adopts the MX user and member: no duplicate")
		s.sb.ResetCalls()
		u, m = s.user("ivan", orphan), s.member("ivan-bank", "ivan", "ivan-creds", orphanMember)
		s.create(u, m)
		eventuallyReady(u)
		eventuallyReady(m)
		Expect(u.Status.GUID).To(Equal(userGUID))
		Expect(m.Status.GUID).To(Equal(memberGUID))
		Expect(s.sb.UserCount()).To(Equal(1))
		Expect(s.sb.MemberCount()).To(Equal(1))
		Expect(m.Status.AccountCount).To(Equal(int32(sandbox.DefaultAccountCount)))
		Expect(s.calls()).To(Equal(map[string]int{
			epCreateUser:   1, // answered 409: the partner id exists
			epListUsers:    1, // the user is found by partner id
			epCreateMember: 1, // answered 409: the partner id exists
			epListMembers:  1, // the member is found by partner id
			epAccounts:     1,
		}))
		Eventually(func() []string { return eventReasons(s, m) }).Should(ContainElement("Adopted"))
		Eventually(func() []string { return eventReasons(s, u) }).Should(ContainElement("Adopted"))
	})
})

var _ = Describe("Waiting for a person", func() {
	It("reports a missing credentials Secret and proceeds when it is created", func() {
		s := newStory(storyOptions{})
		s.readyUser("jack")
		m := s.member("jack-bank", "jack", "jack-creds")
		s.create(m)
		cond := eventuallyStalled(m, mxv1alpha1.ReasonSecretNotFound)
		Expect(cond.Message).To(Equal(`Secret "jack-creds" named by spec.credentialsSecretRef does not exist. Create it with the keys password, username.`))
		Expect(s.calls()).To(Equal(map[string]int{epCredentials: 1}))
		s.create(s.secret("jack-creds", credentials(mxbankUser, defaultPassword)))
		eventuallyReady(m)
	})

	It("reports a missing key by name and proceeds when it is added", func() {
		s := newStory(storyOptions{})
		s.readyUser("kate")
		creds := s.secret("kate-creds", map[string]string{"username": mxbankUser})
		m := s.member("kate-bank", "kate", "kate-creds")
		s.create(creds, m)
		cond := eventuallyStalled(m, mxv1alpha1.ReasonSecretKeyMissing)
		Expect(cond.Message).To(Equal(`Secret "kate-creds" has no value for the key(s) password, which institution mxbank requires.`))
		update(creds, func(c *corev1.Secret) { c.StringData = map[string]string{"password": defaultPassword} })
		eventuallyReady(m)
	})

	It("reports an institution MX does not know", func() {
		s := newStory(storyOptions{})
		s.readyUser("liam")
		m := s.member("liam-bank", "liam", "liam-creds", func(m *mxv1alpha1.MXMember) { m.Spec.InstitutionCode = "no_such_bank" })
		s.create(s.secret("liam-creds", credentials(mxbankUser, defaultPassword)), m)
		cond := eventuallyStalled(m, mxv1alpha1.ReasonInstitutionNotFound)
		Expect(cond.Message).To(ContainSubstring(`"no_such_bank"`))
		Consistently(s.calls).Should(Equal(map[string]int{epCredentials: 1}), "no member call")
	})

	It("waits for its user without any MX call and proceeds as soon as the user is Ready", func() {
		s := newStory(storyOptions{})
		m := s.member("mia-bank", "mia", "mia-creds")
		s.create(s.secret("mia-creds", credentials(mxbankUser, defaultPassword)), m)
		cond := eventuallyReconciling(m, mxv1alpha1.ReasonUserNotReady)
		Expect(cond.Message).To(Equal(`Waiting for MXUser "mia", which does not exist.`))
		Consistently(s.sb.TotalCalls).Should(BeZero())
		s.create(s.user("mia"))
		eventuallyReady(m)
	})

	It("makes no MX call while suspended and proceeds when resumed", func() {
		s := newStory(storyOptions{})
		s.readyUser("nora")
		m := s.member("nora-bank", "nora", "nora-creds", func(m *mxv1alpha1.MXMember) { m.Spec.Suspend = true })
		s.create(s.secret("nora-creds", credentials(mxbankUser, defaultPassword)), m)
		Eventually(func(g Gomega) {
			get(g, m)
			expectCondition(g, m, mxv1alpha1.SuspendedCondition, metav1.ConditionTrue, mxv1alpha1.ReasonSuspended)
			// Never reconciled: not Ready, and honestly in progress for kstatus.
			expectCondition(g, m, mxv1alpha1.ReadyCondition, metav1.ConditionFalse, mxv1alpha1.ReasonSuspended)
			g.Expect(kstatus(m)).To(Equal(statusInProgress))
		}).Should(Succeed())
		Consistently(s.sb.TotalCalls).Should(BeZero())

		update(m, func(m *mxv1alpha1.MXMember) { m.Spec.Suspend = false })
		eventuallyReady(m)
		Eventually(func(g Gomega) {
			get(g, m)
			g.Expect(meta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.SuspendedCondition)).To(BeNil())
		}).Should(Succeed())

		// Suspending a converged member keeps it Ready (kstatus Current) and costs no MX call.
		s.sb.ResetCalls()
		update(m, func(m *mxv1alpha1.MXMember) { m.Spec.Suspend = true })
		Eventually(func(g Gomega) {
			get(g, m)
			expectCondition(g, m, mxv1alpha1.SuspendedCondition, metav1.ConditionTrue, mxv1alpha1.ReasonSuspended)
			expectCondition(g, m, mxv1alpha1.ReadyCondition, metav1.ConditionTrue, mxv1alpha1.ReasonSucceeded)
			g.Expect(m.Status.ObservedGeneration).To(Equal(m.Generation))
			g.Expect(kstatus(m)).To(Equal(statusCurrent))
		}).Should(Succeed())
		Consistently(s.sb.TotalCalls).Should(BeZero())
	})
})

// crashAfter wraps an MX API so that the first successful create of a user or member stops the
// manager before the reconciler can write the status, as a crash would.
type crashAfter struct {
	manager.MXAPI
	cancel  func()
	once    sync.Once
	crashed chan struct{}
}

// crashingManager starts the story's manager on an MX API that crashes it after the first create.
func crashingManager(s *story) *crashAfter {
	c := &crashAfter{MXAPI: s.mxClient(), crashed: make(chan struct{})}
	s.startWith(func(cancel func()) manager.MXAPI {
		c.cancel = cancel
		return c
	})
	return c
}

// die stops the manager and waits until the reconcile's context ends with it.
func (c *crashAfter) die(ctx context.Context) error {
	c.once.Do(func() {
		c.cancel()
		close(c.crashed)
	})
	<-ctx.Done()
	return ctx.Err()
}

func (c *crashAfter) CreateUser(ctx context.Context, req mx.CreateUserRequest) (*mx.User, error) {
	u, err := c.MXAPI.CreateUser(ctx, req)
	if err != nil {
		return u, err
	}
	return nil, c.die(ctx)
}

func (c *crashAfter) CreateMember(ctx context.Context, user string, req mx.CreateMemberRequest) (*mx.Member, bool, error) {
	m, started, err := c.MXAPI.CreateMember(ctx, user, req)
	if err != nil {
		return m, started, err
	}
	return nil, false, c.die(ctx)
}

var _ = Describe("Crash safety", func() {
	DescribeTable("a user created in MX whose answer is lost exists exactly once",
		func(drop bool) {
			s := newStory(storyOptions{})
			s.sb.SetFault(sandbox.EndpointCreateUser, sandbox.Fault{CommitThenFail: 1, DropConnection: drop})
			u := s.user("olga")
			s.create(u)
			eventuallyReady(u)
			Expect(s.sb.UserCount()).To(Equal(1))
			Expect(s.calls()).To(Equal(map[string]int{epCreateUser: 1, epListUsers: 1}), "status.id shows the earlier attempt: the retry looks up and adopts instead of creating again")
		},
		Entry("commit then 500", false),
		Entry("commit then dropped connection", true),
	)

	DescribeTable("a member created in MX whose answer is lost exists exactly once",
		func(drop bool) {
			s := newStory(storyOptions{})
			s.readyUser("pete")
			s.sb.SetFault(sandbox.EndpointCreateMember, sandbox.Fault{CommitThenFail: 1, DropConnection: drop})
			m := s.member("pete-bank", "pete", "pete-creds")
			s.create(s.secret("pete-creds", credentials(mxbankUser, defaultPassword)), m)
			eventuallyReady(m)
			Expect(s.sb.MemberCount()).To(Equal(1))
			Expect(s.calls()).To(HaveKeyWithValue(epCreateMember, 1), "status.id shows the earlier attempt: the retry looks up first")
			Expect(s.calls()).To(HaveKeyWithValue(epListMembers, 1))
		},
		Entry("commit then 500", false),
		Entry("commit then dropped connection", true),
	)

	It("creates the user and the member exactly once when the manager dies between the MX call and the status write", func() {
		s := newStory(storyOptions{})
		s.stop()
		crashing := crashingManager(s)
		u := s.user("quinn")
		s.create(u)
		Eventually(crashing.crashed).Should(BeClosed())
		s.stop()
		Expect(get(Default, u).Status.GUID).To(BeEmpty(), "the status write never happened")
		Expect(s.sb.UserCount()).To(Equal(1))

		s.start(s.mxClient())
		eventuallyReady(u)
		Expect(s.sb.UserCount()).To(Equal(1))

		s.stop()
		crashing = crashingManager(s)
		m := s.member("quinn-bank", "quinn", "quinn-creds")
		s.create(s.secret("quinn-creds", credentials(mxbankUser, defaultPassword)), m)
		Eventually(crashing.crashed).Should(BeClosed())
		s.stop()
		Expect(get(Default, m).Status.GUID).To(BeEmpty(), "the status write never happened")
		Expect(get(Default, m).Status.ID).To(BeEmpty(), "not even status.id")
		Expect(s.sb.MemberCount()).To(Equal(1))

		s.sb.ResetCalls()
		s.start(s.mxClient())
		eventuallyReady(m)
		Expect(s.sb.MemberCount()).To(Equal(1))
		Expect(s.calls()).To(HaveKeyWithValue(epCreateMember, 1), "the create meets a 409 for the partner id")
		Expect(s.calls()).To(HaveKeyWithValue(epListMembers, 1), "and adopts the member")
		Eventually(func() []string { return eventReasons(s, m) }).Should(ContainElement("Adopted"))
	})
})

var _ = Describe("MX errors", func() {
	It("reports MX refusing the operator's API key without retrying quickly", func() {
		s := newStory(storyOptions{apiKey: "wrong-key"})
		u := s.user("rita")
		s.create(u)
		cond := eventuallyStalled(u, mxv1alpha1.ReasonMXUnauthorized)
		Expect(cond.Message).To(ContainSubstring("401 Unauthorized"))
		Consistently(s.sb.TotalCalls).Should(Equal(1), "one refused call, then the slow retry")
		Expect(s.namespaceDump()).NotTo(ContainSubstring("wrong-key"))
	})

	It("backs off under a 429 storm and recovers when it ends", func() {
		s := newStory(storyOptions{})
		s.sb.SetFault(sandbox.EndpointCreateUser, sandbox.Fault{RateLimitRate: 1, RetryAfter: time.Second})
		u := s.user("sam")
		s.create(u)
		eventuallyReconciling(u, mxv1alpha1.ReasonMXRateLimited)
		start := time.Now()
		calls := s.sb.TotalCalls()
		Consistently(func() bool {
			// At most one attempt per second of Retry-After, plus one in flight.
			return s.sb.TotalCalls()-calls <= int(time.Since(start)/time.Second)+1
		}, 3*time.Second).Should(BeTrue())
		s.sb.ClearFaults()
		eventuallyReady(u)
		Expect(s.sb.UserCount()).To(Equal(1))
	})

	It("backs off exponentially while MX answers 5xx and recovers when it stops", func() {
		s := newStory(storyOptions{})
		s.sb.SetFault(sandbox.EndpointCreateUser, sandbox.Fault{ErrorRate: 1})
		s.sb.SetFault(sandbox.EndpointListUsers, sandbox.Fault{ErrorRate: 1})
		u := s.user("tina")
		s.create(u)
		cond := eventuallyReconciling(u, mxv1alpha1.ReasonMXUnavailable)
		Expect(cond.Message).To(ContainSubstring("500 Internal Server Error"))
		Consistently(s.sb.TotalCalls, 3*time.Second).Should(BeNumerically("<=", 40),
			"a create, then look-ups (up to 3 attempts) per reconcile, reconciles backing off from 100ms to 1s: well under one call per 100ms")
		s.sb.ClearFaults()
		eventuallyReady(u)
		Expect(s.sb.UserCount()).To(Equal(1))
	})

	It("reports a member deleted behind its back as GoneInMX and creates it again only when asked", func() {
		s := newStory(storyOptions{})
		u := s.readyUser("uma")
		m := s.member("uma-bank", "uma", "uma-creds")
		s.create(s.secret("uma-creds", credentials(mxbankUser, defaultPassword)), m)
		eventuallyReady(m)
		Expect(s.mxClient().DeleteMember(context.Background(), u.Status.GUID, m.Status.GUID)).To(Succeed())

		annotate(m, mxv1alpha1.ReconcileRequestedAtAnnotation, "check")
		cond := eventuallyStalled(m, mxv1alpha1.ReasonGoneInMX)
		Expect(cond.Message).To(ContainSubstring(mxv1alpha1.ReconcileRequestedAtAnnotation))
		Consistently(s.sb.MemberCount).Should(BeZero(), "not created again by itself")

		annotate(m, mxv1alpha1.ReconcileRequestedAtAnnotation, "recreate")
		eventuallyReady(m)
		Expect(s.sb.MemberCount()).To(Equal(1))
		Expect(m.Status.LastHandledReconcileAt).To(Equal("recreate"))
	})
})

var _ = Describe("Secrets stay secret", func() {
	It("never shows a canary credential or a canary MFA answer in status, events or logs", func() {
		const canaryPassword = "canary-credential-3f9a1c"
		const canaryAnswer = "canary-mfa-answer-77c1e0"
		s := newStory(storyOptions{})
		s.readyUser("vera")
		connectedMember := s.member("vera-bank", "vera", "vera-creds")
		challenged := s.member("vera-mfa", "vera", "vera-mfa-creds", withAnswers("vera-answers"))
		s.create(
			s.secret("vera-creds", credentials(mxbankUser, canaryPassword)), connectedMember,
			s.secret("vera-mfa-creds", credentials("mxuser_mfa", "challenge")), challenged,
		)
		eventuallyReady(connectedMember)
		challenges := eventuallyChallenged(challenged, 1)
		s.create(s.secret("vera-answers", map[string]string{challenges[0].GUID: canaryAnswer}))
		eventuallyStalled(challenged, "Rejected")

		dump := s.namespaceDump()
		Expect(dump).To(ContainSubstring("vera-creds"), "the dump does cover the objects")
		for _, canary := range []string{canaryPassword, canaryAnswer} {
			Expect(dump).NotTo(ContainSubstring(canary), "status and events")
			Expect(logs.String()).NotTo(ContainSubstring(canary), "logs")
		}
		Expect(strings.Count(logs.String(), "Answering MFA challenges")).To(BeNumerically(">=", 1), "the logs do cover the resume")
	})
})
