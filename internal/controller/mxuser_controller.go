package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// maxListedNames bounds the object names a condition message lists.
const maxListedNames = 10

// MXUserReconciler creates, updates and deletes users in MX for MXUser objects.
//
// A user is created once: before creating, the reconciler looks the partner id up in MX and adopts
// a match, and a 409 on create is resolved the same way, so neither a lost create response nor a
// crash between the MX call and the status write creates a duplicate. A user that is in sync is
// read from MX only on the long resync, on a new reconcile-requested-at annotation, or after a
// spec change; its deletion waits until no MXMember references it.
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

	once sync.Once
	mem  *memo
}

// userScope is what one reconcile of an MXUser works on.
type userScope struct {
	user      *mxv1alpha1.MXUser
	now       time.Time
	partnerID string
	// reconcileRequest is a new value of the reconcile-requested-at annotation, or "".
	reconcileRequest string
	// wasSuspended is true when the object was suspended until this reconcile.
	wasSuspended bool
	// fresh is true once this reconcile has received the user from MX.
	fresh bool
}

func (r *MXUserReconciler) init() {
	r.once.Do(func() {
		r.Timing = r.Timing.withDefaults()
		if r.Now == nil {
			r.Now = time.Now
		}
		r.mem = newMemo()
	})
}

// Reconcile brings one MXUser and its MX user together.
func (r *MXUserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	r.init()
	user := &mxv1alpha1.MXUser{}
	if err := r.Get(ctx, req.NamespacedName, user); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if user.DeletionTimestamp.IsZero() {
		if added, err := ensureFinalizer(ctx, r.Client, user); err != nil || added {
			return conflictRequeue(err)
		}
	} else if !controllerutil.ContainsFinalizer(user, mxv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}

	base := user.DeepCopy()
	defer func() {
		retErr = errors.Join(retErr, r.patchStatus(ctx, base, user, retErr))
	}()

	s := &userScope{
		user:             user,
		now:              r.Now(),
		partnerID:        partnerID(user.Spec.ID, r.PartnerIDPrefix, user.Namespace, user.Name),
		reconcileRequest: newRequest(user, mxv1alpha1.ReconcileRequestedAtAnnotation, user.Status.LastHandledReconcileAt),
		wasSuspended:     isSuspended(user.Status.Conditions),
	}
	if !user.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	return r.reconcileNormal(ctx, s)
}

// patchStatus advances observedGeneration when the reconcile finished and writes the status once
// (see the package-level patchStatus).
func (r *MXUserReconciler) patchStatus(ctx context.Context, base, user *mxv1alpha1.MXUser, reconcileErr error) error {
	if finished(reconcileErr) {
		user.Status.ObservedGeneration = user.Generation
	}
	return patchStatus(ctx, r.Client, base, user, func(o *mxv1alpha1.MXUser) *mxv1alpha1.MXUserStatus { return &o.Status })
}

// reconcileNormal runs the phases of a user that is not being deleted, in order, and stops at the
// first that fails or waits.
func (r *MXUserReconciler) reconcileNormal(ctx context.Context, s *userScope) (ctrl.Result, error) {
	if s.user.Spec.Suspend {
		setSuspended(&s.user.Status.Conditions, s.user.Generation, s.now,
			"Suspended: the operator makes no MX calls for this user until spec.suspend is false.")
		return ctrl.Result{}, nil
	}
	meta.RemoveStatusCondition(&s.user.Status.Conditions, mxv1alpha1.SuspendedCondition)
	phases := []func(context.Context, *userScope) (bool, ctrl.Result, error){
		r.reconcileGone,
		r.reconcileCreate,
		r.reconcileUpdate,
		r.reconcileRead,
	}
	for _, phase := range phases {
		if done, res, err := phase(ctx, s); done {
			return res, err
		}
	}
	return r.reconcileReady(s), nil
}

// reconcileGone keeps a user whose MX user disappeared Stalled (GoneInMX) until a person sets a
// new value of the reconcile-requested-at annotation; then it forgets the old guid so that
// reconcileCreate looks the user up and creates it again.
func (r *MXUserReconciler) reconcileGone(_ context.Context, s *userScope) (bool, ctrl.Result, error) {
	if !isStalledWith(s.user.Status.Conditions, mxv1alpha1.ReasonGoneInMX) {
		return false, ctrl.Result{}, nil
	}
	if s.reconcileRequest == "" {
		return true, ctrl.Result{}, nil
	}
	s.user.Status.GUID = ""
	s.user.Status.LastHandledReconcileAt = s.reconcileRequest
	return false, ctrl.Result{}, nil
}

// reconcileCreate makes sure a user without a recorded guid exists in MX exactly once: it looks
// the partner id up first and adopts a match; otherwise it creates the user, and resolves a 409
// (created meanwhile, or by an attempt whose response was lost) by looking up again. It records
// status.id before creating and status.guid after.
func (r *MXUserReconciler) reconcileCreate(ctx context.Context, s *userScope) (bool, ctrl.Result, error) {
	if s.user.Status.GUID != "" {
		return false, ctrl.Result{}, nil
	}
	logger := log.FromContext(ctx).WithValues("partnerID", s.partnerID)
	found, err := r.MX.FindUserByID(ctx, s.partnerID)
	if err != nil && !mx.IsNotFound(err) {
		res, err := r.Timing.mxFailure(&s.user.Status.Conditions, s.user.Generation, s.now, "looking up the user", err)
		return true, res, err
	}
	if err == nil {
		return r.adopt(ctx, s, found)
	}

	logger.Info("Creating MX user")
	s.user.Status.ID = s.partnerID
	created, err := r.MX.CreateUser(ctx, mx.CreateUserRequest{
		ID:         s.partnerID,
		Email:      s.user.Spec.Email,
		IsDisabled: s.user.Spec.Disabled,
		Metadata:   s.user.Spec.Metadata,
	})
	if mx.IsConflict(err) {
		found, findErr := r.MX.FindUserByID(ctx, s.partnerID)
		if findErr == nil {
			return r.adopt(ctx, s, found)
		}
		if !mx.IsNotFound(findErr) {
			res, err := r.Timing.mxFailure(&s.user.Status.Conditions, s.user.Generation, s.now, "looking up the user", findErr)
			return true, res, err
		}
		setStalled(&s.user.Status.Conditions, s.user.Generation, s.now, mxv1alpha1.ReasonDuplicate, fmt.Sprintf(
			"MX refused to create a user with partner id %q as a duplicate, but no user with that id can be found. Choose another spec.id.", s.partnerID))
		return true, ctrl.Result{}, nil
	}
	if err != nil {
		res, err := r.Timing.mxFailure(&s.user.Status.Conditions, s.user.Generation, s.now, "creating the user", err)
		return true, res, err
	}
	r.observed(s, created)
	r.Recorder.Eventf(s.user, nil, corev1.EventTypeNormal, eventCreated, "Create", "Created MX user %s with partner id %s", created.GUID, s.partnerID)
	return false, ctrl.Result{}, nil
}

// adopt takes over an MX user that already carries the partner id, and corrects its fields when
// they differ from the spec.
func (r *MXUserReconciler) adopt(ctx context.Context, s *userScope, found *mx.User) (bool, ctrl.Result, error) {
	log.FromContext(ctx).Info("Adopting MX user", "guid", found.GUID, "partnerID", s.partnerID)
	s.user.Status.ID = s.partnerID
	r.observed(s, found)
	r.Recorder.Eventf(s.user, nil, corev1.EventTypeNormal, eventAdopted, "Adopt", "Adopted MX user %s with partner id %s", found.GUID, s.partnerID)
	return r.correctDrift(ctx, s, found)
}

// reconcileUpdate sends the spec to MX after it changed (or after a suspension, during which it
// may have changed). The first reconcile after a create or an adoption skips it: the user was
// created from the spec, or compared with it.
func (r *MXUserReconciler) reconcileUpdate(ctx context.Context, s *userScope) (bool, ctrl.Result, error) {
	if s.fresh || (s.user.Generation == s.user.Status.ObservedGeneration && !s.wasSuspended) {
		return false, ctrl.Result{}, nil
	}
	return r.update(ctx, s, desiredUserUpdate(s.user.Spec))
}

// reconcileRead reads the user from MX when it is due (the long resync) or a person asked for it
// with the reconcile-requested-at annotation, and corrects drift.
func (r *MXUserReconciler) reconcileRead(ctx context.Context, s *userScope) (bool, ctrl.Result, error) {
	if s.fresh || (s.reconcileRequest == "" && !r.readDue(s)) {
		return false, ctrl.Result{}, nil
	}
	got, err := r.MX.GetUser(ctx, s.user.Status.GUID)
	if err != nil {
		return r.userCallFailed(s, "reading the user", err)
	}
	r.observed(s, got)
	return r.correctDrift(ctx, s, got)
}

// reconcileReady records that the user matches the spec and schedules its next resync.
func (r *MXUserReconciler) reconcileReady(s *userScope) ctrl.Result {
	if s.reconcileRequest != "" && s.fresh {
		s.user.Status.LastHandledReconcileAt = s.reconcileRequest
	}
	setReady(&s.user.Status.Conditions, s.user.Generation, s.now, mxv1alpha1.ReasonSucceeded, fmt.Sprintf(
		"MX user %s (partner id %s) matches the spec.", s.user.Status.GUID, s.user.Status.ID))
	next, ok := r.mem.readAt(s.user.UID)
	if !ok {
		next = s.now.Add(r.Timing.resyncDelay(s.user.UID))
		if last := s.user.Status.LastReadAt; last != nil {
			next = last.Add(r.Timing.resyncDelay(s.user.UID))
		}
		r.mem.scheduleRead(s.user.UID, next)
	}
	return ctrl.Result{RequeueAfter: max(next.Sub(s.now), time.Second)}
}

// readDue reports whether the user's long resync is due.
func (r *MXUserReconciler) readDue(s *userScope) bool {
	if at, ok := r.mem.readAt(s.user.UID); ok {
		return !s.now.Before(at)
	}
	last := s.user.Status.LastReadAt
	return last == nil || !s.now.Before(last.Add(r.Timing.resyncDelay(s.user.UID)))
}

// correctDrift updates the MX user when observed differs from the spec.
func (r *MXUserReconciler) correctDrift(ctx context.Context, s *userScope, observed *mx.User) (bool, ctrl.Result, error) {
	req, drift := userDrift(s.user.Spec, observed)
	if !drift {
		return false, ctrl.Result{}, nil
	}
	return r.update(ctx, s, req)
}

// update sends req to MX.
func (r *MXUserReconciler) update(ctx context.Context, s *userScope, req mx.UpdateUserRequest) (bool, ctrl.Result, error) {
	log.FromContext(ctx).Info("Updating MX user", "guid", s.user.Status.GUID)
	got, err := r.MX.UpdateUser(ctx, s.user.Status.GUID, req)
	if err != nil {
		return r.userCallFailed(s, "updating the user", err)
	}
	r.observed(s, got)
	r.Recorder.Eventf(s.user, nil, corev1.EventTypeNormal, eventUpdated, "Update", "Updated MX user %s from the spec", got.GUID)
	return false, ctrl.Result{}, nil
}

// userCallFailed handles a failed call on the recorded user: a user that is gone is reported
// Stalled (GoneInMX) and not created again unless a person asks; anything else is classified.
func (r *MXUserReconciler) userCallFailed(s *userScope, action string, err error) (bool, ctrl.Result, error) {
	if !mx.IsNotFound(err) {
		res, err := r.Timing.mxFailure(&s.user.Status.Conditions, s.user.Generation, s.now, action, err)
		return true, res, err
	}
	if s.reconcileRequest != "" {
		s.user.Status.LastHandledReconcileAt = s.reconcileRequest
	}
	if !isStalledWith(s.user.Status.Conditions, mxv1alpha1.ReasonGoneInMX) {
		r.Recorder.Eventf(s.user, nil, corev1.EventTypeWarning, eventGoneInMX, "Read", "MX user %s no longer exists in MX", s.user.Status.GUID)
	}
	setStalled(&s.user.Status.Conditions, s.user.Generation, s.now, mxv1alpha1.ReasonGoneInMX, fmt.Sprintf(
		"MX user %s no longer exists in MX. The operator does not create it again by itself: set the annotation %s to a new value to create it again.",
		s.user.Status.GUID, mxv1alpha1.ReconcileRequestedAtAnnotation))
	return true, ctrl.Result{}, nil
}

// observed records a user MX returned.
func (r *MXUserReconciler) observed(s *userScope, u *mx.User) {
	s.fresh = true
	s.user.Status.GUID = u.GUID
	s.user.Status.LastReadAt = statusTime(s.now)
	r.mem.scheduleRead(s.user.UID, s.now.Add(r.Timing.resyncDelay(s.user.UID)))
}

// desiredUserUpdate is the update that makes an MX user match spec, field by field.
func desiredUserUpdate(spec mxv1alpha1.MXUserSpec) mx.UpdateUserRequest {
	return mx.UpdateUserRequest{Email: &spec.Email, Metadata: &spec.Metadata, IsDisabled: &spec.Disabled}
}

// userDrift compares the MX user with the spec and returns the update of the fields that differ
// and whether there is any. The partner id is not compared: it is how the user was found.
func userDrift(spec mxv1alpha1.MXUserSpec, observed *mx.User) (mx.UpdateUserRequest, bool) {
	var req mx.UpdateUserRequest
	drift := false
	if observed.Email != spec.Email {
		req.Email, drift = &spec.Email, true
	}
	if observed.Metadata != spec.Metadata {
		req.Metadata, drift = &spec.Metadata, true
	}
	if observed.IsDisabled != spec.Disabled {
		req.IsDisabled, drift = &spec.Disabled, true
	}
	return req, drift
}

// reconcileDelete removes the user from MX (deletionPolicy Delete) or leaves it (Orphan), then
// removes the finalizer. It waits, with reason MembersRemaining, while MXMembers still reference
// the user: deleting the MX user would delete their members behind their backs.
func (r *MXUserReconciler) reconcileDelete(ctx context.Context, s *userScope) (ctrl.Result, error) {
	members := &mxv1alpha1.MXMemberList{}
	if err := r.List(ctx, members, client.InNamespace(s.user.Namespace), client.MatchingFields{indexMemberUser: s.user.Name}); err != nil {
		return ctrl.Result{}, err
	}
	if len(members.Items) > 0 {
		names := make([]string, 0, len(members.Items))
		for _, m := range members.Items {
			names = append(names, m.Name)
		}
		setReconciling(&s.user.Status.Conditions, s.user.Generation, s.now, mxv1alpha1.ReasonMembersRemaining, fmt.Sprintf(
			"Waiting for %d MXMember(s) referencing this user to be deleted first: %s.", len(names), namesList(names, maxListedNames)))
		return ctrl.Result{}, nil
	}

	if s.user.Spec.DeletionPolicy == mxv1alpha1.DeletionPolicyOrphan {
		r.Recorder.Eventf(s.user, nil, corev1.EventTypeNormal, eventOrphaned, "Delete", "Left MX user %s in MX (deletionPolicy Orphan)", s.user.Status.GUID)
		return r.release(ctx, s)
	}
	setReconciling(&s.user.Status.Conditions, s.user.Generation, s.now, mxv1alpha1.ReasonDeleting, "Deleting the user from MX.")
	guid := s.user.Status.GUID
	if guid == "" && s.user.Status.ID != "" {
		// A create may have reached MX without its answer: look the partner id up.
		found, err := r.MX.FindUserByID(ctx, s.user.Status.ID)
		switch {
		case err == nil:
			guid = found.GUID
		case !mx.IsNotFound(err):
			return r.Timing.mxFailure(&s.user.Status.Conditions, s.user.Generation, s.now, "looking up the user to delete", err)
		}
	}
	if guid != "" {
		log.FromContext(ctx).Info("Deleting MX user", "guid", guid)
		if err := r.MX.DeleteUser(ctx, guid); err != nil && !mx.IsNotFound(err) {
			return r.Timing.mxFailure(&s.user.Status.Conditions, s.user.Generation, s.now, "deleting the user", err)
		}
		r.Recorder.Eventf(s.user, nil, corev1.EventTypeNormal, eventDeleted, "Delete", "Deleted MX user %s", guid)
	}
	return r.release(ctx, s)
}

// release removes the finalizer and forgets the object.
func (r *MXUserReconciler) release(ctx context.Context, s *userScope) (ctrl.Result, error) {
	if err := removeFinalizer(ctx, r.Client, s.user); err != nil {
		return conflictRequeue(err)
	}
	r.mem.forget(s.user.UID, client.ObjectKeyFromObject(s.user))
	return ctrl.Result{}, nil
}

// SetupWithManager registers the controller. It watches MXUsers and, while a user is being
// deleted, the deletion of the MXMembers that reference it. SetupIndexes must have run.
func (r *MXUserReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.MX == nil || r.Recorder == nil {
		return errors.New("MXUserReconciler needs MX and Recorder")
	}
	r.init()
	return ctrl.NewControllerManagedBy(mgr).
		For(&mxv1alpha1.MXUser{}, builder.WithPredicates(reconcileTriggers())).
		Watches(&mxv1alpha1.MXMember{},
			handler.EnqueueRequestsFromMapFunc(r.userOfDeletedMember),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc:  func(event.CreateEvent) bool { return false },
				UpdateFunc:  func(event.UpdateEvent) bool { return false },
				GenericFunc: func(event.GenericEvent) bool { return false },
			})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1),
			RateLimiter:             r.Timing.rateLimiter(),
		}).
		Named("mxuser").
		Complete(r)
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
