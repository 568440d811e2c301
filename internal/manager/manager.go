// Package manager runs mx-operator: it parses the command line, reads the MX API credentials,
// and starts the controller-runtime manager with the MXUser and MXMember controllers, the MX
// webhook receiver, metrics and health probes. main.go calls Run; so can a demo or a test that
// wants the very same code path.
package manager

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/controller"
	"github.com/mxoperator/mx-operator/internal/metrics"
	"github.com/mxoperator/mx-operator/internal/mx"
	"github.com/mxoperator/mx-operator/internal/txsync"
	"github.com/mxoperator/mx-operator/internal/webhook"
)

// Environment variables read when no credentials Secret is named.
const (
	EnvMXClientID       = "MX_CLIENT_ID"
	EnvMXAPIKey         = "MX_API_KEY"
	EnvWebhookUsername  = "MX_WEBHOOK_USERNAME"
	EnvWebhookPassword  = "MX_WEBHOOK_PASSWORD"
	leaderElectionID    = "mx-operator.mxoperator.dev"
	credentialsClientID = "client_id"
	credentialsAPIKey   = "api_key"
	webhookUsernameKey  = "username"
	webhookPasswordKey  = "password"
)

// partnerIDPrefixPattern is what a partner id prefix may look like: spec.id's characters but
// ":" and "/", which separate the parts of a derived id (so derived ids stay injective).
// webhookResyncInterval is the default resync while MX's webhooks keep the operator informed.
const webhookResyncInterval = 24 * time.Hour

var partnerIDPrefixPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// Options is the parsed command line.
type Options struct {
	MetricsAddr               string
	SecureMetrics             bool
	ProbeAddr                 string
	LeaderElect               bool
	MXCredentialsSecret       string
	MXBaseURL                 string
	PartnerIDPrefix           string
	MaxConcurrentReconciles   int
	MXQPS                     float64
	MXBurst                   int
	AggregationThrottleWindow time.Duration
	ResyncInterval            time.Duration
	WebhookAddr               string
	WebhookCredentialsSecret  string
	Zap                       zap.Options
}

// ParseFlags parses args (without the program name).
func ParseFlags(args []string) (Options, error) {
	var o Options
	fs := flag.NewFlagSet("mx-operator", flag.ContinueOnError)
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", "0", "Address of the metrics endpoint (:8443 for HTTPS, :8080 for HTTP); 0 disables it.")
	fs.BoolVar(&o.SecureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with Kubernetes authentication and authorisation.")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes; 0 disables them.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "Elect a leader, so that only one replica reconciles.")
	fs.StringVar(&o.MXCredentialsSecret, "mx-credentials-secret", "", "namespace/name of the Secret holding the MX API credentials (keys client_id and api_key), read once at start. When empty, the environment variables MX_CLIENT_ID and MX_API_KEY are used.")
	fs.StringVar(&o.MXBaseURL, "mx-base-url", mx.DefaultBaseURL, "MX Platform API root: https://int-api.mx.com (integration) or https://api.mx.com (production).")
	fs.StringVar(&o.PartnerIDPrefix, "partner-id-prefix", controller.DefaultPartnerIDPrefix, "Prefix of the partner ids the operator derives (<prefix>:<namespace>/<name>) for objects without spec.id. Changing it makes existing objects without spec.id look for other MX objects: do not change it once objects exist.")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "Objects of each kind reconciled in parallel.")
	fs.Float64Var(&o.MXQPS, "mx-qps", 10, "Steady rate of MX API requests per second, shared by all controllers; 0 is unlimited.")
	fs.IntVar(&o.MXBurst, "mx-burst", 20, "Burst of MX API requests above --mx-qps.")
	fs.DurationVar(&o.AggregationThrottleWindow, "aggregation-throttle-window", 3*time.Hour, "After a member's last aggregation, how long requested aggregations wait (MX ignores them inside its throttle window).")
	fs.DurationVar(&o.ResyncInterval, "resync-interval", 12*time.Hour, "How often an object in sync is read again from MX (jittered by ±10%). Without the flag it is 24h while the webhook receiver is on: MX's webhooks report what changes.")
	fs.StringVar(&o.WebhookAddr, "mx-webhook-bind-address", "", "Address of the MX webhook receiver (path "+webhook.Path+"); empty disables it.")
	fs.StringVar(&o.WebhookCredentialsSecret, "mx-webhook-credentials-secret", "", "namespace/name of the Secret holding the HTTP Basic pair MX must send to the webhook receiver (keys username and password). When empty, MX_WEBHOOK_USERNAME and MX_WEBHOOK_PASSWORD are used.")
	config.RegisterFlags(fs)
	o.Zap = zap.Options{Development: false}
	o.Zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	resyncSet := false
	fs.Visit(func(f *flag.Flag) { resyncSet = resyncSet || f.Name == "resync-interval" })
	if !resyncSet && o.WebhookAddr != "" {
		o.ResyncInterval = webhookResyncInterval
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if !partnerIDPrefixPattern.MatchString(o.PartnerIDPrefix) {
		return o, fmt.Errorf("--partner-id-prefix %q: use up to 64 letters, digits and ._@- starting with a letter or digit", o.PartnerIDPrefix)
	}
	if o.MaxConcurrentReconciles < 1 {
		return o, errors.New("--max-concurrent-reconciles must be at least 1")
	}
	if o.MXQPS < 0 || o.MXBurst < 0 {
		return o, errors.New("--mx-qps and --mx-burst must not be negative")
	}
	return o, nil
}

// Run parses args (without the program name) and runs the manager until ctx ends.
func Run(ctx context.Context, args []string) error {
	opts, err := ParseFlags(args)
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts.Zap)))
	cfg, err := config.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig: %w", err)
	}
	return RunWithConfig(ctx, cfg, opts)
}

// Scheme returns the scheme the manager uses: Kubernetes' built-in kinds and the
// mx.mxoperator.dev kinds.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := mxv1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// RunWithConfig runs the manager against the cluster of cfg until ctx ends.
func RunWithConfig(ctx context.Context, cfg *rest.Config, opts Options) error {
	log := ctrl.Log.WithName("setup")
	scheme, err := Scheme()
	if err != nil {
		return err
	}
	direct, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("creating a Kubernetes client: %w", err)
	}
	clientID, apiKey, err := secretPair(ctx, direct, opts.MXCredentialsSecret, credentialsClientID, credentialsAPIKey, EnvMXClientID, EnvMXAPIKey)
	if err != nil {
		return fmt.Errorf("reading the MX API credentials: %w", err)
	}
	observer, err := metrics.NewMXObserver(ctrlmetrics.Registry)
	if err != nil {
		return fmt.Errorf("registering the MX metrics: %w", err)
	}
	mxClient, err := mx.New(mx.Config{
		BaseURL:  opts.MXBaseURL,
		ClientID: clientID,
		APIKey:   apiKey,
		QPS:      opts.MXQPS,
		Burst:    opts.MXBurst,
		Observer: observer,
	})
	if err != nil {
		return err
	}

	metricsOpts := metricsserver.Options{BindAddress: opts.MetricsAddr, SecureServing: opts.SecureMetrics}
	if opts.SecureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        opts.ProbeAddr,
		LeaderElection:                opts.LeaderElect,
		LeaderElectionID:              leaderElectionID,
		LeaderElectionReleaseOnCancel: true,
		Client:                        ClientOptions(),
		Cache:                         CacheOptions(),
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}

	timing := controller.Timing{AggregationThrottleWindow: opts.AggregationThrottleWindow, ResyncInterval: opts.ResyncInterval}
	members, err := Setup(ctx, mgr, Controllers{
		MX:                      mxClient,
		FingerprintKey:          FingerprintKey(apiKey),
		PartnerIDPrefix:         opts.PartnerIDPrefix,
		Timing:                  timing,
		MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
		WebhooksEnabled:         opts.WebhookAddr != "",
	})
	if err != nil {
		return err
	}

	if opts.WebhookAddr != "" {
		user, pass, err := secretPair(ctx, direct, opts.WebhookCredentialsSecret, webhookUsernameKey, webhookPasswordKey, EnvWebhookUsername, EnvWebhookPassword)
		if err != nil {
			return fmt.Errorf("reading the webhook receiver's credentials: %w", err)
		}
		receiver, err := webhook.NewReceiver(user, pass, Notifier(members), ctrl.Log.WithName("webhook"))
		if err != nil {
			return err
		}
		if err := mgr.Add(&webhook.Server{Addr: opts.WebhookAddr, Receiver: receiver}); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	log.Info("MX budget", "mxQPS", opts.MXQPS, "mxBurst", opts.MXBurst, "callsPerPair", CallsPerPair,
		"converging", budgetEstimate(opts.MXQPS))
	log.Info("Starting the manager", "mxBaseURL", opts.MXBaseURL, "partnerIDPrefix", opts.PartnerIDPrefix, "webhookReceiver", opts.WebhookAddr != "")
	return mgr.Start(ctx)
}

// ClientOptions are the manager client's options: Secrets are never cached (the controllers read
// the few they need from the API server and watch only Secrets' metadata), and reads from the
// cache wait for the reconciler's own earlier writes, so that a reconcile never acts on a status
// older than one it wrote (for example, never creates a member again because the cache has not
// seen its guid yet). The consistency option is experimental in controller-runtime.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{
		DisableFor:                      []client.Object{&corev1.Secret{}},
		EnableReadYourWritesConsistency: ptr.To(true),
	}}
}

// CallsPerPair is what converging one MXUser with one MXMember costs in MX on the happy path:
// create the user, create the member, one status read once MX has aggregated it, one accounts
// list. Each process also reads an institution's credential fields once an hour. N new pairs
// need about N×CallsPerPair÷--mx-qps seconds of the MX budget (make bench-scale measures it).
const CallsPerPair = 4

// budgetEstimate says how long the MX budget takes to converge 1,000 pairs, for the start-up log.
func budgetEstimate(qps float64) string {
	if qps <= 0 {
		return "unlimited: MX's own rate limits apply"
	}
	d := time.Duration(float64(1000*CallsPerPair) / qps * float64(time.Second))
	return fmt.Sprintf("1000 pairs need %d calls, about %s at %g calls/s (N pairs: N×%d÷qps seconds)", 1000*CallsPerPair, d.Round(time.Second), qps, CallsPerPair)
}

// lastAppliedAnnotation is where a client-side kubectl apply keeps a copy of the whole object as
// last applied (for a Secret: its data).
const lastAppliedAnnotation = corev1.LastAppliedConfigAnnotation

// CacheOptions are the manager cache's options: what the controllers never read is dropped before
// an object is cached (StripUnread), and Secrets, whose metadata only is watched, keep nothing but
// their identity (SecretIdentity). With a few MXMembers and their Secrets per MXUser, managed
// fields are most of a cached object.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: StripUnread,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:       {Transform: SecretIdentity},
			&mxv1alpha1.MXMember{}: {Transform: StripMemberUnread},
		},
	}
}

// StripUnread is the cache's transform for every kind: it drops managedFields and the
// kubectl.kubernetes.io/last-applied-configuration annotation, which no controller reads. The
// controllers write with merge patches computed against the object they read, so fields missing
// from the cache are never written back or removed. Anything without object metadata (a
// tombstone) is returned as it is.
func StripUnread(in any) (any, error) {
	obj, err := meta.Accessor(in)
	if err != nil {
		return in, nil
	}
	if obj.GetManagedFields() != nil {
		obj.SetManagedFields(nil)
	}
	if a := obj.GetAnnotations(); a != nil {
		if _, ok := a[lastAppliedAnnotation]; ok {
			delete(a, lastAppliedAnnotation)
			if len(a) == 0 {
				a = nil
			}
			obj.SetAnnotations(a)
		}
	}
	return in, nil
}

// StripMemberUnread is the cache's transform for MXMembers: StripUnread, and status.accounts,
// the account summaries the MXMember controller writes after listing an aggregation's accounts
// and never reads back (status.accountsAsOf and accountCount, which it does read, stay). With up
// to 50 summaries a member, they are most of a cached MXMember. Status is written with merge
// patches against the cached object, so the summaries in the API server are kept until replaced.
func StripMemberUnread(in any) (any, error) {
	if m, ok := in.(*mxv1alpha1.MXMember); ok {
		m.Status.Accounts = nil
	}
	return StripUnread(in)
}

// SecretIdentity is the cache's transform for Secrets: it keeps only the metadata the controllers
// read from the cache (namespace, name, uid, resourceVersion, and the creation and deletion
// timestamps), so that no Secret data is cached whichever way Secrets are watched: not in a full
// object's data, not in labels or annotations (a last-applied annotation holds the data). The
// controllers read a Secret's data from the API server (ClientOptions).
func SecretIdentity(in any) (any, error) {
	obj, err := meta.Accessor(in)
	if err != nil {
		return in, nil
	}
	id := metav1.ObjectMeta{
		Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID(), ResourceVersion: obj.GetResourceVersion(),
		CreationTimestamp: obj.GetCreationTimestamp(), DeletionTimestamp: obj.GetDeletionTimestamp(),
	}
	switch o := in.(type) {
	case *metav1.PartialObjectMetadata:
		o.ObjectMeta = id
		return o, nil
	case *corev1.Secret:
		return &corev1.Secret{TypeMeta: o.TypeMeta, ObjectMeta: id, Type: o.Type}, nil
	}
	return StripUnread(in)
}

// MXAPI is the MX API both controllers use; *mx.Client implements it.
type MXAPI interface {
	controller.UserAPI
	controller.MemberAPI
}

// Controllers is what Setup needs besides the manager.
type Controllers struct {
	// MX is the MX API client.
	MX MXAPI
	// FingerprintKey keys the credentials fingerprints in MXMember status (FingerprintKey).
	FingerprintKey          []byte
	PartnerIDPrefix         string
	Timing                  controller.Timing
	MaxConcurrentReconciles int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// WebhooksEnabled says that the webhook receiver runs, so PENDING OAuth members are not polled.
	WebhooksEnabled bool
	// Sink tunes the delivery of MXTransactionSyncs (timeouts, backoff, the retry budget of one
	// window); zero fields take txsync's defaults. The MXTransactionSync controller runs when
	// MX also implements controller.TransactionAPI (as *mx.Client does).
	Sink txsync.SenderConfig
}

// FingerprintKey derives the key of the credentials fingerprints (an HMAC in MXMember status)
// from the MX API key: the operator holds it, readers of MXMembers do not. A new API key
// re-sends each member's credentials once, the next time its Secret changes.
func FingerprintKey(apiKey string) []byte {
	mac := hmac.New(sha256.New, []byte(apiKey))
	mac.Write([]byte("mx-operator credentials fingerprint v1"))
	return mac.Sum(nil)
}

// Setup registers the field indexes and both controllers with mgr and returns the MXMember
// reconciler (the target of MX webhooks).
func Setup(ctx context.Context, mgr ctrl.Manager, c Controllers) (*controller.MXMemberReconciler, error) {
	if err := controller.SetupIndexes(ctx, mgr.GetFieldIndexer(), c.PartnerIDPrefix); err != nil {
		return nil, fmt.Errorf("registering field indexes: %w", err)
	}
	users := &controller.MXUserReconciler{
		Client:                  mgr.GetClient(),
		MX:                      c.MX,
		Recorder:                mgr.GetEventRecorder("mx-operator-mxuser"),
		PartnerIDPrefix:         c.PartnerIDPrefix,
		Timing:                  c.Timing,
		Now:                     c.Now,
		MaxConcurrentReconciles: c.MaxConcurrentReconciles,
	}
	if err := users.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the MXUser controller: %w", err)
	}
	members := &controller.MXMemberReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		MetadataReader:          mgr.GetCache(),
		MX:                      c.MX,
		Recorder:                mgr.GetEventRecorder("mx-operator-mxmember"),
		FingerprintKey:          c.FingerprintKey,
		PartnerIDPrefix:         c.PartnerIDPrefix,
		Timing:                  c.Timing,
		Now:                     c.Now,
		MaxConcurrentReconciles: c.MaxConcurrentReconciles,
		WebhooksEnabled:         c.WebhooksEnabled,
		UserGone:                users.UserChanged,
	}
	if err := members.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the MXMember controller: %w", err)
	}
	if tx, ok := c.MX.(controller.TransactionAPI); ok {
		syncs := &controller.MXTransactionSyncReconciler{
			Client: mgr.GetClient(), MX: tx, Recorder: mgr.GetEventRecorder("mx-operator-mxtransactionsync"),
			Timing: c.Timing, Sender: c.Sink, Now: c.Now, MaxConcurrentReconciles: c.MaxConcurrentReconciles,
		}
		if err := syncs.SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("setting up the MXTransactionSync controller: %w", err)
		}
	}
	if rc, ok := c.MX.(interface{ OnRecovered(func()) }); ok {
		// When MX answers again after a storm, the objects waiting for it go first, not on
		// their own backoff timers.
		rc.OnRecovered(func() {
			users.MXRecovered(ctx)
			members.MXRecovered(ctx)
		})
	}
	return members, nil
}

// Notifier adapts the MXMember reconciler to the webhook receiver.
func Notifier(members *controller.MXMemberReconciler) webhook.NotifyFunc {
	return func(ctx context.Context, n webhook.Notification) {
		members.MemberChanged(ctx, n.MemberGUID, n.UserGUID)
	}
}

// secretPair reads two values from the Secret ref ("namespace/name") or, when ref is empty,
// from two environment variables. Both values are required; errors never contain them.
func secretPair(ctx context.Context, c client.Reader, ref, key1, key2, env1, env2 string) (string, string, error) {
	if ref == "" {
		v1, v2 := os.Getenv(env1), os.Getenv(env2)
		if v1 == "" || v2 == "" {
			return "", "", fmt.Errorf("name a Secret or set %s and %s", env1, env2)
		}
		return v1, v2, nil
	}
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" {
		return "", "", fmt.Errorf("%q is not namespace/name", ref)
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, secret); err != nil {
		return "", "", fmt.Errorf("reading Secret %s: %w", ref, err)
	}
	v1, v2 := string(secret.Data[key1]), string(secret.Data[key2])
	if v1 == "" || v2 == "" {
		return "", "", fmt.Errorf("secret %s needs the keys %s and %s", ref, key1, key2)
	}
	return v1, v2, nil
}
