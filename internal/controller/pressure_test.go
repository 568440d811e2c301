package controller_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// Under MX's pressure: the client backs off as a whole, every object says why it waits, and
// recovery is prompt. The figures are read from the sandbox's request log; wall-clock bounds
// are liveness checks with slack, the counts are the assertions.

const (
	stormMembers = 50
	stormLength  = 20 * time.Second
	stormQPS     = 20
)

var _ = Describe("Under MX's pressure", func() {
	DescribeTable("a storm slows the whole client, every member shows why within seconds, and all recover promptly",
		func(fault sandbox.Fault, reason string) {
			s := newStory(storyOptions{production: stormQPS})
			s.readyUser("storm")
			s.sb.ResetRequests()

			start := time.Now()
			s.sb.SetFaultAll(fault)
			members := make([]*mxv1alpha1.MXMember, stormMembers)
			for i := range members {
				name := fmt.Sprintf("storm-%02d", i)
				members[i] = s.member(name, "storm", name)
				s.create(s.secret(name, credentials(fmt.Sprintf("mxuser_%02d", i), defaultPassword)), members[i])
			}

			By("within 5 s every member shows Reconciling with the storm's reason")
			Eventually(func(g Gomega) {
				list := &mxv1alpha1.MXMemberList{}
				g.Expect(k8sClient.List(context.Background(), list, client.InNamespace(s.ns))).To(Succeed())
				g.Expect(list.Items).To(HaveLen(stormMembers))
				for i := range list.Items {
					g.Expect(readyReason(&list.Items[i])).To(Equal(reason), list.Items[i].Name)
				}
			}, 5*time.Second).Should(Succeed())

			<-time.After(time.Until(start.Add(stormLength))) // the storm's length is the test's input, not a wait for a condition
			s.sb.ClearFaults()
			end := time.Now()

			var during, late int
			for _, r := range s.sb.Requests() {
				if r.WallTime.Before(end) {
					during++
					if r.WallTime.After(start.Add(10 * time.Second)) {
						late++
					}
				}
			}
			GinkgoWriter.Printf("storm %s: %d requests during %s (%d in its last %s)\n", reason, during, stormLength, late, stormLength-10*time.Second)
			Expect(late).To(BeNumerically("<=", int((stormLength-10*time.Second)/time.Second)),
				"after the first 10 s, at most one request per second in aggregate")
			Expect(during).To(BeNumerically("<=", 40), "the whole storm costs a few dozen requests, not 50 members' worth each second")

			By("after the storm every member is Ready: the client's probe wakes the waiting members")
			Eventually(func(g Gomega) {
				list := &mxv1alpha1.MXMemberList{}
				g.Expect(k8sClient.List(context.Background(), list, client.InNamespace(s.ns))).To(Succeed())
				for i := range list.Items {
					g.Expect(readyReason(&list.Items[i])).To(Equal(mxv1alpha1.ReasonSucceeded), list.Items[i].Name)
				}
			}, 40*time.Second, 200*time.Millisecond).Should(Succeed())
			recovered := time.Since(end)
			after := len(s.sb.Requests()) - during
			AddReportEntry("storm "+reason, fmt.Sprintf("requests during %s: %d (last 10 s: %d); all %d Ready %.1f s after the storm; requests after: %d", stormLength, during, late, stormMembers, recovered.Seconds(), after))
			GinkgoWriter.Printf("storm %s: all Ready %.1fs after the storm, %d requests after it\n", reason, recovered.Seconds(), after)
			Expect(s.sb.MemberCount()).To(Equal(stormMembers), "no duplicate")
			Expect(after).To(BeNumerically("<=", stormMembers*4), "converging costs the floor per member (create, status read, accounts) plus the institution once")
		},
		Entry("429 without Retry-After", sandbox.Fault{RateLimitRate: 1}, mxv1alpha1.ReasonMXRateLimited),
		Entry("503 without Retry-After", sandbox.Fault{ServiceUnavailableRate: 1}, mxv1alpha1.ReasonMXUnavailable),
		Entry("503 with Retry-After", sandbox.Fault{ServiceUnavailableRate: 1, RetryAfter: 3 * time.Second}, mxv1alpha1.ReasonMXUnavailable),
	)

	It("names the operator's refused credentials on the MXUser and its members, not UserNotReady", func() {
		s := newStory(storyOptions{apiKey: "wrong-key"})
		u := s.user("ned")
		m := s.member("ned-bank", "ned", "ned-creds")
		s.create(u, s.secret("ned-creds", credentials(mxbankUser, defaultPassword)), m)
		eventuallyStalled(u, mxv1alpha1.ReasonMXUnauthorized)
		cond := eventuallyStalled(m, mxv1alpha1.ReasonMXUnauthorized)
		Expect(cond.Message).To(ContainSubstring("--mx-credentials-secret"))
	})
})

// readyReason returns the reason of obj's Ready condition.
func readyReason(obj client.Object) string {
	for _, c := range conditionsOf(obj) {
		if c.Type == mxv1alpha1.ReadyCondition {
			return c.Reason
		}
	}
	return ""
}
