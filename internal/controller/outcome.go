package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
)

// outcomeKind is what a phase decided.
type outcomeKind int

const (
	// kindProceed lets the next phase run.
	kindProceed outcomeKind = iota
	// kindReady: the MX object matches the spec (Ready=True).
	kindReady
	// kindWait: the operator or MX is making progress and the object comes back by itself
	// (Reconciling=True), after `after` or on a watch event.
	kindWait
	// kindStalled: progress needs a person or a spec change (Stalled=True).
	kindStalled
	// kindFailed: a transient failure (Reconciling=True); err goes back to controller-runtime,
	// which retries with per-object exponential backoff.
	kindFailed
	// kindRefused: MX refused the call (429, 5xx, unreachable, or the client holds requests back
	// while MX recovers) (Reconciling=True). finish retries the object with its own growing
	// backoff, no sooner than `after` (MX's Retry-After), and says when in the message; the
	// MX client's recovery wakes it earlier.
	kindRefused
	// kindSuspended: spec.suspend is true; nothing was done.
	kindSuspended
	// kindReleased: the finalizer is gone; nothing is left to write.
	kindReleased
)

// outcome is the typed result of a phase, and of a whole reconcile. finish is the one place that
// turns it into conditions, events, observedGeneration and the requeue.
type outcome struct {
	kind    outcomeKind
	reason  string
	message string
	// after is when to reconcile again; zero waits for a watch event (or, for kindFailed, the
	// backoff).
	after time.Duration
	err   error
	// deferWrite puts the status write off to the next reconcile (memo.deferStatus): set only
	// for a member just created in MX whose first read is due in seconds, so that the status
	// is written once, with that read, instead of twice.
	deferWrite bool
}

func proceed() outcome { return outcome{} }

func ready(reason, msg string, after time.Duration) outcome {
	return outcome{kind: kindReady, reason: reason, message: msg, after: after}
}

func waiting(after time.Duration, reason, msg string) outcome {
	return outcome{kind: kindWait, reason: reason, message: msg, after: after}
}

func stalled(reason, msg string) outcome {
	return outcome{kind: kindStalled, reason: reason, message: msg}
}

// retryAfter sets a safety-net requeue on a stalled outcome (or replaces another's).
func (o outcome) retryAfter(d time.Duration) outcome {
	o.after = d
	return o
}

func failed(err error, reason, msg string) outcome {
	return outcome{kind: kindFailed, reason: reason, message: msg, err: err}
}

// apiFailure is a transient failure of the API server (not MX): retried with backoff.
func apiFailure(err error) outcome {
	return failed(err, mxv1alpha1.ReasonProgressing, "The operator could not read or write the Kubernetes API; it retries with backoff.")
}

// done reports whether the outcome ends the phases.
func (o outcome) done() bool { return o.kind != kindProceed }

// mxOutcome classifies a failed MX call once (mx.Classify) into an outcome. action names what
// the operator was doing ("creating the member").
//
//   - 401/403: Stalled MXUnauthorized; tried again after UnauthorizedRetryInterval.
//   - 429: Reconciling MXRateLimited; 5xx, timeouts, network, an answer that could not be
//     decoded: Reconciling MXUnavailable. Both are refusals: a per-object backoff that grows
//     while MX keeps refusing (finish). After a 5xx the call may have taken effect: creates
//     look up first.
//   - any other rejection: Stalled MXRejected with MX's message, until the object changes.
func (t Timing) mxOutcome(action string, err error) outcome {
	code := statusText(err)
	switch mx.Classify(err) {
	case mx.ClassUnauthorized:
		return stalled(mxv1alpha1.ReasonMXUnauthorized, fmt.Sprintf(
			"MX refused the operator's API credentials while %s (%s). Fix the operator's MX credentials (--mx-credentials-secret) or register its egress IP with MX; the operator retries every %s.",
			action, code, t.UnauthorizedRetryInterval)).retryAfter(t.UnauthorizedRetryInterval)
	case mx.ClassRateLimited, mx.ClassRetryable:
		reason, what := mxv1alpha1.ReasonMXUnavailable, "MX is unavailable"
		if mx.Classify(err) == mx.ClassRateLimited {
			reason, what = mxv1alpha1.ReasonMXRateLimited, "MX is rate limiting the operator"
		}
		wait, _ := mx.RetryAfter(err)
		return outcome{kind: kindRefused, reason: reason, after: wait, err: fmt.Errorf("%s: %w", action, err),
			message: fmt.Sprintf("%s (%s) while %s; the operator backs off", what, code, action)}
	}
	msg := fmt.Sprintf("MX rejected %s (%s)", action, code)
	if m := mxMessage(err); m != "" {
		msg += ": " + m
	}
	return stalled(mxv1alpha1.ReasonMXRejected, msg+". Fix the spec; the operator retries when the object changes.")
}

// statusAccess is what finish needs to reach in the status of one kind.
type statusAccess[O client.Object, S any] struct {
	status             func(O) *S
	conditions         func(O) *[]metav1.Condition
	observedGeneration func(O) *int64
}

// finish is the one place that turns an outcome into conditions, a Warning event for a new
// Stalled reason, observedGeneration and the requeue, then writes the status once (a merge
// patch of what changed since base, nothing when nothing did).
//
// observedGeneration advances when applied says the current spec is applied in MX, when the
// object is Stalled (this generation cannot get past it) and when it is suspended (the spec
// asks for nothing); never while it waits on a dependency, a retry or a rate limit.
func finish[O client.Object, S any](ctx context.Context, c client.Client, rec events.EventRecorder, acc statusAccess[O, S], base, obj O, out outcome, applied bool, now time.Time) (ctrl.Result, error) {
	if out.kind == kindReleased {
		return ctrl.Result{}, nil
	}
	conds, gen := acc.conditions(obj), obj.GetGeneration()
	if out.kind == kindRefused {
		log.FromContext(ctx).Info("MX refused a call; backing off", "reason", out.reason, "retryAt", formatTime(now.Add(out.after)), "error", out.err.Error())
		out = waiting(out.after, out.reason, fmt.Sprintf("%s and retries at %s.", out.message, formatTime(now.Add(out.after))))
	}
	switch out.kind {
	case kindReady:
		setReady(conds, gen, now, out.reason, out.message)
	case kindWait, kindFailed:
		setReconciling(conds, gen, now, out.reason, out.message)
	case kindStalled:
		if !isStalledWith(*acc.conditions(base), out.reason) {
			rec.Eventf(obj, nil, corev1.EventTypeWarning, out.reason, "Reconcile", "%s", out.message)
		}
		setStalled(conds, gen, now, out.reason, out.message)
	case kindSuspended:
		setSuspended(conds, gen, now, out.message)
	}
	if out.kind != kindSuspended {
		meta.RemoveStatusCondition(conds, mxv1alpha1.SuspendedCondition)
	}
	if applied || out.kind == kindStalled || out.kind == kindSuspended {
		*acc.observedGeneration(obj) = gen
	}
	if out.deferWrite {
		return ctrl.Result{RequeueAfter: max(out.after, time.Second)}, nil
	}
	patchErr := patchStatus(ctx, c, base, obj, acc.status)
	if out.kind == kindFailed {
		return ctrl.Result{}, errors.Join(out.err, patchErr)
	}
	if patchErr != nil {
		return conflictRequeue(patchErr)
	}
	if out.after > 0 {
		return ctrl.Result{RequeueAfter: max(out.after, time.Second)}, nil
	}
	return ctrl.Result{}, nil
}

// patchStatus writes obj's status once, as a merge patch against the status read at the start
// (base), and only when it changed. The patch is computed from a copy of obj carrying base's
// status, so changes to metadata made during the reconcile never leak into it.
func patchStatus[O client.Object, S any](ctx context.Context, c client.Client, base, obj O, status func(O) *S) error {
	if equality.Semantic.DeepEqual(*status(base), *status(obj)) {
		return nil
	}
	from := obj.DeepCopyObject().(O)
	*status(from) = *status(base)
	return client.IgnoreNotFound(c.Status().Patch(ctx, obj, client.MergeFrom(from)))
}

// conflictRequeue turns an API server conflict into a silent, short requeue: the next attempt
// reads the newer object. Other errors are returned as they are.
func conflictRequeue(err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	return ctrl.Result{}, err
}

// outcomeUnknown reports whether a failed call may have taken effect in MX: a 5xx, a lost or
// undecodable answer. A 429, a refusal or a call the client held back never reached MX's
// handlers.
func outcomeUnknown(err error) bool {
	if cd, ok := errors.AsType[*mx.CoolingDownError](err); ok && cd.Err == nil {
		return false
	}
	return mx.IsRetryable(err)
}

// statusText describes the HTTP status of an MX error ("503 Service Unavailable"), or says that
// there was no response.
func statusText(err error) string {
	if apiErr, ok := errors.AsType[*mx.APIError](err); ok {
		return fmt.Sprintf("%d %s", apiErr.StatusCode, http.StatusText(apiErr.StatusCode))
	}
	if decErr, ok := errors.AsType[*mx.DecodeError](err); ok {
		return fmt.Sprintf("%d %s with an answer that could not be read", decErr.StatusCode, http.StatusText(decErr.StatusCode))
	}
	if _, ok := errors.AsType[*mx.NetworkError](err); ok {
		return "no response"
	}
	if cd, ok := errors.AsType[*mx.CoolingDownError](err); ok {
		if cd.Cause == mx.CauseRateLimited {
			return "the operator holds requests back while MX rate limits it"
		}
		return "the operator holds requests back while MX is unavailable"
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
