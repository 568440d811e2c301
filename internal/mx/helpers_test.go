package mx

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

const (
	testClientID = "client-id-1"
	testAPIKey   = "api-key-1"
)

// fakeClock is the client's clock in tests: it moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// sleepRecorder replaces Client.sleep: it records every wait and advances
// the fake clock by it instead of waiting, so retry tests count hits and
// computed waits, never wall time.
type sleepRecorder struct {
	clock *fakeClock
	mu    sync.Mutex
	waits []time.Duration
}

func (r *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	r.clock.Advance(d)
	return nil
}

func (r *sleepRecorder) recorded() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.waits...)
}

// attemptObserver records every ObserveRequest call.
type attemptObserver struct {
	mu    sync.Mutex
	calls []observed
}

type observed struct {
	endpoint string
	code     int
}

func (o *attemptObserver) ObserveRequest(endpoint string, code int, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, observed{endpoint, code})
}

func (o *attemptObserver) all() []observed {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]observed(nil), o.calls...)
}

// newTestClient returns a client for baseURL with tiny backoffs, a fake
// clock (starting at the wall-clock time, so that context deadlines compare
// sensibly), a recorded sleep that advances it, and the given config changes
// applied.
func newTestClient(t *testing.T, baseURL string, mutate ...func(*Config)) (*Client, *sleepRecorder) {
	t.Helper()
	cfg := Config{
		BaseURL:    baseURL,
		ClientID:   testClientID,
		APIKey:     testAPIKey,
		MinBackoff: time.Millisecond,
		MaxBackoff: 10 * time.Second,
		Timeout:    10 * time.Second,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rec := &sleepRecorder{clock: &fakeClock{t: time.Now()}}
	c.sleep = rec.sleep
	c.now = rec.clock.Now
	return c, rec
}

// newServer starts a loopback test server closed at the end of the test.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// writeJSON writes v as an MX JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/vnd.mx.api.v1+json")
	w.WriteHeader(status)
	if s, ok := v.(string); ok {
		_, _ = io.WriteString(w, s)
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

// dropConnection closes the connection without writing a response: the
// client sees the request sent and the response lost.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	_ = conn.Close()
}

// closedAddr returns a loopback URL on which nothing listens, so that
// connecting fails (a dial error).
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr
}
