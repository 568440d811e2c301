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
	"sigs.k8s.io/controller-runtime/pkg/log"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// The phases that keep a member true once it exists in MX: send changed credentials and
// settings, read its status when due, answer MFA, aggregate on request, list accounts.

// reconcileCredentials sends the credentials again when the data of the credentials Secret has
// another fingerprint than the one MX acknowledged (status.appliedCredentials). The Secret's data
// is read only when its resourceVersion (from the metadata cache) is not the one last compared,
// so a change of its labels or annotations costs one API read and no MX call. MX starts a new
// aggregation; this is how a DENIED member recovers. A Secret that disappeared after the member
// was created changes nothing.
func (r *MXMemberReconciler) reconcileCredentials(ctx context.Context, s *memberScope) outcome {
	ref, st := s.member.Spec.CredentialsSecretRef, &s.member.Status
	if s.member.Spec.OAuth || ref == nil {
		return proceed()
	}
	md := &metav1.PartialObjectMetadata{}
	md.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := r.MetadataReader.Get(ctx, types.NamespacedName{Namespace: s.member.Namespace, Name: ref.Name}, md); err != nil {
		if apierrors.IsNotFound(err) {
			return proceed()
		}
		return apiFailure(err)
	}
	if md.ResourceVersion == st.CredentialsRevision {
		return proceed()
	}
	if out := r.readCredentials(ctx, s); out.done() {
		return out
	}
	if s.credentials.fingerprint == st.AppliedCredentials {
		st.CredentialsRevision = s.credentials.revision
		return proceed()
	}
	log.FromContext(ctx).Info("Sending changed credentials to MX", "guid", st.GUID, "secret", ref.Name)
	got, err := r.MX.UpdateMember(ctx, st.UserGUID, st.GUID, mx.UpdateMemberRequest{Credentials: s.credentials.values})
	if err != nil {
		return r.memberCallFailed(ctx, s, "sending the changed credentials", err)
	}
	st.AppliedCredentials, st.CredentialsRevision = s.credentials.fingerprint, s.credentials.revision
	st.Challenges, st.AnsweredChallenges, st.AnswersRevision = nil, "", ""
	r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventCredentials, "Update", "Sent the changed credentials of Secret %s to MX", ref.Name)
	r.observedMember(s, got)
	return proceed()
}

// reconcileSettings sends the member's settings (partner id, metadata, background aggregation)
// when the hash of what the spec asks for differs from the one MX acknowledged
// (status.appliedSettings), whatever stopped an earlier attempt. It does not start an
// aggregation.
func (r *MXMemberReconciler) reconcileSettings(ctx context.Context, s *memberScope) outcome {
	st := &s.member.Status
	desired := desiredMemberSettings(s.member.Spec, s.partnerID)
	if settingsHash(desired) == st.AppliedSettings {
		return proceed()
	}
	log.FromContext(ctx).Info("Updating the MX member's settings", "guid", st.GUID)
	got, err := r.MX.UpdateMember(ctx, st.UserGUID, st.GUID, desired.update())
	if err != nil {
		return r.memberCallFailed(ctx, s, "updating the member's settings", err)
	}
	st.ID, st.AppliedSettings = s.partnerID, settingsHash(desired)
	r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventUpdated, "Update", "Updated the settings of MX member %s", st.GUID)
	r.observedMember(s, got)
	return proceed()
}

// reconcileObserve reads the member's status from MX when a read is due (its status's cadence),
// MX reported a change by webhook, or a person set a new reconcile-requested-at. It fetches the
// challenges when the status carries none, MX's end-user message (GET member: the status
// endpoint has none) when the status needs a person and the message is not known yet, and a new
// OAuth window URI when asked.
func (r *MXMemberReconciler) reconcileObserve(ctx context.Context, s *memberScope) outcome {
	if !s.readAt.IsZero() {
		return proceed()
	}
	if s.reconcileRequest == "" && s.hints == 0 && s.now.Before(r.nextRead(s)) {
		return proceed()
	}
	st := &s.member.Status
	got, err := r.MX.GetMemberStatus(ctx, st.UserGUID, st.GUID)
	if err != nil {
		return r.memberCallFailed(ctx, s, "reading the member's status", err)
	}
	r.observedStatus(s, got)
	status := mx.ConnectionStatus(st.ConnectionStatus)
	if status == mx.StatusChallenged && len(got.Challenges) == 0 {
		cs, err := r.MX.ListChallenges(ctx, st.UserGUID, st.GUID)
		if err != nil {
			return r.memberCallFailed(ctx, s, "listing the member's challenges", err)
		}
		st.Challenges = challengesFromMX(cs)
	}
	if memberRule(*st).verdict == verdictStalled && st.ConnectionStatusMessage == "" {
		m, err := r.MX.GetMember(ctx, st.UserGUID, st.GUID)
		if err != nil {
			return r.memberCallFailed(ctx, s, "reading the member", err)
		}
		st.ConnectionStatusMessage = m.ConnectionStatusMessage
		if status == mx.StatusPending && m.OAuthWindowURI != "" {
			s.oauthWindowURI = m.OAuthWindowURI
		}
	}
	r.mem.readDone(s.key, s.hints)
	if s.reconcileRequest != "" {
		st.LastHandledReconcileAt = s.reconcileRequest
	}
	return proceed()
}

// reconcileChallenges answers MX's MFA challenges from the answers Secret (key = challenge guid),
// once per set of challenges and only when every challenge has an answer; it stalls (Challenged,
// or AwaitingMFAAnswers when only some answers are there) without polling MX until the Secret
// changes. After the answers are sent it lets summarize follow the aggregation.
func (r *MXMemberReconciler) reconcileChallenges(ctx context.Context, s *memberScope) outcome {
	st := &s.member.Status
	if mx.ConnectionStatus(st.ConnectionStatus) != mx.StatusChallenged || len(st.Challenges) == 0 {
		return proceed()
	}
	set := challengeSet(st.Challenges)
	if set == st.AnsweredChallenges {
		return proceed()
	}
	stall := func(reason, msg string, wait time.Duration) outcome {
		after := r.schedule(s, memberRule(*st))
		if wait > 0 && wait < after {
			after = wait
		}
		return stalled(reason, joinSentences(statusMessage(s.member), msg, urlAdvice(s.member, s.now))).retryAfter(after)
	}
	guids := make([]string, 0, len(st.Challenges))
	for _, c := range st.Challenges {
		guids = append(guids, c.GUID)
	}
	challenged := memberRule(*st).reason
	if s.member.Spec.MFA == nil || s.member.Spec.MFA.AnswersSecretRef == nil {
		return stall(challenged, endUserAdvice(s.member, mx.StatusChallenged), 0)
	}
	name := s.member.Spec.MFA.AnswersSecretRef.Name
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: s.member.Namespace, Name: name}, secret); err != nil {
		if !apierrors.IsNotFound(err) {
			return apiFailure(err)
		}
		return stall(challenged, fmt.Sprintf(
			"Create Secret %q with one key per challenge guid (%s) holding the answer.", name, namesList(guids, maxListedNames)), r.Timing.WaitingRetryInterval)
	}
	answers, missing := challengeAnswers(st.Challenges, secret.Data)
	if len(answers) == 0 {
		return stall(challenged, fmt.Sprintf(
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
			return waiting(r.Timing.PollInterval, mxv1alpha1.ReasonProgressing, "MX no longer waits for answers to these challenges; reading the member again.")
		}
		if mx.IsRetryable(err) {
			// The answers may have reached MX: read the status before answering again.
			r.mem.scheduleRead(s.member.UID, s.now)
		}
		return r.memberCallFailed(ctx, s, "answering the MFA challenges", err)
	}
	st.AnsweredChallenges, st.AnswersRevision = set, secret.ResourceVersion
	st.Challenges = nil
	r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventResumed, "Resume", "Answered %d MFA challenge(s)", len(answers))
	r.observedMember(s, got)
	return proceed()
}

// reconcileAggregation asks MX for a foreground aggregation when a person set a new value of the
// aggregate-requested-at annotation, spec.refreshInterval says it is time, or a REJECTED member's
// answers Secret changed since MX rejected an answer (the recovery its condition recommends).
// It makes no call while MX is already aggregating (the running job answers the request) or
// inside the throttle window counted from the last successful aggregation, as MX counts it: then
// it records when the aggregation will be allowed.
func (r *MXMemberReconciler) reconcileAggregation(ctx context.Context, s *memberScope) outcome {
	st := &s.member.Status
	refresh := r.refreshAt(s.member)
	recovery := r.answersChangedSinceRejection(ctx, s)
	if s.aggregateRequest == "" && (refresh == nil || s.now.Before(refresh.Time)) && !recovery {
		st.NextAggregationAllowedAt = nil
		return proceed()
	}
	if st.IsBeingAggregated || mx.ConnectionStatus(st.ConnectionStatus) == mx.StatusPending {
		// A running job answers the request; a PENDING OAuth member cannot aggregate yet.
		if s.aggregateRequest != "" && st.IsBeingAggregated {
			st.LastHandledAggregateAt = s.aggregateRequest
		}
		st.NextAggregationAllowedAt = nil
		return proceed()
	}
	if st.SuccessfullyAggregatedAt != nil {
		allowed := st.SuccessfullyAggregatedAt.Add(r.Timing.AggregationThrottleWindow)
		if s.now.Before(allowed) {
			st.NextAggregationAllowedAt = statusTime(allowed)
			return proceed()
		}
	}
	log.FromContext(ctx).Info("Requesting an aggregation", "guid", st.GUID, "onDemand", s.aggregateRequest != "", "recovery", recovery)
	got, err := r.MX.AggregateMember(ctx, st.UserGUID, st.GUID)
	if mx.IsConflict(err) {
		return waiting(r.Timing.MaxPollInterval, mxv1alpha1.ReasonAggregating, "MX is running another job on the member; the requested aggregation waits for it.")
	}
	if err != nil {
		return r.memberCallFailed(ctx, s, "requesting an aggregation", err)
	}
	if s.aggregateRequest != "" {
		st.LastHandledAggregateAt = s.aggregateRequest
	}
	st.NextAggregationAllowedAt, st.AnswersRevision = nil, ""
	r.observedMember(s, got)
	return proceed()
}

// refreshAt is when spec.refreshInterval next asks for an aggregation of a CONNECTED member (nil
// when it does not). It applies to CONNECTED members only: re-aggregating a member whose
// credentials were refused would only count more failed logins at the institution.
func (r *MXMemberReconciler) refreshAt(m *mxv1alpha1.MXMember) *metav1.Time {
	iv, st := m.Spec.RefreshInterval, m.Status
	if iv == nil || iv.Duration <= 0 || st.SuccessfullyAggregatedAt == nil || mx.ConnectionStatus(st.ConnectionStatus) != mx.StatusConnected {
		return nil
	}
	return &metav1.Time{Time: st.SuccessfullyAggregatedAt.Add(iv.Duration)}
}

// answersChangedSinceRejection reports whether MX rejected an MFA answer and the answers Secret
// changed since (its resourceVersion, from the metadata cache, differs from the one recorded
// when the answers were sent).
func (r *MXMemberReconciler) answersChangedSinceRejection(ctx context.Context, s *memberScope) bool {
	mfa := s.member.Spec.MFA
	if mx.ConnectionStatus(s.member.Status.ConnectionStatus) != mx.StatusRejected || mfa == nil || mfa.AnswersSecretRef == nil {
		return false
	}
	md := &metav1.PartialObjectMetadata{}
	md.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := r.MetadataReader.Get(ctx, types.NamespacedName{Namespace: s.member.Namespace, Name: mfa.AnswersSecretRef.Name}, md); err != nil {
		return false
	}
	return md.ResourceVersion != s.member.Status.AnswersRevision
}

// reconcileAccounts lists the member's accounts (all pages) when MX reports a successful
// aggregation newer than the one the summary in status was read after, and records the bounded
// summary.
func (r *MXMemberReconciler) reconcileAccounts(ctx context.Context, s *memberScope) outcome {
	st := &s.member.Status
	if mx.ConnectionStatus(st.ConnectionStatus) != mx.StatusConnected || st.IsBeingAggregated || st.SuccessfullyAggregatedAt == nil {
		return proceed()
	}
	if st.AccountsAsOf != nil && !st.SuccessfullyAggregatedAt.After(st.AccountsAsOf.Time) {
		return proceed()
	}
	accts, err := r.MX.ListMemberAccounts(ctx, st.UserGUID, st.GUID)
	if err != nil {
		return r.memberCallFailed(ctx, s, "listing the member's accounts", err)
	}
	st.Accounts, st.AccountCount, st.AccountsTruncated = accountSummaries(accts)
	st.AccountsAsOf = st.SuccessfullyAggregatedAt.DeepCopy()
	return proceed()
}

// pendingLifetime is how long MX keeps an OAuth member that stays PENDING (MX-API.md §11).
const pendingLifetime = time.Hour

// memberCallFailed handles a failed call on the recorded member: a member that is gone is
// reported Stalled (GoneInMX), its MXUser is told to check its own user, and it is not created
// again unless a person asks; anything else is classified by mxOutcome.
func (r *MXMemberReconciler) memberCallFailed(ctx context.Context, s *memberScope, action string, err error) outcome {
	st := &s.member.Status
	if !mx.IsNotFound(err) {
		return r.Timing.mxOutcome(action, err)
	}
	if s.reconcileRequest != "" {
		st.LastHandledReconcileAt = s.reconcileRequest
	}
	r.userMayBeGone(ctx, s)
	if mx.ConnectionStatus(st.ConnectionStatus) == mx.StatusPending {
		return stalled(mxv1alpha1.ReasonGoneInMX, fmt.Sprintf(
			"MX deleted member %s: the end user did not authorise it within the hour MX keeps a PENDING member. Set the annotation %s to a new value to create it again with a new OAuth window.",
			st.GUID, mxv1alpha1.ReconcileRequestedAtAnnotation))
	}
	return stalled(mxv1alpha1.ReasonGoneInMX, fmt.Sprintf(
		"MX member %s no longer exists in MX (or its user is gone). The operator does not create it again by itself: set the annotation %s to a new value to create it again.",
		st.GUID, mxv1alpha1.ReconcileRequestedAtAnnotation))
}

// userMayBeGone tells the MXUser controller that MX answered 404 for this member.
func (r *MXMemberReconciler) userMayBeGone(ctx context.Context, s *memberScope) {
	if r.UserGone != nil {
		r.UserGone(ctx, types.NamespacedName{Namespace: s.member.Namespace, Name: s.member.Spec.UserRef.Name})
	}
}

// observedMember records a member MX returned (create, adopt, update, resume, aggregate).
func (r *MXMemberReconciler) observedMember(s *memberScope, m *mx.Member) {
	st := &s.member.Status
	s.readAt = s.now
	st.GUID = m.GUID
	r.recordConnectionStatus(s, m.ConnectionStatus, m.IsBeingAggregated)
	st.ConnectionStatusMessage = m.ConnectionStatusMessage
	st.IsBeingAggregated = m.IsBeingAggregated
	st.AggregatedAt = mxTime(m.AggregatedAt)
	st.SuccessfullyAggregatedAt = mxTime(m.SuccessfullyAggregatedAt)
	if m.OAuthWindowURI != "" {
		s.oauthWindowURI = m.OAuthWindowURI
	}
	st.LastReadAt = statusTime(s.now)
}

// observedStatus records a member status MX returned. MX's status endpoint carries no end-user
// message; the one recorded for the same status is kept, and one for another status dropped.
func (r *MXMemberReconciler) observedStatus(s *memberScope, got *mx.MemberStatus) {
	st := &s.member.Status
	if got.ConnectionStatusMessage != "" || st.ConnectionStatus != string(got.ConnectionStatus) {
		st.ConnectionStatusMessage = got.ConnectionStatusMessage
	}
	s.readAt = s.now
	r.recordConnectionStatus(s, got.ConnectionStatus, got.IsBeingAggregated)
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

// recordConnectionStatus sets the connection status. A change into a status whose rule has an
// event emits it: a Warning for MX failing at its end (Stalled reasons get theirs from finish),
// and a Normal Recovered when a member that needed a person or MX is connected again.
func (r *MXMemberReconciler) recordConnectionStatus(s *memberScope, status mx.ConnectionStatus, busy bool) {
	st := &s.member.Status
	previous := memberRule(*st)
	was := st.ConnectionStatus
	st.ConnectionStatus = string(status)
	if was == "" || was == string(status) {
		return
	}
	rule := ruleFor(status, busy)
	switch {
	case rule.event != "" && rule.verdict != verdictStalled:
		r.Recorder.Eventf(s.member, nil, rule.event, rule.reason, "Observe", "Connection status changed from %s to %s", was, status)
	case status == mx.StatusConnected && (previous.verdict == verdictStalled || previous.reason == mxv1alpha1.ReasonRetryLater):
		r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventRecovered, "Observe", "Connection status changed from %s to %s", was, status)
	}
}
