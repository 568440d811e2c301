package controller

import (
	"context"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
)

// Event reasons. Events are an API-server write each: they are emitted when a person would want
// to know (an MX object adopted, deleted or orphaned; something done on a person's behalf; a
// Stalled reason, as a Warning, from finish; a recovery), never for routine progress (a create,
// a connection: status.guid and the conditions say so) and never on a reconcile that changed
// nothing. The happy path of a pair of objects costs no event.
const (
	eventAdopted     = "Adopted"
	eventDeleted     = "Deleted"
	eventOrphaned    = "Orphaned"
	eventUpdated     = "Updated"
	eventRecovered   = "Recovered"
	eventCredentials = "CredentialsUpdated"
	eventResumed     = "Resumed"
)

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
// deletion, a spec change (generation), a new value of a request annotation, the removal of the
// operator's finalizer and a new deletion timestamp. Status-only updates, the operator's own included, pass
// nothing, so writing status never causes another MX call.
func reconcileTriggers() predicate.Predicate {
	return predicate.Or(
		predicate.GenerationChangedPredicate{},
		predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
			if e.ObjectOld == nil || e.ObjectNew == nil {
				return false
			}
			o, n := e.ObjectOld, e.ObjectNew
			for _, a := range []string{mxv1alpha1.ReconcileRequestedAtAnnotation, mxv1alpha1.AggregateRequestedAtAnnotation, mxv1alpha1.URLRequestedAtAnnotation} {
				if o.GetAnnotations()[a] != n.GetAnnotations()[a] {
					return true
				}
			}
			// Someone removed our finalizer (it is put back); adding it is the reconcile's own
			// write and needs no second pass.
			removed := slices.Contains(o.GetFinalizers(), mxv1alpha1.Finalizer) && !slices.Contains(n.GetFinalizers(), mxv1alpha1.Finalizer)
			return removed || o.GetDeletionTimestamp().IsZero() != n.GetDeletionTimestamp().IsZero()
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
