package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"

	"github.com/mxoperator/mx-operator/internal/txsync"
)

// blockingSend is a window that acknowledges n events, then waits for release or its
// cancellation.
func blockingSend(n int64, release <-chan struct{}) func(context.Context, *txsync.Progress) error {
	return func(ctx context.Context, p *txsync.Progress) error {
		p.Events, p.Transactions = n, n
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func TestDeliveriesRunWindowsInTheBackgroundAndWakeTheirSync(t *testing.T) {
	g := NewWithT(t)
	ds := newDeliveries(2)
	key := types.NamespacedName{Namespace: "ns", Name: "ledger"}
	release := make(chan struct{})
	ds.start(logr.Discard(), key, &delivery{uid: "u1", generation: 3}, blockingSend(5, release))

	d := ds.get(key)
	g.Expect(d).NotTo(BeNil())
	g.Expect(d.finished()).To(BeFalse(), "start returns while the window is on its way")
	g.Consistently(ds.wake, 100*time.Millisecond).ShouldNot(Receive())

	close(release)
	var woke any
	g.Eventually(ds.wake).Should(Receive(&woke))
	g.Expect(d.finished()).To(BeTrue())
	taken := ds.take(key)
	g.Expect(taken).To(BeIdenticalTo(d))
	g.Expect(taken.err).NotTo(HaveOccurred())
	g.Expect(taken.progress.Events).To(Equal(int64(5)))
	g.Expect(ds.get(key)).To(BeNil(), "a window is taken once")
	g.Expect(ds.take(key)).To(BeNil())
}

func TestDeliveriesTakeCancelsAWindowOnItsWay(t *testing.T) {
	g := NewWithT(t)
	ds := newDeliveries(1)
	key := types.NamespacedName{Namespace: "ns", Name: "ledger"}
	acked := make(chan struct{})
	ds.start(logr.Discard(), key, &delivery{uid: "u1"}, func(ctx context.Context, p *txsync.Progress) error {
		p.Events = 7
		close(acked)
		<-ctx.Done()
		return ctx.Err()
	})
	g.Eventually(acked).Should(BeClosed())

	d := ds.take(key)
	g.Expect(d.finished()).To(BeTrue(), "take waits until the window ended")
	g.Expect(errors.Is(d.err, context.Canceled)).To(BeTrue())
	g.Expect(d.progress.Events).To(Equal(int64(7)), "what was acknowledged is kept for the counters")
}

func TestDeliveriesBoundTheWindowsOnTheirWay(t *testing.T) {
	g := NewWithT(t)
	ds := newDeliveries(1)
	first, second := types.NamespacedName{Name: "a"}, types.NamespacedName{Name: "b"}
	release := make(chan struct{})
	started := make(chan string, 2)
	send := func(name string) func(context.Context, *txsync.Progress) error {
		return func(ctx context.Context, p *txsync.Progress) error {
			started <- name
			return blockingSend(1, release)(ctx, p)
		}
	}
	ds.start(logr.Discard(), first, &delivery{}, send("a"))
	g.Eventually(started).Should(Receive(Equal("a")))
	ds.start(logr.Discard(), second, &delivery{}, send("b"))
	g.Consistently(started, 100*time.Millisecond).ShouldNot(Receive(), "one slot: b waits for a")

	close(release)
	g.Eventually(started).Should(Receive(Equal("b")))
	g.Eventually(ds.get(second).finished).Should(BeTrue())
}

func TestDeliveriesStopWithTheManager(t *testing.T) {
	g := NewWithT(t)
	ds := newDeliveries(1)
	ds.start(logr.Discard(), types.NamespacedName{Name: "a"}, &delivery{}, blockingSend(1, nil))
	ds.start(logr.Discard(), types.NamespacedName{Name: "b"}, &delivery{}, blockingSend(1, nil))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- ds.Start(ctx) }()
	cancel()
	g.Eventually(stopped).Should(Receive(BeNil()))
	g.Expect(ds.get(types.NamespacedName{Name: "a"}).finished()).To(BeTrue())
	g.Expect(ds.get(types.NamespacedName{Name: "b"}).finished()).To(BeTrue(), "also the one waiting for a slot")
	g.Expect(ds.NeedLeaderElection()).To(BeFalse())
}
