package txsync_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	. "github.com/onsi/gomega"

	"github.com/mxoperator/mx-operator/internal/txsync"
)

// canary is a response body no error may repeat.
const canary = "CANARY-sink-body-4f1d"

// fakeSink answers each request with the next of its answers (the last one repeats) and records
// what it received.
type fakeSink struct {
	mu       sync.Mutex
	answers  []answer
	requests []*http.Request
	bodies   []event.Event
}

type answer struct {
	code       int
	retryAfter string
	delay      time.Duration
}

func (f *fakeSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	a := f.answers[min(len(f.requests), len(f.answers)-1)]
	f.requests = append(f.requests, r.Clone(context.Background()))
	if e, err := cehttp.NewEventFromHTTPRequest(r); err == nil {
		f.bodies = append(f.bodies, *e)
	}
	f.mu.Unlock()
	if a.delay > 0 {
		select {
		case <-time.After(a.delay):
		case <-r.Context().Done():
			return
		}
	}
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	w.WriteHeader(a.code)
	_, _ = w.Write([]byte(canary))
}

func (f *fakeSink) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// waits records the sleeps of a Sender instead of spending them.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d = append(w.d, d)
	return ctx.Err()
}

func (w *waits) total() time.Duration {
	var t time.Duration
	for _, d := range w.d {
		t += d
	}
	return t
}

func identity(d time.Duration) time.Duration { return d }

func testEvent(id string) *event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("mx://users/U/members/M")
	e.SetType(txsync.TransactionEventType)
	_ = e.SetData(event.ApplicationJSON, []byte(`{"guid":"TRN-1"}`))
	return &e
}

// newSender returns a Sender to url whose waits are recorded, with cfg's other fields.
func newSender(cfg txsync.SenderConfig, jitter func(time.Duration) time.Duration) (*txsync.Sender, *waits) {
	s := txsync.NewSender(cfg)
	w := &waits{}
	txsync.SetWaits(s, w.sleep, jitter)
	return s, w
}

func TestSendAcknowledged(t *testing.T) {
	g := NewWithT(t)
	sink := &fakeSink{answers: []answer{{code: http.StatusAccepted}}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	s, w := newSender(txsync.SenderConfig{URL: srv.URL}, nil)
	defer s.Close()

	g.Expect(s.Send(context.Background(), testEvent("ev-1"))).To(Succeed())
	g.Expect(sink.count()).To(Equal(1))
	g.Expect(w.d).To(BeEmpty())
	g.Expect(sink.requests[0].Method).To(Equal(http.MethodPost))
	g.Expect(sink.requests[0].Header.Get("Content-Type")).To(Equal("application/cloudevents+json"), "structured mode")
	g.Expect(sink.requests[0].Header).NotTo(HaveKey("Authorization"))
	g.Expect(sink.bodies).To(HaveLen(1))
	g.Expect(sink.bodies[0].ID()).To(Equal("ev-1"))
}

func TestSendHonoursRetryAfter(t *testing.T) {
	g := NewWithT(t)
	sink := &fakeSink{answers: []answer{{code: http.StatusTooManyRequests, retryAfter: "3"}, {code: http.StatusServiceUnavailable, retryAfter: "1"}, {code: http.StatusOK}}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	s, w := newSender(txsync.SenderConfig{URL: srv.URL, Budget: 10 * time.Second}, identity)
	defer s.Close()

	g.Expect(s.Send(context.Background(), testEvent("ev-1"))).To(Succeed())
	g.Expect(w.d).To(Equal([]time.Duration{3 * time.Second, time.Second}), "Retry-After, not the 200ms backoff")
	g.Expect(sink.count()).To(Equal(3))
}

func TestSendGivesUpAtOnceWhenRetryAfterExceedsTheBudget(t *testing.T) {
	g := NewWithT(t)
	at := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	sink := &fakeSink{answers: []answer{{code: http.StatusTooManyRequests, retryAfter: at}}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	s, w := newSender(txsync.SenderConfig{URL: srv.URL, Budget: 30 * time.Second}, identity)
	defer s.Close()

	err := s.Send(context.Background(), testEvent("ev-1"))
	serr, ok := errors.AsType[*txsync.SinkError](err)
	g.Expect(ok).To(BeTrue(), "%v", err)
	g.Expect(serr.StatusCode).To(Equal(http.StatusTooManyRequests))
	g.Expect(serr.Rejected()).To(BeFalse())
	g.Expect(serr.RetryAfter).To(BeNumerically("~", time.Hour, 5*time.Second), "an HTTP-date Retry-After")
	g.Expect(w.d).To(BeEmpty())
	g.Expect(sink.count()).To(Equal(1))
}

func TestSendRetriesServerErrorsWithJitteredDoublingBackoff(t *testing.T) {
	g := NewWithT(t)
	sink := &fakeSink{answers: []answer{{code: 500}, {code: 502}, {code: 503}, {code: 504}, {code: http.StatusRequestTimeout}, {code: 200}}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	s, w := newSender(txsync.SenderConfig{URL: srv.URL, MinBackoff: 100 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, Budget: 10 * time.Second}, nil)
	defer s.Close()

	g.Expect(s.Send(context.Background(), testEvent("ev-1"))).To(Succeed())
	g.Expect(sink.count()).To(Equal(6), "500, 502, 503, 504 and 408 are retried")
	g.Expect(w.d).To(HaveLen(5))
	for i, ceiling := range []time.Duration{100, 200, 400, 400, 400} {
		ceiling *= time.Millisecond
		g.Expect(w.d[i]).To(BeNumerically(">=", ceiling/2), "wait %d is jittered down to at most half", i)
		g.Expect(w.d[i]).To(BeNumerically("<=", ceiling), "wait %d doubles up to MaxBackoff", i)
	}
}

func TestSendReportsAnUnreachableSinkOnceTheBudgetIsSpent(t *testing.T) {
	for _, tc := range []struct {
		reason string
		answer answer
		code   int
	}{
		{reason: "a sink that keeps answering 503", answer: answer{code: http.StatusServiceUnavailable}, code: http.StatusServiceUnavailable},
		{reason: "a sink that does not answer within the timeout", answer: answer{code: http.StatusOK, delay: 2 * time.Second}, code: 0},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			sink := &fakeSink{answers: []answer{tc.answer}}
			srv := httptest.NewServer(sink)
			defer srv.Close()
			s, w := newSender(txsync.SenderConfig{URL: srv.URL, Timeout: 50 * time.Millisecond, MinBackoff: 200 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, Budget: time.Second}, identity)
			defer s.Close()

			err := s.Send(context.Background(), testEvent("ev-1"))
			serr, ok := errors.AsType[*txsync.SinkError](err)
			g.Expect(ok).To(BeTrue(), "%v", err)
			g.Expect(serr.StatusCode).To(Equal(tc.code))
			g.Expect(serr.Rejected()).To(BeFalse())
			g.Expect(w.d).To(Equal([]time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 400 * time.Millisecond}), "the next 400ms would pass the 1s budget")
			g.Expect(w.total()).To(BeNumerically("<=", time.Second))
			g.Expect(sink.count()).To(Equal(4))
			if tc.code == 0 {
				g.Expect(err.Error()).To(HavePrefix("the sink did not answer"))
				g.Expect(err.Error()).NotTo(ContainSubstring(srv.URL), "the URL is in status.sinkURI already")
			}
		})
	}
}

func TestSendSpendsOneBudgetAcrossEvents(t *testing.T) {
	g := NewWithT(t)
	sink := &fakeSink{answers: []answer{{code: 503}, {code: 503}, {code: 200}, {code: 503}}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	s, w := newSender(txsync.SenderConfig{URL: srv.URL, MinBackoff: 100 * time.Millisecond, Budget: 350 * time.Millisecond}, identity)
	defer s.Close()

	g.Expect(s.Send(context.Background(), testEvent("ev-1"))).To(Succeed(), "waits 100ms and 200ms")
	err := s.Send(context.Background(), testEvent("ev-2"))
	g.Expect(err).To(HaveOccurred(), "the 50ms left cannot cover another 100ms wait")
	g.Expect(w.total()).To(Equal(300 * time.Millisecond))
	g.Expect(sink.count()).To(Equal(4))
}

func TestSendRejectedWithoutTheBody(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			g := NewWithT(t)
			sink := &fakeSink{answers: []answer{{code: code}}}
			srv := httptest.NewServer(sink)
			defer srv.Close()
			s, w := newSender(txsync.SenderConfig{URL: srv.URL}, nil)
			defer s.Close()

			err := s.Send(context.Background(), testEvent("ev-1"))
			serr, ok := errors.AsType[*txsync.SinkError](err)
			g.Expect(ok).To(BeTrue(), "%v", err)
			g.Expect(serr.Rejected()).To(BeTrue())
			g.Expect(serr.StatusCode).To(Equal(code))
			g.Expect(err.Error()).To(Equal("the sink answered " + txsync.StatusText(code)))
			g.Expect(err.Error()).NotTo(ContainSubstring(canary))
			g.Expect(sink.count()).To(Equal(1), "a rejection is not retried")
			g.Expect(w.d).To(BeEmpty())
		})
	}
}

func TestSendAuthorization(t *testing.T) {
	for _, tc := range []struct {
		reason, header, want string
	}{
		{reason: "a bearer token", header: txsync.BearerAuth("tok-123"), want: "Bearer tok-123"},
		{reason: "basic credentials, a colon in the password included", header: txsync.BasicAuth("ledger", "pa:ss"),
			want: "Basic " + base64.StdEncoding.EncodeToString([]byte("ledger:pa:ss"))},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			sink := &fakeSink{answers: []answer{{code: http.StatusUnauthorized}, {code: http.StatusOK}}}
			srv := httptest.NewServer(sink)
			defer srv.Close()
			s, _ := newSender(txsync.SenderConfig{URL: srv.URL, Authorization: tc.header}, nil)
			defer s.Close()

			err := s.Send(context.Background(), testEvent("ev-1"))
			g.Expect(err).To(HaveOccurred(), "the fake answers 401 first")
			g.Expect(err.Error()).NotTo(ContainSubstring(strings.TrimPrefix(tc.want, "Bearer ")), "no credential in the error")
			g.Expect(s.Send(context.Background(), testEvent("ev-2"))).To(Succeed())
			for _, r := range sink.requests {
				g.Expect(r.Header.Get("Authorization")).To(Equal(tc.want))
			}
		})
	}
}

func TestSendVerifiesTheSinkWithTheCABundle(t *testing.T) {
	g := NewWithT(t)
	sink := &fakeSink{answers: []answer{{code: http.StatusOK}}}
	srv := httptest.NewTLSServer(sink)
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	s, _ := newSender(txsync.SenderConfig{URL: srv.URL, RootCAs: pool}, nil)
	defer s.Close()
	g.Expect(s.Send(context.Background(), testEvent("ev-1"))).To(Succeed())

	without, _ := newSender(txsync.SenderConfig{URL: srv.URL, Budget: time.Millisecond}, nil)
	defer without.Close()
	err := without.Send(context.Background(), testEvent("ev-2"))
	serr, ok := errors.AsType[*txsync.SinkError](err)
	g.Expect(ok).To(BeTrue(), "%v", err)
	g.Expect(serr.StatusCode).To(Equal(0))
	g.Expect(err.Error()).To(ContainSubstring("certificate"))
	g.Expect(sink.count()).To(Equal(1), "only the verified request reached the handler")
}

func TestSendStopsWhenTheContextIsCancelled(t *testing.T) {
	g := NewWithT(t)
	sink := &fakeSink{answers: []answer{{code: http.StatusServiceUnavailable}}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	s := txsync.NewSender(txsync.SenderConfig{URL: srv.URL})
	defer s.Close()
	txsync.SetWaits(s, func(context.Context, time.Duration) error { cancel(); return context.Canceled }, nil)
	g.Expect(s.Send(ctx, testEvent("ev-1"))).To(MatchError(context.Canceled))
}

func TestSendBatch(t *testing.T) {
	g := NewWithT(t)
	var got [][]event.Event
	var mu sync.Mutex
	answers := []int{http.StatusServiceUnavailable, http.StatusOK}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		g.Expect(r.Header.Get("Content-Type")).To(Equal("application/cloudevents-batch+json"))
		g.Expect(r.Header.Get("Authorization")).To(Equal("Bearer tok"))
		events, err := cehttp.NewEventsFromHTTPRequest(r)
		g.Expect(err).NotTo(HaveOccurred())
		got = append(got, events)
		w.WriteHeader(answers[min(len(got)-1, len(answers)-1)])
	}))
	defer srv.Close()
	s, w := newSender(txsync.SenderConfig{URL: srv.URL, Authorization: txsync.BearerAuth("tok")}, identity)
	defer s.Close()

	g.Expect(s.SendBatch(context.Background(), []event.Event{*testEvent("ev-1"), *testEvent("ev-2"), *testEvent("ev-3")})).To(Succeed())
	g.Expect(got).To(HaveLen(2), "a 503 is retried as for one event")
	g.Expect(w.d).To(Equal([]time.Duration{txsync.DefaultMinBackoff}))
	for _, batch := range got {
		g.Expect(batch).To(HaveLen(3))
		g.Expect(batch[0].ID()).To(Equal("ev-1"))
		g.Expect(batch[2].ID()).To(Equal("ev-3"))
		g.Expect(string(batch[1].Data())).To(Equal(`{"guid":"TRN-1"}`), "data is JSON, not base64")
	}
}

func TestSendBatchRejectedWithoutTheBody(t *testing.T) {
	g := NewWithT(t)
	sink := &fakeSink{answers: []answer{{code: http.StatusRequestEntityTooLarge}}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	s, _ := newSender(txsync.SenderConfig{URL: srv.URL}, nil)
	defer s.Close()
	err := s.SendBatch(context.Background(), []event.Event{*testEvent("ev-1")})
	serr, ok := errors.AsType[*txsync.SinkError](err)
	g.Expect(ok).To(BeTrue(), "%v", err)
	g.Expect(serr.Rejected()).To(BeTrue())
	g.Expect(err.Error()).To(Equal("the sink answered 413 Request Entity Too Large"))
}
