package controller_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// The core contract: every declared change reaches MX whatever interrupted the way there, and
// every MX object has exactly one owner, even across namespaces, second claimants and crashes.

// mxMemberMetadata reads a member's metadata from the sandbox (not counted in the assertions
// that follow it).
func (s *story) mxMemberMetadata(userGUID, memberGUID string) string {
	m, err := s.mxClient().GetMember(context.Background(), userGUID, memberGUID)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return m.Metadata
}

// expectBehind asserts that obj's status does not describe its current generation: kstatus
// says InProgress.
func expectBehind(g Gomega, obj client.Object, observed int64) {
	g.ExpectWithOffset(1, observed).To(BeNumerically("<", obj.GetGeneration()), "observedGeneration stays behind while the object waits")
	g.ExpectWithOffset(1, kstatus(obj)).To(Equal(statusInProgress))
}

var _ = Describe("Every declared change reaches MX", func() {
	It("sends a member spec change made while its MXUser was not Ready once the user is Ready", func() {
		s := newStory(storyOptions{})
		u := s.readyUser("ada")
		m := s.member("ada-bank", "ada", "ada-creds")
		s.create(s.secret("ada-creds", credentials(mxbankUser, defaultPassword)), m)
		eventuallyReady(m)

		By("the user waits on MX's rate limit, so it is not Ready")
		s.sb.SetFault(sandbox.EndpointUpdateUser, sandbox.Fault{RateLimitRate: 1, RetryAfter: time.Second})
		update(u, func(u *mxv1alpha1.MXUser) { u.Spec.Email = "ada@example.org" })
		eventuallyReconciling(u, mxv1alpha1.ReasonMXRateLimited)
		Expect(get(Default, u).Status.ObservedGeneration).To(BeNumerically("<", u.Generation))

		By("the member's metadata changes meanwhile: no MX call, observedGeneration stays behind")
		s.sb.ResetCalls()
		update(m, func(m *mxv1alpha1.MXMember) { m.Spec.Metadata = `{"plan":"gold"}` })
		Eventually(func(g Gomega) {
			get(g, m)
			expectCondition(g, m, mxv1alpha1.ReconcilingCondition, metav1.ConditionTrue, mxv1alpha1.ReasonUserNotReady)
			expectBehind(g, m, m.Status.ObservedGeneration)
		}).Should(Succeed())
		Expect(s.sb.CallCount(epUpdateMember)).To(BeZero())

		By("MX answers again: the user is Ready, and the member's change reaches MX")
		s.sb.ClearFaults()
		eventuallyReady(u)
		eventuallyReady(m)
		Expect(m.Status.ObservedGeneration).To(Equal(m.Generation))
		Expect(s.sb.CallCount(epUpdateMember)).To(Equal(1))
		Expect(s.mxMemberMetadata(u.Status.GUID, m.Status.GUID)).To(Equal(`{"plan":"gold"}`))
	})

	It("sends a member spec change answered 429 on the retry", func() {
		s := newStory(storyOptions{})
		u := s.readyUser("bea")
		m := s.member("bea-bank", "bea", "bea-creds")
		s.create(s.secret("bea-creds", credentials(mxbankUser, defaultPassword)), m)
		eventuallyReady(m)

		s.sb.SetFault(sandbox.EndpointUpdateMember, sandbox.Fault{RateLimitRate: 1, RetryAfter: time.Second})
		update(m, func(m *mxv1alpha1.MXMember) { m.Spec.Metadata = "v2" })
		Eventually(func(g Gomega) {
			get(g, m)
			expectCondition(g, m, mxv1alpha1.ReconcilingCondition, metav1.ConditionTrue, mxv1alpha1.ReasonMXRateLimited)
			expectBehind(g, m, m.Status.ObservedGeneration)
		}).Should(Succeed())
		refused := s.sb.CallCount(epUpdateMember)
		Expect(refused).To(BeNumerically(">=", 1))

		s.sb.ClearFaults()
		eventuallyReady(m)
		Expect(m.Status.ObservedGeneration).To(Equal(m.Generation))
		Expect(s.sb.CallCount(epUpdateMember)).To(Equal(refused+1), "the retry sends the spec once more")
		Expect(s.mxMemberMetadata(u.Status.GUID, m.Status.GUID)).To(Equal("v2"))
	})

	It("sends a newly set spec.id, an email and metadata of an MXUser within one reconcile, not on the resync", func() {
		s := newStory(storyOptions{})
		u := s.readyUser("cleo")
		update(u, func(u *mxv1alpha1.MXUser) {
			u.Spec.ID, u.Spec.Email, u.Spec.Metadata = "customer-7", "cleo@example.org", `{"tier":1}`
		})
		eventuallyReady(u)
		Eventually(func(g Gomega) { g.Expect(get(g, u).Status.ObservedGeneration).To(Equal(u.Generation)) }).Should(Succeed())
		Expect(u.Status.ID).To(Equal("customer-7"))
		Expect(s.calls()).To(Equal(map[string]int{epUpdateUser: 1}))
		found, err := s.mxClient().FindUserByID(context.Background(), "customer-7")
		Expect(err).NotTo(HaveOccurred())
		Expect(found.GUID).To(Equal(u.Status.GUID))
		Expect(found.Email).To(Equal("cleo@example.org"))
		Expect(found.Metadata).To(Equal(`{"tier":1}`))
		Expect(s.sb.UserCount()).To(Equal(1))
	})

	It("costs no MX call when only the labels of the credentials Secret change", func() {
		s := newStory(storyOptions{})
		s.readyUser("dora")
		m := s.member("dora-bank", "dora", "dora-creds")
		secret := s.secret("dora-creds", credentials(mxbankUser, defaultPassword))
		s.create(secret, m)
		eventuallyReady(m)
		s.sb.ResetCalls()
		update(secret, func(sec *corev1.Secret) { sec.Labels = map[string]string{"team": "payments"} })
		Eventually(func(g Gomega) {
			g.Expect(get(g, m).Status.CredentialsRevision).To(Equal(get(g, secret).ResourceVersion), "the new revision was compared")
		}).Should(Succeed())
		Consistently(s.sb.TotalCalls).Should(BeZero())
	})

	It("resumes a REJECTED member when the answers Secret changes, as its condition says, without an annotation", func() {
		s := newStory(storyOptions{})
		s.readyUser("eve")
		m := s.member("eve-bank", "eve", "eve-creds", withAnswers("eve-mfa"))
		s.create(s.secret("eve-creds", credentials(mxbankUser, "challenge")), m)
		first := eventuallyChallenged(m, 1)
		answers := s.secret("eve-mfa", map[string]string{first[0].GUID: "Paris"})
		s.create(answers)
		cond := eventuallyStalled(m, "Rejected")
		Expect(cond.Message).To(ContainSubstring(`change Secret "eve-mfa"`))

		By("doing what the message says: change the answers Secret")
		update(answers, func(a *corev1.Secret) { a.Data = nil; a.StringData = map[string]string{"note": "retry"} })
		second := eventuallyChallenged(m, 1)
		Expect(second[0].GUID).NotTo(Equal(first[0].GUID), "MX asks a new challenge")
		update(answers, func(a *corev1.Secret) { a.StringData = map[string]string{second[0].GUID: "correct"} })
		eventuallyReady(m)
		Expect(s.calls()).To(HaveKeyWithValue(epAggregate, 1))
		Expect(s.calls()).To(HaveKeyWithValue(epResume, 2))
		Expect(m.Annotations).NotTo(HaveKey(mxv1alpha1.AggregateRequestedAtAnnotation))
	})

	It("follows a PENDING OAuth member to CONNECTED without webhooks", func() {
		s := newStory(storyOptions{})
		s.readyUser("fay")
		m := s.member("fay-oauth", "fay", "", func(m *mxv1alpha1.MXMember) {
			m.Spec.OAuth, m.Spec.CredentialsSecretRef, m.Spec.InstitutionCode = true, nil, sandbox.InstitutionMXBankOAuth
		})
		s.create(m)
		eventuallyStalled(m, "Pending")
		Expect(s.sb.AuthorizeOAuth(m.Status.GUID)).To(Succeed())
		Eventually(func(g Gomega) {
			get(g, m)
			expectCondition(g, m, mxv1alpha1.ReadyCondition, metav1.ConditionTrue, mxv1alpha1.ReasonSucceeded)
		}, time.Minute).Should(Succeed())
		Expect(m.Status.AccountCount).To(Equal(int32(sandbox.DefaultAccountCount)))
	})

	It("says so when MX deletes an OAuth member the end user did not authorise within the hour, and how to get a new window", func() {
		s := newStory(storyOptions{fakeClock: true})
		s.readyUser("gus")
		m := s.member("gus-oauth", "gus", "", func(m *mxv1alpha1.MXMember) {
			m.Spec.OAuth, m.Spec.CredentialsSecretRef, m.Spec.InstitutionCode = true, nil, sandbox.InstitutionMXBankOAuth
		})
		s.create(m)
		eventuallyStalled(m, "Pending")
		s.sb.Advance(sandbox.OAuthPendingTimeout + time.Minute)
		cond := eventuallyStalled(m, mxv1alpha1.ReasonGoneInMX)
		Expect(cond.Message).To(ContainSubstring("did not authorise it within the hour"))
		Expect(cond.Message).To(ContainSubstring(mxv1alpha1.ReconcileRequestedAtAnnotation))

		By("doing what the message says creates it again, with a new window")
		annotate(m, mxv1alpha1.ReconcileRequestedAtAnnotation, "again")
		eventuallyStalled(m, "Pending")
		Expect(s.endUserURL(m, mxv1alpha1.EndUserURLOAuthWindow)).NotTo(BeEmpty())
		Expect(s.sb.MemberCount()).To(Equal(1))
	})

	It("does not poll a PENDING OAuth member while the webhook receiver is on", func() {
		s := newStory(storyOptions{webhooks: true})
		s.readyUser("gia")
		m := s.member("gia-oauth", "gia", "", func(m *mxv1alpha1.MXMember) {
			m.Spec.OAuth, m.Spec.CredentialsSecretRef, m.Spec.InstitutionCode = true, nil, sandbox.InstitutionMXBankOAuth
		})
		s.create(m)
		eventuallyStalled(m, "Pending")
		Consistently(func() int { return s.sb.CallCount(epStatus) }, 4*time.Second).Should(BeNumerically("<=", 1),
			"at most the read MX's PENDING webhook asks for; no polling, although it would poll every 1-2s without webhooks")
	})
})

var _ = Describe("One MX object, one owner", func() {
	It("keeps team/x-prod and team-x/prod apart (they collided under <prefix>-<namespace>-<name>), and deleting one side leaves the other", func() {
		s := newStory(storyOptions{namespaces: 1})
		Expect(s.more[0]).To(Equal(s.ns + "-x"))
		sides := []struct {
			ns, user, member, username string
			accounts                   int32
		}{
			{s.ns, "x-prod", "x-m1", mxbankUser, int32(sandbox.DefaultAccountCount)},
			{s.more[0], "prod", "m1", "mxuser_accounts_60", 60},
		}
		var users []*mxv1alpha1.MXUser
		var members []*mxv1alpha1.MXMember
		for _, sd := range sides {
			u := s.user(sd.user, func(u *mxv1alpha1.MXUser) { u.Namespace = sd.ns })
			sec := s.secret("creds", credentials(sd.username, defaultPassword))
			sec.Namespace = sd.ns
			m := s.member(sd.member, sd.user, "creds", func(m *mxv1alpha1.MXMember) { m.Namespace = sd.ns })
			s.create(u, sec, m)
			users, members = append(users, u), append(members, m)
		}
		for i, m := range members {
			eventuallyReady(m)
			Expect(m.Status.AccountCount).To(Equal(sides[i].accounts), "each sees only its own accounts")
		}
		Expect(s.sb.UserCount()).To(Equal(2))
		Expect(s.sb.MemberCount()).To(Equal(2))
		Expect(get(Default, users[0]).Status.ID).NotTo(Equal(get(Default, users[1]).Status.ID))

		Expect(k8sClient.Delete(context.Background(), members[0])).To(Succeed())
		Expect(k8sClient.Delete(context.Background(), users[0])).To(Succeed())
		eventuallyGone(members[0])
		eventuallyGone(users[0])
		Expect(s.sb.UserCount()).To(Equal(1))
		Expect(s.sb.MemberCount()).To(Equal(1))
		Expect(s.sb.Members()[0].GUID).To(Equal(members[1].Status.GUID), "the other side's member is intact")
		eventuallyReady(members[1])
	})

	It("stalls a second MXMember with another's spec.id as AlreadyManaged, with no MX write, and its deletion leaves the owner's member", func() {
		s := newStory(storyOptions{})
		s.readyUser("hal")
		owner := s.member("hal-bank", "hal", "hal-creds")
		s.create(s.secret("hal-creds", credentials(mxbankUser, defaultPassword)), owner)
		eventuallyReady(owner)
		s.sb.ResetCalls()

		second := s.member("hal-bank-2", "hal", "other-creds", func(m *mxv1alpha1.MXMember) { m.Spec.ID = owner.Status.ID })
		s.create(s.secret("other-creds", credentials("mxuser_accounts_60", defaultPassword)), second)
		cond := eventuallyStalled(second, mxv1alpha1.ReasonAlreadyManaged)
		Expect(cond.Message).To(ContainSubstring(s.ns + "/hal-bank"))
		Expect(second.Status.GUID).To(BeEmpty())
		Consistently(s.sb.TotalCalls).Should(BeZero(), "no MX call at all")
		Eventually(func() []string { return eventReasons(s, second) }).Should(ContainElement(mxv1alpha1.ReasonAlreadyManaged))

		Expect(k8sClient.Delete(context.Background(), second)).To(Succeed())
		eventuallyGone(second)
		Expect(s.sb.MemberCount()).To(Equal(1))
		Expect(s.calls()).To(BeEmpty())
		eventuallyReady(owner)
	})

	It("lets exactly one of two MXMembers racing for one partner id create it", func() {
		s := newStory(storyOptions{})
		s.readyUser("ian")
		s.create(s.secret("ian-creds", credentials(mxbankUser, defaultPassword)), s.secret("ian-creds-2", credentials("mxuser_accounts_60", defaultPassword)))
		a := s.member("ian-a", "ian", "ian-creds", func(m *mxv1alpha1.MXMember) { m.Spec.ID = "shared-id" })
		b := s.member("ian-b", "ian", "ian-creds-2", func(m *mxv1alpha1.MXMember) { m.Spec.ID = "shared-id" })
		s.create(a, b)
		Eventually(func(g Gomega) {
			get(g, a)
			get(g, b)
			ready := []bool{isReady(a), isReady(b)}
			g.Expect(ready).To(ContainElement(true))
			g.Expect(ready).To(ContainElement(false))
			loser := a
			if isReady(a) {
				loser = b
			}
			expectCondition(g, loser, mxv1alpha1.StalledCondition, metav1.ConditionTrue, mxv1alpha1.ReasonAlreadyManaged)
		}).Should(Succeed())
		Consistently(s.sb.MemberCount).Should(Equal(1))
	})

	DescribeTable("a create that may have happened is never forgotten: killed between the MX create and the status write, then deleted",
		func(policy mxv1alpha1.DeletionPolicy, left int) {
			s := newStory(storyOptions{})
			s.stop()
			crashing := crashingManager(s)
			u := s.user("jo", func(u *mxv1alpha1.MXUser) { u.Spec.DeletionPolicy = policy })
			s.create(u)
			Eventually(crashing.crashed).Should(BeClosed())
			s.stop()
			Expect(get(Default, u).Status.GUID).To(BeEmpty(), "the status write never happened")
			Expect(s.sb.UserCount()).To(Equal(1))

			By("a member, likewise")
			s.start(s.mxClient())
			eventuallyReady(u)
			s.stop()
			crashing = crashingManager(s)
			m := s.member("jo-bank", "jo", "jo-creds", func(m *mxv1alpha1.MXMember) { m.Spec.DeletionPolicy = policy })
			s.create(s.secret("jo-creds", credentials(mxbankUser, defaultPassword)), m)
			Eventually(crashing.crashed).Should(BeClosed())
			s.stop()
			Expect(get(Default, m).Status.GUID).To(BeEmpty(), "the status write never happened")
			Expect(s.sb.MemberCount()).To(Equal(1))

			By("deleting both while the manager is down, then starting it")
			Expect(k8sClient.Delete(context.Background(), m)).To(Succeed())
			Expect(k8sClient.Delete(context.Background(), u)).To(Succeed())
			s.start(s.mxClient())
			eventuallyGone(m)
			eventuallyGone(u)
			Expect(s.sb.MemberCount()).To(Equal(left))
			Expect(s.sb.UserCount()).To(Equal(left))
		},
		Entry("deletionPolicy Delete: nothing is left in MX", mxv1alpha1.DeletionPolicyDelete, 0),
		Entry("deletionPolicy Orphan: exactly one of each is left", mxv1alpha1.DeletionPolicyOrphan, 1),
	)

	It("adopts a member whose create was answered 201 with a body that cannot be read: unknown outcome, not the user's fault", func() {
		s := newStory(storyOptions{})
		s.readyUser("lou")
		s.sb.SetFault(sandbox.EndpointCreateMember, sandbox.Fault{MalformedBody: 1})
		m := s.member("lou-bank", "lou", "lou-creds")
		s.create(s.secret("lou-creds", credentials(mxbankUser, defaultPassword)), m)
		eventuallyReady(m)
		Expect(s.sb.MemberCount()).To(Equal(1))
		Expect(s.calls()).To(HaveKeyWithValue(epCreateMember, 1), "status.id shows the unknown outcome: the retry looks up first")
		Expect(s.calls()).To(HaveKeyWithValue(epListMembers, 1))
		Expect(eventReasons(s, m)).NotTo(ContainElement(mxv1alpha1.ReasonMXRejected), "never reported as a rejected spec")
	})

	It("deletes a member whose create answer was held back when the manager died, once the CR is deleted", func() {
		s := newStory(storyOptions{})
		s.readyUser("max")
		s.sb.SetFault(sandbox.EndpointCreateMember, sandbox.Fault{Hold: true})
		m := s.member("max-bank", "max", "max-creds")
		s.create(s.secret("max-creds", credentials(mxbankUser, defaultPassword)), m)
		Eventually(s.sb.HeldCount).Should(Equal(1), "MX committed the create; its answer is held back")
		s.stop()
		s.sb.ClearFaults()
		s.sb.ReleaseHeld()
		Expect(s.sb.MemberCount()).To(Equal(1))
		Expect(get(Default, m).Status.GUID).To(BeEmpty())

		Expect(k8sClient.Delete(context.Background(), m)).To(Succeed())
		s.start(s.mxClient())
		eventuallyGone(m)
		Expect(s.sb.MemberCount()).To(BeZero(), "found by its partner id and deleted: no orphan")
	})

	It("re-reads the MXUser at once when a member finds its MX user gone", func() {
		s := newStory(storyOptions{})
		u := s.readyUser("kim")
		m := s.member("kim-bank", "kim", "kim-creds")
		s.create(s.secret("kim-creds", credentials(mxbankUser, defaultPassword)), m)
		eventuallyReady(m)
		Expect(s.mxClient().DeleteUser(context.Background(), u.Status.GUID)).To(Succeed())
		annotate(m, mxv1alpha1.ReconcileRequestedAtAnnotation, "check")
		eventuallyStalled(u, mxv1alpha1.ReasonGoneInMX)
		eventuallyStalled(m, mxv1alpha1.ReasonGoneInMX)
		Expect(s.calls()).To(HaveKeyWithValue(epReadUser, 1), "one read of the user, not the 12 h resync")
	})
})

// isReady reports whether obj's Ready condition is True.
func isReady(obj client.Object) bool {
	for _, c := range conditionsOf(obj) {
		if c.Type == mxv1alpha1.ReadyCondition {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}
