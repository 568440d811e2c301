package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// The phases that get a member into MX: wait for its user, make sure nobody else owns its MX
// member, then create or adopt it exactly once.

// reconcileUser waits, without any MX call, until the referenced MXUser exists in MX and is
// Ready (Reconciling, reason UserNotReady); the MXUser watch brings the member back when it is.
// When the user is refused by MX for the operator's own credentials, the member says so
// (MXUnauthorized). It sets s.userGUID.
func (r *MXMemberReconciler) reconcileUser(ctx context.Context, s *memberScope) outcome {
	user := &mxv1alpha1.MXUser{}
	key := types.NamespacedName{Namespace: s.member.Namespace, Name: s.member.Spec.UserRef.Name}
	if err := r.Get(ctx, key, user); err != nil {
		if !apierrors.IsNotFound(err) {
			return apiFailure(err)
		}
		return waiting(0, mxv1alpha1.ReasonUserNotReady, fmt.Sprintf("Waiting for MXUser %q, which does not exist.", key.Name))
	}
	ready := meta.FindStatusCondition(user.Status.Conditions, mxv1alpha1.ReadyCondition)
	switch {
	case !user.DeletionTimestamp.IsZero():
		return waiting(0, mxv1alpha1.ReasonUserNotReady, fmt.Sprintf("MXUser %q is being deleted; it waits for this member to be deleted first.", key.Name))
	case ready != nil && ready.Reason == mxv1alpha1.ReasonMXUnauthorized:
		return stalled(mxv1alpha1.ReasonMXUnauthorized, fmt.Sprintf("MXUser %q: %s", key.Name, ready.Message))
	case ready == nil || ready.Status != "True" || user.Status.GUID == "":
		reason := ""
		if ready != nil && ready.Reason != "" {
			reason = fmt.Sprintf(" (it is %s: %s)", ready.Reason, ready.Message)
		}
		return waiting(0, mxv1alpha1.ReasonUserNotReady, fmt.Sprintf("Waiting for MXUser %q to be Ready%s.", key.Name, reason))
	}
	s.userGUID = user.Status.GUID
	return proceed()
}

// reconcileOwnership stalls (AlreadyManaged), without any MX call, a member whose partner id or
// guid another MXMember in the cluster owns (identity.go); it proceeds by itself when the other
// goes away.
func (r *MXMemberReconciler) reconcileOwnership(ctx context.Context, s *memberScope) outcome {
	return memberKind.ownership(ctx, r.Client, s.member, s.partnerID, s.member.Status.GUID).retryAfter(r.Timing.WaitingRetryInterval)
}

// reconcileGone keeps a member whose MX member disappeared Stalled (GoneInMX) until a person sets
// a new value of the reconcile-requested-at annotation; then it forgets what it knew about the
// old member so that reconcileCreate creates it again.
func (r *MXMemberReconciler) reconcileGone(_ context.Context, s *memberScope) outcome {
	if !isStalledWith(s.member.Status.Conditions, mxv1alpha1.ReasonGoneInMX) {
		return proceed()
	}
	if s.reconcileRequest == "" {
		c := meta.FindStatusCondition(s.member.Status.Conditions, mxv1alpha1.StalledCondition)
		return stalled(c.Reason, c.Message)
	}
	st := &s.member.Status
	st.LastHandledReconcileAt = s.reconcileRequest
	st.GUID, st.UserGUID, st.ConnectionStatus, st.ConnectionStatusMessage = "", "", "", ""
	st.IsBeingAggregated, st.CredentialsRevision, st.AnsweredChallenges = false, "", ""
	st.AppliedSettings, st.AppliedCredentials, st.AnswersRevision = "", "", ""
	st.Challenges, st.AccountsAsOf = nil, nil
	return proceed()
}

// reconcileCreate makes sure a member without a recorded guid exists in MX exactly once (see the
// type's documentation): it looks up first only when status.id shows an attempt whose outcome is
// unknown, otherwise it creates directly and resolves a 409 by looking up and adopting. It
// stalls, without calling MX, on a missing Secret or key, and on an unknown institution.
func (r *MXMemberReconciler) reconcileCreate(ctx context.Context, s *memberScope) outcome {
	st := &s.member.Status
	if st.GUID != "" {
		return proceed()
	}
	if out := r.readCredentials(ctx, s); out.done() {
		return out
	}
	if st.ID != "" && st.UserGUID == s.userGUID {
		found, err := r.MX.FindMemberByID(ctx, s.userGUID, s.partnerID)
		if err == nil {
			return r.adopt(ctx, s, found)
		}
		if !mx.IsNotFound(err) {
			return r.Timing.mxOutcome("looking up the member", err)
		}
	}

	log.FromContext(ctx).Info("Creating MX member", "partnerID", s.partnerID, "institution", s.member.Spec.InstitutionCode)
	created, _, err := r.MX.CreateMember(ctx, s.userGUID, mx.CreateMemberRequest{
		InstitutionCode:                 s.member.Spec.InstitutionCode,
		Credentials:                     s.credentials.values,
		ID:                              s.partnerID,
		Metadata:                        s.member.Spec.Metadata,
		SkipAggregation:                 s.member.Spec.SkipInitialAggregation,
		BackgroundAggregationIsDisabled: s.member.Spec.DisableBackgroundAggregation,
		IsOAuth:                         s.member.Spec.OAuth,
	})
	if err == nil || outcomeUnknown(err) || mx.IsConflict(err) {
		st.ID, st.UserGUID = s.partnerID, s.userGUID // the next attempt looks up first
	}
	switch {
	case mx.IsConflict(err):
		return r.resolveConflict(ctx, s)
	case mx.IsNotFound(err):
		r.userMayBeGone(ctx, s)
		return waiting(r.Timing.WaitingRetryInterval, mxv1alpha1.ReasonUserNotReady, fmt.Sprintf(
			"MX does not know user %s of MXUser %q; the MXUser is read again.", s.userGUID, s.member.Spec.UserRef.Name))
	case err != nil:
		return r.Timing.mxOutcome("creating the member", err)
	}
	log.FromContext(ctx).Info("Created MX member", "guid", created.GUID, "partnerID", s.partnerID)
	s.created = true
	r.recordApplied(s, desiredMemberSettings(s.member.Spec, s.partnerID))
	r.observedMember(s, created)
	return proceed()
}

// resolveConflict handles a 409 on create. A member under our partner id is ours (ownership was
// checked): adopt it. Otherwise MX holds this connection (same user, institution and
// credentials) under another partner id: Stalled (Duplicate), naming the member when the user's
// members show it.
func (r *MXMemberReconciler) resolveConflict(ctx context.Context, s *memberScope) outcome {
	members, err := r.MX.ListMembers(ctx, s.userGUID)
	if err != nil {
		return r.Timing.mxOutcome("looking up the member", err)
	}
	var same []string
	for i := range members {
		if members[i].ID == s.partnerID {
			return r.adopt(ctx, s, &members[i])
		}
		if members[i].InstitutionCode == s.member.Spec.InstitutionCode {
			same = append(same, fmt.Sprintf("%s (partner id %q)", members[i].GUID, members[i].ID))
		}
	}
	which := "a member"
	if len(same) > 0 {
		which = "member " + namesList(same, maxListedNames)
	}
	return stalled(mxv1alpha1.ReasonDuplicate, fmt.Sprintf(
		"MX already holds a connection of this user to %s with these credentials as %s, so it refused to create another. Delete that member in MX, adopt it by setting spec.id to its partner id, or use other credentials.",
		s.member.Spec.InstitutionCode, which))
}

// readCredentials reads, once per reconcile, the institution's credential fields and the
// credentials Secret from the API server, and maps the Secret onto the fields into
// s.credentials (none for OAuth). It stalls on an unknown institution (InstitutionNotFound), a
// missing Secret (SecretNotFound) or key (SecretKeyMissing), naming keys but never values.
func (r *MXMemberReconciler) readCredentials(ctx context.Context, s *memberScope) outcome {
	if s.credentials != nil {
		return proceed()
	}
	fields, out := r.institutionFields(ctx, s)
	if out.done() {
		return out
	}
	if s.member.Spec.OAuth {
		s.credentials = &secretCredentials{}
		return proceed()
	}
	ref := s.member.Spec.CredentialsSecretRef
	if ref == nil {
		return stalled(mxv1alpha1.ReasonSecretNotFound,
			"spec.credentialsSecretRef is not set. Name a Secret whose keys are the institution's credential fields.")
	}
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: s.member.Namespace, Name: ref.Name}, secret); err != nil {
		if !apierrors.IsNotFound(err) {
			return apiFailure(err)
		}
		return stalled(mxv1alpha1.ReasonSecretNotFound, fmt.Sprintf(
			"Secret %q named by spec.credentialsSecretRef does not exist. Create it with the keys %s.", ref.Name, namesList(fieldNames(fields), maxListedNames))).
			retryAfter(r.Timing.WaitingRetryInterval)
	}
	values, missing := credentialValues(fields, secret.Data)
	if len(missing) > 0 {
		s.member.Status.CredentialsRevision = secret.ResourceVersion
		return stalled(mxv1alpha1.ReasonSecretKeyMissing, fmt.Sprintf(
			"Secret %q has no value for the key(s) %s, which institution %s requires.", ref.Name, namesList(missing, maxListedNames), s.member.Spec.InstitutionCode)).
			retryAfter(r.Timing.WaitingRetryInterval)
	}
	s.credentials = &secretCredentials{values: values, revision: secret.ResourceVersion, fingerprint: credentialsFingerprint(r.FingerprintKey, values)}
	return proceed()
}

// institutionFields returns the credential fields of the member's institution, from the
// in-process cache when it has them.
func (r *MXMemberReconciler) institutionFields(ctx context.Context, s *memberScope) ([]mx.CredentialField, outcome) {
	code := s.member.Spec.InstitutionCode
	if fields, ok := r.institutions.get(code, s.now); ok {
		return fields, proceed()
	}
	fields, err := r.MX.ListInstitutionCredentials(ctx, code)
	if mx.IsNotFound(err) {
		return nil, stalled(mxv1alpha1.ReasonInstitutionNotFound, fmt.Sprintf(
			"MX does not know the institution %q. Fix spec.institutionCode (it is immutable: create a new MXMember).", code))
	}
	if err != nil {
		return nil, r.Timing.mxOutcome("reading the institution's credential fields", err)
	}
	r.institutions.put(code, fields, s.now.Add(r.InstitutionCacheTTL))
	return fields, proceed()
}

// adopt takes over an MX member that carries the member's partner id (ownership was checked),
// records the credentials as the ones it holds, and sends the settings when they differ from
// the spec.
func (r *MXMemberReconciler) adopt(ctx context.Context, s *memberScope, found *mx.Member) outcome {
	log.FromContext(ctx).Info("Adopting MX member", "guid", found.GUID, "partnerID", s.partnerID)
	st := &s.member.Status
	st.ID, st.UserGUID = s.partnerID, s.userGUID
	r.Recorder.Eventf(s.member, nil, corev1.EventTypeNormal, eventAdopted, "Adopt", "Adopted MX member %s with partner id %s", found.GUID, s.partnerID)
	r.recordApplied(s, memberSettings{ID: found.ID, Metadata: found.Metadata, DisableBackgroundAggregation: found.BackgroundAggregationIsDisabled})
	r.observedMember(s, found)
	return r.reconcileSettings(ctx, s)
}

// recordApplied records that MX holds settings and the credentials read in this reconcile.
func (r *MXMemberReconciler) recordApplied(s *memberScope, settings memberSettings) {
	st := &s.member.Status
	st.AppliedSettings = settingsHash(settings)
	if c := s.credentials; c != nil {
		st.AppliedCredentials, st.CredentialsRevision = c.fingerprint, c.revision
	}
}
