// Package mxtest runs mx-operator inside another project's envtest suite, against the MX sandbox
// (package mxsandbox), so that a controller which creates MXUsers and MXMembers can be tested
// end to end without an MX account or a cluster:
//
//	mxtest.InstallCRDs(env)                                 // before env.Start()
//	sb := mxsandbox.Start(t, mxsandbox.Options{AggregationDuration: 200 * time.Millisecond})
//	mxtest.Run(t, cfg, sb)                                  // mx-operator, until the test ends
//
// Run starts mx-operator's own manager in the test's process; SetupOperator adds mx-operator's
// controllers to a manager the suite already has. Both use the production wiring (the same
// controllers, indexes and client options as the mx-operator binary) with DefaultTiming: short
// polls, so members settle within a second or two. Drive outcomes through the sandbox (mxbank
// passwords, faults, the fake clock) and assert what MX saw with its call counters.
// docs/testing.md is the guide.
//
// Every sandbox counts guids from 1, so an operator must only see the objects made against its
// own sandbox: when tests share a control plane, give each its namespace and Run
// WithNamespaces (or restrict the cache of the manager given to SetupOperator).
//
// The CRDs are embedded (package crds): nothing is read from disk, so the suite works from any
// module that requires github.com/mxoperator/mx-operator.
package mxtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/controller"
	"github.com/mxoperator/mx-operator/internal/manager"
	"github.com/mxoperator/mx-operator/internal/mx"
	"github.com/mxoperator/mx-operator/pkg/mxsandbox"
	"github.com/mxoperator/mx-operator/pkg/mxtest/crds"
)

// CRDs returns new copies of mx-operator's CustomResourceDefinitions (MXUser and MXMember),
// embedded in this module. It panics only if the embedded files cannot be decoded, which this
// module's tests rule out.
func CRDs() []*apiextensionsv1.CustomResourceDefinition {
	list, err := crds.Decode()
	if err != nil {
		panic(fmt.Sprintf("mxtest: the embedded CRDs: %v", err))
	}
	return list
}

// InstallCRDs adds mx-operator's CRDs to env.CRDInstallOptions.CRDs, so that env.Start installs
// them together with the suite's own. Call it before env.Start.
func InstallCRDs(env *envtest.Environment) {
	env.CRDInstallOptions.CRDs = append(env.CRDInstallOptions.CRDs, CRDs()...)
}

// ClientOptions are the client options mx-operator's manager runs with: Secrets are not cached
// and cached reads wait for the manager's own writes. A manager given to SetupOperator should
// use them (Run's does), or mx-operator may act on a stale status (for example, create a
// member twice).
func ClientOptions() client.Options {
	return manager.ClientOptions()
}

// Timing is how long mx-operator waits between MX calls: poll intervals, retries and resyncs.
// Its fields and their production defaults are documented on
// github.com/mxoperator/mx-operator/internal/controller.Timing; a zero field takes the
// production default, not DefaultTiming's.
type Timing = controller.Timing

// DefaultTiming is the timing Run and SetupOperator use unless WithTiming is given: the first
// status read 700 ms after an aggregation starts, growing to 2 s; 429s retried after 1 s;
// errors backed off from 100 ms to 1 s; PENDING OAuth members read every 1-2 s. With a sandbox
// AggregationDuration of at most 500 ms of real time, the first status read sees the step
// finished, so call counts are deterministic. Waits that a test rarely wants to sit through
// stay long: resync 12 h, the aggregation throttle window 3 h, FAILED members re-read after 1 h.
func DefaultTiming() Timing {
	return Timing{
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
}

// DefaultPartnerIDPrefix is the prefix of the partner ids mx-operator derives in tests
// (mxtest:<namespace>/<name>) unless WithPartnerIDPrefix is given.
const DefaultPartnerIDPrefix = "mxtest"

// Option changes how Run and SetupOperator run mx-operator.
type Option func(*options)

type options struct {
	clientID, apiKey string
	timing           Timing
	partnerIDPrefix  string
	maxConcurrent    int
	now              func() time.Time
	namespaces       []string
	logger           *logr.Logger
}

// WithCredentials sets the MX client_id and api_key mx-operator sends. SetupOperator defaults
// to mxsandbox.DefaultClientID and DefaultAPIKey, Run to the sandbox's own; other values make
// the sandbox answer 401, which is how a test sees mx-operator refused.
func WithCredentials(clientID, apiKey string) Option {
	return func(o *options) { o.clientID, o.apiKey = clientID, apiKey }
}

// WithTiming replaces DefaultTiming. Start from DefaultTiming() to change a few fields.
func WithTiming(t Timing) Option {
	return func(o *options) { o.timing = t }
}

// WithPartnerIDPrefix sets the prefix of derived partner ids (default DefaultPartnerIDPrefix).
func WithPartnerIDPrefix(prefix string) Option {
	return func(o *options) { o.partnerIDPrefix = prefix }
}

// WithMaxConcurrentReconciles sets how many objects of each kind mx-operator reconciles in
// parallel (default 2).
func WithMaxConcurrentReconciles(n int) Option {
	return func(o *options) { o.maxConcurrent = n }
}

// WithClock sets mx-operator's clock (the times it records and compares with MX's). Run
// defaults to the sandbox's clock, so a sandbox on a *mxsandbox.FakeClock moves both with
// Advance; SetupOperator defaults to time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithNamespaces limits what Run's manager sees to these namespaces (by default it sees all),
// so that several operators in one process do not reconcile each other's objects. SetupOperator
// ignores it: the cache is the given manager's.
func WithNamespaces(namespaces ...string) Option {
	return func(o *options) { o.namespaces = append(o.namespaces, namespaces...) }
}

// WithLogger sets the logger of Run's manager (by default controller-runtime's global logger,
// set with ctrl.SetLogger). SetupOperator ignores it.
func WithLogger(l logr.Logger) Option {
	return func(o *options) { o.logger = &l }
}

func resolve(opts []Option, base options) options {
	o := base
	o.timing = DefaultTiming()
	o.partnerIDPrefix = DefaultPartnerIDPrefix
	o.maxConcurrent = 2
	for _, f := range opts {
		f(&o)
	}
	return o
}

// SetupOperator adds mx-operator's field indexes and its MXUser and MXMember controllers to
// mgr, talking to the MX API at sandboxURL (an mxsandbox.Server's URL, or any MX sandbox). The
// controllers run while mgr runs: call it before mgr.Start. mgr's scheme must hold the
// mx.mxoperator.dev kinds (mxv1alpha1.AddToScheme), its client should use ClientOptions, and
// since controller-runtime allows one controller of a name per process, a suite that creates
// more than one such manager needs config.Controller{SkipNameValidation: ptr.To(true)}.
func SetupOperator(ctx context.Context, mgr ctrl.Manager, sandboxURL string, opts ...Option) error {
	o := resolve(opts, options{clientID: mxsandbox.DefaultClientID, apiKey: mxsandbox.DefaultAPIKey})
	return setup(ctx, mgr, sandboxURL, o)
}

func setup(ctx context.Context, mgr ctrl.Manager, sandboxURL string, o options) error {
	for _, obj := range []client.Object{&mxv1alpha1.MXUser{}, &mxv1alpha1.MXMember{}} {
		if _, err := apiutil.GVKForObject(obj, mgr.GetScheme()); err != nil {
			return fmt.Errorf("mxtest: the manager's scheme lacks the mx.mxoperator.dev kinds (add mxv1alpha1.AddToScheme): %w", err)
		}
	}
	api, err := mx.New(mx.Config{
		BaseURL: sandboxURL, ClientID: o.clientID, APIKey: o.apiKey,
		MaxRetries: 2, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Timeout: 5 * time.Second,
		CoolDownMin: 50 * time.Millisecond, CoolDownMax: 500 * time.Millisecond,
	})
	if err != nil {
		return fmt.Errorf("mxtest: %w", err)
	}
	_, err = manager.Setup(ctx, mgr, manager.Controllers{
		MX:                      api,
		FingerprintKey:          manager.FingerprintKey(o.apiKey),
		PartnerIDPrefix:         o.partnerIDPrefix,
		Timing:                  o.timing,
		Now:                     o.now,
		MaxConcurrentReconciles: o.maxConcurrent,
	})
	if err != nil {
		return fmt.Errorf("mxtest: %w", err)
	}
	return nil
}

// TB is the part of testing.TB that Run uses. *testing.T, *testing.B and Ginkgo's GinkgoT()
// satisfy it.
type TB interface {
	mxsandbox.TB
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
}

// Operator is mx-operator running in the test's process, started by Run.
type Operator struct {
	cancel   context.CancelFunc
	done     chan struct{}
	err      error
	stopOnce sync.Once
}

// Stop stops mx-operator and waits until its manager has stopped. It returns the error the
// manager stopped with, nil after a clean stop; calling it again returns the same.
func (o *Operator) Stop() error {
	o.stopOnce.Do(func() {
		o.cancel()
		<-o.done
	})
	return o.err
}

// Run starts mx-operator in a manager of its own against the API server of cfg and the sandbox
// sb, and stops it when the test ends (t.Cleanup; a manager that failed fails the test then).
// The manager serves no metrics or probes, elects no leader and may be started again in the same
// process (a later test, or after Stop to play a restart). It uses sb's credentials and clock
// unless options say otherwise. Setup errors fail the test at once.
func Run(t TB, cfg *rest.Config, sb *mxsandbox.Server, opts ...Option) *Operator {
	t.Helper()
	sbOpts := sb.Options()
	base := options{clientID: sbOpts.ClientID, apiKey: sbOpts.APIKey}
	if sbOpts.Clock != nil {
		base.now = sbOpts.Clock.Now
	}
	o := resolve(opts, base)

	scheme, err := manager.Scheme()
	if err != nil {
		t.Fatalf("mxtest: %v", err)
		return nil
	}
	mgrOpts := ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Client:                 ClientOptions(),
		Cache:                  manager.CacheOptions(),
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	}
	if len(o.namespaces) > 0 {
		mgrOpts.Cache.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range o.namespaces {
			mgrOpts.Cache.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	if o.logger != nil {
		mgrOpts.Logger = *o.logger
	}
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		t.Fatalf("mxtest: creating mx-operator's manager: %v", err)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := setup(ctx, mgr, sb.URL(), o); err != nil {
		cancel()
		t.Fatalf("%v", err)
		return nil
	}
	op := &Operator{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(op.done)
		err := mgr.Start(ctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			op.err = err
			t.Logf("mxtest: mx-operator's manager stopped: %v", err)
		}
	}()
	t.Cleanup(func() {
		if err := op.Stop(); err != nil {
			t.Errorf("mxtest: mx-operator's manager stopped: %v", err)
		}
	})
	return op
}

// ErrNoEndUserURL is returned by EndUserURL while the member shows no available end-user URL.
var ErrNoEndUserURL = errors.New("mxtest: the MXMember has no available end-user URL (status.endUserURL)")

// EndUserURL returns the URL the operator wrote for the member's end user — a Connect widget URL
// (to connect or repair the member) or an OAuth window — from the Secret status.endUserURL names,
// with its kind. Give it to the sandbox to play the end user: Sandbox.ConnectThroughWidget,
// Sandbox.RepairThroughWidget or Sandbox.OpenOAuthWindow. It fails with ErrNoEndUserURL while the
// status shows none; poll it with Eventually. m is read as given: refresh it first.
func EndUserURL(ctx context.Context, c client.Reader, m *mxv1alpha1.MXMember) (string, mxv1alpha1.EndUserURLKind, error) {
	u := m.Status.EndUserURL
	if u == nil || !u.Available {
		return "", "", ErrNoEndUserURL
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: u.SecretName}, secret); err != nil {
		return "", "", fmt.Errorf("mxtest: reading the end-user URL Secret %s: %w", u.SecretName, err)
	}
	url := string(secret.Data["url"])
	if url == "" {
		return "", "", ErrNoEndUserURL
	}
	return url, mxv1alpha1.EndUserURLKind(secret.Data["kind"]), nil
}
