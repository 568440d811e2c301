// Package controller reconciles MXUser and MXMember objects with users and members in the MX
// Platform API.
//
// Both reconcilers follow the same shape: Reconcile fetches the object, ensures the finalizer,
// defers the one status write, and hands over to reconcileDelete or reconcileNormal, which run
// small phases in order and stop at the first that fails or waits. MX is reached through the
// UserAPI and MemberAPI interfaces; every MX error is classified once (mxFailure).
//
// Cost is a design goal: MX bills and rate-limits calls. An object that needs nothing costs no MX
// call when it is reconciled again or when the operator restarts; it is re-read from MX only on a
// long, jittered interval (Timing.ResyncInterval), when MX reports a change by webhook, or when a
// person sets the reconcile-requested-at annotation.
package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// DefaultPartnerIDPrefix is the prefix of derived partner ids when none is configured.
const DefaultPartnerIDPrefix = "mxop"

// maxPartnerIDLen is the longest partner id the API accepts (spec.id's MaxLength).
const maxPartnerIDLen = 255

// Event reasons. Events are emitted only when something happened in MX or the connection status
// changed, never on a reconcile that changed nothing.
const (
	eventCreated                 = "Created"
	eventAdopted                 = "Adopted"
	eventUpdated                 = "Updated"
	eventDeleted                 = "Deleted"
	eventOrphaned                = "Orphaned"
	eventGoneInMX                = "GoneInMX"
	eventConnectionStatusChanged = "ConnectionStatusChanged"
	eventCredentialsUpdated      = "CredentialsUpdated"
	eventResumed                 = "Resumed"
	eventAggregationRequested    = "AggregationRequested"
	eventAccountsRefreshed       = "AccountsRefreshed"
)

// partnerID returns the partner id of an object: specID when set, otherwise
// <prefix>-<namespace>-<name>. A derived id longer than MX accepts keeps its beginning and ends
// with a hash of the whole, so it stays unique and stable.
func partnerID(specID, prefix, namespace, name string) string {
	if specID != "" {
		return specID
	}
	if prefix == "" {
		prefix = DefaultPartnerIDPrefix
	}
	id := prefix + "-" + namespace + "-" + name
	if len(id) <= maxPartnerIDLen {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	suffix := "-" + hex.EncodeToString(sum[:8])
	return id[:maxPartnerIDLen-len(suffix)] + suffix
}

// newRequest returns the value of a request annotation when it differs from the value last
// handled, and "" when there is no new request.
func newRequest(obj metav1.Object, annotation, lastHandled string) string {
	v := obj.GetAnnotations()[annotation]
	if v == "" || v == lastHandled {
		return ""
	}
	return v
}

// reconcileTriggers passes the events of the reconciled kind that need a reconcile: creation,
// deletion, a spec change (generation), a new value of a request annotation, and a change of the
// finalizers or the deletion timestamp. Status-only updates, the operator's own included, pass
// nothing, so writing status never causes another MX call.
func reconcileTriggers() predicate.Predicate {
	return predicate.Or(
		predicate.GenerationChangedPredicate{},
		predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
			if e.ObjectOld == nil || e.ObjectNew == nil {
				return false
			}
			o, n := e.ObjectOld, e.ObjectNew
			for _, a := range []string{mxv1alpha1.ReconcileRequestedAtAnnotation, mxv1alpha1.AggregateRequestedAtAnnotation} {
				if o.GetAnnotations()[a] != n.GetAnnotations()[a] {
					return true
				}
			}
			return !slices.Equal(o.GetFinalizers(), n.GetFinalizers()) ||
				o.GetDeletionTimestamp().IsZero() != n.GetDeletionTimestamp().IsZero()
		}},
	)
}

// ensureFinalizer adds the finalizer with an optimistic-lock patch and reports whether it did.
func ensureFinalizer(ctx context.Context, c client.Client, obj client.Object) (bool, error) {
	if controllerutil.ContainsFinalizer(obj, mxv1alpha1.Finalizer) {
		return false, nil
	}
	base := obj.DeepCopyObject().(client.Object)
	controllerutil.AddFinalizer(obj, mxv1alpha1.Finalizer)
	return true, c.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

// removeFinalizer removes the finalizer with an optimistic-lock patch.
func removeFinalizer(ctx context.Context, c client.Client, obj client.Object) error {
	base := obj.DeepCopyObject().(client.Object)
	controllerutil.RemoveFinalizer(obj, mxv1alpha1.Finalizer)
	return client.IgnoreNotFound(c.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
}

// conflictRequeue turns an API server conflict into a silent, short requeue: the next attempt
// reads the newer object. Other errors are returned as they are.
func conflictRequeue(err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	return ctrl.Result{}, err
}

// patchStatus writes obj's status once, as a merge patch against the status read at the start
// (base), and only when it changed. status returns a pointer to an object's status. The patch
// is computed from a copy of obj carrying base's status, so changes to metadata made during the
// reconcile (a removed finalizer, a new resourceVersion) never leak into it.
func patchStatus[O client.Object, S any](ctx context.Context, c client.Client, base, obj O, status func(O) *S) error {
	if equality.Semantic.DeepEqual(*status(base), *status(obj)) {
		return nil
	}
	from := obj.DeepCopyObject().(O)
	*status(from) = *status(base)
	return client.IgnoreNotFound(c.Status().Patch(ctx, obj, client.MergeFrom(from)))
}

// finished reports whether a reconcile that returned err is finished with this generation: it
// succeeded, or it stalled (a terminal error) and waits for a person. Only then is
// status.observedGeneration advanced.
func finished(err error) bool {
	return err == nil || errors.Is(err, reconcile.TerminalError(nil))
}

// mxFailure classifies a failed MX call once, records the matching conditions and returns what
// the reconcile should return. action names what the operator was doing ("creating the member").
//
//   - 401/403: Stalled MXUnauthorized; retried after UnauthorizedRetryInterval, no error.
//   - 429: Reconciling MXRateLimited; retried after MX's Retry-After or RateLimitedRetryInterval.
//   - 5xx, timeouts, network: Reconciling MXUnavailable; the error is returned, so the object
//     backs off exponentially (Timing.FailureBaseDelay..FailureMaxDelay).
//   - any other rejection (including a not-found or conflict the caller did not handle):
//     Stalled MXRejected with MX's message; a terminal error, no retry until the object changes.
func (t Timing) mxFailure(conds *[]metav1.Condition, gen int64, now time.Time, action string, err error) (ctrl.Result, error) {
	code := statusText(err)
	switch mx.Classify(err) {
	case mx.ClassUnauthorized:
		setStalled(conds, gen, now, mxv1alpha1.ReasonMXUnauthorized, fmt.Sprintf(
			"MX refused the operator's API credentials while %s (%s). Fix the operator's MX credentials (--mx-credentials-secret) or register its egress IP with MX; the operator retries every %s.",
			action, code, t.UnauthorizedRetryInterval))
		return ctrl.Result{RequeueAfter: t.UnauthorizedRetryInterval}, nil
	case mx.ClassRateLimited:
		wait, ok := mx.RetryAfter(err)
		if !ok {
			wait = t.RateLimitedRetryInterval
		}
		setReconciling(conds, gen, now, mxv1alpha1.ReasonMXRateLimited, fmt.Sprintf(
			"MX is rate limiting the operator (%s) while %s; the operator backs off and retries.", code, action))
		return ctrl.Result{RequeueAfter: wait}, nil
	case mx.ClassRetryable:
		setReconciling(conds, gen, now, mxv1alpha1.ReasonMXUnavailable, fmt.Sprintf(
			"MX is unavailable (%s) while %s; the operator retries with backoff.", code, action))
		return ctrl.Result{}, fmt.Errorf("%s: %w", action, err)
	}
	msg := fmt.Sprintf("MX rejected %s (%s)", action, code)
	if m := mxMessage(err); m != "" {
		msg += ": " + m
	}
	setStalled(conds, gen, now, mxv1alpha1.ReasonMXRejected, msg+". Fix the spec; the operator retries when the object changes.")
	return ctrl.Result{}, reconcile.TerminalError(fmt.Errorf("%s: %w", action, err))
}

// statusText describes the HTTP status of an MX error ("503 Service Unavailable"), or says that
// there was no response.
func statusText(err error) string {
	if apiErr, ok := errors.AsType[*mx.APIError](err); ok {
		return fmt.Sprintf("%d %s", apiErr.StatusCode, http.StatusText(apiErr.StatusCode))
	}
	if _, ok := errors.AsType[*mx.NetworkError](err); ok {
		return "no response"
	}
	return "request not sent"
}

// mxMessage returns MX's own error message, without a trailing period.
func mxMessage(err error) string {
	if apiErr, ok := errors.AsType[*mx.APIError](err); ok {
		return strings.TrimSuffix(strings.TrimSpace(apiErr.Message), ".")
	}
	return ""
}

// mxTime converts an MX timestamp to the second precision a Kubernetes status keeps, so that
// comparing a fresh MX value with a stored one does not see a change that is not there.
func mxTime(t *time.Time) *metav1.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

// timeEqual reports whether two optional timestamps are the same second.
func timeEqual(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Truncate(time.Second).Equal(b.Truncate(time.Second))
}

// statusTime returns now at the second precision a Kubernetes status keeps.
func statusTime(now time.Time) *metav1.Time {
	t := metav1.NewTime(now.UTC().Truncate(time.Second))
	return &t
}

// formatTime renders a time for a condition message (UTC, RFC 3339, seconds).
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// namesList renders at most max sorted names, "a, b and 3 more".
func namesList(names []string, limit int) string {
	names = slices.Clone(names)
	slices.Sort(names)
	if len(names) <= limit {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:limit], ", "), len(names)-limit)
}
