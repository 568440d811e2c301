package onboarding_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/pkg/mxsandbox"
	"github.com/mxoperator/mx-operator/pkg/mxtest"

	"example.com/onboarding"
)

// One control plane for the package: the suite's CRDs (none here: ConfigMaps are built in)
// plus mx-operator's, embedded in pkg/mxtest.
var (
	cfg       *rest.Config
	k8sClient client.Client
	scheme    = runtime.NewScheme()
)

func TestMain(m *testing.M) {
	flag.Parse()
	var out io.Writer = io.Discard
	if testing.Verbose() {
		out = os.Stderr
	}
	logf.SetLogger(zap.New(zap.WriteTo(out), zap.UseDevMode(true)))
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := mxv1alpha1.AddToScheme(scheme); err != nil {
		panic(err)
	}

	env := &envtest.Environment{BinaryAssetsDirectory: os.Getenv("KUBEBUILDER_ASSETS")}
	mxtest.InstallCRDs(env)
	var err error
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "starting envtest (is KUBEBUILDER_ASSETS set?): %v\n", err)
		os.Exit(1)
	}
	if k8sClient, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		panic(err)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// setup gives a test its namespace, a sandbox, mx-operator and the onboarding controller, the
// last two seeing only that namespace.
func setup(t *testing.T) (*WithT, string, *mxsandbox.Server) {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(30 * time.Second)
	g.SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "onboarding-"}}
	g.Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())

	sb := mxsandbox.Start(t, mxsandbox.Options{AggregationDuration: 200 * time.Millisecond})
	mxtest.Run(t, cfg, sb, mxtest.WithNamespaces(ns.Name))
	startOnboarding(t, g, ns.Name)
	return g, ns.Name, sb
}

// startOnboarding runs the controller under test in a manager of its own until the test ends.
func startOnboarding(t *testing.T, g *WithT, ns string) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)}, // one manager per test
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect((&onboarding.CustomerReconciler{Client: mgr.GetClient(), Scheme: scheme}).SetupWithManager(mgr)).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("onboarding manager: %v", err)
		}
	})
}

func customer(ns, name, password string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Data: map[string]string{
			onboarding.KeyEmail:    name + "@example.com",
			onboarding.KeyUsername: "mxuser",
			onboarding.KeyPassword: password, // mxbank: the password selects the outcome
		},
	}
}

var isCustomer = map[string]string{onboarding.CustomerLabel: "true"}

func TestCustomerIsConnected(t *testing.T) {
	g, ns, sb := setup(t)
	g.Expect(k8sClient.Create(context.Background(), customer(ns, "ada", "password", isCustomer))).To(Succeed())

	m := &mxv1alpha1.MXMember{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: onboarding.MemberName("ada")}}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(m), m)).To(Succeed())
		g.Expect(m.Status.ConnectionStatus).To(Equal(mxsandbox.StatusConnected))
		g.Expect(meta.IsStatusConditionTrue(m.Status.Conditions, mxv1alpha1.ReadyCondition)).To(BeTrue())
	}).Should(Succeed())
	g.Expect(m.Status.AccountCount).To(BeNumerically(">", 0))

	// What MX saw: one user, one member, created once each, and one status read.
	g.Expect(sb.UserCount()).To(Equal(1))
	g.Expect(sb.MemberCount()).To(Equal(1))
	g.Expect(sb.CallCount(mxsandbox.EndpointCreateUser)).To(Equal(1))
	g.Expect(sb.CallCount(mxsandbox.EndpointCreateMember)).To(Equal(1))
	g.Expect(sb.CallCount(mxsandbox.EndpointReadMemberStatus)).To(Equal(1))
	snap, ok := sb.Member(m.Status.GUID)
	g.Expect(ok).To(BeTrue())
	g.Expect(snap.ConnectionStatus).To(Equal(mxsandbox.StatusConnected))
	g.Consistently(sb.TotalCalls, 2*time.Second, 100*time.Millisecond).Should(Equal(5), "a connected member costs no more calls")
}

func TestWrongPasswordIsDenied(t *testing.T) {
	g, ns, sb := setup(t)
	g.Expect(k8sClient.Create(context.Background(), customer(ns, "bob", "INVALID", isCustomer))).To(Succeed())

	m := &mxv1alpha1.MXMember{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: onboarding.MemberName("bob")}}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(m), m)).To(Succeed())
		g.Expect(m.Status.ConnectionStatus).To(Equal(mxsandbox.StatusDenied))
		g.Expect(meta.IsStatusConditionTrue(m.Status.Conditions, mxv1alpha1.StalledCondition)).To(BeTrue())
	}).Should(Succeed())
	g.Expect(sb.CallCount(mxsandbox.EndpointCreateMember)).To(Equal(1))
}

func TestCustomerIsRetriedAfterMXRateLimitsTheUserCreation(t *testing.T) {
	g, ns, sb := setup(t)
	sb.SetFault(mxsandbox.EndpointCreateUser, mxsandbox.Fault{RateLimitRate: 1, RetryAfter: time.Second})
	g.Expect(k8sClient.Create(context.Background(), customer(ns, "cy", "password", isCustomer))).To(Succeed())
	g.Eventually(func() int { return sb.CallCount(mxsandbox.EndpointCreateUser) }).Should(BeNumerically(">=", 1))
	g.Expect(sb.UserCount()).To(BeZero(), "a 429 creates nothing")

	sb.ClearFaults()
	m := &mxv1alpha1.MXMember{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: onboarding.MemberName("cy")}}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(m), m)).To(Succeed())
		g.Expect(m.Status.ConnectionStatus).To(Equal(mxsandbox.StatusConnected))
	}).Should(Succeed())
	g.Expect(sb.UserCount()).To(Equal(1))
	g.Expect(sb.MemberCount()).To(Equal(1))
}

func TestUnlabelledConfigMapIsIgnored(t *testing.T) {
	g, ns, sb := setup(t)
	g.Expect(k8sClient.Create(context.Background(), customer(ns, "dee", "password", nil))).To(Succeed())
	g.Consistently(func(g Gomega) {
		users := &mxv1alpha1.MXUserList{}
		g.Expect(k8sClient.List(context.Background(), users, client.InNamespace(ns))).To(Succeed())
		g.Expect(users.Items).To(BeEmpty())
	}, 2*time.Second, 100*time.Millisecond).Should(Succeed())
	g.Expect(sb.TotalCalls()).To(BeZero())
}
