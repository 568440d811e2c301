package mxtest

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// CloudEvent types an MXTransactionSync sends (internal/txsync).
const (
	TransactionEventType = "dev.mxoperator.transaction.v1"
	WindowEventType      = "dev.mxoperator.transactions.window.v1"
)

// Sink is a CloudEvents receiver for tests of MXTransactionSync, on 127.0.0.1. It accepts
// structured mode (application/cloudevents+json) and batches
// (application/cloudevents-batch+json, acknowledged or refused whole). It records the id of
// every event it acknowledges (a dedup set, the total and the order) and keeps the
// transactions it holds the way a real receiver would: by guid, dropping those a window marker
// no longer lists. It can be told to fail, to be slow, to hold requests, or to require an
// Authorization header.
//
//	sink := mxtest.NewSink()
//	defer sink.Close()
//	sink.Fail(http.StatusServiceUnavailable, 3) // the next three requests answer 503
type Sink struct {
	srv *httptest.Server

	mu           sync.Mutex
	requests     int
	batches      int
	auth         string
	unauthorized int
	ids          map[string]int
	order        []string
	txns         map[string]SinkTransaction
	markers      []SinkMarker
	failCode     int
	failLeft     int // <0: until Clear
	retryAfter   string
	delay        time.Duration
	hold         chan struct{}
	held         chan struct{}
}

// SinkTransaction is a transaction the sink holds: its event id and the fields of its data a
// receiver keys on. Amount is the JSON text of the amount as sent (`"61.10"` for a decimal
// string).
type SinkTransaction struct {
	ID, GUID, Date, Status string
	Amount                 string
	Description            string
}

// SinkMarker is a window marker the sink received.
type SinkMarker struct {
	From, To string
	GUIDs    []string
}

// NewSink starts a Sink; Close it when done.
func NewSink() *Sink {
	s := &Sink{ids: map[string]int{}, txns: map[string]SinkTransaction{}}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s.srv.Listener = ln
	s.srv.Start()
	return s
}

// URL is the sink's address, http://127.0.0.1:port.
func (s *Sink) URL() string { return s.srv.URL }

// Close stops the sink, releasing held requests.
func (s *Sink) Close() {
	s.Release()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Fail makes the next n requests answer code (n < 0: until Clear). retryAfter, when not empty,
// is sent as Retry-After.
func (s *Sink) Fail(code, n int, retryAfter ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCode, s.failLeft, s.retryAfter = code, n, ""
	if len(retryAfter) > 0 {
		s.retryAfter = retryAfter[0]
	}
}

// Clear ends Fail and SetDelay.
func (s *Sink) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCode, s.failLeft, s.delay = 0, 0, 0
}

// SetDelay makes every request wait d before it is answered.
func (s *Sink) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// RequireAuthorization makes the sink answer 401 to every request whose Authorization header
// is not exactly header ("" accepts any). The sink never prints it.
func (s *Sink) RequireAuthorization(header string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth = header
}

// HoldAfter lets n more requests through, then holds every further one (unanswered) until
// Release. The returned channel is closed when the first request is held.
func (s *Sink) HoldAfter(n int) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = make(chan struct{})
	s.held = make(chan struct{})
	s.failCode, s.failLeft = -1, n // -1: hold after n
	return s.held
}

// Release answers the held requests (with 503, as if the sink had restarted) and stops holding.
func (s *Sink) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
		s.failCode, s.failLeft = 0, 0
	}
}

func (s *Sink) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	delay := s.delay
	code, retryAfter := 0, s.retryAfter
	var hold chan struct{}
	switch {
	case s.failCode == -1 && s.failLeft > 0:
		s.failLeft--
	case s.failCode == -1:
		hold = s.hold
		select {
		case <-s.held:
		default:
			close(s.held)
		}
	case s.failCode != 0 && s.failLeft != 0:
		code = s.failCode
		if s.failLeft > 0 {
			s.failLeft--
		}
	}
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if code != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
		return
	}
	if s.unauthorizedRequest(r) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	events, batched, err := readEvents(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// Every event is checked before any is recorded: a batch is acknowledged or refused whole.
	recs := make([]record, len(events))
	for i := range events {
		if recs[i], err = readRecord(&events[i]); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if batched {
		s.batches++
	}
	for i, rec := range recs {
		s.keep(events[i].ID(), rec)
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Sink) unauthorizedRequest(r *http.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.auth == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(s.auth)) == 1 {
		return false
	}
	s.unauthorized++
	return true
}

// readEvents reads the events of a structured or a batch request.
func readEvents(r *http.Request) (events []event.Event, batched bool, err error) {
	switch r.Header.Get("Content-Type") {
	case event.ApplicationCloudEventsJSON:
		e, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			return nil, false, errors.New("not a CloudEvent")
		}
		return []event.Event{*e}, false, nil
	case event.ApplicationCloudEventsBatchJSON:
		events, err := cehttp.NewEventsFromHTTPRequest(r)
		if err != nil || len(events) == 0 {
			return nil, true, errors.New("not a batch of CloudEvents")
		}
		return events, true, nil
	}
	return nil, false, errors.New("structured mode or a batch expected")
}

// record is what the sink keeps of one event: a transaction or a marker.
type record struct {
	txn    *SinkTransaction
	marker *SinkMarker
}

func readRecord(e *event.Event) (record, error) {
	if e.Validate() != nil {
		return record{}, errors.New("not a CloudEvent")
	}
	switch e.Type() {
	case TransactionEventType:
		var t struct {
			GUID, Date, Status, Description string
			Amount                          json.RawMessage
		}
		if err := json.Unmarshal(e.Data(), &t); err != nil || t.GUID == "" || t.GUID != e.Subject() {
			return record{}, errors.New("bad transaction")
		}
		return record{txn: &SinkTransaction{ID: e.ID(), GUID: t.GUID, Date: t.Date, Status: t.Status, Amount: string(t.Amount), Description: t.Description}}, nil
	case WindowEventType:
		var m SinkMarker
		if err := json.Unmarshal(e.Data(), &m); err != nil {
			return record{}, errors.New("bad marker")
		}
		return record{marker: &m}, nil
	}
	return record{}, errors.New("unknown type")
}

// keep records an acknowledged event; s.mu is held.
func (s *Sink) keep(id string, rec record) {
	if t := rec.txn; t != nil {
		s.txns[t.GUID] = *t
	}
	if m := rec.marker; m != nil {
		s.markers = append(s.markers, *m)
		for guid, t := range s.txns {
			if t.Date >= m.From && t.Date <= m.To && !slices.Contains(m.GUIDs, guid) {
				delete(s.txns, guid)
			}
		}
	}
	s.ids[id]++
	s.order = append(s.order, id)
}

// Batches counts the batch requests the sink acknowledged.
func (s *Sink) Batches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches
}

// Unauthorized counts the requests answered 401 for want of the required Authorization.
func (s *Sink) Unauthorized() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unauthorized
}

// Requests counts every request the sink received, failed ones included.
func (s *Sink) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Total counts the events acknowledged, repeats included.
func (s *Sink) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.order)
}

// Unique counts the distinct event ids acknowledged.
func (s *Sink) Unique() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

// Seen returns how often the event id was acknowledged.
func (s *Sink) Seen(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

// Order returns the acknowledged event ids in order of arrival.
func (s *Sink) Order() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.order)
}

// Transactions returns the transactions the sink holds, by guid.
func (s *Sink) Transactions() map[string]SinkTransaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]SinkTransaction, len(s.txns))
	for k, v := range s.txns {
		out[k] = v
	}
	return out
}

// Markers returns the window markers received, in order.
func (s *Sink) Markers() []SinkMarker {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.markers)
}

// String summarises the sink for failure messages.
func (s *Sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "sink{requests:" + strconv.Itoa(s.requests) + " batches:" + strconv.Itoa(s.batches) + " unauthorized:" + strconv.Itoa(s.unauthorized) + " events:" + strconv.Itoa(len(s.order)) + " unique:" + strconv.Itoa(len(s.ids)) + " transactions:" + strconv.Itoa(len(s.txns)) + "}"
}
