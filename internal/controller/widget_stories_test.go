package controller_test

import (
	"context"
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

const epWidgetURL = sandbox.EndpointCreateWidgetURL

// widgetMember is an MXMember its end user connects in the Connect widget.
func (s *story) widgetMember(name, user string, mutate ...func(*mxv1alpha1.MXMember)) *mxv1alpha1.MXMember {
	return s.member(name, user, "", append([]func(*mxv1alpha1.MXMember){func(m *mxv1alpha1.MXMember) {
		m.Spec.CredentialsSecretRef = nil
		m.Spec.ConnectWidget = &mxv1alpha1.ConnectWidgetSpec{}
	}}, mutate...)...)
}

// urlSecretData returns the data of the member's end-user URL Secret (nil when it does not exist).
func (s *story) urlSecretData(m *mxv1alpha1.MXMember) map[string][]byte {
	secret := &corev1.Secret{}
	err := k8sClient.Get(context.Background(), types.NamespacedName{Namespace: s.ns, Name: m.Name + "-end-user-url"}, secret)
	if err != nil {
		return nil
	}
	return secret.Data
}

// endUserURL waits until the member's end-user URL Secret holds a URL of kind other than
// `except`, and returns it.
func (s *story) endUserURL(m *mxv1alpha1.MXMember, kind mxv1alpha1.EndUserURLKind, except ...string) string {
	var url string
	EventuallyWithOffset(1, func(g Gomega) {
		data := s.urlSecretData(m)
		g.Expect(data).To(HaveKeyWithValue("kind", []byte(kind)))
		g.Expect(data).To(HaveKey("url"))
		url = string(data["url"])
		for _, e := range except {
			g.Expect(url).NotTo(Equal(e))
		}
		get(g, m)
		g.Expect(m.Status.EndUserURL).NotTo(BeNil())
		g.Expect(m.Status.EndUserURL.Available).To(BeTrue())
	}).Should(Succeed())
	return url
}

// expectNoURLOutsideTheSecret checks that the end-user URL in the member's Secret appears
// nowhere a reader of MXMembers, events or logs could see it.
func expectNoURLOutsideTheSecret(s *story, m *mxv1alpha1.MXMember) {
	url := string(s.urlSecretData(m)["url"])
	ExpectWithOffset(1, url).NotTo(BeEmpty())
	raw, err := json.Marshal(get(Default, m))
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	ExpectWithOffset(1, string(raw)).NotTo(ContainSubstring(url), "not in the MXMember")
	events := &eventsv1.EventList{}
	ExpectWithOffset(1, k8sClient.List(context.Background(), events, client.InNamespace(s.ns))).To(Succeed())
	raw, err = json.Marshal(events)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	ExpectWithOffset(1, string(raw)).NotTo(ContainSubstring(url), "not in events")
	ExpectWithOffset(1, logs.String()).NotTo(ContainSubstring(url), "not in the manager's logs")
}

// expectURLRetracted checks that no URL is available any more and the Secret holds none.
func expectURLRetracted(g Gomega, s *story, m *mxv1alpha1.MXMember) {
	get(g, m)
	g.ExpectWithOffset(1, m.Status.EndUserURL).NotTo(BeNil())
	g.ExpectWithOffset(1, m.Status.EndUserURL.Available).To(BeFalse())
	g.ExpectWithOffset(1, s.urlSecretData(m)).NotTo(HaveKey("url"))
}

var _ = Describe("The Connect widget", func() {
	It("gives the end user a URL in a Secret, adopts the member they connect with its partner id, and follows it to CONNECTED", func() {
		s := newStory(storyOptions{})
		s.readyUser("wes")
		m := s.widgetMember("wes-widget", "wes")
		s.create(m)

		cond := eventuallyStalled(m, mxv1alpha1.ReasonAwaitingEndUser)
		url := s.endUserURL(m, mxv1alpha1.EndUserURLConnectWidget)
		Expect(cond.Message).To(ContainSubstring(`Secret "wes-widget-end-user-url" (key url), valid until`))
		Expect(m.Status.EndUserURL.Kind).To(Equal(mxv1alpha1.EndUserURLConnectWidget))
		Expect(m.Status.EndUserURL.ExpiresAt.Sub(m.Status.EndUserURL.IssuedAt.Time)).To(Equal(10 * time.Minute))
		expectNoURLOutsideTheSecret(s, m)
		minted := s.sb.WidgetURLs()
		Expect(minted).To(HaveLen(1))
		Expect(minted[0].InstitutionCode).To(Equal(sandbox.InstitutionMXBank), "scoped to the member's institution")
		Expect(minted[0].MemberGUID).To(BeEmpty())

		By("the end user connects in the widget; MX creates a member without a partner id")
		guid, err := s.sb.ConnectThroughWidget(url, sandbox.WidgetConnect{Username: mxbankUser, Password: defaultPassword})
		Expect(err).NotTo(HaveOccurred())

		eventuallyReady(m)
		Expect(m.Status.GUID).To(Equal(guid))
		Expect(m.Status.AccountCount).To(Equal(int32(sandbox.DefaultAccountCount)))
		partnerID := "test:" + s.ns + "/wes-widget"
		Expect(m.Status.ID).To(Equal(partnerID))
		inMX, ok := s.sb.Member(guid)
		Expect(ok).To(BeTrue())
		Expect(inMX.ID).To(Equal(partnerID), "stamped with our partner id")
		Expect(s.sb.MemberCount()).To(Equal(1))
		Expect(s.calls()).To(Equal(map[string]int{
			epCredentials:  1, // the institution exists (cached per process)
			epWidgetURL:    1,
			epListMembers:  1, // the first look, a second after the URL, finds it
			epUpdateMember: 1,
			epAccounts:     1,
		}))
		Eventually(func(g Gomega) { expectURLRetracted(g, s, m) }).Should(Succeed())
		Expect(eventReasons(s, m)).To(ContainElement("Adopted"))
	})

	It("finds the member through MX's webhooks when the receiver is on, without polling", func() {
		s := newStory(storyOptions{webhooks: true})
		s.readyUser("wil")
		m := s.widgetMember("wil-widget", "wil")
		s.create(m)
		url := s.endUserURL(m, mxv1alpha1.EndUserURLConnectWidget)
		Consistently(func() int { return s.sb.CallCount(epListMembers) }, 3*time.Second).Should(BeZero(),
			"no polling while the webhooks report what the end user does")

		_, err := s.sb.ConnectThroughWidget(url, sandbox.WidgetConnect{Username: mxbankUser, Password: defaultPassword})
		Expect(err).NotTo(HaveOccurred())
		eventuallyReady(m)
		Expect(s.calls()).To(HaveKeyWithValue(epUpdateMember, 1))
	})

	It("lets the URL expire and issues a fresh one only on request", func() {
		s := newStory(storyOptions{fakeClock: true})
		s.readyUser("val")
		m := s.widgetMember("val-widget", "val")
		s.create(m)
		first := s.endUserURL(m, mxv1alpha1.EndUserURLConnectWidget)

		s.clock.Advance(10*time.Minute + time.Second)
		Eventually(func(g Gomega) { expectURLRetracted(g, s, m) }).Should(Succeed())
		cond := eventuallyStalled(m, mxv1alpha1.ReasonAwaitingEndUser)
		Expect(cond.Message).To(ContainSubstring("No URL is available"))
		Expect(cond.Message).To(ContainSubstring(mxv1alpha1.URLRequestedAtAnnotation))
		Consistently(func() int { return s.sb.CallCount(epWidgetURL) }, 3*time.Second).Should(Equal(1), "nobody asked for another")
		_, err := s.sb.ConnectThroughWidget(first, sandbox.WidgetConnect{Username: mxbankUser, Password: defaultPassword})
		Expect(err).To(MatchError(sandbox.ErrWidgetURLExpired))

		By("doing what the message says")
		annotate(m, mxv1alpha1.URLRequestedAtAnnotation, "again")
		second := s.endUserURL(m, mxv1alpha1.EndUserURLConnectWidget, first)
		Expect(s.calls()).To(HaveKeyWithValue(epWidgetURL, 2))
		Expect(get(Default, m).Status.LastHandledURLRequestAt).To(Equal("again"))
		_, err = s.sb.ConnectThroughWidget(second, sandbox.WidgetConnect{Username: mxbankUser, Password: defaultPassword})
		Expect(err).NotTo(HaveOccurred())
		s.clock.Advance(time.Minute) // the next look is due, and MX has aggregated
		eventuallyReady(m)
	})

	It("does not adopt a member at another institution, nor one another MXMember owns, and says so", func() {
		s := newStory(storyOptions{})
		s.readyUser("uma")
		owned := s.member("uma-bank", "uma", "uma-creds")
		s.create(s.secret("uma-creds", credentials(mxbankUser, defaultPassword)), owned)
		eventuallyReady(owned)

		m := s.widgetMember("uma-widget", "uma")
		s.create(m)
		url := s.endUserURL(m, mxv1alpha1.EndUserURLConnectWidget)
		Eventually(func(g Gomega) {
			c := expectCondition(g, get(g, m), mxv1alpha1.StalledCondition, "True", mxv1alpha1.ReasonAwaitingEndUser)
			g.Expect(c.Message).To(ContainSubstring(owned.Status.GUID))
			g.Expect(c.Message).To(ContainSubstring("MXMember " + s.ns + "/uma-bank"))
		}).Should(Succeed())

		By("the end user picks another bank in the widget")
		other, err := s.sb.ConnectThroughWidget(url, sandbox.WidgetConnect{InstitutionCode: sandbox.InstitutionMXBankSlow, Username: mxbankUser, Password: defaultPassword})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			c := expectCondition(g, get(g, m), mxv1alpha1.StalledCondition, "True", mxv1alpha1.ReasonAwaitingEndUser)
			g.Expect(c.Message).To(ContainSubstring("The end user connected " + other + " at " + sandbox.InstitutionMXBankSlow))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(get(g, m).Status.GUID).To(BeEmpty())
			inMX, _ := s.sb.Member(other)
			g.Expect(inMX.ID).To(BeEmpty(), "not stamped with our partner id")
			g.Expect(get(g, owned).Status.GUID).NotTo(Equal(other))
		}, 2*time.Second).Should(Succeed())
		Expect(s.calls()).NotTo(HaveKey(epUpdateMember))
		Expect(s.calls()).NotTo(HaveKey(epDeleteMember))
	})

	It("repairs a DENIED credentials member through the widget", func() {
		s := newStory(storyOptions{})
		s.readyUser("dan")
		m := s.member("dan-bank", "dan", "dan-creds")
		s.create(s.secret("dan-creds", credentials(mxbankUser, "UNAUTHORIZED")), m)
		cond := eventuallyStalled(m, "Denied")
		Expect(cond.Message).To(ContainSubstring(mxv1alpha1.URLRequestedAtAnnotation), "the widget way is offered")
		guid := m.Status.GUID

		annotate(m, mxv1alpha1.URLRequestedAtAnnotation, "fix")
		url := s.endUserURL(m, mxv1alpha1.EndUserURLRepairWidget)
		Expect(s.sb.WidgetURLs()[0].MemberGUID).To(Equal(guid), "opens on the member")
		cond = eventuallyStalled(m, "Denied")
		Expect(cond.Message).To(ContainSubstring("A Connect widget URL for the end user to fix the member is in Secret"))
		expectNoURLOutsideTheSecret(s, m)

		Expect(s.sb.RepairThroughWidget(url, sandbox.WidgetRepair{Username: mxbankUser, Password: defaultPassword})).To(Succeed())
		eventuallyReady(m)
		Expect(m.Status.GUID).To(Equal(guid))
		Expect(s.sb.MemberCount()).To(Equal(1))
		Expect(s.calls()).To(HaveKeyWithValue(epWidgetURL, 1))
		Expect(s.calls()).NotTo(HaveKey(epUpdateMember), "the end user sent the credentials, not the operator")
	})

	It("repairs a CHALLENGED member through the widget: the end user answers there", func() {
		s := newStory(storyOptions{})
		s.readyUser("cy")
		m := s.member("cy-bank", "cy", "cy-creds")
		s.create(s.secret("cy-creds", credentials(mxbankUser, "challenge")), m)
		eventuallyStalled(m, "Challenged")

		annotate(m, mxv1alpha1.URLRequestedAtAnnotation, "fix")
		url := s.endUserURL(m, mxv1alpha1.EndUserURLRepairWidget)
		Expect(s.sb.RepairThroughWidget(url, sandbox.WidgetRepair{Answers: []string{"correct"}})).To(Succeed())
		eventuallyReady(m)
		Expect(s.calls()).NotTo(HaveKey(epResume), "answered in the widget, not by the operator")
	})

	It("adopts exactly once when the manager dies between the partner-id PUT and the status write", func() {
		s := newStory(storyOptions{})
		s.readyUser("kai")
		m := s.widgetMember("kai-widget", "kai")
		s.create(m)
		url := s.endUserURL(m, mxv1alpha1.EndUserURLConnectWidget)

		s.sb.SetFault(sandbox.EndpointUpdateMember, sandbox.Fault{Hold: true})
		guid, err := s.sb.ConnectThroughWidget(url, sandbox.WidgetConnect{Username: mxbankUser, Password: defaultPassword})
		Expect(err).NotTo(HaveOccurred())
		Eventually(s.sb.HeldCount).Should(Equal(1), "MX applied the partner id; its answer is held back")
		s.stop()
		s.sb.ClearFaults()
		s.sb.ReleaseHeld()
		Expect(get(Default, m).Status.GUID).To(BeEmpty(), "the status write never happened")

		s.start(s.mxClient())
		eventuallyReady(m)
		Expect(m.Status.GUID).To(Equal(guid))
		Expect(s.sb.MemberCount()).To(Equal(1))
		Expect(s.calls()).To(HaveKeyWithValue(epUpdateMember, 1), "found by its partner id after the restart: no second PUT")
		adopted := 0
		for _, r := range eventReasons(s, m) {
			if r == "Adopted" {
				adopted++
			}
		}
		Expect(adopted).To(Equal(1), "adopted once")
	})
})
