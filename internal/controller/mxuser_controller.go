package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
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
	"github.com/mxoperator/mx-operator/internal/mx"
)

// maxListedNames bounds the object names a condition message lists.
const maxListedNames = 10

// MXUserReconciler creates, updates and deletes users in MX for MXUser objects.
//
// A user is created once: the create goes first (the happy path costs one call), and a 409 is
// resolved by looking the partner id up and adopting the match, after checking that no other
// MXUser in the cluster owns that id (identity.go). A create whose outcome is unknown leaves
// status.id without a guid, so the next attempt looks up first; a delete of a user whose create
// may have reached MX looks its partner id up, so nothing is orphaned by a crash. The spec is
// sent whenever its hash differs from status.appliedSettings; a user in sync is read from MX
// only on the long resync, on a new reconcile-requested-at annotation, or when one of its
// members found MX answering 404. Its deletion waits until no MXMember references it.
type MXUserReconciler struct {
	client.Client
	// MX is the MX API. Required.
	MX UserAPI
	// Recorder emits events. Required.
	Recorder events.EventRecorder
	// PartnerIDPrefix prefixes derived partner ids; DefaultPartnerIDPrefix when empty.
	PartnerIDPrefix string
	// Timing holds the intervals; zero fields take their defaults.
	Timing Timing
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// MaxConcurrentReconciles is the number of users reconciled in parallel; 1 when zero.
	MaxConcurrentReconciles int

	mem           *memo
	notifications chan event.GenericEvent
}

// userScope is what one reconcile of an MXUser works on.
type userScope struct {
	user      *mxv1alpha1.MXUser
	key       types.NamespacedName
	now       time.Time
	partnerID string
	// reconcileRequest is a new value of the reconcile-requested-at annotation, or "".
	reconcileRequest string
	// hints counts the notifications (a member's 404) that no read has covered yet.
	hints uint64
	// readAt is when MX last answered with the user in this reconcile (zero: not yet).
	readAt time.Time
}

// userPhase is one step of reconcileNormal: proceed, or the outcome that ends the reconcile.
type userPhase func(ctx context.Context, s *userScope) outcome

// Reconcile brings one MXUser and its MX user together.
func (r *MXUserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	now := r.Now()
	return userKind.reconcile(ctx, r.Client, r.Recorder, r.mem, r.Timing, req.NamespacedName, now, func(user *mxv1alpha1.MXUser) (outcome, func() bool) {
		s := &userScope{
			user:             user,
			key:              req.NamespacedName,
			now:              now,
			partnerID:        effectivePartnerID(user.Spec.ID, user.Status.ID, r.PartnerIDPrefix, user.Namespace, user.Name),
			reconcileRequest: newRequest(user, mxv1alpha1.ReconcileRequestedAtAnnotation, user.Status.LastHandledReconcileAt),
			hints:            r.mem.hinted(req.NamespacedName),
		}
		if !user.DeletionTimestamp.IsZero() {
			return r.reconcileDelete(ctx, s), func() bool { return false }
		}
		return r.reconcileNormal(ctx, s), func() bool { return r.applied(s) }
	})
}

// applied reports whether MX holds the user's current spec.
func (r *MXUserReconciler) applied(s *userScope) bool {
	st := s.user.Status
	return st.GUID != "" && st.AppliedSettings == settingsHash(desiredUserSettings(s.user.Spec, s.partnerID))
}

// reconcileNormal runs the phases of a user that is not being deleted, in order, and stops at the
// first that decides.
func (r *MXUserReconciler) reconcileNormal(ctx context.Context, s *userScope) outcome {
	if s.user.Spec.Suspend {
		return outcome{kind: kindSuspended, message: "Suspended: the operator makes no MX calls for this user until spec.suspend is false."}
	}
	phases := []userPhase{
		r.reconcileOwnership,
		r.reconcileGone,
		r.reconcileCreate,
		r.reconcileSettings,
		r.reconcileRead,
	}
	for _, phase := range phases {
		if out := phase(ctx, s); out.done() {
			return out
		}
	}
	return r.reconcileReady(s)
}

// reconcileOwnership stalls (AlreadyManaged), without any MX call, a user whose partner id or
// guid another MXUser in the cluster owns (identity.go).
func (r *MXUserReconciler) reconcileOwnership(ctx context.Context, s *userScope) outcome {
	return userKind.ownership(ctx, r.Client, s.user, s.partnerID, s.user.Status.GUID).retryAfter(r.Timing.WaitingRetryInterval)
}

// reconcileGone keeps a user whose MX user disappeared Stalled (GoneInMX) until a person sets a
// new value of the reconcile-requested-at annotation; then it forgets the old guid so that
// reconcileCreate creates it again.
func (r *MXUserReconciler) reconcileGone(_ context.Context, s *userScope) outcome {
	st := &s.user.Status
	if !isStalledWith(st.Conditions, mxv1alpha1.ReasonGoneInMX) {
		return proceed()
	}
	if s.reconcileRequest == "" {
		c := meta.FindStatusCondition(st.Conditions, mxv1alpha1.StalledCondition)
		return stalled(c.Reason, c.Message)
	}
	st.GUID, st.AppliedSettings, st.LastHandledReconcileAt = "", "", s.reconcileRequest
	return proceed()
}

// reconcileCreate makes sure a user without a recorded guid exists in MX exactly once: it looks
// up first only when status.id shows an attempt whose outcome is unknown, otherwise it creates
// and resolves a 409 (the answer of an earlier attempt was lost, or the user was orphaned) by
// looking up and adopting. It records status.id before creating and status.guid after.
func (r *MXUserReconciler) reconcileCreate(ctx context.Context, s *userScope) outcome {
	st := &s.user.Status
	if st.GUID != "" {
		return proceed()
	}
	if st.ID == s.partnerID {
		found, err := r.MX.FindUserByID(ctx, s.partnerID)
		if err == nil {
			return r.adopt(ctx, s, found)
		}
		if !mx.IsNotFound(err) {
			return r.Timing.mxOutcome("looking up the user", err)
		}
	}
	log.FromContext(ctx).Info("Creating MX user", "partnerID", s.partnerID)
	desired := desiredUserSettings(s.user.Spec, s.partnerID)
	created, err := r.MX.CreateUser(ctx, mx.CreateUserRequest{ID: desired.ID, Email: desired.Email, IsDisabled: desired.Disabled, Metadata: desired.Metadata})
	if err == nil || outcomeUnknown(err) {
		st.ID = s.partnerID // the next attempt looks up first
	}
	if mx.IsConflict(err) {
		found, findErr := r.MX.FindUserByID(ctx, s.partnerID)
		if findErr == nil {
			return r.adopt(ctx, s, found)
		}
		if !mx.IsNotFound(findErr) {
			return r.Timing.mxOutcome("looking up the user", findErr)
		}
		return stalled(mxv1alpha1.ReasonDuplicate, fmt.Sprintf(
			"MX refused to create a user with partner id %q as a duplicate, but no user with that id can be found. Choose another spec.id.", s.partnerID))
	}
	if err != nil {
		return r.Timing.mxOutcome("creating the user", err)
	}
	st.AppliedSettings = settingsHash(desired)
	r.observed(s, created)
	log.FromContext(ctx).Info("Created MX user", "guid", created.GUID, "partnerID", s.partnerID)
	return proceed()
}

// adopt takes over an MX user that already carries the partner id (ownership was checked) and
// records what it holds, so reconcileSettings corrects what differs from the spec.
func (r *MXUserReconciler) adopt(ctx context.Context, s *userScope, found *mx.User) outcome {
	log.FromContext(ctx).Info("Adopting MX user", "guid", found.GUID, "partnerID", s.partnerID)
	s.user.Status.ID = s.partnerID
	r.observed(s, found)
	r.Recorder.Eventf(s.user, nil, corev1.EventTypeNormal, eventAdopted, "Adopt", "Adopted MX user %s with partner id %s", found.GUID, s.partnerID)
	return proceed()
}

// reconcileSettings sends the spec (partner id, email, metadata, disabled) when its hash differs
// from the one MX acknowledged (status.appliedSettings), whatever stopped an earlier attempt.
func (r *MXUserReconciler) reconcileSettings(ctx context.Context, s *userScope) outcome {
	st := &s.user.Status
	desired := desiredUserSettings(s.user.Spec, s.partnerID)
	if settingsHash(desired) == st.AppliedSettings {
		return proceed()
	}
	log.FromContext(ctx).Info("Updating MX user", "guid", st.GUID)
	got, err := r.MX.UpdateUser(ctx, st.GUID, desired.update())
	if mx.IsConflict(err) {
		return stalled(mxv1alpha1.ReasonDuplicate, fmt.Sprintf(
			"MX refused partner id %q: another MX user of this client has it. Choose another spec.id.", s.partnerID))
	}
	if err != nil {
		return r.userCallFailed(s, "updating the user", err)
	}
	st.ID = s.partnerID
	r.observed(s, got)
	r.Recorder.Eventf(s.user, nil, corev1.EventTypeNormal, eventUpdated, "Update", "Updated MX user %s from the spec", got.GUID)
	return proceed()
}

// reconcileRead reads the user from MX when it is due (the long resync), a person asked for it
// with the reconcile-requested-at annotation, or a member found MX answering 404; what MX holds
// is then compared with the spec, and a difference sent.
func (r *MXUserReconciler) reconcileRead(ctx context.Context, s *userScope) outcome {
	if !s.readAt.IsZero() || (s.reconcileRequest == "" && s.hints == 0 && !r.readDue(s)) {
		return proceed()
	}
	got, err := r.MX.GetUser(ctx, s.user.Status.GUID)
	if err != nil {
		return r.userCallFailed(s, "reading the user", err)
	}
	r.mem.readDone(s.key, s.hints)
	s.user.Status.ID = s.partnerID
	r.observed(s, got)
	return r.reconcileSettings(ctx, s)
}

// reconcileReady records that the user matches the spec and schedules its next resync.
func (r *MXUserReconciler) reconcileReady(s *userScope) outcome {
	st := &s.user.Status
	if s.reconcileRequest != "" && !s.readAt.IsZero() {
		st.LastHandledReconcileAt = s.reconcileRequest
	}
	next, ok := r.mem.readAt(s.user.UID)
	if !ok {
		next = s.now.Add(r.Timing.resyncDelay(s.user.UID))
		if last := st.LastReadAt; last != nil {
			next = last.Add(r.Timing.resyncDelay(s.user.UID))
		}
		r.mem.scheduleRead(s.user.UID, next)
	}
	return ready(mxv1alpha1.ReasonSucceeded, fmt.Sprintf("MX user %s (partner id %s) matches the spec.", st.GUID, st.ID), next.Sub(s.now))
}

// readDue reports whether the user's long resync is due.
func (r *MXUserReconciler) readDue(s *userScope) bool {
	if at, ok := r.mem.readAt(s.user.UID); ok {
		return !s.now.Before(at)
	}
	last := s.user.Status.LastReadAt
	return last == nil || !s.now.Before(last.Add(r.Timing.resyncDelay(s.user.UID)))
}

// userCallFailed handles a failed call on the recorded user: a user that is gone is reported
// Stalled (GoneInMX) and not created again unless a person asks; anything else is classified.
func (r *MXUserReconciler) userCallFailed(s *userScope, action string, err error) outcome {
	if !mx.IsNotFound(err) {
		return r.Timing.mxOutcome(action, err)
	}
	if s.reconcileRequest != "" {
		s.user.Status.LastHandledReconcileAt = s.reconcileRequest
	}
	r.mem.readDone(s.key, s.hints)
	return stalled(mxv1alpha1.ReasonGoneInMX, fmt.Sprintf(
		"MX user %s no longer exists in MX. The operator does not create it again by itself: set the annotation %s to a new value to create it again.",
		s.user.Status.GUID, mxv1alpha1.ReconcileRequestedAtAnnotation))
}

// observed records a user MX returned.
func (r *MXUserReconciler) observed(s *userScope, u *mx.User) {
	s.readAt = s.now
	s.user.Status.GUID = u.GUID
	s.user.Status.AppliedSettings = settingsHash(userSettings{ID: u.ID, Email: u.Email, Metadata: u.Metadata, Disabled: u.IsDisabled})
	s.user.Status.LastReadAt = statusTime(s.now)
	r.mem.scheduleRead(s.user.UID, s.now.Add(r.Timing.resyncDelay(s.user.UID)))
}

// reconcileDelete removes the user from MX (deletionPolicy Delete) or leaves it (Orphan), then
// removes the finalizer. An object that does not own its MX user never touches it. It waits,
// with reason MembersRemaining, while MXMembers still reference the user, and with
// UnmanagedMembers while MX holds members no MXMember manages (MX deletes a user's members with
// it) until a person confirms with the ConfirmDeleteUnmanagedMembersAnnotation.
func (r *MXUserReconciler) reconcileDelete(ctx context.Context, s *userScope) outcome {
	st := &s.user.Status
	other, err := userKind.claims.otherOwner(ctx, r.Client, s.user, s.partnerID, st.GUID)
	if err != nil {
		return apiFailure(err)
	}
	if other != "" {
		log.FromContext(ctx).Info("Releasing an MXUser that does not own its MX user", "owner", other)
		return r.release(ctx, s)
	}
	members := &mxv1alpha1.MXMemberList{}
	if err := r.List(ctx, members, client.InNamespace(s.user.Namespace), client.MatchingFields{indexMemberUser: s.user.Name}); err != nil {
		return apiFailure(err)
	}
	if len(members.Items) > 0 {
		names := make([]string, 0, len(members.Items))
		for _, m := range members.Items {
			names = append(names, m.Name)
		}
		return waiting(0, mxv1alpha1.ReasonMembersRemaining, fmt.Sprintf(
			"Waiting for %d MXMember(s) referencing this user to be deleted first: %s.", len(names), namesList(names, maxListedNames)))
	}
	if s.user.Spec.DeletionPolicy == mxv1alpha1.DeletionPolicyOrphan {
		r.Recorder.Eventf(s.user, nil, corev1.EventTypeNormal, eventOrphaned, "Delete", "Left MX user %s in MX (deletionPolicy Orphan)", st.GUID)
		return r.release(ctx, s)
	}
	guid := st.GUID
	if guid == "" {
		// A create may have reached MX without its answer being recorded: look the id up.
		found, err := r.MX.FindUserByID(ctx, s.partnerID)
		switch {
		case mx.IsNotFound(err):
			return r.release(ctx, s)
		case err != nil:
			return r.Timing.mxOutcome("looking up the user to delete", err)
		}
		guid = found.GUID
	}
	if out := r.unmanagedMembers(ctx, s, guid); out.done() {
		return out
	}
	log.FromContext(ctx).Info("Deleting MX user", "guid", guid)
	if err := r.MX.DeleteUser(ctx, guid); err != nil && !mx.IsNotFound(err) {
		return r.Timing.mxOutcome("deleting the user", err)
	}
	r.Recorder.Eventf(s.user, nil, corev1.EventTypeNormal, eventDeleted, "Delete", "Deleted MX user %s", guid)
	return r.release(ctx, s)
}

// unmanagedMembers stalls (UnmanagedMembers) the deletion of a user whose MX user still holds
// members, listing them, unless the confirmation annotation is "true". Every MXMember of the
// user is gone by now, so whatever MX still holds no MXMember manages.
func (r *MXUserReconciler) unmanagedMembers(ctx context.Context, s *userScope, guid string) outcome {
	if s.user.Annotations[mxv1alpha1.ConfirmDeleteUnmanagedMembersAnnotation] == "true" {
		return proceed()
	}
	members, err := r.MX.ListMembers(ctx, guid)
	if mx.IsNotFound(err) || (err == nil && len(members) == 0) {
		return proceed()
	}
	if err != nil {
		return r.Timing.mxOutcome("listing the user's members before deleting it", err)
	}
	names := make([]string, 0, len(members))
	for _, m := range members {
		names = append(names, fmt.Sprintf("%s (partner id %q, %s)", m.GUID, m.ID, m.InstitutionCode))
	}
	return stalled(mxv1alpha1.ReasonUnmanagedMembers, fmt.Sprintf(
		"MX user %s holds %d member(s) that no MXMember manages: %s. Deleting the user deletes them too. Set the annotation %s=true to delete them with the user, or set spec.deletionPolicy to Orphan to keep the user in MX.",
		guid, len(members), namesList(names, maxListedNames), mxv1alpha1.ConfirmDeleteUnmanagedMembersAnnotation))
}

// release removes the finalizer and forgets the object.
func (r *MXUserReconciler) release(ctx context.Context, s *userScope) outcome {
	if err := removeFinalizer(ctx, r.Client, s.user); err != nil {
		return apiFailure(err)
	}
	r.mem.forget(s.user.UID, s.key)
	return outcome{kind: kindReleased}
}

// UserChanged tells the reconciler that the MX user of the MXUser key may have changed (a
// member of it got a 404): its next reconcile reads it from MX. It never blocks.
func (r *MXUserReconciler) UserChanged(ctx context.Context, key types.NamespacedName) {
	if r.notifications == nil {
		return
	}
	r.mem.hint(key)
	u := &mxv1alpha1.MXUser{}
	u.Namespace, u.Name = key.Namespace, key.Name
	select {
	case r.notifications <- event.GenericEvent{Object: u}:
	default:
		log.FromContext(ctx).Info("Dropping an MXUser notification: the queue is full", "mxuser", key)
	}
}

// SetupWithManager checks the required dependencies, applies the defaults and registers the
// controller. It watches MXUsers, the notifications of UserChanged and, while a user is being
// deleted, the deletion of the MXMembers that reference it. SetupIndexes must have run.
func (r *MXUserReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.MX == nil || r.Recorder == nil {
		return errors.New("MXUserReconciler needs MX and Recorder")
	}
	r.setDefaults()
	return ctrl.NewControllerManagedBy(mgr).
		For(&mxv1alpha1.MXUser{}, builder.WithPredicates(reconcileTriggers())).
		Watches(&mxv1alpha1.MXMember{},
			handler.EnqueueRequestsFromMapFunc(r.userOfDeletedMember),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc:  func(event.CreateEvent) bool { return false },
				UpdateFunc:  func(event.UpdateEvent) bool { return false },
				GenericFunc: func(event.GenericEvent) bool { return false },
			})).
		WatchesRawSource(source.Channel(r.notifications, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1),
			RateLimiter:             r.Timing.rateLimiter(),
		}).
		Named("mxuser").
		Complete(r)
}

// setDefaults fills in what was left zero. SetupWithManager calls it; tests that drive
// Reconcile directly call it too.
func (r *MXUserReconciler) setDefaults() {
	r.Timing = r.Timing.withDefaults()
	if r.Now == nil {
		r.Now = time.Now
	}
	r.mem = newMemo()
	r.notifications = make(chan event.GenericEvent, notificationBuffer)
}

// userOfDeletedMember enqueues the MXUser of a deleted MXMember when that user is being deleted
// and may be waiting for its members.
func (r *MXUserReconciler) userOfDeletedMember(ctx context.Context, o client.Object) []reconcile.Request {
	m, ok := o.(*mxv1alpha1.MXMember)
	if !ok {
		return nil
	}
	key := types.NamespacedName{Namespace: m.Namespace, Name: m.Spec.UserRef.Name}
	user := &mxv1alpha1.MXUser{}
	if err := r.Get(ctx, key, user); err != nil {
		if !apierrors.IsNotFound(err) {
			log.FromContext(ctx).Error(err, "Reading the MXUser of a deleted MXMember", "mxuser", key)
		}
		return nil
	}
	if user.DeletionTimestamp.IsZero() {
		return nil
	}
	return []reconcile.Request{{NamespacedName: key}}
}

// MXRecovered tells the reconciler that MX answers again after refusing the operator (the MX
// client's cool-down ended with a successful probe): every object that shows MXRateLimited or
// MXUnavailable is reconciled now instead of on its own backoff timer. It never blocks.
func (r *MXUserReconciler) MXRecovered(ctx context.Context) {
	userKind.wakeWaitingOnMX(ctx, r.Client, r.notifications)
}
