package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// DefaultInstitutionCacheTTL is how long institutions' credential fields are cached.
const DefaultInstitutionCacheTTL = time.Hour

// notificationBuffer is how many MX change notifications can wait for the controller.
const notificationBuffer = 256

// MXMemberReconciler creates members in MX for MXMember objects and follows them: aggregation,
// MFA, OAuth, credential rotation, on-demand aggregation, accounts, deletion.
//
// # Creating exactly once, cheaply
//
// The happy path costs exactly one create, the status reads of the first aggregation and one
// accounts list, so the member is not looked up before its first create. Safety against
// duplicates comes from MX itself: MX answers 409 to a create with a partner id that already
// exists for the user (and to one with the same institution and credentials). On 409 the
// reconciler looks the partner id up and adopts the member, which is ours because the partner id
// is; if no member carries it, a connection with these credentials exists under another partner
// id, which is reported as Stalled (Duplicate). status.id is recorded before every create, so
// when a create's outcome is unknown (a 5xx or a dropped connection after MX committed) the next
// attempt, finding status.id set and status.guid empty, looks up first. A crash between the MX
// call and the status write leaves neither set; the next create then meets the 409 and adopts.
//
// # Calls MX only when something can have changed
//
// Status-only updates do not trigger a reconcile. A member MX is working on is polled with a
// growing delay (Timing.PollInterval up to MaxPollInterval); one that needs the end user is not
// polled at all; one in sync is read again only on the long, jittered resync counted from
// status.lastReadAt, so re-reconciling it or restarting the operator costs no MX call. MX
// webhooks (MemberChanged), Secret changes, spec changes and the request annotations are what
// make the reconciler call MX earlier.
type MXMemberReconciler struct {
	client.Client
	// APIReader reads Secrets' data from the API server; the manager's cache holds no Secret
	// data. Required.
	APIReader client.Reader
	// MetadataReader reads Secrets' metadata (their resourceVersion) from the metadata cache;
	// the Client when nil.
	MetadataReader client.Reader
	// MX is the MX API. Required.
	MX MemberAPI
	// Recorder emits events. Required.
	Recorder events.EventRecorder
	// PartnerIDPrefix prefixes derived partner ids; DefaultPartnerIDPrefix when empty.
	PartnerIDPrefix string
	// Timing holds the intervals; zero fields take their defaults.
	Timing Timing
	// InstitutionCacheTTL is how long an institution's credential fields are cached;
	// DefaultInstitutionCacheTTL when zero.
	InstitutionCacheTTL time.Duration
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// MaxConcurrentReconciles is the number of members reconciled in parallel; 1 when zero.
	MaxConcurrentReconciles int

	once          sync.Once
	mem           *memo
	institutions  *institutionCache
	notifications chan event.GenericEvent
}

// memberScope is what one reconcile of an MXMember works on.
type memberScope struct {
	member    *mxv1alpha1.MXMember
	key       types.NamespacedName
	now       time.Time
	partnerID string
	// userGUID is the guid of the referenced MXUser, once it is Ready.
	userGUID string
	// reconcileRequest and aggregateRequest are new values of the request annotations, or "".
	reconcileRequest string
	aggregateRequest string
	// hints counts the MX change notifications that no read has covered yet.
	hints uint64
	// wasSuspended is true when the member was suspended until this reconcile.
	wasSuspended bool
	// fresh is true once this reconcile has received the member's state from MX.
	fresh bool
	// createdOrAdopted is true when this reconcile created or adopted the member.
	createdOrAdopted bool
	// throttledUntil is set when a requested aggregation waits for the throttle window.
	throttledUntil *time.Time
	// refreshAt is when spec.refreshInterval next asks for an aggregation.
	refreshAt *time.Time
}

// memberPhase is one step of reconcileNormal. It returns done=true to end the reconcile with the
// result and error it returns; otherwise the next phase runs.
type memberPhase func(ctx context.Context, s *memberScope) (done bool, res ctrl.Result, err error)

// next lets the following phase run.
func next() (bool, ctrl.Result, error) { return false, ctrl.Result{}, nil }

// stop ends the reconcile.
func stop(res ctrl.Result, err error) (bool, ctrl.Result, error) { return true, res, err }

func (r *MXMemberReconciler) init() {
	r.once.Do(func() {
		r.Timing = r.Timing.withDefaults()
		if r.Now == nil {
			r.Now = time.Now
		}
		if r.InstitutionCacheTTL <= 0 {
			r.InstitutionCacheTTL = DefaultInstitutionCacheTTL
		}
		if r.MetadataReader == nil {
			r.MetadataReader = r.Client
		}
		r.mem = newMemo()
		r.institutions = &institutionCache{}
		r.notifications = make(chan event.GenericEvent, notificationBuffer)
	})
}

// Reconcile brings one MXMember and its MX member together.
func (r *MXMemberReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	r.init()
	member := &mxv1alpha1.MXMember{}
	if err := r.Get(ctx, req.NamespacedName, member); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if member.DeletionTimestamp.IsZero() {
		if added, err := ensureFinalizer(ctx, r.Client, member); err != nil || added {
			return conflictRequeue(err)
		}
	} else if !controllerutil.ContainsFinalizer(member, mxv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}

	base := member.DeepCopy()
	defer func() {
		retErr = errors.Join(retErr, r.patchStatus(ctx, base, member, retErr))
	}()

	s := &memberScope{
		member:           member,
		key:              req.NamespacedName,
		now:              r.Now(),
		partnerID:        partnerID(member.Spec.ID, r.PartnerIDPrefix, member.Namespace, member.Name),
		reconcileRequest: newRequest(member, mxv1alpha1.ReconcileRequestedAtAnnotation, member.Status.LastHandledReconcileAt),
		aggregateRequest: newRequest(member, mxv1alpha1.AggregateRequestedAtAnnotation, member.Status.LastHandledAggregateAt),
		hints:            r.mem.hinted(req.NamespacedName),
		wasSuspended:     isSuspended(member.Status.Conditions),
	}
	if !member.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	return r.reconcileNormal(ctx, s)
}

// patchStatus advances observedGeneration when the reconcile finished and writes the status once
// (see the package-level patchStatus).
func (r *MXMemberReconciler) patchStatus(ctx context.Context, base, member *mxv1alpha1.MXMember, reconcileErr error) error {
	if finished(reconcileErr) {
		member.Status.ObservedGeneration = member.Generation
	}
	return patchStatus(ctx, r.Client, base, member, func(o *mxv1alpha1.MXMember) *mxv1alpha1.MXMemberStatus { return &o.Status })
}

// reconcileNormal runs the phases of a member that is not being deleted, in order, and stops at
// the first that fails or waits; then summarize turns what MX reported into conditions.
func (r *MXMemberReconciler) reconcileNormal(ctx context.Context, s *memberScope) (ctrl.Result, error) {
	if s.member.Spec.Suspend {
		setSuspended(&s.member.Status.Conditions, s.member.Generation, s.now,
			"Suspended: the operator makes no MX calls for this member until spec.suspend is false.")
		return ctrl.Result{}, nil
	}
	meta.RemoveStatusCondition(&s.member.Status.Conditions, mxv1alpha1.SuspendedCondition)
	phases := []memberPhase{
		r.reconcileUser,
		r.reconcileGone,
		r.reconcileCreate,
		r.reconcileCredentials,
		r.reconcileSpec,
		r.reconcileObserve,
		r.reconcileChallenges,
		r.reconcileAggregation,
		r.reconcileAccounts,
	}
	for _, phase := range phases {
		if done, res, err := phase(ctx, s); done {
			return res, err
		}
	}
	return r.summarize(s), nil
}

// summarize turns the member's connection status into conditions and decides when to come back.
//
//   - MX working (CREATED, UPDATED, RESUMED, DELAYED, RECONNECTED, or CONNECTED while
//     aggregating): Reconciling (Aggregating); read again after the growing poll delay.
//   - CONNECTED and not aggregating: Ready (Succeeded, or AggregationThrottled while a requested
//     aggregation waits for the throttle window); read again on the resync.
//   - needs the end user or terminal: Stalled with the status as reason and MX's message plus
//     what to do; no polling, only the resync.
//   - FAILED, DEGRADED, DISCONNECTED (and statuses this operator does not know): Reconciling
//     (RetryLater); read again after RetryLaterInterval.
func (r *MXMemberReconciler) summarize(s *memberScope) ctrl.Result {
	st := &s.member.Status
	gen := s.member.Generation
	status := mx.ConnectionStatus(st.ConnectionStatus)
	throttled := ""
	if s.throttledUntil != nil {
		throttled = fmt.Sprintf(" A requested aggregation waits for MX's throttle window; it is allowed from %s.", formatTime(*s.throttledUntil))
	}
	switch class := status.Class(); {
	case memberWorking(*st):
		setReconciling(&st.Conditions, gen, s.now, mxv1alpha1.ReasonAggregating, fmt.Sprintf(
			"MX is aggregating the member (connection status %s).", st.ConnectionStatus))
	case class == mx.StatusClassSuccess && s.throttledUntil != nil:
		setReady(&st.Conditions, gen, s.now, mxv1alpha1.ReasonAggregationThrottled, fmt.Sprintf(
			"Connected with %d account(s).%s", st.AccountCount, throttled))
	case class == mx.StatusClassSuccess:
		setReady(&st.Conditions, gen, s.now, mxv1alpha1.ReasonSucceeded, fmt.Sprintf(
			"%s %d account(s).", statusMessage(s.member), st.AccountCount))
	case memberIdle(*st):
		setReconciling(&st.Conditions, gen, s.now, mxv1alpha1.ReasonProgressing, fmt.Sprintf(
			"MX has not aggregated the member yet (connection status %s); it aggregates it in the background, or set the annotation %s.",
			st.ConnectionStatus, mxv1alpha1.AggregateRequestedAtAnnotation))
	case class == mx.StatusClassNeedsUser || class == mx.StatusClassTerminal:
		setStalled(&st.Conditions, gen, s.now, camelStatus(status), statusMessage(s.member)+" "+endUserAdvice(s.member, status)+throttled)
	default:
		setReconciling(&st.Conditions, gen, s.now, mxv1alpha1.ReasonRetryLater, fmt.Sprintf(
			"%s MX usually recovers by itself; the operator checks again every %s.%s", statusMessage(s.member), r.Timing.RetryLaterInterval, throttled))
	}
	if mx.ConnectionStatus(st.ConnectionStatus) != mx.StatusPending {
		st.OAuthWindowURI = ""
	}
	return r.schedule(s)
}

// schedule records when the member is next read from MX (the interval of its state, counted from
// this reconcile's read, or else from the schedule already made) and returns the requeue that
// wakes the member then, or earlier for a throttled or scheduled aggregation. Set the conditions
// first: the poll delay depends on how long the member has been Reconciling.
func (r *MXMemberReconciler) schedule(s *memberScope) ctrl.Result {
	nextRead := r.nextRead(s)
	if s.fresh {
		nextRead = s.now.Add(r.readInterval(s))
	}
	r.mem.scheduleRead(s.member.UID, nextRead)
	wake := nextRead
	for _, t := range []*time.Time{s.throttledUntil, s.refreshAt} {
		if t != nil && t.Before(wake) {
			wake = *t
		}
	}
	return ctrl.Result{RequeueAfter: max(wake.Sub(s.now), time.Second)}
}

// reconcileDelete removes the member from MX (deletionPolicy Delete) or leaves it (Orphan), then
// removes the finalizer. A member whose create may have reached MX without its answer is looked
// up by partner id first. Deletion proceeds even while the member is suspended.
func (r *MXMemberReconciler) reconcileDelete(ctx context.Context, s *memberScope) (ctrl.Result, error) {
	st := &s.member.Status
	if s.member.Spec.DeletionPolicy == mxv1alpha1.DeletionPolicyOrphan {
		r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventOrphaned, "Delete", "Left MX member %s in MX (deletionPolicy Orphan)", st.GUID)
		return r.release(ctx, s)
	}
	setReconciling(&st.Conditions, s.member.Generation, s.now, mxv1alpha1.ReasonDeleting, "Deleting the member from MX.")
	guid := st.GUID
	if guid == "" && st.ID != "" && st.UserGUID != "" {
		found, err := r.MX.FindMemberByID(ctx, st.UserGUID, st.ID)
		switch {
		case err == nil:
			guid = found.GUID
		case !mx.IsNotFound(err):
			return r.Timing.mxFailure(&st.Conditions, s.member.Generation, s.now, "looking up the member to delete", err)
		}
	}
	if guid != "" {
		log.FromContext(ctx).Info("Deleting MX member", "guid", guid)
		if err := r.MX.DeleteMember(ctx, st.UserGUID, guid); err != nil && !mx.IsNotFound(err) {
			return r.Timing.mxFailure(&st.Conditions, s.member.Generation, s.now, "deleting the member", err)
		}
		r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventDeleted, "Delete", "Deleted MX member %s", guid)
	}
	return r.release(ctx, s)
}

// release removes the finalizer and forgets the object.
func (r *MXMemberReconciler) release(ctx context.Context, s *memberScope) (ctrl.Result, error) {
	if err := removeFinalizer(ctx, r.Client, s.member); err != nil {
		return conflictRequeue(err)
	}
	r.mem.forget(s.member.UID, s.key)
	return ctrl.Result{}, nil
}

// MemberChanged tells the reconciler that MX reported a change of the member with guid
// memberGUID (an MX webhook). The MXMember is enqueued and its next reconcile reads it from MX.
// It never blocks: when the queue is full the notification is dropped and the regular schedule
// reads the member later. Unknown guids are ignored.
func (r *MXMemberReconciler) MemberChanged(ctx context.Context, memberGUID string) {
	r.init()
	if memberGUID == "" {
		return
	}
	logger := log.FromContext(ctx)
	members := &mxv1alpha1.MXMemberList{}
	if err := r.List(ctx, members, client.MatchingFields{indexMemberGUID: memberGUID}); err != nil {
		logger.Error(err, "Looking up the MXMember of an MX notification", "memberGUID", memberGUID)
		return
	}
	for i := range members.Items {
		m := &members.Items[i]
		r.mem.hint(client.ObjectKeyFromObject(m))
		select {
		case r.notifications <- event.GenericEvent{Object: m}:
		default:
			logger.Info("Dropping an MX notification: the queue is full", "mxmember", client.ObjectKeyFromObject(m))
		}
	}
}

// SetupWithManager registers the controller. Besides MXMembers it watches the metadata of
// Secrets (the credentials and answers Secrets, through a field index), MXUsers becoming Ready
// or not, and the MX notifications of MemberChanged. SetupIndexes must have run.
func (r *MXMemberReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.MX == nil || r.Recorder == nil || r.APIReader == nil {
		return errors.New("MXMemberReconciler needs MX, Recorder and APIReader")
	}
	r.init()
	return ctrl.NewControllerManagedBy(mgr).
		For(&mxv1alpha1.MXMember{}, builder.WithPredicates(reconcileTriggers())).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.membersOfSecret)).
		Watches(&mxv1alpha1.MXUser{}, handler.EnqueueRequestsFromMapFunc(r.membersOfUser),
			builder.WithPredicates(userReadinessChanged())).
		WatchesRawSource(source.Channel(r.notifications, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1),
			RateLimiter:             r.Timing.rateLimiter(),
		}).
		Named("mxmember").
		Complete(r)
}

// membersOfSecret enqueues the MXMembers for which a change of the Secret matters.
func (r *MXMemberReconciler) membersOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	members := &mxv1alpha1.MXMemberList{}
	if err := r.List(ctx, members, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexMemberSecrets: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "Listing the MXMembers of a Secret", "secret", client.ObjectKeyFromObject(o))
		return nil
	}
	var reqs []reconcile.Request
	for i := range members.Items {
		if secretChangeMatters(&members.Items[i], o.GetName(), o.GetResourceVersion()) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&members.Items[i])})
		}
	}
	return reqs
}

// secretChangeMatters reports whether the Secret called name, now at resourceVersion rv, can
// change what the member does: new credentials for a member in MX, any change for a member that
// stalled before its create (it may be waiting for this Secret), and a change of the answers
// Secret while MX waits for MFA answers.
func secretChangeMatters(m *mxv1alpha1.MXMember, name, rv string) bool {
	if ref := m.Spec.CredentialsSecretRef; ref != nil && ref.Name == name {
		if m.Status.GUID == "" && meta.IsStatusConditionTrue(m.Status.Conditions, mxv1alpha1.StalledCondition) {
			return true
		}
		if m.Status.GUID != "" && m.Status.CredentialsRevision != rv {
			return true
		}
	}
	if m.Spec.MFA != nil && m.Spec.MFA.AnswersSecretRef != nil && m.Spec.MFA.AnswersSecretRef.Name == name {
		return len(m.Status.Challenges) > 0
	}
	return false
}

// membersOfUser enqueues the MXMembers that reference an MXUser.
func (r *MXMemberReconciler) membersOfUser(ctx context.Context, o client.Object) []reconcile.Request {
	members := &mxv1alpha1.MXMemberList{}
	if err := r.List(ctx, members, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexMemberUser: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "Listing the MXMembers of an MXUser", "mxuser", client.ObjectKeyFromObject(o))
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(members.Items))
	for i := range members.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&members.Items[i])})
	}
	return reqs
}

// userReadinessChanged passes MXUser events that can change whether its members may proceed:
// creation, deletion, and updates that change its Ready status, its guid or its deletion.
func userReadinessChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*mxv1alpha1.MXUser)
			n, ok2 := e.ObjectNew.(*mxv1alpha1.MXUser)
			if !ok1 || !ok2 {
				return false
			}
			return meta.IsStatusConditionTrue(o.Status.Conditions, mxv1alpha1.ReadyCondition) != meta.IsStatusConditionTrue(n.Status.Conditions, mxv1alpha1.ReadyCondition) ||
				o.Status.GUID != n.Status.GUID ||
				o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}
