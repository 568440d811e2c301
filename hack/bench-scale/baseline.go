package main

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
)

// floorReconciler makes the floor's writes for one object and nothing else: the finalizer (an
// optimistic-lock merge patch, as the operator adds it), then, in the same pass, one status merge
// patch that sets Ready for the generation. It calls no MX and reads only its cache.
type floorReconciler struct {
	client.Client
	newObject func() client.Object
	// status returns the object's conditions and observedGeneration.
	status func(client.Object) (*[]metav1.Condition, *int64)
}

func (r *floorReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := r.newObject()
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !controllerutil.ContainsFinalizer(obj, mxv1alpha1.Finalizer) {
		base := obj.DeepCopyObject().(client.Object)
		controllerutil.AddFinalizer(obj, mxv1alpha1.Finalizer)
		if err := r.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, err
		}
	}
	conds, observed := r.status(obj)
	gen := obj.GetGeneration()
	if meta.IsStatusConditionTrue(*conds, mxv1alpha1.ReadyCondition) && *observed == gen {
		return ctrl.Result{}, nil
	}
	base := obj.DeepCopyObject().(client.Object)
	conds, observed = r.status(obj)
	meta.SetStatusCondition(conds, metav1.Condition{
		Type: mxv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, ObservedGeneration: gen,
		Reason: "Floor", Message: "Ready without MX (the scale benchmark's baseline).",
	})
	*observed = gen
	return ctrl.Result{}, client.IgnoreNotFound(r.Status().Patch(ctx, obj, client.MergeFrom(base)))
}

// startBaseline starts, in-process, a controller-runtime manager with a floorReconciler for
// MXUsers and one for MXMembers in namespace ns, each with concurrency workers and the
// operator's predicate on its own writes (status-only updates trigger nothing). It returns once
// its informers have synced; stop ends it and waits.
func startBaseline(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, ns string, concurrency int) (stop func(), err error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}, DefaultTransform: cache.TransformStripManagedFields()},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the baseline manager: %w", err)
	}
	kinds := []struct {
		name      string
		newObject func() client.Object
		status    func(client.Object) (*[]metav1.Condition, *int64)
	}{
		{"floor-mxuser", func() client.Object { return &mxv1alpha1.MXUser{} }, func(o client.Object) (*[]metav1.Condition, *int64) {
			u := o.(*mxv1alpha1.MXUser)
			return &u.Status.Conditions, &u.Status.ObservedGeneration
		}},
		{"floor-mxmember", func() client.Object { return &mxv1alpha1.MXMember{} }, func(o client.Object) (*[]metav1.Condition, *int64) {
			m := o.(*mxv1alpha1.MXMember)
			return &m.Status.Conditions, &m.Status.ObservedGeneration
		}},
	}
	for _, k := range kinds {
		err := ctrl.NewControllerManagedBy(mgr).
			For(k.newObject(), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
			WithOptions(controller.Options{MaxConcurrentReconciles: concurrency}).
			Named(k.name).
			Complete(&floorReconciler{Client: mgr.GetClient(), newObject: k.newObject, status: k.status})
		if err != nil {
			return nil, fmt.Errorf("setting up the baseline controller %s: %w", k.name, err)
		}
		if _, err := mgr.GetCache().GetInformer(ctx, k.newObject()); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stop = func() {
		cancel()
		<-done
	}
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		stop()
		return nil, errors.New("the baseline manager's cache did not sync")
	}
	return stop, nil
}
