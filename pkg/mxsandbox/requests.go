package mxsandbox

import (
	"net/http"
	"time"
)

// MaxRequestRecords bounds the request log: Requests keeps the most recent
// MaxRequestRecords requests.
const MaxRequestRecords = 100_000

// RequestRecord is one MX API request the sandbox served (control-surface
// requests and unknown routes are not recorded).
type RequestRecord struct {
	// Time is the sandbox clock when the request arrived; WallTime is the
	// real time then.
	Time, WallTime time.Time
	// Endpoint is the endpoint name (an Endpoint constant).
	Endpoint string
	// Status is the HTTP status answered, or 0 when no answer was sent (a
	// dropped connection, a held request whose client gave up, a client
	// that gave up during Latency).
	Status int
}

// requestLog is a ring of the last cap RequestRecords.
type requestLog struct {
	cap     int
	records []RequestRecord
	next    int
}

func (l *requestLog) reset() {
	l.records = nil
	l.next = 0
}

func (l *requestLog) add(r RequestRecord) {
	limit := l.cap
	if limit <= 0 {
		limit = MaxRequestRecords
	}
	if len(l.records) < limit {
		l.records = append(l.records, r)
		return
	}
	l.records[l.next] = r
	l.next = (l.next + 1) % limit
}

// all returns a copy of the records, oldest first.
func (l *requestLog) all() []RequestRecord {
	out := make([]RequestRecord, 0, len(l.records))
	out = append(out, l.records[l.next:]...)
	return append(out, l.records[:l.next]...)
}

func (s *Sandbox) recordRequest(r RequestRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests.add(r)
}

// Requests returns the log of MX API requests, in the order they were
// answered, oldest first: at most the last MaxRequestRecords of them since
// the sandbox was created or ResetRequests or Reset was called.
func (s *Sandbox) Requests() []RequestRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests.all()
}

// ResetRequests empties the request log.
func (s *Sandbox) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests.reset()
}

// statusWriter remembers the status a handler answered with (0: none).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (to drop it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
