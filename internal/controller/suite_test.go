package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http/httptest"
	kstatuslib "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/controller"
	"github.com/mxoperator/mx-operator/internal/manager"
	"github.com/mxoperator/mx-operator/internal/mx"
	"github.com/mxoperator/mx-operator/internal/testenv"
	"github.com/mxoperator/mx-operator/internal/txsync"
	"github.com/mxoperator/mx-operator/internal/webhook"
	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

// The user stories run the real reconcilers in a real manager against a real API server
// (envtest) and the MX sandbox over real HTTP. Every story gets its own namespace, its own
// sandbox (so guids and call counters start from zero) and its own manager, whose cache only
// sees that namespace.
//
// Timing is chosen so that call counts are deterministic: the sandbox finishes an aggregation
// step after aggregationStep of real time, and the operator's first status read comes
// testTiming.PollInterval after the call that started it. A requeue never fires early, so the
// first read always sees the step finished.

const (
	testClientID    = "test-client"
	testAPIKey      = "test-api-key"
	webhookUser     = "mx-webhooks"
	webhookPassword = "webhook-password"
	aggregationStep = 200 * time.Millisecond
)

var testTiming = controller.Timing{
	PollInterval:              700 * time.Millisecond,
	MaxPollInterval:           2 * time.Second,
	RetryLaterInterval:        time.Hour,
	ResyncInterval:            12 * time.Hour,
	AggregationThrottleWindow: 3 * time.Hour,
	UnauthorizedRetryInterval: time.Hour,
	WaitingRetryInterval:      time.Hour,
	FailureBaseDelay:          100 * time.Millisecond,
	FailureMaxDelay:           time.Second,
	OAuthPollInterval:         time.Second,
	OAuthMaxPollInterval:      2 * time.Second,
}

// testSink is how the stories' managers reach sinks: one window retries for at most 3s of
// waits, so an unreachable sink shows within seconds.
var testSink = txsync.SenderConfig{Timeout: 2 * time.Second, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Budget: 3 * time.Second}

var (
	cfg       *rest.Config
	k8sClient client.Client
	testEnv   *envtest.Environment
	logs      = &syncBuffer{}
)

func TestStories(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "MXUser and MXMember stories")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(io.MultiWriter(GinkgoWriter, logs)), zap.UseDevMode(true), zap.Level(zapcore.Level(-5))))
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	SetDefaultConsistentlyDuration(2 * time.Second)
	SetDefaultConsistentlyPollingInterval(100 * time.Millisecond)

	var err error
	testEnv, err = testenv.New()
	Expect(err).NotTo(HaveOccurred())
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	scheme, err := testenv.Scheme()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// syncBuffer is a bytes.Buffer safe for concurrent writers: the captured logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// storyOptions vary a story's sandbox and manager.
type storyOptions struct {
	// fakeClock runs the sandbox and the operator on one fake clock that only the story moves.
	fakeClock bool
	// webhooks makes the sandbox deliver webhooks to the operator's receiver.
	webhooks bool
	// apiKey is the operator's MX API key; testAPIKey when empty.
	apiKey string
	// namespaces is how many more namespaces the story (and its manager's cache) has, in
	// story.more.
	namespaces int
	// production gives the MX client the production budget and cool-downs (mx's defaults) at
	// this many requests per second, instead of the stories' short ones.
	production float64
}

// story is one user story's world: a namespace, a sandbox and a running manager.
type story struct {
	ns      string
	more    []string
	sb      *sandbox.Sandbox
	mxURL   string
	opts    storyOptions
	clock   *sandbox.FakeClock
	hookLn  net.Listener
	members *controller.MXMemberReconciler
	stopMgr func()
}

// newStory creates the namespace and the sandbox and starts a manager on the plain MX client.
func newStory(opts storyOptions) *story {
	s := &story{opts: opts}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "story-"}}
	Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
	s.ns = ns.Name
	for i := range opts.namespaces {
		// The first is the story's namespace with "-x": derived ids must not collide across them.
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.ns + "-" + string(rune('x'+i))}}
		Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
		s.more = append(s.more, ns.Name)
	}

	sbOpts := sandbox.Options{ClientID: testClientID, APIKey: testAPIKey, AggregationDuration: aggregationStep}
	if opts.fakeClock {
		s.clock = sandbox.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		sbOpts.Clock = s.clock
	}
	if opts.webhooks {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		s.hookLn = ln
		sbOpts.WebhookURL = "http://" + ln.Addr().String() + webhook.Path
		sbOpts.WebhookUsername, sbOpts.WebhookPassword = webhookUser, webhookPassword
	}
	s.sb = sandbox.New(sbOpts)
	srv := httptest.NewServer(s.sb)
	s.mxURL = srv.URL
	DeferCleanup(func() {
		s.stop()
		srv.Close()
		s.sb.Close()
	})
	s.start(s.mxClient())
	return s
}

// mxClient returns an MX client for the story's sandbox with short retry backoffs.
func (s *story) mxClient() *mx.Client {
	key := s.opts.apiKey
	if key == "" {
		key = testAPIKey
	}
	cfg := mx.Config{
		BaseURL: s.mxURL, ClientID: testClientID, APIKey: key,
		MaxRetries: 2, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Timeout: 5 * time.Second,
		CoolDownMin: 50 * time.Millisecond, CoolDownMax: 2 * time.Second,
	}
	if qps := s.opts.production; qps > 0 {
		cfg = mx.Config{BaseURL: s.mxURL, ClientID: testClientID, APIKey: key, QPS: qps, Burst: int(qps)}
	}
	c, err := mx.New(cfg)
	Expect(err).NotTo(HaveOccurred())
	return c
}

// start runs a manager with the production wiring (manager.Setup, manager.ClientOptions) on api,
// watching only the story's namespace.
func (s *story) start(api manager.MXAPI) {
	s.startWith(func(func()) manager.MXAPI { return api })
}

// startWith is start with an MX API built knowing how to cancel the manager (without waiting
// for it), which is how a test plays a crash.
func (s *story) startWith(build func(cancel func()) manager.MXAPI) {
	ctx, cancel := context.WithCancel(context.Background())
	api := build(cancel)
	scheme, err := testenv.Scheme()
	Expect(err).NotTo(HaveOccurred())
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  s.cacheOptions(),
		Client:                 manager.ClientOptions(),
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	var now func() time.Time
	if s.clock != nil {
		now = s.clock.Now
	}
	s.members, err = manager.Setup(ctx, mgr, manager.Controllers{
		MX: api, FingerprintKey: manager.FingerprintKey(testAPIKey), PartnerIDPrefix: "test", Timing: testTiming, Now: now,
		MaxConcurrentReconciles: 2, WebhooksEnabled: s.opts.webhooks, Sink: testSink,
	})
	Expect(err).NotTo(HaveOccurred())
	if s.hookLn != nil {
		receiver, err := webhook.NewReceiver(webhookUser, webhookPassword, manager.Notifier(s.members), ctrl.Log.WithName("webhook"))
		Expect(err).NotTo(HaveOccurred())
		Expect(mgr.Add(&webhook.Server{Listener: s.hookLn, Receiver: receiver})).To(Succeed())
		s.hookLn = nil // a listener serves one manager
	}
	done := make(chan struct{})
	var once sync.Once
	s.stopMgr = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	go func() {
		defer GinkgoRecover()
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			GinkgoWriter.Printf("manager stopped: %v\n", err)
		}
	}()
}

// cacheOptions are the production cache's (manager.CacheOptions: what the controllers never read
// is dropped) on the story's namespaces.
func (s *story) cacheOptions() cache.Options {
	o := manager.CacheOptions()
	o.DefaultNamespaces = s.cachedNamespaces()
	return o
}

// cachedNamespaces are the namespaces the story's manager sees.
func (s *story) cachedNamespaces() map[string]cache.Config {
	out := map[string]cache.Config{s.ns: {}}
	for _, ns := range s.more {
		out[ns] = cache.Config{}
	}
	return out
}

// stop stops the running manager and waits until it has.
func (s *story) stop() {
	if s.stopMgr != nil {
		s.stopMgr()
	}
}

// restart stops the manager and starts a fresh one (empty memory and caches) on api.
func (s *story) restart(api manager.MXAPI) {
	s.stop()
	s.start(api)
}

// Object builders.

func (s *story) user(name string, mutate ...func(*mxv1alpha1.MXUser)) *mxv1alpha1.MXUser {
	u := &mxv1alpha1.MXUser{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns},
		Spec:       mxv1alpha1.MXUserSpec{Email: name + "@example.com"},
	}
	for _, m := range mutate {
		m(u)
	}
	return u
}

func (s *story) member(name, user, secret string, mutate ...func(*mxv1alpha1.MXMember)) *mxv1alpha1.MXMember {
	m := &mxv1alpha1.MXMember{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns},
		Spec: mxv1alpha1.MXMemberSpec{
			UserRef:              mxv1alpha1.LocalObjectReference{Name: user},
			InstitutionCode:      sandbox.InstitutionMXBank,
			CredentialsSecretRef: &mxv1alpha1.LocalObjectReference{Name: secret},
		},
	}
	for _, f := range mutate {
		f(m)
	}
	return m
}

func (s *story) secret(name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns}, StringData: data}
}

func (s *story) create(objs ...client.Object) {
	for _, o := range objs {
		ExpectWithOffset(1, k8sClient.Create(context.Background(), o)).To(Succeed())
	}
}

// readyUser creates an MXUser and waits until it is Ready, then zeroes the sandbox's counters.
func (s *story) readyUser(name string) *mxv1alpha1.MXUser {
	u := s.user(name)
	s.create(u)
	EventuallyWithOffset(1, func(g Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(u), u)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(u.Status.Conditions, mxv1alpha1.ReadyCondition)).To(BeTrue())
	}).Should(Succeed())
	s.sb.ResetCalls()
	return u
}

// get reads obj from the API server.
func get[T client.Object](g Gomega, obj T) T {
	g.ExpectWithOffset(1, k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	return obj
}

// conditionsOf returns the conditions of an MXUser or MXMember.
func conditionsOf(obj client.Object) []metav1.Condition {
	return obj.(interface{ GetConditions() []metav1.Condition }).GetConditions()
}

// haveCondition matches an object whose condition typ has status and reason.
func expectCondition(g Gomega, obj client.Object, typ string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	c := meta.FindStatusCondition(conditionsOf(obj), typ)
	g.ExpectWithOffset(1, c).NotTo(BeNil(), "condition %s", typ)
	g.ExpectWithOffset(1, c.Status).To(Equal(status), "condition %s: %s", typ, c.Message)
	g.ExpectWithOffset(1, c.Reason).To(Equal(reason), "condition %s: %s", typ, c.Message)
	return c
}

// eventuallyReady waits until obj is Ready (reason Succeeded) and kstatus says Current.
func eventuallyReady(obj client.Object) {
	EventuallyWithOffset(1, func(g Gomega) {
		get(g, obj)
		expectCondition(g, obj, mxv1alpha1.ReadyCondition, metav1.ConditionTrue, mxv1alpha1.ReasonSucceeded)
		g.Expect(kstatus(obj)).To(Equal(statusCurrent))
	}).Should(Succeed())
}

// eventuallyStalled waits until obj is Stalled with reason and kstatus says Failed.
func eventuallyStalled(obj client.Object, reason string) *metav1.Condition {
	var c *metav1.Condition
	EventuallyWithOffset(1, func(g Gomega) {
		get(g, obj)
		c = expectCondition(g, obj, mxv1alpha1.StalledCondition, metav1.ConditionTrue, reason)
		expectCondition(g, obj, mxv1alpha1.ReadyCondition, metav1.ConditionFalse, reason)
		g.Expect(meta.FindStatusCondition(conditionsOf(obj), mxv1alpha1.ReconcilingCondition)).To(BeNil())
		g.Expect(kstatus(obj)).To(Equal(statusFailed))
	}).Should(Succeed())
	return c
}

// eventuallyReconciling waits until obj is Reconciling with reason and kstatus says InProgress.
func eventuallyReconciling(obj client.Object, reason string) *metav1.Condition {
	var c *metav1.Condition
	EventuallyWithOffset(1, func(g Gomega) {
		get(g, obj)
		c = expectCondition(g, obj, mxv1alpha1.ReconcilingCondition, metav1.ConditionTrue, reason)
		expectCondition(g, obj, mxv1alpha1.ReadyCondition, metav1.ConditionFalse, reason)
		g.Expect(meta.FindStatusCondition(conditionsOf(obj), mxv1alpha1.StalledCondition)).To(BeNil())
		g.Expect(kstatus(obj)).To(Equal(statusInProgress))
	}).Should(Succeed())
	return c
}

// reconciles returns how many reconciles the named controller has finished in this process, from
// controller-runtime's own metrics.
func reconciles(controllerName string) float64 {
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	total := 0.0
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == controllerName {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

// calls returns the sandbox's counters without the endpoints that were not called.
func (s *story) calls() map[string]int {
	out := map[string]int{}
	for k, v := range s.sb.Calls() {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

// namespaceDump renders every MXUser, MXMember and Event of the story's namespace as JSON.
func (s *story) namespaceDump() string {
	var out bytes.Buffer
	for _, list := range []client.ObjectList{&mxv1alpha1.MXUserList{}, &mxv1alpha1.MXMemberList{}, &eventsv1.EventList{}, &corev1.EventList{}} {
		Expect(k8sClient.List(context.Background(), list, client.InNamespace(s.ns))).To(Succeed())
		b, err := json.Marshal(list)
		Expect(err).NotTo(HaveOccurred())
		out.Write(b)
	}
	return out.String()
}

// kstatus statuses.
const (
	statusCurrent     = "Current"
	statusInProgress  = "InProgress"
	statusFailed      = "Failed"
	statusTerminating = "Terminating"
)

// kstatus returns what sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute (used by Flux, kpt and
// Argo CD's kstatus-based health) computes for obj: Current, InProgress, Failed or Terminating.
func kstatus(obj client.Object) string {
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	Expect(err).NotTo(HaveOccurred())
	res, err := kstatuslib.Compute(&unstructured.Unstructured{Object: raw})
	Expect(err).NotTo(HaveOccurred())
	return res.Status.String()
}
