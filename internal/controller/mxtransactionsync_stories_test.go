package controller_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
	"github.com/mxoperator/mx-operator/internal/mx"
	"github.com/mxoperator/mx-operator/internal/txsync"
	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
	"github.com/mxoperator/mx-operator/pkg/mxtest"
)

// The MXTransactionSync stories: a member aggregated in the sandbox, its transactions
// delivered to mxtest.Sink. Run only these with
//
//	go test ./internal/controller/ -run TestStories -ginkgo.focus=MXTransactionSync

const epTransactions = "GET /users/{user}/members/{member}/transactions"

// newSyncStory is newStory with sandbox options of its own.
func newSyncStory(opts storyOptions, sbMutate func(*sandbox.Options)) *story {
	s := &story{opts: opts}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "story-"}}
	Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
	s.ns = ns.Name
	sbOpts := sandbox.Options{ClientID: testClientID, APIKey: testAPIKey, AggregationDuration: aggregationStep}
	if opts.fakeClock {
		s.clock = sandbox.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		sbOpts.Clock = s.clock
	}
	if sbMutate != nil {
		sbMutate(&sbOpts)
	}
	s.sb = sandbox.New(sbOpts)
	srv := httptest.NewServer(s.sb)
	s.mxURL = srv.URL
	DeferCleanup(func() {
		s.stop()
		srv.Close()
		s.sb.Close()
	})
	s.start(s.mxClient())
	return s
}

// syncedMember creates a user and a Ready member with username's accounts.
func (s *story) syncedMember(name, username string) *mxv1alpha1.MXMember {
	s.readyUser(name)
	m := s.member(name+"-bank", name, name+"-creds")
	s.create(s.secret(name+"-creds", credentials(username, defaultPassword)), m)
	if s.clock != nil {
		s.eventuallyInMX(m)
		s.sb.Advance(2 * testTiming.PollInterval)
	}
	eventuallyReady(m)
	return m
}

func (s *story) txSync(name, member, uri string) *mxv1alpha1.MXTransactionSync {
	return &mxv1alpha1.MXTransactionSync{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns},
		Spec: mxv1alpha1.MXTransactionSyncSpec{
			MemberRef: mxv1alpha1.LocalObjectReference{Name: member},
			Sink:      mxv1alpha1.TransactionSink{URI: uri},
		},
	}
}

// mxTransactions is what MX lists for the member in the window a sync reads at now.
func (s *story) mxTransactions(m *mxv1alpha1.MXMember, from, to time.Time) []mx.Transaction {
	txns, err := s.mxClient().ListMemberTransactions(context.Background(), m.Status.UserGUID, m.Status.GUID, mx.DateRange{From: from, To: to})
	Expect(err).NotTo(HaveOccurred())
	return txns
}

func day(t time.Time) time.Time {
	y, mo, d := t.UTC().Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

// expectSinkHolds checks that the sink holds exactly txns, each with its current event id.
func expectSinkHolds(g Gomega, sink *mxtest.Sink, txns []mx.Transaction) {
	held := sink.Transactions()
	g.ExpectWithOffset(1, held).To(HaveLen(len(txns)), "%s", sink)
	for _, t := range txns {
		g.ExpectWithOffset(1, held).To(HaveKey(t.GUID))
		g.ExpectWithOffset(1, held[t.GUID].ID).To(Equal(txsync.TransactionID(t)))
	}
}

func eventuallySyncReady(ts *mxv1alpha1.MXTransactionSync) {
	EventuallyWithOffset(1, func(g Gomega) {
		get(g, ts)
		expectCondition(g, ts, mxv1alpha1.ReadyCondition, metav1.ConditionTrue, mxv1alpha1.ReasonSucceeded)
		g.Expect(ts.Status.ObservedGeneration).To(Equal(ts.Generation))
		g.Expect(kstatus(ts)).To(Equal(statusCurrent))
	}).Should(Succeed())
}

var _ = Describe("MXTransactionSync", func() {
	It("delivers a member's history once, each transaction exactly once, reading ceil(n/1000) MX pages; survives a 503 spell; stalls on a 400 and resumes when asked; never shows transaction content", func() {
		sink := mxtest.NewSink()
		DeferCleanup(sink.Close)
		s := newSyncStory(storyOptions{}, nil)
		m := s.syncedMember("tess", "mxuser_accounts_80")
		today := day(time.Now())
		from, to := today.AddDate(0, 0, -mxv1alpha1.DefaultInitialHistoryDays), today.AddDate(0, 0, 5)
		want := s.mxTransactions(m, from, to)
		Expect(len(want)).To(BeNumerically(">", 1000), "more than one page")
		s.sb.ResetCalls()

		By("the initial history: every transaction once, then one marker")
		ts := s.txSync("tess-ledger", m.Name, sink.URL())
		s.create(ts)
		eventuallySyncReady(ts)
		Expect(s.calls()).To(Equal(map[string]int{epTransactions: (len(want) + 999) / 1000}))
		expectSinkHolds(Default, sink, want)
		Expect(sink.Unique()).To(Equal(len(want) + 1))
		Expect(sink.Total()).To(Equal(len(want)+1), "nothing was sent twice")
		Expect(sink.Markers()).To(HaveLen(1))
		Expect(sink.Markers()[0].GUIDs).To(HaveLen(len(want)))
		Expect(ts.Status.SyncedThrough).To(Equal(today.Format(time.DateOnly)))
		Expect(ts.Status.TransactionsDelivered).To(Equal(int64(len(want))))
		Expect(ts.Status.EventsDelivered).To(Equal(int64(len(want) + 1)))
		Expect(ts.Status.SinkURI).To(Equal(sink.URL()))
		Expect(ts.Status.LastSyncedAggregationAt.Time).To(BeTemporally("==", m.Status.SuccessfullyAggregatedAt.Time))

		By("nothing new: another reconcile reads nothing")
		annotateNothing := s.sb.TotalCalls()
		Consistently(func() int { return s.sb.TotalCalls() }).Should(Equal(annotateNothing))

		By("a 503 spell inside one window's retry budget: retried, Ready, nothing missing")
		sink.Fail(http.StatusServiceUnavailable, 3)
		annotate(ts, mxv1alpha1.ReconcileRequestedAtAnnotation, "resend-1")
		Eventually(func(g Gomega) {
			g.Expect(get(g, ts).Status.LastHandledReconcileAt).To(Equal("resend-1"))
		}).Should(Succeed())
		eventuallySyncReady(ts)
		expectSinkHolds(Default, sink, want)
		Expect(sink.Unique()).To(Equal(len(want)+2), "resent transactions keep their ids; the overlap window has a marker of its own")

		By("a 503 with a Retry-After beyond the budget: Reconciling SinkUnreachable")
		sink.Fail(http.StatusServiceUnavailable, -1, "3600")
		annotate(ts, mxv1alpha1.ReconcileRequestedAtAnnotation, "resend-2")
		c := eventuallyReconciling(ts, mxv1alpha1.ReasonSinkUnreachable)
		Expect(c.Message).To(ContainSubstring("503 Service Unavailable"))

		By("a 400: Stalled SinkRejected with the code, no retry until asked")
		sink.Fail(http.StatusBadRequest, -1)
		annotate(ts, mxv1alpha1.ReconcileRequestedAtAnnotation, "resend-3")
		c = eventuallyStalled(ts, mxv1alpha1.ReasonSinkRejected)
		Expect(c.Message).To(ContainSubstring("400 Bad Request"))
		requests := sink.Requests()
		Consistently(sink.Requests).Should(Equal(requests), "a rejected sync does not retry by itself")

		By("fixed and asked again: resumes from syncedThrough, nothing missing")
		sink.Clear()
		annotate(ts, mxv1alpha1.ReconcileRequestedAtAnnotation, "fixed")
		eventuallySyncReady(ts)
		expectSinkHolds(Default, sink, want)

		By("no transaction content in status, events or logs")
		dump := s.namespaceDump() + syncDump(s)
		Expect(dump).To(ContainSubstring("tess-ledger"), "the dump covers the sync")
		canaries := map[string]bool{}
		for _, t := range want {
			if len(t.Description) >= 8 {
				canaries[t.Description] = true
			}
			if len(t.OriginalDescription) >= 8 {
				canaries[t.OriginalDescription] = true
			}
		}
		Expect(len(canaries)).To(BeNumerically(">=", 5))
		for canary := range canaries {
			Expect(dump).NotTo(ContainSubstring(canary), "status and events")
			Expect(logs.String()).NotTo(ContainSubstring(canary), "logs")
		}
	})

	It("after a new aggregation reads only the new window; the marker lets the receiver drop a pending transaction that posted under a new guid", func() {
		sink := mxtest.NewSink()
		DeferCleanup(sink.Close)
		s := newSyncStory(storyOptions{fakeClock: true}, func(o *sandbox.Options) { o.PendingPostsWithNewGUID = true })
		m := s.syncedMember("uma", mxbankUser)
		ts := s.txSync("uma-ledger", m.Name, sink.URL())
		s.create(ts)
		eventuallySyncReady(ts)
		first := day(s.clock.Now())
		before := s.mxTransactions(m, first.AddDate(0, 0, -90), first.AddDate(0, 0, 5))
		expectSinkHolds(Default, sink, before)
		var pending []string
		for _, t := range before {
			if t.Status == "PENDING" {
				pending = append(pending, t.GUID)
			}
		}
		Expect(pending).NotTo(BeEmpty(), "the last day's transactions are pending")
		firstTotal := sink.Total()

		By("a day later MX has aggregated again")
		s.sb.Advance(24 * time.Hour)
		s.sb.ResetCalls()
		// The sandbox's daily background aggregation runs; the member's resync notices it.
		annotate(m, mxv1alpha1.ReconcileRequestedAtAnnotation, "next-day")
		second := day(s.clock.Now())
		Eventually(func(g Gomega) {
			g.Expect(get(g, ts).Status.SyncedThrough).To(Equal(second.Format(time.DateOnly)))
		}).Should(Succeed())
		eventuallySyncReady(ts)
		windowFrom := first.AddDate(0, 0, -mxv1alpha1.DefaultOverlapDays)
		inWindow := s.mxTransactions(m, windowFrom, second.AddDate(0, 0, 5))
		Expect(s.sb.CallCount(epTransactions)).To(Equal(1+1), "one page for the window, plus the test's own read")

		By("only the window was sent; unchanged ids repeat only inside the overlap")
		Expect(sink.Total()).To(Equal(firstTotal + len(inWindow) + 1))
		after := s.mxTransactions(m, first.AddDate(0, 0, -90), second.AddDate(0, 0, 5))
		expectSinkHolds(Default, sink, after)
		for _, t := range after {
			if sink.Seen(txsync.TransactionID(t)) > 1 {
				Expect(t.Date >= windowFrom.Format(time.DateOnly)).To(BeTrue(), "repeated outside the overlap: %s", t.Date)
			}
		}
		held := sink.Transactions()
		for _, g := range pending {
			Expect(held).NotTo(HaveKey(g), "the pending transaction MX replaced is dropped")
		}
	})

	It("in batched mode sends one request per MX page and one for the marker, each transaction exactly once", func() {
		sink := mxtest.NewSink()
		DeferCleanup(sink.Close)
		s := newSyncStory(storyOptions{}, nil)
		m := s.syncedMember("wes", "mxuser_accounts_80")
		today := day(time.Now())
		want := s.mxTransactions(m, today.AddDate(0, 0, -mxv1alpha1.DefaultInitialHistoryDays), today.AddDate(0, 0, 5))
		pages := (len(want) + 999) / 1000
		Expect(pages).To(BeNumerically(">", 1))
		s.sb.ResetCalls()

		ts := s.txSync("wes-ledger", m.Name, sink.URL())
		ts.Spec.Sink.Mode = mxv1alpha1.SinkModeBatched
		s.create(ts)
		eventuallySyncReady(ts)
		Expect(s.calls()).To(Equal(map[string]int{epTransactions: pages}))
		Expect(sink.Requests()).To(Equal(pages+1), "%s", sink)
		Expect(sink.Batches()).To(Equal(pages + 1))
		expectSinkHolds(Default, sink, want)
		Expect(sink.Total()).To(Equal(len(want)+1), "nothing was sent twice")
		Expect(ts.Status.TransactionsDelivered).To(Equal(int64(len(want))))
		Expect(ts.Status.EventsDelivered).To(Equal(int64(len(want) + 1)))
		for _, t := range sink.Transactions() {
			Expect(t.Amount).To(MatchRegexp(`^"-?[0-9]+\.[0-9]{2}"$`), "money as a decimal string")
		}

		By("a 503 on a batch: the page is resent whole, nothing kept twice")
		sink.Fail(http.StatusServiceUnavailable, 1)
		annotate(ts, mxv1alpha1.ReconcileRequestedAtAnnotation, "resend")
		Eventually(func(g Gomega) {
			g.Expect(get(g, ts).Status.LastHandledReconcileAt).To(Equal("resend"))
		}).Should(Succeed())
		eventuallySyncReady(ts)
		expectSinkHolds(Default, sink, want)
		overlap := s.mxTransactions(m, today.AddDate(0, 0, -mxv1alpha1.DefaultOverlapDays), today.AddDate(0, 0, 5))
		overlapPages := (len(overlap) + 999) / 1000
		Expect(sink.Batches()).To(Equal(pages+1+overlapPages+1), "the overlap window's pages, and its marker")
		Expect(sink.Requests()).To(Equal(sink.Batches()+1), "and the refused one")
		Expect(sink.Total()).To(Equal(len(want) + 1 + len(overlap) + 1))
	})

	It("delivers to a slow sink off the reconcile workers: Reconciling Delivering meanwhile, other syncs go on, no reconcile takes a second", func() {
		slow, fast := mxtest.NewSink(), mxtest.NewSink()
		DeferCleanup(slow.Close)
		DeferCleanup(fast.Close)
		slow.SetDelay(40 * time.Millisecond)
		s := newSyncStory(storyOptions{}, nil)
		m := s.syncedMember("xia", mxbankUser)
		today := day(time.Now())
		want := s.mxTransactions(m, today.AddDate(0, 0, -90), today.AddDate(0, 0, 5))
		Expect(len(want)).To(BeNumerically(">", 50), "the slow sink takes seconds per sync")

		// Two slow syncs would hold both of the manager's workers if a reconcile delivered.
		a, b := s.txSync("xia-slow-a", m.Name, slow.URL()), s.txSync("xia-slow-b", m.Name, slow.URL())
		s.create(a, b)
		for _, ts := range []*mxv1alpha1.MXTransactionSync{a, b} {
			c := eventuallyReconciling(ts, mxv1alpha1.ReasonDelivering)
			Expect(c.Message).To(ContainSubstring(today.AddDate(0, 0, -90).Format(time.DateOnly)), "the message names the window")
		}
		c := s.txSync("xia-fast", m.Name, fast.URL())
		s.create(c)
		eventuallySyncReady(c)
		Expect(slow.Total()).To(BeNumerically("<", 2*(len(want)+1)), "the fast sync was Ready before the slow ones were done: %s", slow)
		expectSinkHolds(Default, fast, want)

		eventuallySyncReady(a)
		eventuallySyncReady(b)
		expectSinkHolds(Default, slow, want)
		Expect(slow.Total()).To(Equal(2 * (len(want) + 1)))
		Expect(get(Default, a).Status.TransactionsDelivered).To(Equal(int64(len(want))))
		Expect(reconcilesLongerThan("mxtransactionsync", 1)).To(BeZero(), "no MXTransactionSync reconcile held a worker for a second")
	})

	It("suspended: reads and sends nothing; suspended mid-window: stops; resumed: delivers everything", func() {
		sink := mxtest.NewSink()
		DeferCleanup(sink.Close)
		s := newSyncStory(storyOptions{}, nil)
		m := s.syncedMember("yan", mxbankUser)
		today := day(time.Now())
		want := s.mxTransactions(m, today.AddDate(0, 0, -90), today.AddDate(0, 0, 5))
		s.sb.ResetCalls()

		By("created suspended: Suspended, nothing read from MX or sent")
		ts := s.txSync("yan-ledger", m.Name, sink.URL())
		ts.Spec.Suspend = true
		s.create(ts)
		Eventually(func(g Gomega) {
			get(g, ts)
			expectCondition(g, ts, mxv1alpha1.SuspendedCondition, metav1.ConditionTrue, mxv1alpha1.ReasonSuspended)
			expectCondition(g, ts, mxv1alpha1.ReadyCondition, metav1.ConditionFalse, mxv1alpha1.ReasonSuspended)
			g.Expect(ts.Status.ObservedGeneration).To(Equal(ts.Generation))
		}).Should(Succeed())
		Consistently(func() int { return sink.Requests() + s.sb.TotalCalls() }).Should(BeZero())

		By("resumed with a slow sink, then suspended in the middle of the window: delivery stops")
		sink.SetDelay(50 * time.Millisecond)
		update(ts, func(ts *mxv1alpha1.MXTransactionSync) { ts.Spec.Suspend = false })
		eventuallyReconciling(ts, mxv1alpha1.ReasonDelivering)
		Eventually(sink.Total).Should(BeNumerically(">", 5))
		update(ts, func(ts *mxv1alpha1.MXTransactionSync) { ts.Spec.Suspend = true })
		Eventually(func(g Gomega) {
			expectCondition(g, get(g, ts), mxv1alpha1.SuspendedCondition, metav1.ConditionTrue, mxv1alpha1.ReasonSuspended)
			g.Expect(meta.FindStatusCondition(ts.Status.Conditions, mxv1alpha1.ReconcilingCondition)).To(BeNil())
		}).Should(Succeed())
		stopped := sink.Requests()
		Consistently(sink.Requests).Should(Equal(stopped), "no request after the suspension")
		Expect(stopped).To(BeNumerically("<", len(want)), "it stopped in the middle")
		Expect(get(Default, ts).Status.SyncedThrough).To(BeEmpty(), "an unfinished window is not synced")
		// The one answer on its way when the window was cancelled may be lost to the operator.
		Expect(ts.Status.TransactionsDelivered).To(BeNumerically("~", sink.Total(), 1), "what the sink acknowledged is counted")
		Expect(ts.Status.TransactionsDelivered).To(BeNumerically(">", 0))

		By("resumed: the window is sent whole, nothing missing")
		sink.SetDelay(0)
		update(ts, func(ts *mxv1alpha1.MXTransactionSync) { ts.Spec.Suspend = false })
		eventuallySyncReady(ts)
		Expect(meta.FindStatusCondition(ts.Status.Conditions, mxv1alpha1.SuspendedCondition)).To(BeNil())
		expectSinkHolds(Default, sink, want)
		Expect(ts.Status.SyncedThrough).To(Equal(today.Format(time.DateOnly)))
	})

	It("resolves a Service ref to its cluster URL, names a missing auth Secret, and sends the Secret's bearer token or basic credentials", func() {
		sink := mxtest.NewSink()
		DeferCleanup(sink.Close)
		s := newSyncStory(storyOptions{}, nil)
		m := s.syncedMember("zoe", mxbankUser)
		today := day(time.Now())
		want := s.mxTransactions(m, today.AddDate(0, 0, -90), today.AddDate(0, 0, 5))
		const token = "tok-3f9a1c0e"

		By("a Service ref whose auth Secret does not exist: Stalled SecretNotFound naming it")
		ts := s.txSync("zoe-ledger", m.Name, "")
		ts.Spec.Sink = mxv1alpha1.TransactionSink{
			Ref:  &mxv1alpha1.SinkServiceReference{Name: "ledger-ingest", Port: ptr.To(int32(8080))},
			Auth: &mxv1alpha1.SinkAuth{SecretRef: &mxv1alpha1.LocalObjectReference{Name: "ledger-token"}},
		}
		s.create(ts)
		c := eventuallyStalled(ts, mxv1alpha1.ReasonSecretNotFound)
		Expect(c.Message).To(ContainSubstring("Secret ledger-token does not exist"))
		Expect(ts.Status.SinkURI).To(Equal("http://ledger-ingest." + s.ns + ".svc.cluster.local:8080"))
		Expect(eventReasons(s, ts)).To(ContainElement(mxv1alpha1.ReasonSecretNotFound), "a Warning event")

		By("the Secret created: the Service's name does not resolve outside a cluster, so the sink is unreachable")
		s.create(s.secret("ledger-token", map[string]string{"token": token}))
		annotate(ts, mxv1alpha1.ReconcileRequestedAtAnnotation, "secret-created")
		c = eventuallyReconciling(ts, mxv1alpha1.ReasonSinkUnreachable)
		Expect(c.Message).To(ContainSubstring("(no answer)"))

		By("the same auth with a uri: the bearer token reaches the receiver")
		sink.RequireAuthorization("Bearer " + token)
		update(ts, func(ts *mxv1alpha1.MXTransactionSync) {
			ts.Spec.Sink.Ref, ts.Spec.Sink.URI = nil, sink.URL()
		})
		eventuallySyncReady(ts)
		Expect(sink.Unauthorized()).To(BeZero())
		expectSinkHolds(Default, sink, want)

		By("a token the sink refuses: Stalled SinkRejected, the message names the Secret")
		update(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ledger-token", Namespace: s.ns}}, func(sec *corev1.Secret) {
			sec.Data = map[string][]byte{"token": []byte("tok-revoked")}
		})
		annotate(ts, mxv1alpha1.ReconcileRequestedAtAnnotation, "rotated")
		c = eventuallyStalled(ts, mxv1alpha1.ReasonSinkRejected)
		Expect(c.Message).To(ContainSubstring("401 Unauthorized"))
		Expect(c.Message).To(ContainSubstring("Secret ledger-token"))

		By("basic credentials instead: accepted")
		update(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ledger-token", Namespace: s.ns}}, func(sec *corev1.Secret) {
			sec.Data = map[string][]byte{"username": []byte("ledger"), "password": []byte("pa:ss-9d2e")}
		})
		sink.RequireAuthorization(txsync.BasicAuth("ledger", "pa:ss-9d2e"))
		annotate(ts, mxv1alpha1.ReconcileRequestedAtAnnotation, "basic")
		eventuallySyncReady(ts)
		expectSinkHolds(Default, sink, want)

		By("no credential in status, events or logs")
		dump := s.namespaceDump() + syncDump(s)
		for _, secret := range []string{token, "tok-revoked", "pa:ss-9d2e", base64.StdEncoding.EncodeToString([]byte("ledger:pa:ss-9d2e"))} {
			Expect(dump).NotTo(ContainSubstring(secret))
			Expect(logs.String()).NotTo(ContainSubstring(secret))
		}
	})

	It("keeps a canary in transaction descriptions out of status, events, logs and metrics while the sink receives it", func() {
		canary := "CANARY-txn-" + strconv.FormatInt(time.Now().UnixNano(), 36) + " "
		sink := mxtest.NewSink()
		DeferCleanup(sink.Close)
		s := newSyncStory(storyOptions{}, func(o *sandbox.Options) { o.TransactionDescriptionPrefix = canary })
		m := s.syncedMember("ada", mxbankUser)
		ts := s.txSync("ada-ledger", m.Name, sink.URL())

		By("through a rejection, an unreachable spell and a delivery")
		sink.Fail(http.StatusBadRequest, -1)
		s.create(ts)
		eventuallyStalled(ts, mxv1alpha1.ReasonSinkRejected)
		sink.Fail(http.StatusServiceUnavailable, -1, "3600")
		annotate(ts, mxv1alpha1.ReconcileRequestedAtAnnotation, "retry")
		eventuallyReconciling(ts, mxv1alpha1.ReasonSinkUnreachable)
		sink.Clear()
		annotate(ts, mxv1alpha1.ReconcileRequestedAtAnnotation, "fixed")
		eventuallySyncReady(ts)

		By("the sink holds the canary in every description")
		held := sink.Transactions()
		Expect(held).NotTo(BeEmpty())
		for _, t := range held {
			Expect(t.Description).To(HavePrefix(canary))
		}

		By("status, events, logs and metrics never do")
		dump := s.namespaceDump() + syncDump(s)
		Expect(dump).To(ContainSubstring("ada-ledger"), "the dump covers the sync")
		Expect(dump).To(ContainSubstring(mxv1alpha1.ReasonSinkRejected), "and its events")
		Expect(dump).NotTo(ContainSubstring(strings.TrimSpace(canary)), "status and events")
		Expect(logs.String()).To(ContainSubstring("Delivered a window"), "the logs cover the deliveries")
		Expect(logs.String()).NotTo(ContainSubstring(strings.TrimSpace(canary)), "logs")
		Expect(metricsDump()).To(ContainSubstring("mxtransactionsync"), "the metrics cover the controller")
		Expect(metricsDump()).NotTo(ContainSubstring(strings.TrimSpace(canary)), "metrics")
	})

	It("resends the whole window after the manager stops in the middle of it", func() {
		sink := mxtest.NewSink()
		DeferCleanup(sink.Close)
		s := newSyncStory(storyOptions{}, nil)
		m := s.syncedMember("vic", mxbankUser)
		today := day(time.Now())
		want := s.mxTransactions(m, today.AddDate(0, 0, -90), today.AddDate(0, 0, 5))
		held := sink.HoldAfter(len(want) / 2)
		ts := s.txSync("vic-ledger", m.Name, sink.URL())
		s.create(ts)
		Eventually(held).Should(BeClosed())
		s.stop()
		sink.Release()
		Expect(get(Default, ts).Status.SyncedThrough).To(BeEmpty(), "an unfinished window is not synced")
		s.start(s.mxClient())
		eventuallySyncReady(ts)
		expectSinkHolds(Default, sink, want)
		Expect(sink.Unique()).To(Equal(len(want) + 1))
	})
})

// reconcilesLongerThan counts the reconciles of the named controller in this process that took
// longer than seconds (a bucket bound of controller-runtime's reconcile_time_seconds).
func reconcilesLongerThan(controllerName string, seconds float64) uint64 {
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_time_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == "controller" && l.GetValue() == controllerName }) {
				continue
			}
			h := m.GetHistogram()
			for _, b := range h.GetBucket() {
				if b.GetUpperBound() == seconds {
					return h.GetSampleCount() - b.GetCumulativeCount()
				}
			}
			Fail(fmt.Sprintf("reconcile_time_seconds has no bucket at %gs", seconds))
		}
	}
	Fail("no reconcile_time_seconds of controller " + controllerName)
	return 0
}

// syncDump renders every MXTransactionSync of the story's namespace as JSON.
func syncDump(s *story) string {
	list := &mxv1alpha1.MXTransactionSyncList{}
	Expect(k8sClient.List(context.Background(), list, client.InNamespace(s.ns))).To(Succeed())
	b, err := json.Marshal(list)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// metricsDump renders every metric of this process's controller-runtime registry (the
// operator's own included) as text.
func metricsDump() string {
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	var b strings.Builder
	for _, f := range families {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}
