package txsync

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	mxv1alpha1 "github.com/mxoperator/mx-operator/api/v1alpha1"
)

// Defaults of a SenderConfig.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultMinBackoff = 200 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
	DefaultBudget     = 30 * time.Second
)

// Mode is how a Sender puts events on the wire (the CloudEvents HTTP binding); its values are
// those of spec.sink.mode.
type Mode = mxv1alpha1.SinkMode

const (
	// ModeStructured sends one event per request, application/cloudevents+json.
	ModeStructured = mxv1alpha1.SinkModeStructured
	// ModeBatched sends several events per request, application/cloudevents-batch+json, which
	// the sink acknowledges or refuses whole.
	ModeBatched = mxv1alpha1.SinkModeBatched
)

// SenderConfig is how to reach one sink.
type SenderConfig struct {
	// URL is the sink.
	URL string
	// Mode is how Deliver sends: ModeStructured (the default when empty) or ModeBatched.
	Mode Mode
	// Authorization is the Authorization header value ("Bearer …", "Basic …"), or empty.
	Authorization string
	// RootCAs verifies the sink's certificate instead of the system roots when set.
	RootCAs *x509.CertPool
	// Timeout bounds one request; DefaultTimeout when zero.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the jittered, doubling wait between attempts.
	MinBackoff, MaxBackoff time.Duration
	// Budget is the longest a Sender waits between attempts in total (across all its events):
	// beyond it Send returns the last *SinkError so the caller can requeue.
	Budget time.Duration
}

// BearerAuth is the Authorization header value of a bearer token.
func BearerAuth(token string) string { return "Bearer " + token }

// BasicAuth is the Authorization header value of HTTP Basic credentials (RFC 7617).
func BasicAuth(username, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(username+":"+password))
}

// SinkError is a sink that did not acknowledge an event. It never carries the answer's body.
type SinkError struct {
	// StatusCode is the sink's answer; 0 when there was none (timeout, connection refused).
	StatusCode int
	// RetryAfter is the sink's Retry-After (429, 503), or zero.
	RetryAfter time.Duration
	// Err is the transport error when there was no answer.
	Err error
}

// Rejected reports whether the sink refused the event for good: a 4xx other than 429 (and
// other than 408 Request Timeout).
func (e *SinkError) Rejected() bool {
	return e.StatusCode >= 400 && e.StatusCode < 500 && e.StatusCode != http.StatusTooManyRequests && e.StatusCode != http.StatusRequestTimeout
}

func (e *SinkError) Error() string {
	if e.StatusCode == 0 {
		return fmt.Sprintf("the sink did not answer: %v", e.Err)
	}
	return fmt.Sprintf("the sink answered %s", StatusText(e.StatusCode))
}

func (e *SinkError) Unwrap() error { return e.Err }

// StatusText renders a status code as "503 Service Unavailable".
func StatusText(code int) string { return fmt.Sprintf("%d %s", code, http.StatusText(code)) }

// Sender sends events to one sink, one at a time, retrying 429, 5xx and failures to answer.
// Create one per reconcile with NewSender and Close it afterwards; its retry budget is spent
// across every event it sends.
type Sender struct {
	cfg       SenderConfig
	client    *http.Client
	transport *http.Transport
	waited    time.Duration
	// Test seams.
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(d time.Duration) time.Duration
}

// NewSender returns a Sender for cfg with its defaults applied.
func NewSender(cfg SenderConfig) *Sender {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeStructured
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.RootCAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return &Sender{
		cfg: cfg, transport: tr,
		client: &http.Client{Transport: tr, Timeout: cfg.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		sleep:  sleepContext,
		jitter: func(d time.Duration) time.Duration { return d/2 + time.Duration(rand.Int64N(int64(d/2)+1)) },
	}
}

// Close releases the Sender's idle connections.
func (s *Sender) Close() { s.transport.CloseIdleConnections() }

// Mode is how Deliver sends through s.
func (s *Sender) Mode() Mode { return s.cfg.Mode }

// Send POSTs e in structured mode until the sink acknowledges it with a 2xx. A 4xx other than
// 429 is returned at once (SinkError.Rejected); a 429, a 5xx or no answer is retried with a
// jittered, doubling backoff that honours Retry-After, while the Sender's budget lasts. A
// cancelled ctx is returned as ctx.Err().
func (s *Sender) Send(ctx context.Context, e *event.Event) error {
	body, err := encode(ctx, e, s.cfg.URL)
	if err != nil {
		return err
	}
	return s.post(ctx, body)
}

// SendBatch POSTs events as one application/cloudevents-batch+json request (the SDK's JSON
// batch format), acknowledged, retried and rejected as a whole exactly as Send does for one.
func (s *Sender) SendBatch(ctx context.Context, events []event.Event) error {
	req, err := cehttp.NewHTTPRequestFromEvents(ctx, s.cfg.URL, events)
	if err != nil {
		return fmt.Errorf("encoding a batch of %d events: %w", len(events), err)
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return err
	}
	return s.post(ctx, encoded{header: req.Header, body: b})
}

// post sends body until it is acknowledged, rejected, or the budget is spent (Send).
func (s *Sender) post(ctx context.Context, body encoded) error {
	backoff := s.cfg.MinBackoff
	for {
		serr := s.attempt(ctx, body)
		if serr == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if serr.Rejected() {
			return serr
		}
		wait := s.jitter(backoff)
		if serr.RetryAfter > 0 {
			wait = serr.RetryAfter
		}
		if s.waited+wait > s.cfg.Budget {
			return serr
		}
		s.waited += wait
		if err := s.sleep(ctx, wait); err != nil {
			return err
		}
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
}

// encoded is a request body with its headers, encoded once per event.
type encoded struct {
	header http.Header
	body   []byte
}

func encode(ctx context.Context, e *event.Event, url string) (encoded, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return encoded{}, fmt.Errorf("building the request to the sink: %w", err)
	}
	if err := cehttp.WriteRequest(binding.WithForceStructured(ctx), binding.ToMessage(e), req); err != nil {
		return encoded{}, fmt.Errorf("encoding event %s: %w", e.ID(), err)
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return encoded{}, err
	}
	return encoded{header: req.Header, body: b}, nil
}

// attempt sends body once; nil means acknowledged.
func (s *Sender) attempt(ctx context.Context, enc encoded) *SinkError {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(enc.body))
	if err != nil {
		return &SinkError{Err: err}
	}
	req.Header = enc.header.Clone()
	if s.cfg.Authorization != "" {
		req.Header.Set("Authorization", s.cfg.Authorization)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // the *url.Error's cause, without repeating the URL
		}
		return &SinkError{Err: err}
	}
	// The body is drained (bounded) so the connection is reused, and never kept.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return &SinkError{StatusCode: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
