package controller

import (
	"context"
	"sync"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/txsync"
)

// deliveries runs the windows of MXTransactionSyncs in goroutines of their own, so that no
// reconcile waits on a sink (a slow one, a timeout, the backoff between retries): a reconcile
// starts a window, finds it still on its way, or takes its result. When a window ends, its
// sync is sent on wake, which the controller watches, and reconciled again. At most `slots`
// windows are on their way at once; the others wait for a slot without holding a worker.
//
// A window's acknowledgements live only in this process until a reconcile takes them: after a
// restart the window is sent again, which the deterministic event ids make harmless. It is a
// manager.Runnable: when the manager stops, every window is cancelled and waited for.
type deliveries struct {
	ctx    context.Context
	cancel context.CancelFunc
	slots  chan struct{}
	wake   chan event.TypedGenericEvent[*mxv1alpha1.MXTransactionSync]
	wg     sync.WaitGroup

	mu     sync.Mutex
	bySync map[types.NamespacedName]*delivery
}

// delivery is one window on its way, and what it was started for.
type delivery struct {
	// uid, generation and requested (the reconcile-requested-at value) identify the spec the
	// window was started for; a sync that no longer matches them cancels it.
	uid        types.UID
	generation int64
	requested  string
	window     txsync.Window
	// aggregatedAt is the member's successfullyAggregatedAt the window covers.
	aggregatedAt *metav1.Time

	cancel context.CancelFunc
	done   chan struct{}
	// progress and err are the result, written before done is closed.
	progress txsync.Progress
	err      error
}

// finished reports whether the window ended (acknowledged, failed or cancelled).
func (d *delivery) finished() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// matches reports whether d was started for the sync as it is now.
func (d *delivery) matches(sync *mxv1alpha1.MXTransactionSync) bool {
	return d.uid == sync.UID && d.generation == sync.Generation && d.requested == sync.Annotations[mxv1alpha1.ReconcileRequestedAtAnnotation]
}

func newDeliveries(slots int) *deliveries {
	ctx, cancel := context.WithCancel(context.Background())
	return &deliveries{
		ctx: ctx, cancel: cancel,
		slots:  make(chan struct{}, max(slots, 1)),
		wake:   make(chan event.TypedGenericEvent[*mxv1alpha1.MXTransactionSync], 64),
		bySync: map[types.NamespacedName]*delivery{},
	}
}

// Start waits for the manager to stop, then cancels every window and waits until each ended.
func (ds *deliveries) Start(ctx context.Context) error {
	<-ctx.Done()
	ds.cancel()
	ds.wg.Wait()
	return nil
}

// NeedLeaderElection is false: windows start only in reconciles, which only the leader runs,
// and every manager must cancel its own when it stops.
func (ds *deliveries) NeedLeaderElection() bool { return false }

// get returns the window of the sync key, if one was started and not yet taken.
func (ds *deliveries) get(key types.NamespacedName) *delivery {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.bySync[key]
}

// start runs d's window with send in a goroutine, once a slot is free. The context given to
// send carries logger and ends when d is cancelled or the manager stops.
func (ds *deliveries) start(logger logr.Logger, key types.NamespacedName, d *delivery, send func(ctx context.Context, p *txsync.Progress) error) {
	ctx, cancel := context.WithCancel(log.IntoContext(ds.ctx, logger))
	d.cancel, d.done = cancel, make(chan struct{})
	ds.mu.Lock()
	ds.bySync[key] = d
	ds.mu.Unlock()
	ds.wg.Add(1)
	go func() {
		defer ds.wg.Done()
		defer cancel()
		select {
		case ds.slots <- struct{}{}:
			d.err = send(ctx, &d.progress)
			<-ds.slots
		case <-ctx.Done():
			d.err = ctx.Err()
		}
		close(d.done)
		wake := &mxv1alpha1.MXTransactionSync{}
		wake.Namespace, wake.Name = key.Namespace, key.Name
		select {
		case ds.wake <- event.TypedGenericEvent[*mxv1alpha1.MXTransactionSync]{Object: wake}:
		case <-ds.ctx.Done():
		}
	}()
}

// take removes the sync's window, cancelling it first and waiting until it ended (sends
// honour cancellation at once), and returns it; nil when there is none.
func (ds *deliveries) take(key types.NamespacedName) *delivery {
	ds.mu.Lock()
	d := ds.bySync[key]
	delete(ds.bySync, key)
	ds.mu.Unlock()
	if d == nil {
		return nil
	}
	d.cancel()
	<-d.done
	return d
}
