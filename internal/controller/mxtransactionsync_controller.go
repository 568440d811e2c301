package controller

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/txsync"
)

// +kubebuilder:rbac:groups=mx.mxoperator.dev,resources=mxtransactionsyncs,verbs=get;list;watch
// +kubebuilder:rbac:groups=mx.mxoperator.dev,resources=mxtransactionsyncs/status,verbs=get;update;patch

// TransactionAPI is the MX call the MXTransactionSync controller makes; *mx.Client implements
// it. Errors are classified as for MemberAPI (mx.Classify); an error returned by fn comes back
// as it is.
type TransactionAPI = txsync.Pager

// indexSyncMember indexes MXTransactionSyncs by spec.memberRef.name.
const indexSyncMember = "spec.memberRef.name"

var syncStatus = statusAccess[*mxv1alpha1.MXTransactionSync, mxv1alpha1.MXTransactionSyncStatus]{
	status:             func(s *mxv1alpha1.MXTransactionSync) *mxv1alpha1.MXTransactionSyncStatus { return &s.Status },
	conditions:         func(s *mxv1alpha1.MXTransactionSync) *[]metav1.Condition { return &s.Status.Conditions },
	observedGeneration: func(s *mxv1alpha1.MXTransactionSync) *int64 { return &s.Status.ObservedGeneration },
}

// MXTransactionSyncReconciler delivers an MXMember's transactions to a sink as CloudEvents
// (package txsync). It reads MX only when the member's successfullyAggregatedAt moves past the
// last window's (and once at creation, on a spec change or on the reconcile-requested-at
// annotation): it watches MXMembers and polls nothing. A window is delivered in the background
// (deliveries), never inside a reconcile, so a slow or failing sink holds no worker. It
// changes nothing in MX and needs no finalizer: a deleted sync simply stops.
type MXTransactionSyncReconciler struct {
	client.Client
	// MX lists the member's transactions page by page.
	MX       TransactionAPI
	Recorder events.EventRecorder
	Timing   Timing
	// Sender tunes delivery (timeouts, backoff, the retry budget of one window); the URL, mode
	// and credentials are filled in per sync.
	Sender                  txsync.SenderConfig
	Now                     func() time.Time
	MaxConcurrentReconciles int
	// MaxConcurrentDeliveries bounds the windows on their way at once (each holds at most one
	// MX page); 4 × MaxConcurrentReconciles when zero.
	MaxConcurrentDeliveries int

	mem *memo
	del *deliveries
}

// SetupWithManager registers the controller, its MXMember watch and the index it needs.
func (r *MXTransactionSyncReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.MX == nil || r.Recorder == nil || r.Client == nil {
		return errors.New("MXTransactionSyncReconciler needs Client, MX and Recorder")
	}
	r.setDefaults()
	if err := mgr.Add(r.del); err != nil {
		return fmt.Errorf("adding the MXTransactionSync deliveries: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &mxv1alpha1.MXTransactionSync{}, indexSyncMember, func(o client.Object) []string {
		return []string{o.(*mxv1alpha1.MXTransactionSync).Spec.MemberRef.Name}
	}); err != nil {
		return fmt.Errorf("indexing MXTransactionSyncs by member: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&mxv1alpha1.MXTransactionSync{}, builder.WithPredicates(reconcileTriggers())).
		Watches(&mxv1alpha1.MXMember{}, handler.EnqueueRequestsFromMapFunc(r.syncsOfMember), builder.WithPredicates(memberSyncable())).
		WatchesRawSource(source.Channel(r.del.wake, &handler.TypedEnqueueRequestForObject[*mxv1alpha1.MXTransactionSync]{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1), RateLimiter: r.Timing.rateLimiter()}).
		Named("mxtransactionsync").
		Complete(r)
}

func (r *MXTransactionSyncReconciler) setDefaults() {
	r.Timing = r.Timing.withDefaults()
	if r.Now == nil {
		r.Now = time.Now
	}
	r.mem = newMemo()
	if r.MaxConcurrentDeliveries <= 0 {
		r.MaxConcurrentDeliveries = 4 * max(r.MaxConcurrentReconciles, 1)
	}
	r.del = newDeliveries(r.MaxConcurrentDeliveries)
}

// memberSyncable passes the MXMember changes a sync acts on: its guids and its last successful
// aggregation.
func memberSyncable() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, okO := e.ObjectOld.(*mxv1alpha1.MXMember)
		n, okN := e.ObjectNew.(*mxv1alpha1.MXMember)
		if !okO || !okN {
			return false
		}
		return o.Status.GUID != n.Status.GUID || o.Status.UserGUID != n.Status.UserGUID ||
			!o.Status.SuccessfullyAggregatedAt.Equal(n.Status.SuccessfullyAggregatedAt)
	}}
}

// syncsOfMember enqueues the MXTransactionSyncs of a member.
func (r *MXTransactionSyncReconciler) syncsOfMember(ctx context.Context, o client.Object) []reconcile.Request {
	list := &mxv1alpha1.MXTransactionSyncList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexSyncMember: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing the MXTransactionSyncs of a member")
		return nil
	}
	out := make([]reconcile.Request, len(list.Items))
	for i := range list.Items {
		out[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])}
	}
	return out
}

// Reconcile fetches the sync, runs its phases and writes the status once (finish). A sync
// that is gone or being deleted has its window cancelled.
func (r *MXTransactionSyncReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sync := &mxv1alpha1.MXTransactionSync{}
	if err := r.Get(ctx, req.NamespacedName, sync); err != nil {
		if apierrors.IsNotFound(err) {
			r.del.take(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !sync.DeletionTimestamp.IsZero() {
		r.del.take(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	base := sync.DeepCopy()
	out := r.run(ctx, sync)
	switch out.kind {
	case kindRefused:
		out.after = r.Timing.refusalDelay(sync.UID, r.mem.refused(sync.UID), out.after)
	case kindFailed:
	default:
		r.mem.answered(sync.UID)
	}
	return finish(ctx, r.Client, r.Recorder, syncStatus, base, sync, out, out.kind == kindReady, r.Now())
}

// run is the phases: suspended → in flight → sink → member → due → start.
func (r *MXTransactionSyncReconciler) run(ctx context.Context, sync *mxv1alpha1.MXTransactionSync) outcome {
	if sync.Spec.Suspend {
		// A window on its way stops; what the sink acknowledged of it is counted.
		r.count(sync, r.del.take(client.ObjectKeyFromObject(sync)))
		return outcome{kind: kindSuspended, message: "Delivery is suspended (spec.suspend); nothing is read from MX or sent."}
	}
	if out := r.inFlight(ctx, sync); out.done() {
		return out
	}
	cfg, out := r.sinkConfig(ctx, sync)
	if out.done() {
		return out
	}
	member, out := r.member(ctx, sync)
	if out.done() {
		return out
	}
	if out := r.due(sync, member); out.done() {
		return out
	}
	return r.start(ctx, sync, member, cfg)
}

// inFlight looks at the window this process started for the sync, if any. One still on its way
// for the current spec keeps the sync Reconciling (Delivering) and ends the phases: its end
// reconciles the sync again. One started for an older spec or request is cancelled. An ended
// window's acknowledgements are counted into status, and when it was for the current spec its
// result is the outcome (delivered). Without a window the next phase runs.
func (r *MXTransactionSyncReconciler) inFlight(ctx context.Context, sync *mxv1alpha1.MXTransactionSync) outcome {
	key := client.ObjectKeyFromObject(sync)
	d := r.del.get(key)
	if d == nil {
		return proceed()
	}
	if !d.finished() && d.matches(sync) {
		return waiting(0, mxv1alpha1.ReasonDelivering, deliveringMessage(d.window))
	}
	d = r.del.take(key)
	r.count(sync, d)
	if !d.matches(sync) {
		return proceed()
	}
	return r.delivered(ctx, sync, d)
}

// count adds what the sink acknowledged of an ended window of this sync to the status counters.
func (r *MXTransactionSyncReconciler) count(sync *mxv1alpha1.MXTransactionSync, d *delivery) {
	if d == nil || d.uid != sync.UID {
		return
	}
	sync.Status.TransactionsDelivered += d.progress.Transactions
	sync.Status.EventsDelivered += d.progress.Events
}

func deliveringMessage(w txsync.Window) string {
	return fmt.Sprintf("Delivering the transactions dated %s to %s to the sink.", w.From.Format(time.DateOnly), w.To.Format(time.DateOnly))
}

// sinkConfig resolves the sink's URL into status.sinkURI and reads the auth Secrets. A missing
// Secret or key stalls the sync until the Secret or the spec changes.
func (r *MXTransactionSyncReconciler) sinkConfig(ctx context.Context, sync *mxv1alpha1.MXTransactionSync) (txsync.SenderConfig, outcome) {
	cfg := r.Sender
	cfg.URL = sinkURI(sync)
	cfg.Mode = sync.Spec.Sink.Mode
	sync.Status.SinkURI = cfg.URL
	auth := sync.Spec.Sink.Auth
	if auth == nil {
		return cfg, proceed()
	}
	if auth.SecretRef != nil {
		s, out := r.secret(ctx, sync, auth.SecretRef.Name)
		if out.done() {
			return cfg, out
		}
		switch {
		case len(s.Data["token"]) > 0:
			cfg.Authorization = txsync.BearerAuth(string(s.Data["token"]))
		case len(s.Data["username"]) > 0 && len(s.Data["password"]) > 0:
			cfg.Authorization = txsync.BasicAuth(string(s.Data["username"]), string(s.Data["password"]))
		default:
			return cfg, stalled(mxv1alpha1.ReasonSecretKeyMissing, fmt.Sprintf("Secret %s has neither the key token nor the keys username and password. Add them; the operator retries when the sync changes.", s.Name)).retryAfter(r.Timing.WaitingRetryInterval)
		}
	}
	if auth.CABundleSecretRef != nil {
		s, out := r.secret(ctx, sync, auth.CABundleSecretRef.Name)
		if out.done() {
			return cfg, out
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(s.Data["ca.crt"]) {
			return cfg, stalled(mxv1alpha1.ReasonSecretKeyMissing, fmt.Sprintf("Secret %s has no PEM certificate under the key ca.crt. Fix it; the operator retries when the sync changes.", s.Name)).retryAfter(r.Timing.WaitingRetryInterval)
		}
		cfg.RootCAs = pool
	}
	return cfg, proceed()
}

func (r *MXTransactionSyncReconciler) secret(ctx context.Context, sync *mxv1alpha1.MXTransactionSync, name string) (*corev1.Secret, outcome) {
	s := &corev1.Secret{}
	err := r.Get(ctx, types.NamespacedName{Namespace: sync.Namespace, Name: name}, s)
	if apierrors.IsNotFound(err) {
		return nil, stalled(mxv1alpha1.ReasonSecretNotFound, fmt.Sprintf("Secret %s does not exist. Create it; the operator checks again every %s or when the sync changes.", name, r.Timing.WaitingRetryInterval)).retryAfter(r.Timing.WaitingRetryInterval)
	}
	if err != nil {
		return nil, apiFailure(err)
	}
	return s, proceed()
}

// sinkURI is spec.sink.uri, or the cluster-local URL of spec.sink.ref.
func sinkURI(sync *mxv1alpha1.MXTransactionSync) string {
	ref := sync.Spec.Sink.Ref
	if ref == nil {
		return sync.Spec.Sink.URI
	}
	ns := ref.Namespace
	if ns == "" {
		ns = sync.Namespace
	}
	u := "http://" + ref.Name + "." + ns + ".svc.cluster.local"
	if ref.Port != nil {
		u += ":" + strconv.Itoa(int(*ref.Port))
	}
	return u
}

// member reads the referenced MXMember; one that does not exist, has no guids or never
// aggregated successfully makes the sync wait (MemberNotReady) until the member changes.
func (r *MXTransactionSyncReconciler) member(ctx context.Context, sync *mxv1alpha1.MXTransactionSync) (*mxv1alpha1.MXMember, outcome) {
	m := &mxv1alpha1.MXMember{}
	err := r.Get(ctx, types.NamespacedName{Namespace: sync.Namespace, Name: sync.Spec.MemberRef.Name}, m)
	switch {
	case apierrors.IsNotFound(err):
		return nil, waiting(0, mxv1alpha1.ReasonMemberNotReady, fmt.Sprintf("MXMember %s does not exist; delivery starts once it has aggregated successfully.", sync.Spec.MemberRef.Name))
	case err != nil:
		return nil, apiFailure(err)
	case m.Status.GUID == "" || m.Status.UserGUID == "" || m.Status.SuccessfullyAggregatedAt == nil:
		return nil, waiting(0, mxv1alpha1.ReasonMemberNotReady, fmt.Sprintf("MXMember %s has not aggregated successfully yet; delivery starts once it has.", m.Name))
	}
	return m, proceed()
}

// due decides whether a window is delivered now: at first, after a newer successful aggregation
// of the member, after a spec change, or on the reconcile-requested-at annotation. A sync the
// sink rejected stays Stalled until one of the latter two; one in sync is Ready.
func (r *MXTransactionSyncReconciler) due(sync *mxv1alpha1.MXTransactionSync, m *mxv1alpha1.MXMember) outcome {
	requested := sync.Annotations[mxv1alpha1.ReconcileRequestedAtAnnotation]
	asked := sync.Generation != sync.Status.ObservedGeneration || requested != sync.Status.LastHandledReconcileAt
	if asked {
		return proceed()
	}
	if isStalledWith(sync.Status.Conditions, mxv1alpha1.ReasonSinkRejected) {
		c := stalledCondition(sync.Status.Conditions)
		return stalled(mxv1alpha1.ReasonSinkRejected, c.Message)
	}
	last := sync.Status.LastSyncedAggregationAt
	if sync.Status.SyncedThrough == "" || last == nil || m.Status.SuccessfullyAggregatedAt.After(last.Time) {
		return proceed()
	}
	return ready(mxv1alpha1.ReasonSucceeded, fmt.Sprintf("Delivered through %s; the next window follows the member's next successful aggregation.", sync.Status.SyncedThrough), 0)
}

func stalledCondition(conds []metav1.Condition) metav1.Condition {
	for _, c := range conds {
		if c.Type == mxv1alpha1.StalledCondition {
			return c
		}
	}
	return metav1.Condition{}
}

// plan is what decides the sync's next window (txsync.Plan.Next).
func plan(sync *mxv1alpha1.MXTransactionSync) txsync.Plan {
	overlap := mxv1alpha1.DefaultOverlapDays
	if sync.Spec.OverlapDays != nil {
		overlap = int(*sync.Spec.OverlapDays)
	}
	return txsync.Plan{InitialHistoryDays: int(sync.Spec.InitialHistoryDays), OverlapDays: overlap, SyncedThrough: sync.Status.SyncedThrough}
}

// start starts the next window (plan) in the background (deliveries) and reports the sync
// Reconciling (Delivering) until it ends.
func (r *MXTransactionSyncReconciler) start(ctx context.Context, sync *mxv1alpha1.MXTransactionSync, m *mxv1alpha1.MXMember, cfg txsync.SenderConfig) outcome {
	now := r.Now()
	w := plan(sync).Next(now)
	w.UserGUID, w.MemberGUID = m.Status.UserGUID, m.Status.GUID
	d := &delivery{
		uid: sync.UID, generation: sync.Generation, requested: sync.Annotations[mxv1alpha1.ReconcileRequestedAtAnnotation],
		window: w, aggregatedAt: m.Status.SuccessfullyAggregatedAt.DeepCopy(),
	}
	logger := log.FromContext(ctx)
	logger.V(1).Info("Delivering a window", "from", w.From.Format(time.DateOnly), "to", w.To.Format(time.DateOnly), "mode", cfg.Mode)
	r.del.start(logger, client.ObjectKeyFromObject(sync), d, func(ctx context.Context, p *txsync.Progress) error {
		sender := txsync.NewSender(cfg)
		defer sender.Close()
		return txsync.Deliver(ctx, r.MX, sender, w, now, p)
	})
	return waiting(0, mxv1alpha1.ReasonDelivering, deliveringMessage(w))
}

// delivered classifies an ended window of the current spec: acknowledged whole, it advances
// status.syncedThrough and lastSyncedAggregationAt (Ready); else deliveryFailure. The
// reconcile-requested-at value counts as handled once its window was acknowledged or rejected,
// not while the sink is unreachable: then the request stays open and the window is sent again.
func (r *MXTransactionSyncReconciler) delivered(ctx context.Context, sync *mxv1alpha1.MXTransactionSync, d *delivery) outcome {
	log.FromContext(ctx).V(1).Info("Delivered a window", "from", d.window.From.Format(time.DateOnly), "to", d.window.To.Format(time.DateOnly),
		"pages", d.progress.Pages, "events", d.progress.Events, "complete", d.err == nil)
	if d.err != nil {
		out := r.deliveryFailure(sync, d.err)
		if out.kind == kindStalled {
			sync.Status.LastHandledReconcileAt = d.requested
		}
		return out
	}
	sync.Status.LastHandledReconcileAt = d.requested
	sync.Status.SyncedThrough = d.window.SyncedThrough()
	sync.Status.LastSyncedAggregationAt = d.aggregatedAt
	return ready(mxv1alpha1.ReasonSucceeded, fmt.Sprintf("Delivered through %s; the next window follows the member's next successful aggregation.", sync.Status.SyncedThrough), 0)
}

// deliveryFailure classifies a failed window once: a sink rejection stalls (SinkRejected,
// with the status code only), a sink that did not answer in time waits (SinkUnreachable, no
// sooner than its Retry-After), an MX error is classified as everywhere (mxOutcome).
func (r *MXTransactionSyncReconciler) deliveryFailure(sync *mxv1alpha1.MXTransactionSync, err error) outcome {
	if errors.Is(err, context.Canceled) {
		return failed(err, mxv1alpha1.ReasonProgressing, "The delivery of a window was cancelled; the window is sent again.")
	}
	if serr, ok := errors.AsType[*txsync.SinkError](err); ok {
		code := "no answer"
		if serr.StatusCode != 0 {
			code = txsync.StatusText(serr.StatusCode)
		}
		if serr.Rejected() {
			fix := "Fix the sink"
			if serr.StatusCode == http.StatusUnauthorized || serr.StatusCode == http.StatusForbidden {
				fix = "Set spec.sink.auth.secretRef to a Secret with credentials the sink accepts"
				if auth := sync.Spec.Sink.Auth; auth != nil && auth.SecretRef != nil {
					fix = fmt.Sprintf("Fix the credentials in Secret %s or the sink's access rules", auth.SecretRef.Name)
				}
			}
			return stalled(mxv1alpha1.ReasonSinkRejected, fmt.Sprintf("The sink rejected an event (%s). %s, then change the spec or set the %s annotation; delivery resumes from status.syncedThrough.", code, fix, mxv1alpha1.ReconcileRequestedAtAnnotation))
		}
		msg := fmt.Sprintf("The sink did not acknowledge an event (%s) after a window's retries; the operator sends the window again with backoff.", code)
		if serr.RetryAfter > 0 {
			return waiting(serr.RetryAfter, mxv1alpha1.ReasonSinkUnreachable, msg)
		}
		return failed(fmt.Errorf("delivering a window: %w", err), mxv1alpha1.ReasonSinkUnreachable, msg)
	}
	return r.Timing.mxOutcome("listing the member's transactions", err)
}
