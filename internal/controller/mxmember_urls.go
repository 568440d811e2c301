package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// End-user URLs: the links only the end user may open (a Connect widget URL to connect or repair
// a member, an OAuth window). Each is a bearer link — whoever opens it can connect a bank account
// to the user — so it goes into a Secret the MXMember owns, never into status, events or logs;
// status.endUserURL says only what it is for and until when it works. A URL is an MX call, so
// one is asked for only when someone can use it: a new widget member, a new PENDING OAuth
// member, or a new value of the url-requested-at annotation. A URL that expired is removed from
// the Secret.

// Keys of the end-user URL Secret.
const (
	urlSecretKeyURL       = "url"
	urlSecretKeyKind      = "kind"
	urlSecretKeyExpiresAt = "expiresAt"
)

// widgetURLLifetime is how long a Connect widget URL works (MX-API.md §11): ten minutes, or
// until it is first opened.
const widgetURLLifetime = 10 * time.Minute

// endUserSession is how long after a widget URL was issued the operator keeps looking for what
// the end user did with it: the widget session outlives the URL, which only has to be opened
// within its ten minutes.
const endUserSession = time.Hour

// urlSecretName is the name of the member's end-user URL Secret.
func urlSecretName(m *mxv1alpha1.MXMember) string {
	if m.Spec.URLSecretName != "" {
		return m.Spec.URLSecretName
	}
	const suffix = "-end-user-url"
	name := m.Name
	if len(name)+len(suffix) > 253 {
		name = name[:253-len(suffix)]
	}
	return name + suffix
}

// urlSecret reads the member's end-user URL Secret (nil when it does not exist). A Secret of that
// name the member does not own stalls the member (URLSecretConflict) before any MX call: the
// operator never overwrites a Secret it did not create.
func (r *MXMemberReconciler) urlSecret(ctx context.Context, s *memberScope) (*corev1.Secret, outcome) {
	name := urlSecretName(s.member)
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: s.member.Namespace, Name: name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, proceed()
		}
		return nil, apiFailure(err)
	}
	if !metav1.IsControlledBy(secret, s.member) {
		return nil, stalled(mxv1alpha1.ReasonURLSecretConflict, fmt.Sprintf(
			"Secret %q exists and is not owned by this MXMember, so the operator does not write the end user's URL into it. Delete that Secret, or set spec.urlSecretName to another name.", name)).
			retryAfter(r.Timing.WaitingRetryInterval)
	}
	return secret, proceed()
}

// publishURL writes url into the member's end-user URL Secret (creating it, owned by the member)
// and records in status what it is for and until when it works. existing is what urlSecret
// returned.
func (r *MXMemberReconciler) publishURL(ctx context.Context, s *memberScope, existing *corev1.Secret, kind mxv1alpha1.EndUserURLKind, url string, expires time.Time) outcome {
	data := map[string][]byte{
		urlSecretKeyURL:       []byte(url),
		urlSecretKeyKind:      []byte(kind),
		urlSecretKeyExpiresAt: []byte(expires.UTC().Format(time.RFC3339)),
	}
	if err := r.writeURLSecret(ctx, s, existing, data); err != nil {
		return apiFailure(err)
	}
	log.FromContext(ctx).Info("Wrote an end-user URL", "kind", kind, "secret", urlSecretName(s.member), "expiresAt", expires)
	s.member.Status.EndUserURL = &mxv1alpha1.EndUserURLStatus{
		SecretName: urlSecretName(s.member), Kind: kind, Available: true,
		IssuedAt: metav1.NewTime(s.now), ExpiresAt: statusTime(expires),
	}
	return proceed()
}

// writeURLSecret creates the Secret with data, or replaces the data of the one the member owns.
func (r *MXMemberReconciler) writeURLSecret(ctx context.Context, s *memberScope, existing *corev1.Secret, data map[string][]byte) error {
	if existing != nil {
		existing.Data = data
		return r.Update(ctx, existing)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: urlSecretName(s.member), Namespace: s.member.Namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "mx-operator", mxv1alpha1.MemberLabel: s.member.Name},
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
	if err := controllerutil.SetControllerReference(s.member, secret, r.Scheme()); err != nil {
		return err
	}
	return r.Create(ctx, secret)
}

// retractURL removes the URL from the Secret (its kind and expiry stay, for whoever looks) and
// records that none is available: it expired, or it was used (the end user connected).
func (r *MXMemberReconciler) retractURL(ctx context.Context, s *memberScope) outcome {
	u := s.member.Status.EndUserURL
	if u == nil || !u.Available {
		return proceed()
	}
	secret, out := r.urlSecret(ctx, s)
	if out.kind == kindFailed {
		return out
	}
	if secret != nil {
		if _, ok := secret.Data[urlSecretKeyURL]; ok {
			delete(secret.Data, urlSecretKeyURL)
			if err := r.Update(ctx, secret); err != nil && !apierrors.IsNotFound(err) {
				return apiFailure(err)
			}
		}
	}
	u.Available = false
	return proceed()
}

// urlExpiry is when an available URL expires (then it is removed from the Secret), or nil.
func urlExpiry(u *mxv1alpha1.EndUserURLStatus) *metav1.Time {
	if u == nil || !u.Available {
		return nil
	}
	return u.ExpiresAt
}

// urlExpired reports whether the URL in the Secret has stopped working.
func urlExpired(u *mxv1alpha1.EndUserURLStatus, now time.Time) bool {
	return u != nil && u.ExpiresAt != nil && !now.Before(u.ExpiresAt.Time)
}

// issueWidgetURL asks MX for a Connect widget URL for the member's user — on the member's
// institution to connect it, or on the member (memberGUID) to repair it — and publishes it.
func (r *MXMemberReconciler) issueWidgetURL(ctx context.Context, s *memberScope, userGUID, memberGUID string) outcome {
	existing, out := r.urlSecret(ctx, s)
	if out.done() {
		return out
	}
	opts := mx.ConnectWidgetOptions{InstitutionCode: s.member.Spec.InstitutionCode, MemberGUID: memberGUID}
	if w := s.member.Spec.ConnectWidget; w != nil {
		opts.ColorScheme, opts.ClientRedirectURL = w.ColorScheme, w.ClientRedirectURL
		if w.IsMobileWebview {
			opts.IsMobileWebview = &w.IsMobileWebview
		}
	}
	if s.member.Spec.DisableBackgroundAggregation && memberGUID == "" {
		opts.DisableBackgroundAggregation = &s.member.Spec.DisableBackgroundAggregation
	}
	kind := mxv1alpha1.EndUserURLConnectWidget
	if memberGUID != "" {
		kind = mxv1alpha1.EndUserURLRepairWidget
	}
	log.FromContext(ctx).Info("Requesting a Connect widget URL", "kind", kind, "memberGUID", memberGUID)
	w, err := r.MX.CreateConnectWidgetURL(ctx, userGUID, opts)
	if err != nil {
		if memberGUID != "" {
			return r.memberCallFailed(ctx, s, "requesting a Connect widget URL", err)
		}
		if mx.IsNotFound(err) {
			r.userMayBeGone(ctx, s)
			return waiting(r.Timing.WaitingRetryInterval, mxv1alpha1.ReasonUserNotReady, fmt.Sprintf(
				"MX does not know user %s of MXUser %q; the MXUser is read again.", userGUID, s.member.Spec.UserRef.Name))
		}
		return r.Timing.mxOutcome("requesting a Connect widget URL", err)
	}
	if s.urlRequest != "" {
		s.member.Status.LastHandledURLRequestAt = s.urlRequest
	}
	if memberGUID != "" && !r.WebhooksEnabled {
		// The end user may fix the member now: read it soon, then as readInterval says.
		r.mem.scheduleRead(s.member.UID, s.now.Add(r.Timing.OAuthPollInterval))
	}
	return r.publishURL(ctx, s, existing, kind, w.URL, s.now.Add(widgetURLLifetime))
}

// reconcileURLs keeps the end-user URL of a member that exists in MX: a fresh Connect widget URL
// to repair it (or a fresh OAuth window for a PENDING OAuth member) on a new url-requested-at,
// the OAuth window of a PENDING OAuth member that has none, and the removal of a URL that
// expired or no longer applies (an OAuth window once the member is not PENDING).
func (r *MXMemberReconciler) reconcileURLs(ctx context.Context, s *memberScope) outcome {
	st := &s.member.Status
	pending := mx.ConnectionStatus(st.ConnectionStatus) == mx.StatusPending && s.member.Spec.OAuth
	if pending {
		if out := r.ensureOAuthWindow(ctx, s); out.done() {
			return out
		}
	} else if s.urlRequest != "" {
		if out := r.issueWidgetURL(ctx, s, st.UserGUID, st.GUID); out.done() {
			return out
		}
	}
	u := st.EndUserURL
	if urlExpired(u, s.now) || (u != nil && u.Kind == mxv1alpha1.EndUserURLOAuthWindow && !pending) {
		return r.retractURL(ctx, s)
	}
	return proceed()
}

// ensureOAuthWindow publishes the OAuth window URL of a PENDING OAuth member: the one MX returned
// with the member (s.oauthWindowURI) or one read from MX, when none is available or a person
// asked for a fresh one (url-requested-at, or reconcile-requested-at as before).
func (r *MXMemberReconciler) ensureOAuthWindow(ctx context.Context, s *memberScope) outcome {
	st := &s.member.Status
	fresh := s.urlRequest != "" || s.reconcileRequest != ""
	if u := st.EndUserURL; u != nil && u.Kind == mxv1alpha1.EndUserURLOAuthWindow && u.Available && !fresh && s.oauthWindowURI == "" {
		return proceed()
	}
	existing, out := r.urlSecret(ctx, s)
	if out.done() {
		return out
	}
	uri := s.oauthWindowURI
	if uri == "" || fresh {
		var err error
		if uri, err = r.MX.OAuthWindowURI(ctx, st.UserGUID, st.GUID, mx.OAuthWindowOptions{}); err != nil {
			return r.memberCallFailed(ctx, s, "reading the OAuth window URI", err)
		}
	}
	s.oauthWindowURI = ""
	if s.reconcileRequest != "" {
		st.LastHandledReconcileAt = s.reconcileRequest
	}
	if s.urlRequest != "" {
		st.LastHandledURLRequestAt = s.urlRequest
	}
	since, ok := stalledSince(st.Conditions, "Pending")
	if !ok {
		since = s.now
	}
	return r.publishURL(ctx, s, existing, mxv1alpha1.EndUserURLOAuthWindow, uri, since.Add(pendingLifetime))
}

// urlAdvice says where the end user's URL is, for a condition message: "" when none is
// available.
func urlAdvice(m *mxv1alpha1.MXMember, now time.Time) string {
	u := m.Status.EndUserURL
	if u == nil || !u.Available || urlExpired(u, now) {
		return ""
	}
	what := map[mxv1alpha1.EndUserURLKind]string{
		mxv1alpha1.EndUserURLConnectWidget: "A Connect widget URL for the end user to connect the member",
		mxv1alpha1.EndUserURLRepairWidget:  "A Connect widget URL for the end user to fix the member",
		mxv1alpha1.EndUserURLOAuthWindow:   "The OAuth window URL for the end user to authorise the member",
	}[u.Kind]
	single := ""
	if u.Kind != mxv1alpha1.EndUserURLOAuthWindow {
		single = ", single use"
	}
	return fmt.Sprintf("%s is in Secret %q (key %s), valid until %s%s.", what, u.SecretName, urlSecretKeyURL, formatTime(u.ExpiresAt.Time), single)
}

// repairAdvice is the widget way out of a status only the end user can fix.
func repairAdvice(m *mxv1alpha1.MXMember) string {
	return fmt.Sprintf("The end user can fix it in MX's Connect widget: set the annotation %s to a new value and give the end user the URL the operator then writes into Secret %q (key %s).",
		mxv1alpha1.URLRequestedAtAnnotation, urlSecretName(m), urlSecretKeyURL)
}
