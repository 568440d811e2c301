package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
)

// tracker follows the harness's MXUsers and MXMembers through an informer and records, for
// each, when its create returned and when the harness first saw it Ready for its generation.
type tracker struct {
	mu      sync.Mutex
	created map[objectRef]time.Time
	ready   map[objectRef]time.Time
	// readyIn counts the Ready objects per namespace.
	readyIn map[string]int
}

// objectRef names one object of the harness.
type objectRef struct {
	kind, namespace, name string
}

// startTracker starts an informer cache on MXUsers and MXMembers in namespaces and returns once
// it has synced. It stops with ctx.
func startTracker(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, namespaces ...string) (*tracker, error) {
	t := &tracker{created: map[objectRef]time.Time{}, ready: map[objectRef]time.Time{}, readyIn: map[string]int{}}
	nsConfig := map[string]cache.Config{}
	for _, ns := range namespaces {
		nsConfig[ns] = cache.Config{}
	}
	c, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultNamespaces: nsConfig, DefaultTransform: cache.TransformStripManagedFields()})
	if err != nil {
		return nil, err
	}
	for _, obj := range []client.Object{&mxv1alpha1.MXUser{}, &mxv1alpha1.MXMember{}} {
		inf, err := c.GetInformer(ctx, obj)
		if err != nil {
			return nil, err
		}
		handle := func(o any) { t.observe(o) }
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    handle,
			UpdateFunc: func(_, o any) { handle(o) },
		}); err != nil {
			return nil, err
		}
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, errors.New("the harness's informers did not sync")
	}
	return t, nil
}

// observe records the first moment an object is Ready for its generation.
func (t *tracker) observe(o any) {
	now := time.Now()
	var ref objectRef
	var ready bool
	switch obj := o.(type) {
	case *mxv1alpha1.MXUser:
		ref = objectRef{"MXUser", obj.Namespace, obj.Name}
		ready = apimeta.IsStatusConditionTrue(obj.Status.Conditions, mxv1alpha1.ReadyCondition) && obj.Status.ObservedGeneration == obj.Generation
	case *mxv1alpha1.MXMember:
		ref = objectRef{"MXMember", obj.Namespace, obj.Name}
		ready = apimeta.IsStatusConditionTrue(obj.Status.Conditions, mxv1alpha1.ReadyCondition) && obj.Status.ObservedGeneration == obj.Generation
	default:
		return
	}
	if !ready {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.ready[ref]; seen {
		return
	}
	t.ready[ref] = now
	t.readyIn[ref.namespace]++
}

// createdAt records when the create of ref returned.
func (t *tracker) createdAt(ref objectRef, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.created[ref] = at
}

// readyAt returns when ref was first seen Ready.
func (t *tracker) readyAt(ref objectRef) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.ready[ref]
	return at, ok
}

func (t *tracker) readyCount(ns string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.readyIn[ns]
}

// waitReady polls, every 100 ms until timeout, until want objects of ns are Ready, and returns
// how many are. It gives up early with the error of abort (when not nil), asked at every poll.
func (t *tracker) waitReady(ctx context.Context, ns string, want int, timeout time.Duration, abort func() error) (int, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastReport := time.Now()
	for {
		n := t.readyCount(ns)
		if n >= want {
			return n, nil
		}
		if abort != nil {
			if err := abort(); err != nil {
				return n, err
			}
		}
		if time.Since(lastReport) >= 15*time.Second {
			say("%s: %d of %d objects Ready", ns, n, want)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-deadline.C:
			return t.readyCount(ns), nil
		case <-tick.C:
		}
	}
}

// convergence summarises one namespace: when its last object became Ready, and the member
// latencies (from each member's create to its first Ready), sorted.
type convergence struct {
	lastReady time.Time
	latencies []time.Duration
	notReady  int
}

func (t *tracker) convergence(ns string) convergence {
	t.mu.Lock()
	defer t.mu.Unlock()
	var c convergence
	for ref, created := range t.created {
		if ref.namespace != ns {
			continue
		}
		ready, ok := t.ready[ref]
		if !ok {
			c.notReady++
			continue
		}
		if ready.After(c.lastReady) {
			c.lastReady = ready
		}
		if ref.kind == "MXMember" {
			c.latencies = append(c.latencies, ready.Sub(created))
		}
	}
	slices.SortFunc(c.latencies, cmp.Compare)
	return c
}

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of sorted, 0 when empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(len(sorted))*p/100)) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func (r objectRef) String() string { return fmt.Sprintf("%s %s/%s", r.kind, r.namespace, r.name) }
