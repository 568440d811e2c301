package controller

import (
	"context"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// widgetURL is the URL the fake MX issues; it must appear only in the end-user URL Secret.
const widgetURL = "https://widgets.example/connect/canary-token"

func newWidgetMember() *mxv1alpha1.MXMember {
	m := newMember()
	m.Spec.CredentialsSecretRef, m.Spec.ConnectWidget = nil, &mxv1alpha1.ConnectWidgetSpec{ColorScheme: "dark"}
	return m
}

// TestWidgetMemberURL covers the first reconcile of a widget member: where the URL goes, and what
// a refusal by MX or a Secret the member does not own does.
func TestWidgetMemberURL(t *testing.T) {
	fields := func(f *fakeMX) {
		f.listInstitutionCredentials = func(string) ([]mx.CredentialField, error) { return nil, nil }
	}
	cases := []struct {
		reason  string
		objects []client.Object
		mint    func(string, mx.ConnectWidgetOptions) (*mx.WidgetURL, error)
		calls   []string
		stalled string // the Stalled reason, or "" for Reconciling
		ready   string // the Ready reason
		check   func(g Gomega, m *mxv1alpha1.MXMember, secret *corev1.Secret)
	}{
		{
			reason:  "the URL goes into a Secret the member owns; status says only what and until when",
			objects: []client.Object{readyUser(), newWidgetMember()},
			mint: func(user string, o mx.ConnectWidgetOptions) (*mx.WidgetURL, error) {
				if user != testUserGUID || o.InstitutionCode != "mxbank" || o.MemberGUID != "" || o.ColorScheme != "dark" {
					return nil, apiError(http.StatusBadRequest, "unexpected options")
				}
				return &mx.WidgetURL{Type: "connect_widget", URL: widgetURL}, nil
			},
			calls:   []string{"ListInstitutionCredentials", "CreateConnectWidgetURL"},
			stalled: mxv1alpha1.ReasonAwaitingEndUser, ready: mxv1alpha1.ReasonAwaitingEndUser,
			check: func(g Gomega, m *mxv1alpha1.MXMember, secret *corev1.Secret) {
				g.Expect(secret).NotTo(BeNil())
				g.Expect(string(secret.Data["url"])).To(Equal(widgetURL))
				g.Expect(metav1.IsControlledBy(secret, m)).To(BeTrue(), "owned by the member")
				u := m.Status.EndUserURL
				g.Expect(u).NotTo(BeNil())
				g.Expect(u.Kind).To(Equal(mxv1alpha1.EndUserURLConnectWidget))
				g.Expect(u.Available).To(BeTrue())
				g.Expect(u.ExpiresAt.Time).To(BeTemporally("==", testNow.Add(widgetURLLifetime).Truncate(time.Second)))
				g.Expect(meta.FindStatusCondition(m.Status.Conditions, mxv1alpha1.StalledCondition).Message).NotTo(ContainSubstring(widgetURL))
			},
		},
		{
			reason:  "MX answers 429: Reconciling MXRateLimited, nothing written to a Secret, retried after Retry-After",
			objects: []client.Object{readyUser(), newWidgetMember()},
			mint: func(string, mx.ConnectWidgetOptions) (*mx.WidgetURL, error) {
				return nil, &mx.APIError{StatusCode: http.StatusTooManyRequests, RetryAfter: 7 * time.Second}
			},
			calls: []string{"ListInstitutionCredentials", "CreateConnectWidgetURL"},
			ready: mxv1alpha1.ReasonMXRateLimited,
			check: func(g Gomega, m *mxv1alpha1.MXMember, secret *corev1.Secret) {
				g.Expect(secret).To(BeNil())
				g.Expect(m.Status.EndUserURL).To(BeNil(), "the next attempt asks again")
			},
		},
		{
			reason: "a Secret of that name the member does not own: Stalled, and no URL is asked for",
			objects: []client.Object{readyUser(), newWidgetMember(), &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "alice-bank-end-user-url"},
				Data:       map[string][]byte{"url": []byte("someone else's")},
			}},
			calls:   []string{"ListInstitutionCredentials"},
			stalled: mxv1alpha1.ReasonURLSecretConflict, ready: mxv1alpha1.ReasonURLSecretConflict,
			check: func(g Gomega, m *mxv1alpha1.MXMember, secret *corev1.Secret) {
				g.Expect(string(secret.Data["url"])).To(Equal("someone else's"), "never overwritten")
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			c := newFakeClient(tc.objects...)
			f := &fakeMX{createConnectWidgetURL: tc.mint}
			fields(f)
			r, rec := newMemberReconciler(c, f)
			res, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: key(newMember())})
			g.Expect(err).NotTo(HaveOccurred())
			if tc.ready == mxv1alpha1.ReasonMXRateLimited {
				g.Expect(res.RequeueAfter).To(BeNumerically(">=", 7*time.Second), "not before MX's Retry-After")
			}
			g.Expect(f.Calls()).To(Equal(tc.calls))
			m := &mxv1alpha1.MXMember{}
			g.Expect(c.Get(context.Background(), key(newMember()), m)).To(Succeed())
			g.Expect(readyReason(m.Status.Conditions)).To(Equal(tc.ready))
			g.Expect(meta.IsStatusConditionTrue(m.Status.Conditions, mxv1alpha1.StalledCondition)).To(Equal(tc.stalled != ""))
			for _, e := range drain(rec) {
				g.Expect(e).NotTo(ContainSubstring("canary-token"), "events never carry the URL")
			}
			var secret *corev1.Secret
			s := &corev1.Secret{}
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: "alice-bank-end-user-url"}, s); err == nil {
				secret = s
			}
			tc.check(g, m, secret)
		})
	}
}
