package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// The phases that get a member into MX: wait for its user, then create or adopt it exactly once.

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
