package manager

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestParseFlags(t *testing.T) {
	g := NewWithT(t)
	o, err := ParseFlags([]string{
		"--mx-credentials-secret=mx-system/mx-api", "--mx-base-url=https://api.mx.com", "--partner-id-prefix=acme",
		"--max-concurrent-reconciles=8", "--mx-qps=5", "--mx-burst=10", "--aggregation-throttle-window=4h",
		"--mx-webhook-bind-address=:9443", "--mx-webhook-credentials-secret=mx-system/hooks", "--leader-elect", "--zap-log-level=debug",
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(o.MXCredentialsSecret).To(Equal("mx-system/mx-api"))
	g.Expect(o.MXBaseURL).To(Equal("https://api.mx.com"))
	g.Expect(o.PartnerIDPrefix).To(Equal("acme"))
	g.Expect(o.MaxConcurrentReconciles).To(Equal(8))
	g.Expect(o.MXQPS).To(Equal(5.0))
	g.Expect(o.MXBurst).To(Equal(10))
	g.Expect(o.AggregationThrottleWindow).To(Equal(4 * time.Hour))
	g.Expect(o.WebhookAddr).To(Equal(":9443"))
	g.Expect(o.LeaderElect).To(BeTrue())

	defaults, err := ParseFlags(nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(defaults.MXBaseURL).To(Equal("https://int-api.mx.com"), "MX's integration environment by default")
	g.Expect(defaults.PartnerIDPrefix).To(Equal("mxop"))
	g.Expect(defaults.WebhookAddr).To(BeEmpty(), "the webhook receiver is off by default")
	g.Expect(defaults.ResyncInterval).To(Equal(12*time.Hour), "without webhooks an object in sync is read twice a day")
	hooked, err := ParseFlags([]string{"--mx-webhook-bind-address=:9443"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(hooked.ResyncInterval).To(Equal(24*time.Hour), "MX's webhooks report changes: the resync can be longer")
	explicit, err := ParseFlags([]string{"--mx-webhook-bind-address=:9443", "--resync-interval=6h"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(explicit.ResyncInterval).To(Equal(6*time.Hour), "an explicit --resync-interval wins")

	for _, bad := range [][]string{
		{"--partner-id-prefix=-bad"},
		{"--partner-id-prefix=has space"},
		{"--partner-id-prefix=a:b"}, // ":" and "/" separate the parts of a derived id
		{"--partner-id-prefix=a/b"},
		{"--max-concurrent-reconciles=0"},
		{"--mx-qps=-1"},
		{"stray-argument"},
	} {
		_, err := ParseFlags(bad)
		g.Expect(err).To(HaveOccurred(), "%v", bad)
	}
}

func TestSecretPair(t *testing.T) {
	g := NewWithT(t)
	scheme, err := Scheme()
	g.Expect(err).NotTo(HaveOccurred())
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "mx-system", Name: "mx-api"}, Data: map[string][]byte{"client_id": []byte("id"), "api_key": []byte("canary-key")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "mx-system", Name: "half"}, Data: map[string][]byte{"client_id": []byte("id")}},
	).Build()
	ctx := context.Background()

	id, key, err := secretPair(ctx, c, "mx-system/mx-api", "client_id", "api_key", "X_ID", "X_KEY")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(id).To(Equal("id"))
	g.Expect(key).To(Equal("canary-key"))

	_, _, err = secretPair(ctx, c, "mx-system/half", "client_id", "api_key", "X_ID", "X_KEY")
	g.Expect(err).To(MatchError(ContainSubstring("needs the keys client_id and api_key")))
	_, _, err = secretPair(ctx, c, "mx-system/missing", "client_id", "api_key", "X_ID", "X_KEY")
	g.Expect(err).To(HaveOccurred())
	_, _, err = secretPair(ctx, c, "no-slash", "client_id", "api_key", "X_ID", "X_KEY")
	g.Expect(err).To(MatchError(ContainSubstring("namespace/name")))

	t.Setenv("X_ID", "env-id")
	t.Setenv("X_KEY", "env-key")
	id, key, err = secretPair(ctx, c, "", "client_id", "api_key", "X_ID", "X_KEY")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect([]string{id, key}).To(Equal([]string{"env-id", "env-key"}))
	t.Setenv("X_KEY", "")
	_, _, err = secretPair(ctx, c, "", "client_id", "api_key", "X_ID", "X_KEY")
	g.Expect(err).To(MatchError(ContainSubstring("set X_ID and X_KEY")))
}
