package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// The phases that keep a member true once it exists in MX: send changed credentials and
// settings, read its status when due, answer MFA, aggregate on request, list accounts.

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
