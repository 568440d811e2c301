package manager

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/testenv"
	"github.com/mxoperator/mx-operator/internal/webhook"
	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(g Gomega) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	addr := ln.Addr().String()
	g.Expect(ln.Close()).To(Succeed())
	return addr
}

// TestRunWithConfig runs the manager the way main.go does, from command-line flags, against an
// API server and the MX sandbox: it reads the MX credentials and the webhook receiver's
// credentials from Secrets, serves the receiver, records MX metrics and reconciles a member to
// Ready.
//
// controller-runtime allows one controller of a name per process, so this test (like the
// manager) runs once per process: `go test -count=2` fails its second run with "controller with
// name mxuser already exists".
func TestRunWithConfig(t *testing.T) {
	g := NewWithT(t)
	env, err := testenv.New()
	g.Expect(err).NotTo(HaveOccurred())
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { g.Expect(env.Stop()).To(Succeed()) }()
	scheme, err := Scheme()
	g.Expect(err).NotTo(HaveOccurred())
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ctx := context.Background()

	sb := sandbox.New(sandbox.Options{ClientID: "run-client", APIKey: "run-key", AggregationDuration: 100 * time.Millisecond})
	defer sb.Close()
	srv := httptest.NewServer(sb)
	defer srv.Close()

	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mx-system"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "mx-system", Name: "mx-api"}, StringData: map[string]string{"client_id": "run-client", "api_key": "run-key"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "mx-system", Name: "hooks"}, StringData: map[string]string{"username": "mx", "password": "hook-secret"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "creds"}, StringData: map[string]string{"username": "mxuser", "password": "password"}},
		&mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "alice"}},
		&mxv1alpha1.MXMember{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "alice-bank"}, Spec: mxv1alpha1.MXMemberSpec{
			UserRef: mxv1alpha1.LocalObjectReference{Name: "alice"}, InstitutionCode: "mxbank",
			CredentialsSecretRef: &mxv1alpha1.LocalObjectReference{Name: "creds"},
		}},
	} {
		g.Expect(c.Create(ctx, o)).To(Succeed())
	}

	hookAddr := freeAddr(g)
	opts, err := ParseFlags([]string{
		"--mx-credentials-secret=mx-system/mx-api", "--mx-base-url=" + srv.URL, "--partner-id-prefix=run",
		"--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--mx-webhook-bind-address=" + hookAddr, "--mx-webhook-credentials-secret=mx-system/hooks",
	})
	g.Expect(err).NotTo(HaveOccurred())
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- RunWithConfig(runCtx, cfg, opts) }()
	defer func() {
		cancel()
		g.Eventually(done, 30*time.Second).Should(Receive(BeNil()))
	}()

	member := &mxv1alpha1.MXMember{}
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(ctx, client.ObjectKey{Namespace: "team", Name: "alice-bank"}, member)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(member.Status.Conditions, mxv1alpha1.ReadyCondition)).To(BeTrue())
	}, 60*time.Second, 100*time.Millisecond).Should(Succeed())
	g.Expect(member.Status.ID).To(Equal("run:team/alice-bank"), "the partner id prefix flag is used")
	g.Expect(sb.MemberCount()).To(Equal(1))

	resp, err := http.Post("http://"+hookAddr+webhook.Path, "application/json", strings.NewReader(`{}`))
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized), "the receiver is served and needs its credentials")

	families, err := ctrlmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	g.Expect(names).To(ContainElements("mx_operator_mx_requests_total", "mx_operator_mx_request_duration_seconds"))
}
