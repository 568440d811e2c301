package controller

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
)

// The condition helpers keep the three conditions consistent, as kstatus, Flux and Argo CD read
// them: Ready is always present; Reconciling and Stalled are present only while True and never
// both. lastTransitionTime changes only when a condition's status changes, so a reconcile that
// repeats the same verdict writes nothing.

// setReady records Ready=True with reason and message and removes Reconciling and Stalled.
func setReady(conds *[]metav1.Condition, gen int64, now time.Time, reason, msg string) {
	setCondition(conds, gen, now, mxv1alpha1.ReadyCondition, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(conds, mxv1alpha1.ReconcilingCondition)
	meta.RemoveStatusCondition(conds, mxv1alpha1.StalledCondition)
}

// setReconciling records Reconciling=True and Ready=False with the same reason and message and
// removes Stalled: the operator (or MX) is working and comes back by itself.
func setReconciling(conds *[]metav1.Condition, gen int64, now time.Time, reason, msg string) {
	setCondition(conds, gen, now, mxv1alpha1.ReconcilingCondition, metav1.ConditionTrue, reason, msg)
	setCondition(conds, gen, now, mxv1alpha1.ReadyCondition, metav1.ConditionFalse, reason, msg)
	meta.RemoveStatusCondition(conds, mxv1alpha1.StalledCondition)
}

// setStalled records Stalled=True and Ready=False with the same reason and message and removes
// Reconciling: progress needs a person.
func setStalled(conds *[]metav1.Condition, gen int64, now time.Time, reason, msg string) {
	setCondition(conds, gen, now, mxv1alpha1.StalledCondition, metav1.ConditionTrue, reason, msg)
	setCondition(conds, gen, now, mxv1alpha1.ReadyCondition, metav1.ConditionFalse, reason, msg)
	meta.RemoveStatusCondition(conds, mxv1alpha1.ReconcilingCondition)
}

// setSuspended records Suspended=True and removes Reconciling: nothing progresses while the
// object is suspended. Ready and Stalled keep their last values, so a converged object stays
// healthy; an object that was never reconciled gets Ready=False with reason Suspended.
func setSuspended(conds *[]metav1.Condition, gen int64, now time.Time, msg string) {
	setCondition(conds, gen, now, mxv1alpha1.SuspendedCondition, metav1.ConditionTrue, mxv1alpha1.ReasonSuspended, msg)
	meta.RemoveStatusCondition(conds, mxv1alpha1.ReconcilingCondition)
	if meta.FindStatusCondition(*conds, mxv1alpha1.ReadyCondition) == nil {
		setCondition(conds, gen, now, mxv1alpha1.ReadyCondition, metav1.ConditionFalse, mxv1alpha1.ReasonSuspended, msg)
	}
}

// isSuspended reports whether the conditions say the object was suspended.
func isSuspended(conds []metav1.Condition) bool {
	return meta.IsStatusConditionTrue(conds, mxv1alpha1.SuspendedCondition)
}

func setCondition(conds *[]metav1.Condition, gen int64, now time.Time, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(conds, metav1.Condition{
		Type:               typ,
		Status:             status,
		ObservedGeneration: gen,
		LastTransitionTime: metav1.NewTime(now),
		Reason:             reason,
		Message:            msg,
	})
}

// readyReason returns the reason of the Ready condition, or "" when there is none.
func readyReason(conds []metav1.Condition) string {
	if c := meta.FindStatusCondition(conds, mxv1alpha1.ReadyCondition); c != nil {
		return c.Reason
	}
	return ""
}

// isStalledWith reports whether Stalled=True with one of reasons.
func isStalledWith(conds []metav1.Condition, reasons ...string) bool {
	c := meta.FindStatusCondition(conds, mxv1alpha1.StalledCondition)
	if c == nil || c.Status != metav1.ConditionTrue {
		return false
	}
	for _, r := range reasons {
		if c.Reason == r {
			return true
		}
	}
	return false
}

// reconcilingSince returns when Reconciling last became True, or false when it is not True.
func reconcilingSince(conds []metav1.Condition) (time.Time, bool) {
	c := meta.FindStatusCondition(conds, mxv1alpha1.ReconcilingCondition)
	if c == nil || c.Status != metav1.ConditionTrue {
		return time.Time{}, false
	}
	return c.LastTransitionTime.Time, true
}

// stalledSince returns when Stalled last became True with reason, or false when it is not.
func stalledSince(conds []metav1.Condition, reason string) (time.Time, bool) {
	c := meta.FindStatusCondition(conds, mxv1alpha1.StalledCondition)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != reason {
		return time.Time{}, false
	}
	return c.LastTransitionTime.Time, true
}
