package main

import (
	"context"
	"fmt"
	"strconv"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/pkg/mxtest"
)

// The demo's transaction delivery: an MXTransactionSync on the member that connects, sending
// its transactions as CloudEvents to a receiver the demo runs on 127.0.0.1 (mxtest.Sink, which
// keeps them by guid and dedupes by event id).
const (
	ledgerSync   = "jordan-checking-ledger"
	ledgerMember = "jordan-checking"
)

// ledger is the demo's receiver and the sync that feeds it.
type ledger struct {
	sink *mxtest.Sink
}

func startLedger() *ledger { return &ledger{sink: mxtest.NewSink()} }

func (l *ledger) close() { l.sink.Close() }

// apply creates the MXTransactionSync (its sink URI is the receiver's port, known only now).
func (l *ledger) apply(ctx context.Context, c client.Client) error {
	ts := &mxv1alpha1.MXTransactionSync{
		ObjectMeta: metav1.ObjectMeta{Name: ledgerSync, Namespace: demoNamespace},
		Spec: mxv1alpha1.MXTransactionSyncSpec{
			MemberRef: mxv1alpha1.LocalObjectReference{Name: ledgerMember},
			Sink:      mxv1alpha1.TransactionSink{URI: l.sink.URL()},
		},
	}
	if err := c.Create(ctx, ts); err != nil {
		return fmt.Errorf("MXTransactionSync %s: %w", ledgerSync, err)
	}
	return nil
}

var syncHeader = []string{"SYNC", "MEMBER", "SYNCED THROUGH", "DELIVERED", "READY", "RECEIVER HOLDS"}

// syncs lists the demo's MXTransactionSyncs as a table block, and reports whether every one
// is Ready for its current spec with a window delivered and the receiver holding transactions.
func (l *ledger) syncs(ctx context.Context, c client.Client) (block, bool, error) {
	list := &mxv1alpha1.MXTransactionSyncList{}
	if err := c.List(ctx, list, client.InNamespace(demoNamespace)); err != nil {
		return block{header: syncHeader}, false, err
	}
	b := block{header: syncHeader}
	settled := len(list.Items) > 0
	held := len(l.sink.Transactions())
	for _, ts := range list.Items {
		ready := "Unknown"
		if c := apimeta.FindStatusCondition(ts.Status.Conditions, mxv1alpha1.ReadyCondition); c != nil {
			ready = string(c.Status)
		}
		through := ts.Status.SyncedThrough
		if through == "" {
			through = "-"
		}
		b.rows = append(b.rows, []string{ts.Name, ts.Spec.MemberRef.Name, through,
			strconv.FormatInt(ts.Status.TransactionsDelivered, 10), ready, strconv.Itoa(held)})
		settled = settled && ready == string(metav1.ConditionTrue) && ts.Status.ObservedGeneration == ts.Generation && ts.Status.SyncedThrough != ""
	}
	return b, settled && held > 0, nil
}

// summary says what the receiver got: the transactions it holds (by guid), and the events
// it received with the repeats their ids deduplicated.
func (l *ledger) summary() string {
	total, unique := l.sink.Total(), l.sink.Unique()
	return fmt.Sprintf("The CloudEvents receiver got %d transactions: %d events in %d requests, %d distinct ids (%d repeats deduplicated).",
		len(l.sink.Transactions()), total, l.sink.Requests(), unique, total-unique)
}
