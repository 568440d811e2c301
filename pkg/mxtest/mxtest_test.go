package mxtest_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2"
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
)

// These tests are what a user's suite does: an envtest control plane with mxtest.InstallCRDs,
// a sandbox from mxsandbox.Start, and mx-operator from mxtest.Run or mxtest.SetupOperator.

var (
	envOnce sync.Once
	testEnv *envtest.Environment
	envCfg  *rest.Config
	envErr  error
)

// Ginkgo suites pass GinkgoT() to mxsandbox.Start and mxtest.Run.
var (
	_ mxsandbox.TB = ginkgo.FullGinkgoTInterface(nil)
	_ mxtest.TB    = ginkgo.FullGinkgoTInterface(nil)
	_ mxtest.TB    = (*testing.T)(nil)
	_ mxtest.TB    = (*testing.B)(nil)
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Verbose() {
		logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	} else {
		logf.SetLogger(zap.New(zap.WriteTo(discard{})))
	}
	code := m.Run()
	if testEnv != nil {
		_ = testEnv.Stop()
	}
	os.Exit(code)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// controlPlane starts the control plane once for the whole binary and returns its config.
func controlPlane(t *testing.T) *rest.Config {
	t.Helper()
	envOnce.Do(func() {
		assets := os.Getenv("KUBEBUILDER_ASSETS")
		if assets == "" {
			envErr = errors.New("KUBEBUILDER_ASSETS is not set: run `make test`, or export KUBEBUILDER_ASSETS=\"$(make -s envtest)\"")
			return
		}
		testEnv = &envtest.Environment{BinaryAssetsDirectory: assets}
		mxtest.InstallCRDs(testEnv)
		envCfg, envErr = testEnv.Start()
	})
	if envErr != nil {
		t.Fatal(envErr)
	}
	return envCfg
}

func newScheme(g Gomega) *runtime.Scheme {
	s := runtime.NewScheme()
	g.Expect(clientgoscheme.AddToScheme(s)).To(Succeed())
	g.Expect(mxv1alpha1.AddToScheme(s)).To(Succeed())
	return s
}

// world is one test's namespace and client.
type world struct {
	g  *WithT
	c  client.Client
	ns string
}

func newWorld(t *testing.T, cfg *rest.Config) *world {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(30 * time.Second)
	g.SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
	c, err := client.New(cfg, client.Options{Scheme: newScheme(g)})
	g.Expect(err).NotTo(HaveOccurred())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "mxtest-"}}
	g.Expect(c.Create(context.Background(), ns)).To(Succeed())
	return &world{g: g, c: c, ns: ns.Name}
}

func (w *world) create(objs ...client.Object) {
	for _, o := range objs {
		o.SetNamespace(w.ns)
		w.g.ExpectWithOffset(1, w.c.Create(context.Background(), o)).To(Succeed())
	}
}

// member is an mxbank MXMember of user with credentials in the Secret <name>-creds.
func member(name, user string) *mxv1alpha1.MXMember {
	return &mxv1alpha1.MXMember{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: mxv1alpha1.MXMemberSpec{
			UserRef:              mxv1alpha1.LocalObjectReference{Name: user},
			InstitutionCode:      mxsandbox.InstitutionMXBank,
			CredentialsSecretRef: &mxv1alpha1.LocalObjectReference{Name: name + "-creds"},
		},
	}
}

func creds(name, password string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-creds"},
		StringData: map[string]string{"username": "mxuser", "password": password},
	}
}

// eventuallyStatus waits until m has MX connection status want and returns it.
func (w *world) eventuallyStatus(m *mxv1alpha1.MXMember, want string) {
	w.g.EventuallyWithOffset(1, func(g Gomega) {
		g.Expect(w.c.Get(context.Background(), client.ObjectKeyFromObject(m), m)).To(Succeed())
		g.Expect(m.Status.ConnectionStatus).To(Equal(want))
	}).Should(Succeed())
}

// nonZero returns the sandbox's counters of the endpoints that were called.
func nonZero(sb *mxsandbox.Server) map[string]int {
	out := map[string]int{}
	for k, v := range sb.Calls() {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

func TestRunConnectsAMemberWithExactlyTheExpectedCalls(t *testing.T) {
	cfg := controlPlane(t)
	w := newWorld(t, cfg)
	sb := mxsandbox.Start(t, mxsandbox.Options{AggregationDuration: 200 * time.Millisecond})
	op := mxtest.Run(t, cfg, sb, mxtest.WithNamespaces(w.ns))

	m := member("alice-bank", "alice")
	w.create(&mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Name: "alice"}}, creds("alice-bank", "password"), m)
	w.eventuallyStatus(m, mxsandbox.StatusConnected)
	w.g.Expect(meta.IsStatusConditionTrue(m.Status.Conditions, mxv1alpha1.ReadyCondition)).To(BeTrue())
	w.g.Expect(m.Status.ID).To(Equal(mxtest.DefaultPartnerIDPrefix + ":" + w.ns + "/alice-bank"))

	w.g.Expect(nonZero(sb)).To(Equal(map[string]int{
		mxsandbox.EndpointCreateUser:         1,
		mxsandbox.EndpointListCredentials:    1, // mxbank's credential guids
		mxsandbox.EndpointCreateMember:       1, // starts the aggregation
		mxsandbox.EndpointReadMemberStatus:   1, // the first read sees it finished
		mxsandbox.EndpointListMemberAccounts: 1,
	}))
	snap, ok := sb.Member(m.Status.GUID)
	w.g.Expect(ok).To(BeTrue())
	w.g.Expect(snap.ID).To(Equal(m.Status.ID))
	w.g.Expect(sb.MemberCount()).To(Equal(1))

	w.g.Expect(op.Stop()).To(Succeed())
	w.g.Expect(op.Stop()).To(Succeed(), "Stop is safe to call again")
}

func TestRunUsesTheSandboxClock(t *testing.T) {
	cfg := controlPlane(t)
	w := newWorld(t, cfg)
	start := time.Date(2030, time.January, 2, 9, 0, 0, 0, time.UTC)
	clock := mxsandbox.NewFakeClock(start)
	sb := mxsandbox.Start(t, mxsandbox.Options{Clock: clock})
	mxtest.Run(t, cfg, sb, mxtest.WithNamespaces(w.ns))

	m := member("bob-bank", "bob")
	w.create(&mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Name: "bob"}}, creds("bob-bank", "password"), m)
	w.g.Eventually(func(g Gomega) {
		g.Expect(w.c.Get(context.Background(), client.ObjectKeyFromObject(m), m)).To(Succeed())
		g.Expect(m.Status.GUID).NotTo(BeEmpty())
		g.Expect(m.Status.IsBeingAggregated).To(BeTrue())
	}).Should(Succeed())
	w.g.Consistently(func() string { s, _ := sb.Member(m.Status.GUID); return s.ConnectionStatus }, time.Second).
		Should(Equal(mxsandbox.StatusCreated), "sandbox time stands still")

	sb.Advance(mxsandbox.DefaultAggregationDuration)
	w.eventuallyStatus(m, mxsandbox.StatusConnected)
	w.g.Expect(m.Status.LastReadAt).NotTo(BeNil())
	w.g.Expect(m.Status.LastReadAt.Time).To(BeTemporally("~", start.Add(mxsandbox.DefaultAggregationDuration), time.Second),
		"mx-operator records the sandbox's time, not the real one")
}

func TestRunWithWrongCredentialsIsRefused(t *testing.T) {
	cfg := controlPlane(t)
	w := newWorld(t, cfg)
	sb := mxsandbox.Start(t, mxsandbox.Options{})
	mxtest.Run(t, cfg, sb, mxtest.WithNamespaces(w.ns), mxtest.WithCredentials(sb.Options().ClientID, "wrong"))

	u := &mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Name: "carol"}}
	w.create(u)
	w.g.Eventually(func(g Gomega) {
		g.Expect(w.c.Get(context.Background(), client.ObjectKeyFromObject(u), u)).To(Succeed())
		stalled := meta.FindStatusCondition(u.Status.Conditions, mxv1alpha1.StalledCondition)
		g.Expect(stalled).NotTo(BeNil())
		g.Expect(stalled.Reason).To(Equal(mxv1alpha1.ReasonMXUnauthorized))
	}).Should(Succeed())
	w.g.Expect(sb.UserCount()).To(BeZero())
	w.g.Expect(sb.TotalCalls()).To(BeNumerically(">=", 1), "mx-operator did call the sandbox")
}

// TestRunOAuthMemberConnectsOnceAuthorized plays the end user with the sandbox's Go control API.
func TestRunOAuthMemberConnectsOnceAuthorized(t *testing.T) {
	cfg := controlPlane(t)
	w := newWorld(t, cfg)
	sb := mxsandbox.Start(t, mxsandbox.Options{AggregationDuration: 200 * time.Millisecond})
	mxtest.Run(t, cfg, sb, mxtest.WithNamespaces(w.ns))

	m := &mxv1alpha1.MXMember{
		ObjectMeta: metav1.ObjectMeta{Name: "erin-oauth"},
		Spec: mxv1alpha1.MXMemberSpec{
			UserRef:         mxv1alpha1.LocalObjectReference{Name: "erin"},
			InstitutionCode: mxsandbox.InstitutionMXBankOAuth,
			OAuth:           true,
		},
	}
	w.create(&mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Name: "erin"}}, m)
	w.eventuallyStatus(m, mxsandbox.StatusPending)
	url := w.endUserURL(m, mxv1alpha1.EndUserURLOAuthWindow)

	w.g.Expect(sb.OpenOAuthWindow(url)).To(Succeed())
	w.eventuallyStatus(m, mxsandbox.StatusConnected)
}

// TestRunCreatesOnceDespiteALostAnswer: the member is created in MX, the answer is lost, and
// mx-operator finds it instead of creating a second one.
func TestRunCreatesOnceDespiteALostAnswer(t *testing.T) {
	cfg := controlPlane(t)
	w := newWorld(t, cfg)
	sb := mxsandbox.Start(t, mxsandbox.Options{AggregationDuration: 200 * time.Millisecond})
	sb.SetFault(mxsandbox.EndpointCreateMember, mxsandbox.Fault{CommitThenFail: 1})
	mxtest.Run(t, cfg, sb, mxtest.WithNamespaces(w.ns))

	m := member("fay-bank", "fay")
	w.create(&mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Name: "fay"}}, creds("fay-bank", "password"), m)
	w.eventuallyStatus(m, mxsandbox.StatusConnected)
	w.g.Expect(sb.CallCount(mxsandbox.EndpointCreateMember)).To(BeNumerically(">=", 1))
	w.g.Expect(sb.MemberCount()).To(Equal(1))
}

// TestSetupOperatorOnTheSuitesManager runs mx-operator's controllers in a manager the suite
// owns, with the default credentials of SetupOperator and mxsandbox.Start, through an MFA
// challenge answered by writing the answers Secret.
func TestSetupOperatorOnTheSuitesManager(t *testing.T) {
	cfg := controlPlane(t)
	w := newWorld(t, cfg)
	sb := mxsandbox.Start(t, mxsandbox.Options{AggregationDuration: 200 * time.Millisecond})

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 newScheme(w.g),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Client:                 mxtest.ClientOptions(),
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		// Other tests' MXMembers hold guids of other sandboxes, which count from 1 too.
		Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{w.ns: {}}},
	})
	w.g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	w.g.Expect(mxtest.SetupOperator(ctx, mgr, sb.URL())).To(Succeed())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	m := member("dave-bank", "dave")
	m.Spec.MFA = &mxv1alpha1.MFASpec{AnswersSecretRef: &mxv1alpha1.LocalObjectReference{Name: "dave-answers"}}
	w.create(&mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Name: "dave"}}, creds("dave-bank", "challenge"), m)
	w.eventuallyStatus(m, mxsandbox.StatusChallenged)
	w.g.Expect(m.Status.Challenges).To(HaveLen(1))

	w.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "dave-answers"},
		StringData: map[string]string{m.Status.Challenges[0].GUID: mxsandbox.CorrectAnswer},
	})
	w.eventuallyStatus(m, mxsandbox.StatusConnected)
	w.g.Expect(sb.CallCount(mxsandbox.EndpointResumeMember)).To(Equal(1))
	w.g.Expect(sb.CallCount(mxsandbox.EndpointCreateMember)).To(Equal(1))
}

func TestSetupOperatorNeedsTheMXKindsInTheScheme(t *testing.T) {
	g := NewWithT(t)
	scheme := runtime.NewScheme()
	g.Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	mgr, err := ctrl.NewManager(&rest.Config{Host: "http://127.0.0.1:1"}, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	g.Expect(err).NotTo(HaveOccurred())
	err = mxtest.SetupOperator(context.Background(), mgr, "http://127.0.0.1:1")
	g.Expect(err).To(MatchError(ContainSubstring("lacks the mx.mxoperator.dev kinds")))
}

func TestCRDs(t *testing.T) {
	g := NewWithT(t)
	env := &envtest.Environment{}
	mxtest.InstallCRDs(env)
	mxtest.InstallCRDs(env)
	g.Expect(env.CRDInstallOptions.CRDs).To(HaveLen(6), "InstallCRDs appends")
	g.Expect(env.CRDInstallOptions.CRDs[0]).NotTo(BeIdenticalTo(env.CRDInstallOptions.CRDs[3]), "each call decodes new copies")
}

// TestRunWidgetMemberConnectsInTheWidget plays the end user of a Connect widget member: the URL
// comes from the Secret the operator writes, never from status.
func TestRunWidgetMemberConnectsInTheWidget(t *testing.T) {
	cfg := controlPlane(t)
	w := newWorld(t, cfg)
	sb := mxsandbox.Start(t, mxsandbox.Options{AggregationDuration: 200 * time.Millisecond})
	mxtest.Run(t, cfg, sb, mxtest.WithNamespaces(w.ns))

	m := &mxv1alpha1.MXMember{
		ObjectMeta: metav1.ObjectMeta{Name: "wes-widget"},
		Spec: mxv1alpha1.MXMemberSpec{
			UserRef:         mxv1alpha1.LocalObjectReference{Name: "wes"},
			InstitutionCode: mxsandbox.InstitutionMXBank,
			ConnectWidget:   &mxv1alpha1.ConnectWidgetSpec{},
		},
	}
	w.create(&mxv1alpha1.MXUser{ObjectMeta: metav1.ObjectMeta{Name: "wes"}}, m)
	url := w.endUserURL(m, mxv1alpha1.EndUserURLConnectWidget)

	guid, err := sb.ConnectThroughWidget(url, mxsandbox.WidgetConnect{Username: "mxuser", Password: "password"})
	w.g.Expect(err).NotTo(HaveOccurred())
	w.eventuallyStatus(m, mxsandbox.StatusConnected)
	w.g.Expect(m.Status.GUID).To(Equal(guid))
}

// endUserURL waits until mxtest.EndUserURL gives the member's URL of kind, and returns it.
func (w *world) endUserURL(m *mxv1alpha1.MXMember, kind mxv1alpha1.EndUserURLKind) string {
	var url string
	w.g.Eventually(func(g Gomega) {
		g.Expect(w.c.Get(context.Background(), client.ObjectKeyFromObject(m), m)).To(Succeed())
		u, got, err := mxtest.EndUserURL(context.Background(), w.c, m)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got).To(Equal(kind))
		url = u
	}).Should(Succeed())
	return url
}
