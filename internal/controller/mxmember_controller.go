package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// patchStatus writes the status once, with a merge patch from the object read at the start, and
// only when it changed. observedGeneration advances only when the reconcile finished.
func (r *MXMemberReconciler) patchStatus(ctx context.Context, base, member *mxv1alpha1.MXMember, reconcileErr error) error {
	if finished(reconcileErr) {
		member.Status.ObservedGeneration = member.Generation
	}
	if equality.Semantic.DeepEqual(base.Status, member.Status) {
		return nil
	}
	from := member.DeepCopy()
	from.Status = base.Status
	return client.IgnoreNotFound(r.Status().Patch(ctx, member, client.MergeFrom(from)))
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

// reconcileUser waits, without any MX call, until the referenced MXUser exists in MX and is
// Ready (Reconciling, reason UserNotReady); the MXUser watch brings the member back when it is.
// It sets s.userGUID.
func (r *MXMemberReconciler) reconcileUser(ctx context.Context, s *memberScope) (bool, ctrl.Result, error) {
	user := &mxv1alpha1.MXUser{}
	key := types.NamespacedName{Namespace: s.member.Namespace, Name: s.member.Spec.UserRef.Name}
	if err := r.Get(ctx, key, user); err != nil {
		if !apierrors.IsNotFound(err) {
			return stop(ctrl.Result{}, err)
		}
		setReconciling(&s.member.Status.Conditions, s.member.Generation, s.now, mxv1alpha1.ReasonUserNotReady,
			fmt.Sprintf("Waiting for MXUser %q, which does not exist.", key.Name))
		return stop(ctrl.Result{}, nil)
	}
	if !user.DeletionTimestamp.IsZero() {
		setReconciling(&s.member.Status.Conditions, s.member.Generation, s.now, mxv1alpha1.ReasonUserNotReady,
			fmt.Sprintf("MXUser %q is being deleted; it waits for this member to be deleted first.", key.Name))
		return stop(ctrl.Result{}, nil)
	}
	if !meta.IsStatusConditionTrue(user.Status.Conditions, mxv1alpha1.ReadyCondition) || user.Status.GUID == "" {
		setReconciling(&s.member.Status.Conditions, s.member.Generation, s.now, mxv1alpha1.ReasonUserNotReady,
			fmt.Sprintf("Waiting for MXUser %q to be Ready.", key.Name))
		return stop(ctrl.Result{}, nil)
	}
	s.userGUID = user.Status.GUID
	return next()
}

// reconcileGone keeps a member whose MX member disappeared Stalled (GoneInMX) until a person sets
// a new value of the reconcile-requested-at annotation; then it forgets what it knew about the
// old member so that reconcileCreate creates it again.
func (r *MXMemberReconciler) reconcileGone(_ context.Context, s *memberScope) (bool, ctrl.Result, error) {
	if !isStalledWith(s.member.Status.Conditions, mxv1alpha1.ReasonGoneInMX) {
		return next()
	}
	if s.reconcileRequest == "" {
		return stop(ctrl.Result{}, nil)
	}
	st := &s.member.Status
	st.LastHandledReconcileAt = s.reconcileRequest
	st.GUID, st.UserGUID, st.ConnectionStatus, st.ConnectionStatusMessage = "", "", "", ""
	st.IsBeingAggregated, st.OAuthWindowURI, st.CredentialsRevision, st.AnsweredChallenges = false, "", "", ""
	st.Challenges, st.AccountsAsOf = nil, nil
	return next()
}

// reconcileCreate makes sure a member without a recorded guid exists in MX exactly once (see the
// type's documentation): it looks up first only when status.id shows an earlier attempt,
// otherwise it creates directly and resolves a 409 by looking up and adopting. It stalls, without
// calling MX, on a missing Secret or key, and on an unknown institution.
func (r *MXMemberReconciler) reconcileCreate(ctx context.Context, s *memberScope) (bool, ctrl.Result, error) {
	if s.member.Status.GUID != "" {
		return next()
	}
	creds, rev, done, res, err := r.credentialsForCreate(ctx, s)
	if done {
		return stop(res, err)
	}
	st := &s.member.Status
	if st.ID != "" && st.UserGUID == s.userGUID {
		found, err := r.MX.FindMemberByID(ctx, s.userGUID, s.partnerID)
		if err == nil {
			return r.adopt(ctx, s, found, rev)
		}
		if !mx.IsNotFound(err) {
			return stop(r.Timing.mxFailure(&st.Conditions, s.member.Generation, s.now, "looking up the member", err))
		}
	}

	log.FromContext(ctx).Info("Creating MX member", "partnerID", s.partnerID, "institution", s.member.Spec.InstitutionCode)
	st.ID, st.UserGUID = s.partnerID, s.userGUID
	created, _, err := r.MX.CreateMember(ctx, s.userGUID, mx.CreateMemberRequest{
		InstitutionCode:                 s.member.Spec.InstitutionCode,
		Credentials:                     creds,
		ID:                              s.partnerID,
		Metadata:                        s.member.Spec.Metadata,
		SkipAggregation:                 s.member.Spec.SkipInitialAggregation,
		BackgroundAggregationIsDisabled: s.member.Spec.DisableBackgroundAggregation,
		IsOAuth:                         s.member.Spec.OAuth,
	})
	switch {
	case mx.IsConflict(err):
		found, findErr := r.MX.FindMemberByID(ctx, s.userGUID, s.partnerID)
		if findErr == nil {
			return r.adopt(ctx, s, found, rev)
		}
		if !mx.IsNotFound(findErr) {
			return stop(r.Timing.mxFailure(&st.Conditions, s.member.Generation, s.now, "looking up the member", findErr))
		}
		setStalled(&st.Conditions, s.member.Generation, s.now, mxv1alpha1.ReasonDuplicate, fmt.Sprintf(
			"MX already holds a connection of this user to %s with these credentials under another partner id, so it refused to create another. Delete that member in MX or use other credentials.",
			s.member.Spec.InstitutionCode))
		return stop(ctrl.Result{}, nil)
	case mx.IsNotFound(err):
		setReconciling(&st.Conditions, s.member.Generation, s.now, mxv1alpha1.ReasonUserNotReady, fmt.Sprintf(
			"MX does not know user %s of MXUser %q; waiting for the MXUser to notice.", s.userGUID, s.member.Spec.UserRef.Name))
		return stop(ctrl.Result{RequeueAfter: r.Timing.WaitingRetryInterval}, nil)
	case err != nil:
		return stop(r.Timing.mxFailure(&st.Conditions, s.member.Generation, s.now, "creating the member", err))
	}
	s.createdOrAdopted = true
	st.CredentialsRevision = rev
	r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventCreated, "Create", "Created MX member %s with partner id %s", created.GUID, s.partnerID)
	r.observedMember(s, created)
	return r.ensureOAuthWindow(ctx, s)
}

// credentialsForCreate returns the credentials to create the member with and the Secret's
// resourceVersion (none for OAuth). It stalls on an unknown institution (InstitutionNotFound), a
// missing Secret (SecretNotFound) or key (SecretKeyMissing), naming keys but never values.
func (r *MXMemberReconciler) credentialsForCreate(ctx context.Context, s *memberScope) ([]mx.CredentialValue, string, bool, ctrl.Result, error) {
	fields, done, res, err := r.institutionFields(ctx, s)
	if done || s.member.Spec.OAuth {
		return nil, "", done, res, err
	}
	creds, rev, done, res, err := r.readCredentials(ctx, s, fields)
	return creds, rev, done, res, err
}

// institutionFields returns the credential fields of the member's institution, from the
// in-process cache when it has them.
func (r *MXMemberReconciler) institutionFields(ctx context.Context, s *memberScope) ([]mx.CredentialField, bool, ctrl.Result, error) {
	code := s.member.Spec.InstitutionCode
	if fields, ok := r.institutions.get(code, s.now); ok {
		return fields, false, ctrl.Result{}, nil
	}
	fields, err := r.MX.ListInstitutionCredentials(ctx, code)
	if mx.IsNotFound(err) {
		setStalled(&s.member.Status.Conditions, s.member.Generation, s.now, mxv1alpha1.ReasonInstitutionNotFound, fmt.Sprintf(
			"MX does not know the institution %q. Fix spec.institutionCode (it is immutable: create a new MXMember).", code))
		return nil, true, ctrl.Result{}, nil
	}
	if err != nil {
		res, err := r.Timing.mxFailure(&s.member.Status.Conditions, s.member.Generation, s.now, "reading the institution's credential fields", err)
		return nil, true, res, err
	}
	r.institutions.put(code, fields, s.now.Add(r.InstitutionCacheTTL))
	return fields, false, ctrl.Result{}, nil
}

// readCredentials reads the credentials Secret from the API server and maps it onto fields.
func (r *MXMemberReconciler) readCredentials(ctx context.Context, s *memberScope, fields []mx.CredentialField) ([]mx.CredentialValue, string, bool, ctrl.Result, error) {
	ref := s.member.Spec.CredentialsSecretRef
	if ref == nil {
		setStalled(&s.member.Status.Conditions, s.member.Generation, s.now, mxv1alpha1.ReasonSecretNotFound,
			"spec.credentialsSecretRef is not set. Name a Secret whose keys are the institution's credential fields.")
		return nil, "", true, ctrl.Result{}, nil
	}
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: s.member.Namespace, Name: ref.Name}, secret); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, "", true, ctrl.Result{}, err
		}
		setStalled(&s.member.Status.Conditions, s.member.Generation, s.now, mxv1alpha1.ReasonSecretNotFound, fmt.Sprintf(
			"Secret %q named by spec.credentialsSecretRef does not exist. Create it with the keys %s.", ref.Name, namesList(fieldNames(fields), maxListedNames)))
		return nil, "", true, ctrl.Result{RequeueAfter: r.Timing.WaitingRetryInterval}, nil
	}
	creds, missing := credentialValues(fields, secret.Data)
	if len(missing) > 0 {
		setStalled(&s.member.Status.Conditions, s.member.Generation, s.now, mxv1alpha1.ReasonSecretKeyMissing, fmt.Sprintf(
			"Secret %q has no value for the key(s) %s, which institution %s requires.", ref.Name, namesList(missing, maxListedNames), s.member.Spec.InstitutionCode))
		return nil, "", true, ctrl.Result{RequeueAfter: r.Timing.WaitingRetryInterval}, nil
	}
	return creds, secret.ResourceVersion, false, ctrl.Result{}, nil
}

// adopt takes over an MX member that carries the member's partner id, records the credentials
// Secret revision as the one it was created with, and corrects its metadata and background
// aggregation flag when they differ from the spec.
func (r *MXMemberReconciler) adopt(ctx context.Context, s *memberScope, found *mx.Member, rev string) (bool, ctrl.Result, error) {
	log.FromContext(ctx).Info("Adopting MX member", "guid", found.GUID, "partnerID", s.partnerID)
	s.createdOrAdopted = true
	st := &s.member.Status
	st.ID, st.UserGUID, st.CredentialsRevision = s.partnerID, s.userGUID, rev
	r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventAdopted, "Adopt", "Adopted MX member %s with partner id %s", found.GUID, s.partnerID)
	r.observedMember(s, found)
	if req, drift := memberDrift(s.member.Spec, s.partnerID, found); drift {
		if done, res, err := r.updateMember(ctx, s, req, "updating the member's settings"); done {
			return stop(res, err)
		}
	}
	return r.ensureOAuthWindow(ctx, s)
}

// ensureOAuthWindow fetches the OAuth window URI of a PENDING OAuth member that has none, or a
// fresh one (they are single-use and short-lived) when a person set a new reconcile-requested-at.
func (r *MXMemberReconciler) ensureOAuthWindow(ctx context.Context, s *memberScope) (bool, ctrl.Result, error) {
	st := &s.member.Status
	if mx.ConnectionStatus(st.ConnectionStatus) != mx.StatusPending || !s.member.Spec.OAuth {
		return next()
	}
	if st.OAuthWindowURI != "" && (s.reconcileRequest == "" || s.createdOrAdopted) {
		return next()
	}
	uri, err := r.MX.OAuthWindowURI(ctx, st.UserGUID, st.GUID, mx.OAuthWindowOptions{})
	if err != nil {
		return r.memberCallFailed(s, "reading the OAuth window URI", err)
	}
	st.OAuthWindowURI = uri
	return next()
}

// reconcileCredentials sends the credentials again when the credentials Secret changed since
// they were last sent (its resourceVersion differs from status.credentialsRevision). MX starts a
// new aggregation; this is how a DENIED member recovers. A Secret that disappeared after the
// member was created changes nothing.
func (r *MXMemberReconciler) reconcileCredentials(ctx context.Context, s *memberScope) (bool, ctrl.Result, error) {
	ref := s.member.Spec.CredentialsSecretRef
	if s.createdOrAdopted || s.member.Spec.OAuth || ref == nil {
		return next()
	}
	key := types.NamespacedName{Namespace: s.member.Namespace, Name: ref.Name}
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := r.MetadataReader.Get(ctx, key, meta); err != nil {
		if apierrors.IsNotFound(err) {
			return next()
		}
		return stop(ctrl.Result{}, err)
	}
	if meta.ResourceVersion == s.member.Status.CredentialsRevision {
		return next()
	}
	fields, done, res, err := r.institutionFields(ctx, s)
	if done {
		return stop(res, err)
	}
	creds, rev, done, res, err := r.readCredentials(ctx, s, fields)
	if done {
		return stop(res, err)
	}
	log.FromContext(ctx).Info("Sending rotated credentials to MX", "guid", s.member.Status.GUID, "secret", ref.Name)
	if done, res, err := r.updateMember(ctx, s, mx.UpdateMemberRequest{Credentials: creds}, "sending the updated credentials"); done {
		return stop(res, err)
	}
	st := &s.member.Status
	st.CredentialsRevision = rev
	st.Challenges, st.AnsweredChallenges = nil, ""
	r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventCredentialsUpdated, "Update", "Sent the credentials of Secret %s (revision %s) to MX", ref.Name, rev)
	return next()
}

// reconcileSpec sends the member's settings (partner id, metadata, background aggregation) to MX
// after the spec changed, or after a suspension during which it may have changed. It does not
// start an aggregation.
func (r *MXMemberReconciler) reconcileSpec(ctx context.Context, s *memberScope) (bool, ctrl.Result, error) {
	if s.createdOrAdopted || (s.member.Generation == s.member.Status.ObservedGeneration && !s.wasSuspended) {
		return next()
	}
	req, drift := memberDrift(s.member.Spec, s.partnerID, nil)
	if !drift {
		return next()
	}
	if done, res, err := r.updateMember(ctx, s, req, "updating the member's settings"); done {
		return stop(res, err)
	}
	s.member.Status.ID = s.partnerID
	return next()
}

// reconcileObserve reads the member's status from MX when a read is due: MX is aggregating and
// the poll delay has passed, the resync is due, MX reported a change by webhook, a person set a
// new reconcile-requested-at, or the member was just unsuspended. It fetches the challenges when
// the status carries none, the end-user message (GET member) when MX's status endpoint gave none
// for a status that needs one, and a new OAuth window URI when asked.
func (r *MXMemberReconciler) reconcileObserve(ctx context.Context, s *memberScope) (bool, ctrl.Result, error) {
	if s.fresh {
		return next()
	}
	forced := s.reconcileRequest != "" || s.hints > 0 || s.wasSuspended
	if !forced && s.now.Before(r.nextRead(s)) {
		return next()
	}
	st := &s.member.Status
	got, err := r.MX.GetMemberStatus(ctx, st.UserGUID, st.GUID)
	if err != nil {
		return r.memberCallFailed(s, "reading the member's status", err)
	}
	previous := st.ConnectionStatus
	r.observedStatus(s, got)
	status := mx.ConnectionStatus(st.ConnectionStatus)
	if status == mx.StatusChallenged && len(got.Challenges) == 0 {
		cs, err := r.MX.ListChallenges(ctx, st.UserGUID, st.GUID)
		if err != nil {
			return r.memberCallFailed(s, "listing the member's challenges", err)
		}
		st.Challenges = challengesFromMX(cs)
	}
	class := status.Class()
	needsMessage := class == mx.StatusClassNeedsUser || class == mx.StatusClassTerminal || class == mx.StatusClassRetryLater
	if needsMessage && got.ConnectionStatusMessage == "" && (previous != st.ConnectionStatus || st.ConnectionStatusMessage == "") {
		m, err := r.MX.GetMember(ctx, st.UserGUID, st.GUID)
		if err != nil {
			return r.memberCallFailed(s, "reading the member", err)
		}
		st.ConnectionStatusMessage = m.ConnectionStatusMessage
		if status == mx.StatusPending {
			st.OAuthWindowURI = m.OAuthWindowURI
		}
	}
	r.mem.readDone(s.key, s.hints)
	if s.reconcileRequest != "" {
		st.LastHandledReconcileAt = s.reconcileRequest
	}
	return r.ensureOAuthWindow(ctx, s)
}

// nextRead returns when the member is next due for a status read: what this process scheduled,
// or else (after a restart) the interval of its state counted from status.lastReadAt.
func (r *MXMemberReconciler) nextRead(s *memberScope) time.Time {
	if at, ok := r.mem.readAt(s.member.UID); ok {
		return at
	}
	last := s.member.Status.LastReadAt
	if last == nil {
		return time.Time{}
	}
	return last.Add(r.readInterval(s))
}

// readInterval is how long after a read the member in its current state is read again: the
// poll delay while MX works, RetryLaterInterval while MX reports a failure it usually recovers
// from, and the jittered resync otherwise (in sync, or waiting for the end user).
func (r *MXMemberReconciler) readInterval(s *memberScope) time.Duration {
	st := s.member.Status
	switch {
	case memberWorking(st):
		since, ok := reconcilingSince(st.Conditions)
		if !ok {
			since = s.now
		}
		return r.Timing.pollDelay(s.now.Sub(since))
	case memberIdle(st), mx.ConnectionStatus(st.ConnectionStatus).Class() == mx.StatusClassRetryLater:
		return r.Timing.RetryLaterInterval
	}
	return r.Timing.resyncDelay(s.member.UID)
}

// memberWorking reports whether MX is working on the member: a transient status with a job
// running, or CONNECTED while still aggregating.
func memberWorking(st mxv1alpha1.MXMemberStatus) bool {
	switch mx.ConnectionStatus(st.ConnectionStatus).Class() {
	case mx.StatusClassTransient, mx.StatusClassNone:
		return st.IsBeingAggregated || mx.ConnectionStatus(st.ConnectionStatus) == mx.StatusResumed
	case mx.StatusClassSuccess:
		return st.IsBeingAggregated
	}
	return false
}

// memberIdle reports whether the member is in a transient status with no job running, as after
// a create with skipInitialAggregation: MX aggregates it in the background later.
func memberIdle(st mxv1alpha1.MXMemberStatus) bool {
	c := mx.ConnectionStatus(st.ConnectionStatus).Class()
	return (c == mx.StatusClassTransient || c == mx.StatusClassNone) && !memberWorking(st)
}

// reconcileChallenges answers MX's MFA challenges from the answers Secret (key = challenge guid),
// once per set of challenges and only when every challenge has an answer; it stalls (Challenged,
// or AwaitingMFAAnswers when only some answers are there) without polling MX until the Secret
// changes. After the answers are sent it lets summarize follow the aggregation.
func (r *MXMemberReconciler) reconcileChallenges(ctx context.Context, s *memberScope) (bool, ctrl.Result, error) {
	st := &s.member.Status
	if mx.ConnectionStatus(st.ConnectionStatus) != mx.StatusChallenged || len(st.Challenges) == 0 {
		return next()
	}
	set := challengeSet(st.Challenges)
	if set == st.AnsweredChallenges {
		return next()
	}
	stall := func(reason, msg string, wait time.Duration) (bool, ctrl.Result, error) {
		setStalled(&st.Conditions, s.member.Generation, s.now, reason, statusMessage(s.member)+" "+msg)
		res := r.schedule(s)
		if wait > 0 && wait < res.RequeueAfter {
			res.RequeueAfter = wait
		}
		return stop(res, nil)
	}
	guids := make([]string, 0, len(st.Challenges))
	for _, c := range st.Challenges {
		guids = append(guids, c.GUID)
	}
	if s.member.Spec.MFA == nil || s.member.Spec.MFA.AnswersSecretRef == nil {
		return stall(camelStatus(mx.StatusChallenged), endUserAdvice(s.member, mx.StatusChallenged), 0)
	}
	name := s.member.Spec.MFA.AnswersSecretRef.Name
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: s.member.Namespace, Name: name}, secret); err != nil {
		if !apierrors.IsNotFound(err) {
			return stop(ctrl.Result{}, err)
		}
		return stall(camelStatus(mx.StatusChallenged), fmt.Sprintf(
			"Create Secret %q with one key per challenge guid (%s) holding the answer.", name, namesList(guids, maxListedNames)), r.Timing.WaitingRetryInterval)
	}
	answers, missing := challengeAnswers(st.Challenges, secret.Data)
	if len(answers) == 0 {
		return stall(camelStatus(mx.StatusChallenged), fmt.Sprintf(
			"Write the answers into Secret %q, one key per challenge guid (%s).", name, namesList(guids, maxListedNames)), r.Timing.WaitingRetryInterval)
	}
	if len(missing) > 0 {
		return stall(mxv1alpha1.ReasonAwaitingMFAAnswers, fmt.Sprintf(
			"Secret %q has no answer for the challenge(s) %s yet.", name, namesList(missing, maxListedNames)), r.Timing.WaitingRetryInterval)
	}
	log.FromContext(ctx).Info("Answering MFA challenges", "guid", st.GUID, "challenges", len(answers))
	got, err := r.MX.ResumeMember(ctx, st.UserGUID, st.GUID, answers)
	if err != nil {
		if apiErr, ok := errors.AsType[*mx.APIError](err); ok && apiErr.StatusCode == http.StatusMethodNotAllowed {
			// MX no longer waits for these answers (they expired, or another job runs): read again.
			r.mem.scheduleRead(s.member.UID, s.now)
			setReconciling(&st.Conditions, s.member.Generation, s.now, mxv1alpha1.ReasonProgressing,
				"MX no longer waits for answers to these challenges; reading the member again.")
			return stop(ctrl.Result{RequeueAfter: r.Timing.PollInterval}, nil)
		}
		if mx.IsRetryable(err) {
			// The answers may have reached MX: read the status before answering again.
			r.mem.scheduleRead(s.member.UID, s.now)
		}
		return r.memberCallFailed(s, "answering the MFA challenges", err)
	}
	st.AnsweredChallenges = set
	st.Challenges = nil
	r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventResumed, "Resume", "Answered %d MFA challenge(s)", len(answers))
	r.observedMember(s, got)
	return next()
}

// reconcileAggregation asks MX for a foreground aggregation when a person set a new value of the
// aggregate-requested-at annotation or spec.refreshInterval says it is time, unless MX is already
// aggregating (the running job answers the request) or the throttle window since
// status.aggregatedAt is still open: then it makes no call and records when it will be allowed.
// refreshInterval applies to CONNECTED members only: re-aggregating a member whose credentials
// were refused would only count more failed logins at the institution.
func (r *MXMemberReconciler) reconcileAggregation(ctx context.Context, s *memberScope) (bool, ctrl.Result, error) {
	st := &s.member.Status
	refreshDue := false
	if iv := s.member.Spec.RefreshInterval; iv != nil && iv.Duration > 0 && st.SuccessfullyAggregatedAt != nil &&
		mx.ConnectionStatus(st.ConnectionStatus) == mx.StatusConnected {
		at := st.SuccessfullyAggregatedAt.Add(iv.Duration)
		s.refreshAt = &at
		refreshDue = !s.now.Before(at)
	}
	if s.aggregateRequest == "" && !refreshDue {
		st.NextAggregationAllowedAt = nil
		return next()
	}
	if st.IsBeingAggregated || mx.ConnectionStatus(st.ConnectionStatus) == mx.StatusPending {
		// A running job answers the request; a PENDING OAuth member cannot aggregate yet.
		if s.aggregateRequest != "" && st.IsBeingAggregated {
			st.LastHandledAggregateAt = s.aggregateRequest
		}
		st.NextAggregationAllowedAt = nil
		return next()
	}
	if st.AggregatedAt != nil {
		allowed := st.AggregatedAt.Add(r.Timing.AggregationThrottleWindow)
		if s.now.Before(allowed) {
			s.throttledUntil = &allowed
			st.NextAggregationAllowedAt = statusTime(allowed)
			return next()
		}
	}
	log.FromContext(ctx).Info("Requesting an aggregation", "guid", st.GUID, "onDemand", s.aggregateRequest != "")
	got, err := r.MX.AggregateMember(ctx, st.UserGUID, st.GUID)
	if mx.IsConflict(err) {
		setReconciling(&st.Conditions, s.member.Generation, s.now, mxv1alpha1.ReasonAggregating,
			"MX is running another job on the member; the requested aggregation waits for it.")
		return stop(ctrl.Result{RequeueAfter: r.Timing.MaxPollInterval}, nil)
	}
	if err != nil {
		return r.memberCallFailed(s, "requesting an aggregation", err)
	}
	if s.aggregateRequest != "" {
		st.LastHandledAggregateAt = s.aggregateRequest
	}
	st.NextAggregationAllowedAt = nil
	s.refreshAt = nil
	r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventAggregationRequested, "Aggregate", "Requested an aggregation from MX")
	r.observedMember(s, got)
	return next()
}

// reconcileAccounts lists the member's accounts (all pages) when MX reports a successful
// aggregation newer than the one the summary in status was read after, and records the bounded
// summary.
func (r *MXMemberReconciler) reconcileAccounts(ctx context.Context, s *memberScope) (bool, ctrl.Result, error) {
	st := &s.member.Status
	if mx.ConnectionStatus(st.ConnectionStatus) != mx.StatusConnected || st.IsBeingAggregated || st.SuccessfullyAggregatedAt == nil {
		return next()
	}
	if st.AccountsAsOf != nil && !st.SuccessfullyAggregatedAt.After(st.AccountsAsOf.Time) {
		return next()
	}
	accts, err := r.MX.ListMemberAccounts(ctx, st.UserGUID, st.GUID)
	if err != nil {
		return r.memberCallFailed(s, "listing the member's accounts", err)
	}
	st.Accounts, st.AccountCount, st.AccountsTruncated = accountSummaries(accts)
	st.AccountsAsOf = st.SuccessfullyAggregatedAt.DeepCopy()
	r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventAccountsRefreshed, "ListAccounts",
		"Listed %d account(s) after the aggregation of %s", st.AccountCount, formatTime(st.AccountsAsOf.Time))
	return next()
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

// updateMember sends req to MX and records the member MX returns.
func (r *MXMemberReconciler) updateMember(ctx context.Context, s *memberScope, req mx.UpdateMemberRequest, action string) (bool, ctrl.Result, error) {
	st := &s.member.Status
	got, err := r.MX.UpdateMember(ctx, st.UserGUID, st.GUID, req)
	if err != nil {
		return r.memberCallFailed(s, action, err)
	}
	if req.Credentials == nil {
		r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventUpdated, "Update", "Updated the settings of MX member %s", st.GUID)
	}
	r.observedMember(s, got)
	return next()
}

// memberCallFailed handles a failed call on the recorded member: a member that is gone is
// reported Stalled (GoneInMX) and not created again unless a person asks; anything else is
// classified by mxFailure.
func (r *MXMemberReconciler) memberCallFailed(s *memberScope, action string, err error) (bool, ctrl.Result, error) {
	st := &s.member.Status
	if !mx.IsNotFound(err) {
		return stop(r.Timing.mxFailure(&st.Conditions, s.member.Generation, s.now, action, err))
	}
	if s.reconcileRequest != "" {
		st.LastHandledReconcileAt = s.reconcileRequest
	}
	if !isStalledWith(st.Conditions, mxv1alpha1.ReasonGoneInMX) {
		r.Recorder.Eventf(s.member, nil, corev1.EventTypeWarning, eventGoneInMX, "Read", "MX member %s no longer exists in MX", st.GUID)
	}
	setStalled(&st.Conditions, s.member.Generation, s.now, mxv1alpha1.ReasonGoneInMX, fmt.Sprintf(
		"MX member %s no longer exists in MX (or its user is gone). The operator does not create it again by itself: set the annotation %s to a new value to create it again.",
		st.GUID, mxv1alpha1.ReconcileRequestedAtAnnotation))
	return stop(ctrl.Result{}, nil)
}

// observedMember records a member MX returned (create, adopt, update, resume, aggregate).
func (r *MXMemberReconciler) observedMember(s *memberScope, m *mx.Member) {
	st := &s.member.Status
	r.recordConnectionStatus(s, string(m.ConnectionStatus))
	s.fresh = true
	st.GUID = m.GUID
	st.ConnectionStatusMessage = m.ConnectionStatusMessage
	st.IsBeingAggregated = m.IsBeingAggregated
	st.AggregatedAt = mxTime(m.AggregatedAt)
	st.SuccessfullyAggregatedAt = mxTime(m.SuccessfullyAggregatedAt)
	if m.OAuthWindowURI != "" {
		st.OAuthWindowURI = m.OAuthWindowURI
	}
	st.LastReadAt = statusTime(s.now)
}

// observedStatus records a member status MX returned. MX's status endpoint may omit the end-user
// message; the message recorded for the same status is then kept.
func (r *MXMemberReconciler) observedStatus(s *memberScope, got *mx.MemberStatus) {
	st := &s.member.Status
	previous := st.ConnectionStatus
	r.recordConnectionStatus(s, string(got.ConnectionStatus))
	s.fresh = true
	if got.ConnectionStatusMessage != "" || previous != st.ConnectionStatus {
		st.ConnectionStatusMessage = got.ConnectionStatusMessage
	}
	st.IsBeingAggregated = got.IsBeingAggregated
	st.AggregatedAt = mxTime(got.AggregatedAt)
	st.SuccessfullyAggregatedAt = mxTime(got.SuccessfullyAggregatedAt)
	if got.ConnectionStatus == mx.StatusChallenged {
		st.Challenges = challengesFromMX(got.Challenges)
	} else {
		st.Challenges = nil
	}
	st.LastReadAt = statusTime(s.now)
}

// recordConnectionStatus sets the connection status and emits an event when it changed.
func (r *MXMemberReconciler) recordConnectionStatus(s *memberScope, status string) {
	st := &s.member.Status
	if st.ConnectionStatus != "" && st.ConnectionStatus != status {
		r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventConnectionStatusChanged, "Observe",
			"Connection status changed from %s to %s", st.ConnectionStatus, status)
	}
	st.ConnectionStatus = status
}

// memberDrift returns the update that makes an MX member's settings match the spec and whether
// there is anything to send. With observed nil (the member was not read), every setting is sent.
func memberDrift(spec mxv1alpha1.MXMemberSpec, partnerID string, observed *mx.Member) (mx.UpdateMemberRequest, bool) {
	var req mx.UpdateMemberRequest
	if observed == nil {
		return mx.UpdateMemberRequest{
			ID:                              &partnerID,
			Metadata:                        &spec.Metadata,
			BackgroundAggregationIsDisabled: &spec.DisableBackgroundAggregation,
		}, true
	}
	drift := false
	if observed.ID != partnerID {
		req.ID, drift = &partnerID, true
	}
	if observed.Metadata != spec.Metadata {
		req.Metadata, drift = &spec.Metadata, true
	}
	if observed.BackgroundAggregationIsDisabled != spec.DisableBackgroundAggregation {
		req.BackgroundAggregationIsDisabled, drift = &spec.DisableBackgroundAggregation, true
	}
	return req, drift
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
