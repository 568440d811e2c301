package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
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
// duplicates comes from MX: partner ids are unique across the client, so a create whose earlier
// attempt reached MX answers 409 and the reconciler adopts the member it finds under its partner
// id, after checking that no other MXMember in the cluster owns that id (identity.go). When an
// attempt failed with an unknown outcome (a 5xx, a lost or undecodable answer), status.id is
// recorded without a guid and the next attempt looks up first. A delete of an object whose
// create may have reached MX looks its partner id up, so nothing is orphaned by a crash.
//
// # Calls MX only when something can have changed
//
// Status-only updates do not trigger a reconcile. A member MX is working on is polled with a
// growing delay; one that needs the end user is not polled (except PENDING OAuth members without
// webhooks); one in sync is read again only on the long, jittered resync counted from
// status.lastReadAt, so re-reconciling it or restarting the operator costs no MX call. MX
// webhooks (MemberChanged), Secret data changes, spec changes and the request annotations are
// what make the reconciler call MX earlier.
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
	// FingerprintKey keys the HMAC of status.appliedCredentials. Required; keep it secret and
	// stable (a new key re-sends each member's credentials once, when its Secret next changes).
	FingerprintKey []byte
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
	// WebhooksEnabled says that MX's webhooks reach the operator (the receiver is on), so a
	// PENDING OAuth member is not polled: its authorisation arrives as a webhook.
	WebhooksEnabled bool
	// UserGone, when set, is told that MX answered 404 for a member, which may mean its user is
	// gone; the MXUser controller then re-reads the user (MXUserReconciler.UserChanged).
	UserGone func(ctx context.Context, user types.NamespacedName)

	mem           *memo
	institutions  *institutionCache
	notifications chan event.GenericEvent
}

// memberScope is what one reconcile of an MXMember works on: the object, the requests it
// carries, and what was observed (the MXUser, MX's answers, the credentials Secret).
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
	// urlRequest is a new value of the url-requested-at annotation, or "".
	urlRequest string
	// hints counts the MX change notifications that no read has covered yet.
	hints uint64
	// readAt is when MX last answered with the member's state in this reconcile (zero: not yet).
	readAt time.Time
	// credentials is what the credentials Secret holds, once read in this reconcile.
	credentials *secretCredentials
	// oauthWindowURI is an OAuth window URL MX returned in this reconcile, to be published.
	oauthWindowURI string
	// created is true when this reconcile created the member in MX.
	created bool
}

// secretCredentials is what the credentials Secret held when it was read.
type secretCredentials struct {
	values      []mx.CredentialValue
	revision    string
	fingerprint string
}

// memberPhase is one step of reconcileNormal: proceed, or the outcome that ends the reconcile.
type memberPhase func(ctx context.Context, s *memberScope) outcome

// Reconcile brings one MXMember and its MX member together.
func (r *MXMemberReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	now := r.Now()
	return memberKind.reconcile(ctx, r.Client, r.Recorder, r.mem, r.Timing, req.NamespacedName, now, func(member *mxv1alpha1.MXMember) (outcome, func() bool) {
		if kept, ok := r.mem.takeDeferred(member.UID); ok && member.Status.GUID == "" {
			member.Status = kept.(mxv1alpha1.MXMemberStatus) // the create's record, not written yet
		}
		s := &memberScope{
			member:           member,
			key:              req.NamespacedName,
			now:              now,
			partnerID:        effectivePartnerID(member.Spec.ID, member.Status.ID, r.PartnerIDPrefix, member.Namespace, member.Name),
			reconcileRequest: newRequest(member, mxv1alpha1.ReconcileRequestedAtAnnotation, member.Status.LastHandledReconcileAt),
			aggregateRequest: newRequest(member, mxv1alpha1.AggregateRequestedAtAnnotation, member.Status.LastHandledAggregateAt),
			urlRequest:       newRequest(member, mxv1alpha1.URLRequestedAtAnnotation, member.Status.LastHandledURLRequestAt),
			hints:            r.mem.hinted(req.NamespacedName),
		}
		if !member.DeletionTimestamp.IsZero() {
			return r.reconcileDelete(ctx, s), func() bool { return false }
		}
		return r.reconcileNormal(ctx, s), func() bool { return r.applied(s) }
	})
}

// applied reports whether MX holds the member's current spec: it exists and the settings it
// acknowledged last are the ones the spec asks for now.
func (r *MXMemberReconciler) applied(s *memberScope) bool {
	st := s.member.Status
	return st.GUID != "" && st.AppliedSettings == settingsHash(desiredMemberSettings(s.member.Spec, s.partnerID))
}

// reconcileNormal runs the phases of a member that is not being deleted, in order, and stops at
// the first that decides; then summarize reads the verdict off the connection status.
func (r *MXMemberReconciler) reconcileNormal(ctx context.Context, s *memberScope) outcome {
	if s.member.Spec.Suspend {
		return outcome{kind: kindSuspended, message: "Suspended: the operator makes no MX calls for this member until spec.suspend is false."}
	}
	phases := []memberPhase{
		r.reconcileGone,
		r.reconcileUser,
		r.reconcileOwnership,
		r.reconcileWidget,
		r.reconcileCreate,
		r.reconcileCredentials,
		r.reconcileSettings,
		r.reconcileObserve,
		r.reconcileURLs,
		r.reconcileChallenges,
		r.reconcileAggregation,
		r.reconcileAccounts,
	}
	var out outcome
	for _, phase := range phases {
		if out = phase(ctx, s); out.done() {
			break
		}
	}
	if !out.done() {
		out = r.summarize(s)
	}
	if s.created && out.kind == kindWait && out.after > 0 && out.after <= r.Timing.MaxPollInterval &&
		!meta.IsStatusConditionTrue(s.member.Status.Conditions, mxv1alpha1.StalledCondition) {
		// Just created, MX is aggregating and the first read is seconds away: its status write
		// carries the create's record too (one write instead of two). Any reconcile before that
		// read writes it, so it is never held longer than the first requeue, whatever the clock.
		// A crash before it loses nothing: the next create finds the member under its partner
		// id (409, then adopt). A member shown Stalled is written at once.
		out.deferWrite = true
	}
	return out
}

// summarize turns the member's connection status into an outcome with the classification table
// (statusRules) and schedules the next read from it.
func (r *MXMemberReconciler) summarize(s *memberScope) outcome {
	st := &s.member.Status
	rule := memberRule(*st)
	after := r.schedule(s, rule)
	throttled := ""
	if st.NextAggregationAllowedAt != nil {
		throttled = fmt.Sprintf(" A requested aggregation waits for MX's throttle window; it is allowed from %s.", formatTime(st.NextAggregationAllowedAt.Time))
	}
	switch {
	case rule.verdict == verdictReady && throttled != "":
		return ready(mxv1alpha1.ReasonAggregationThrottled, fmt.Sprintf("Connected with %d account(s).%s", st.AccountCount, throttled), after)
	case rule.verdict == verdictReady:
		return ready(rule.reason, fmt.Sprintf("Connected with %d account(s).", st.AccountCount), after)
	case rule.verdict == verdictStalled:
		return stalled(rule.reason, joinSentences(statusMessage(s.member), endUserAdvice(s.member, mx.ConnectionStatus(st.ConnectionStatus)), urlAdvice(s.member, s.now))+throttled).retryAfter(after)
	case rule.reason == mxv1alpha1.ReasonAggregating:
		return waiting(after, rule.reason, fmt.Sprintf("MX is aggregating the member (connection status %s).", st.ConnectionStatus))
	case rule.reason == mxv1alpha1.ReasonProgressing:
		return waiting(after, rule.reason, fmt.Sprintf(
			"MX has not aggregated the member yet (connection status %s); it aggregates it in the background, or set the annotation %s.",
			st.ConnectionStatus, mxv1alpha1.AggregateRequestedAtAnnotation))
	}
	return waiting(after, rule.reason, fmt.Sprintf("%s MX usually recovers by itself; the operator checks again every %s.%s",
		statusMessage(s.member), r.Timing.RetryLaterInterval, throttled))
}

// schedule records when the member is next read from MX (the cadence of its status, counted
// from this reconcile's read, or else from the schedule already made) and returns how long until
// the member should be reconciled: then, or earlier for a throttled or scheduled aggregation.
func (r *MXMemberReconciler) schedule(s *memberScope, rule statusRule) time.Duration {
	nextRead := r.nextRead(s)
	if !s.readAt.IsZero() {
		nextRead = s.readAt.Add(r.readInterval(s, rule))
	}
	r.mem.scheduleRead(s.member.UID, nextRead)
	wake := nextRead
	for _, t := range []*metav1.Time{s.member.Status.NextAggregationAllowedAt, r.refreshAt(s.member), urlExpiry(s.member.Status.EndUserURL)} {
		if t != nil && t.Time.Before(wake) {
			wake = t.Time
		}
	}
	return max(wake.Sub(s.now), time.Second)
}

// nextRead returns when the member is next due for a status read: what this process scheduled,
// or else (after a restart) the cadence of its status counted from status.lastReadAt.
func (r *MXMemberReconciler) nextRead(s *memberScope) time.Time {
	if at, ok := r.mem.readAt(s.member.UID); ok {
		return at
	}
	last := s.member.Status.LastReadAt
	if last == nil {
		return time.Time{}
	}
	return last.Add(r.readInterval(s, memberRule(s.member.Status)))
}

// readInterval is how long after a read a member in a status with rule is read again.
func (r *MXMemberReconciler) readInterval(s *memberScope, rule statusRule) time.Duration {
	st := s.member.Status
	if u := st.EndUserURL; rule.verdict == verdictStalled && u != nil && u.Kind == mxv1alpha1.EndUserURLRepairWidget && !r.WebhooksEnabled && s.now.Before(u.IssuedAt.Add(endUserSession)) {
		// The end user may be fixing the member in the widget: follow it as an OAuth window.
		return r.Timing.oauthPollDelay(s.now.Sub(u.IssuedAt.Time))
	}
	switch rule.read {
	case readPoll:
		since := s.now
		if st.AggregatedAt != nil && st.AggregatedAt.Time.Before(s.now) {
			since = st.AggregatedAt.Time
		}
		return r.Timing.pollDelay(s.now.Sub(since))
	case readRetryLater:
		return r.Timing.RetryLaterInterval
	case readOAuth:
		since, ok := stalledSince(st.Conditions, "Pending")
		if !ok {
			since = s.now
		}
		if r.WebhooksEnabled {
			// One read when MX deletes the member the end user never authorised.
			return max(pendingLifetime-s.now.Sub(since), time.Second)
		}
		return r.Timing.oauthPollDelay(s.now.Sub(since))
	}
	return r.Timing.resyncDelay(s.member.UID)
}

// reconcileDelete removes the member from MX (deletionPolicy Delete) or leaves it (Orphan), then
// removes the finalizer. An object that does not own its MX member never touches it. A member
// whose create may have reached MX without its answer being recorded is looked up by partner id
// first. Deletion proceeds even while the member is suspended.
func (r *MXMemberReconciler) reconcileDelete(ctx context.Context, s *memberScope) outcome {
	st := &s.member.Status
	other, err := memberKind.claims.otherOwner(ctx, r.Client, s.member, s.partnerID, st.GUID)
	if err != nil {
		return apiFailure(err)
	}
	switch {
	case other != "":
		log.FromContext(ctx).Info("Releasing an MXMember that does not own its MX member", "owner", other)
		return r.release(ctx, s)
	case s.member.Spec.DeletionPolicy == mxv1alpha1.DeletionPolicyOrphan:
		r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventOrphaned, "Delete", "Left MX member %s in MX (deletionPolicy Orphan)", st.GUID)
		return r.release(ctx, s)
	}
	userGUID, guid := st.UserGUID, st.GUID
	if guid == "" {
		if userGUID == "" {
			userGUID = r.userGUIDOf(ctx, s.member)
		}
		if userGUID == "" {
			return r.release(ctx, s) // without a user in MX, no member can exist
		}
		found, err := r.MX.FindMemberByID(ctx, userGUID, s.partnerID)
		switch {
		case err == nil:
			guid = found.GUID
		case !mx.IsNotFound(err):
			return r.Timing.mxOutcome("looking up the member to delete", err)
		}
	}
	if guid != "" {
		log.FromContext(ctx).Info("Deleting MX member", "guid", guid)
		if err := r.MX.DeleteMember(ctx, userGUID, guid); err != nil && !mx.IsNotFound(err) {
			return r.Timing.mxOutcome("deleting the member", err)
		}
		r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventDeleted, "Delete", "Deleted MX member %s", guid)
	}
	return r.release(ctx, s)
}

// userGUIDOf returns the guid of the member's MXUser from the cache, or "".
func (r *MXMemberReconciler) userGUIDOf(ctx context.Context, m *mxv1alpha1.MXMember) string {
	user := &mxv1alpha1.MXUser{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: m.Spec.UserRef.Name}, user); err != nil {
		return ""
	}
	return user.Status.GUID
}

// release removes the finalizer and forgets the object.
func (r *MXMemberReconciler) release(ctx context.Context, s *memberScope) outcome {
	if err := removeFinalizer(ctx, r.Client, s.member); err != nil {
		return apiFailure(err)
	}
	r.mem.forget(s.member.UID, s.key)
	return outcome{kind: kindReleased}
}

// MemberChanged tells the reconciler that MX reported a change of the member with guid
// memberGUID of the user with guid userGUID (an MX webhook; userGUID may be empty). The MXMember
// recording that guid is enqueued and its next reconcile reads it from MX. A guid no MXMember
// records may be a member the end user just connected in the Connect widget: the widget members
// of that user still waiting for theirs are enqueued to look. It never blocks: when the queue is
// full the notification is dropped and the regular schedule reads the member later.
func (r *MXMemberReconciler) MemberChanged(ctx context.Context, memberGUID, userGUID string) {
	if memberGUID == "" || r.notifications == nil {
		return
	}
	logger := log.FromContext(ctx)
	members := &mxv1alpha1.MXMemberList{}
	if err := r.List(ctx, members, client.MatchingFields{indexGUID: memberGUID}); err != nil {
		logger.Error(err, "Looking up the MXMember of an MX notification", "memberGUID", memberGUID)
		return
	}
	targets := members.Items
	if len(targets) == 0 && userGUID != "" {
		targets = r.widgetMembersWaiting(ctx, userGUID)
	}
	for i := range targets {
		m := &targets[i]
		r.mem.hint(client.ObjectKeyFromObject(m))
		select {
		case r.notifications <- event.GenericEvent{Object: m}:
		default:
			logger.Info("Dropping an MX notification: the queue is full", "mxmember", client.ObjectKeyFromObject(m))
		}
	}
}

// widgetMembersWaiting returns the widget MXMembers of the MXUsers with guid userGUID that have
// no MX member yet.
func (r *MXMemberReconciler) widgetMembersWaiting(ctx context.Context, userGUID string) []mxv1alpha1.MXMember {
	users := &mxv1alpha1.MXUserList{}
	if err := r.List(ctx, users, client.MatchingFields{indexGUID: userGUID}); err != nil {
		log.FromContext(ctx).Error(err, "Looking up the MXUser of an MX notification", "userGUID", userGUID)
		return nil
	}
	var out []mxv1alpha1.MXMember
	for _, u := range users.Items {
		members := &mxv1alpha1.MXMemberList{}
		if err := r.List(ctx, members, client.InNamespace(u.Namespace), client.MatchingFields{indexMemberUser: u.Name}); err != nil {
			log.FromContext(ctx).Error(err, "Listing the MXMembers of an MXUser", "mxuser", client.ObjectKeyFromObject(&u))
			continue
		}
		for _, m := range members.Items {
			if m.Spec.ConnectWidget != nil && m.Status.GUID == "" {
				out = append(out, m)
			}
		}
	}
	return out
}

// SetupWithManager checks the required dependencies, applies the defaults and registers the
// controller. Besides MXMembers it watches the metadata of Secrets (the credentials and answers
// Secrets, through a field index), MXUsers becoming Ready or not, and the MX notifications of
// MemberChanged. SetupIndexes must have run.
func (r *MXMemberReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.MX == nil || r.Recorder == nil || r.APIReader == nil || len(r.FingerprintKey) == 0 {
		return errors.New("MXMemberReconciler needs MX, Recorder, APIReader and FingerprintKey")
	}
	r.setDefaults()
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

// setDefaults fills in what was left zero. SetupWithManager calls it; tests that drive
// Reconcile directly call it too.
func (r *MXMemberReconciler) setDefaults() {
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
// change what the member does: a credentials Secret at a revision the member has not compared
// (its data may differ from what MX holds, or a stalled member may be waiting for it), and a
// change of the answers Secret while MX waits for MFA answers or rejected one.
func secretChangeMatters(m *mxv1alpha1.MXMember, name, rv string) bool {
	if ref := m.Spec.CredentialsSecretRef; ref != nil && ref.Name == name && m.Status.CredentialsRevision != rv {
		// A member in MX compares the data; one not created yet cares only if it waits for it.
		return m.Status.GUID != "" || meta.IsStatusConditionTrue(m.Status.Conditions, mxv1alpha1.StalledCondition)
	}
	if m.Spec.MFA != nil && m.Spec.MFA.AnswersSecretRef != nil && m.Spec.MFA.AnswersSecretRef.Name == name {
		return len(m.Status.Challenges) > 0 || mx.ConnectionStatus(m.Status.ConnectionStatus) == mx.StatusRejected
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
// creation, deletion, and updates that change its Ready condition (status or reason), its guid
// or its deletion.
func userReadinessChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*mxv1alpha1.MXUser)
			n, ok2 := e.ObjectNew.(*mxv1alpha1.MXUser)
			if !ok1 || !ok2 {
				return false
			}
			return meta.IsStatusConditionTrue(o.Status.Conditions, mxv1alpha1.ReadyCondition) != meta.IsStatusConditionTrue(n.Status.Conditions, mxv1alpha1.ReadyCondition) ||
				readyReason(o.Status.Conditions) != readyReason(n.Status.Conditions) ||
				o.Status.GUID != n.Status.GUID ||
				o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// MXRecovered tells the reconciler that MX answers again after refusing the operator (the MX
// client's cool-down ended with a successful probe): every object that shows MXRateLimited or
// MXUnavailable is reconciled now instead of on its own backoff timer. It never blocks.
func (r *MXMemberReconciler) MXRecovered(ctx context.Context) {
	memberKind.wakeWaitingOnMX(ctx, r.Client, r.notifications)
}
