package txsync_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/mxoperator/mx-operator/internal/mx"
	"github.com/mxoperator/mx-operator/internal/txsync"
	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
	"github.com/mxoperator/mx-operator/pkg/mxtest"
)

// member is a sandbox member aggregated with username's accounts, and an MX client that reads
// pageSize records per page.
type member struct {
	sb         *sandbox.Sandbox
	c          *mx.Client
	user, guid string
	now        time.Time
}

func newMember(tb testing.TB, username string, pageSize int) member {
	tb.Helper()
	clock := sandbox.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	sb := sandbox.New(sandbox.Options{ClientID: "c", APIKey: "k", Clock: clock})
	srv := httptest.NewServer(sb)
	tb.Cleanup(func() { srv.Close(); sb.Close() })
	c, err := mx.New(mx.Config{BaseURL: srv.URL, ClientID: "c", APIKey: "k", PageSize: pageSize})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	u, err := c.CreateUser(ctx, mx.CreateUserRequest{ID: "u"})
	if err != nil {
		tb.Fatal(err)
	}
	creds := []mx.CredentialValue{
		{GUID: sandbox.CredentialGUID(sandbox.InstitutionMXBank, sandbox.CredentialFieldUsername), Value: username},
		{GUID: sandbox.CredentialGUID(sandbox.InstitutionMXBank, sandbox.CredentialFieldPassword), Value: "password"},
	}
	m, _, err := c.CreateMember(ctx, u.GUID, mx.CreateMemberRequest{InstitutionCode: sandbox.InstitutionMXBank, Credentials: creds})
	if err != nil {
		tb.Fatal(err)
	}
	sb.Advance(10 * sandbox.DefaultAggregationDuration)
	return member{sb: sb, c: c, user: u.GUID, guid: m.GUID, now: clock.Now()}
}

func (m member) window() txsync.Window {
	w := txsync.Plan{InitialHistoryDays: 90}.Next(m.now)
	w.UserGUID, w.MemberGUID = m.user, m.guid
	return w
}

func TestDeliver(t *testing.T) {
	for _, mode := range []txsync.Mode{txsync.ModeStructured, txsync.ModeBatched} {
		t.Run(string(mode), func(t *testing.T) {
			g := NewWithT(t)
			m := newMember(t, "mxuser_accounts_12", 100)
			w := m.window()
			want, err := m.c.ListMemberTransactions(context.Background(), m.user, m.guid, mx.DateRange{From: w.From, To: w.To})
			g.Expect(err).NotTo(HaveOccurred())
			pages := (len(want) + 99) / 100
			g.Expect(pages).To(BeNumerically(">", 2))
			sink := mxtest.NewSink()
			defer sink.Close()
			s := txsync.NewSender(txsync.SenderConfig{URL: sink.URL(), Mode: mode})
			defer s.Close()
			m.sb.ResetCalls()

			var p txsync.Progress
			g.Expect(txsync.Deliver(context.Background(), m.c, s, w, m.now, &p)).To(Succeed())
			g.Expect(p).To(Equal(txsync.Progress{Transactions: int64(len(want)), Events: int64(len(want) + 1), Pages: pages}))
			g.Expect(m.sb.TotalCalls()).To(Equal(pages))
			g.Expect(sink.Unique()).To(Equal(len(want)+1), "every transaction once, and the marker")
			g.Expect(sink.Total()).To(Equal(len(want) + 1))
			held := sink.Transactions()
			g.Expect(held).To(HaveLen(len(want)))
			for _, tx := range want {
				g.Expect(held[tx.GUID].ID).To(Equal(txsync.TransactionID(tx)))
				g.Expect(held[tx.GUID].Amount).To(Equal(strconv.Quote(string(tx.Amount))), "money as a decimal string")
			}
			order := sink.Order()
			g.Expect(order[len(order)-1]).NotTo(BeElementOf(idsOf(want)), "the marker comes last")
			g.Expect(sink.Markers()).To(HaveLen(1))
			g.Expect(sink.Markers()[0].GUIDs).To(HaveLen(len(want)))
			switch mode {
			case txsync.ModeBatched:
				g.Expect(sink.Requests()).To(Equal(pages+1), "one request per MX page, and one for the marker")
				g.Expect(sink.Batches()).To(Equal(pages + 1))
			default:
				g.Expect(sink.Requests()).To(Equal(len(want)+1), "one request per event")
				g.Expect(sink.Batches()).To(BeZero())
			}
		})
	}
}

func TestDeliverBatchedResendsAFailedPageWhole(t *testing.T) {
	g := NewWithT(t)
	m := newMember(t, "mxuser_accounts_12", 100)
	sink := mxtest.NewSink()
	defer sink.Close()
	s := txsync.NewSender(txsync.SenderConfig{URL: sink.URL(), Mode: txsync.ModeBatched, MinBackoff: time.Millisecond})
	defer s.Close()
	sink.Fail(http.StatusServiceUnavailable, 2)
	var p txsync.Progress
	g.Expect(txsync.Deliver(context.Background(), m.c, s, m.window(), m.now, &p)).To(Succeed())
	g.Expect(sink.Total()).To(Equal(int(p.Events)), "nothing of a refused batch was kept, nothing sent twice")
	g.Expect(sink.Requests()).To(Equal(p.Pages + 1 + 2))
}

func TestDeliverBatchedCountsOnlyAcknowledgedPages(t *testing.T) {
	g := NewWithT(t)
	m := newMember(t, "mxuser_accounts_12", 100)
	sink := mxtest.NewSink()
	defer sink.Close()
	s := txsync.NewSender(txsync.SenderConfig{URL: sink.URL(), Mode: txsync.ModeBatched})
	defer s.Close()
	held := sink.HoldAfter(2)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-held; cancel() }()
	var p txsync.Progress
	err := txsync.Deliver(ctx, m.c, s, m.window(), m.now, &p)
	g.Expect(err).To(MatchError(context.Canceled))
	g.Expect(p.Pages).To(Equal(3), "the third page was being sent")
	g.Expect(p.Events).To(Equal(int64(200)), "two pages of 100 acknowledged")
	g.Expect(p.Transactions).To(Equal(p.Events))
}

func idsOf(txns []mx.Transaction) []string {
	out := make([]string, len(txns))
	for i, t := range txns {
		out[i] = txsync.TransactionID(t)
	}
	return out
}
