package mxsandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// Webhook delivery: payloads are queued under the sandbox lock (never
// blocking) and POSTed by one goroutine, first attempts in order. A failed
// delivery (error or non-2xx) is retried as MX does (MX-API.md §9: up to 12
// times over about 24 h) on the sandbox clock: the n-th retry is due
// WebhookRetryInterval·2^(n-1) after the previous attempt started, so a
// FakeClock drives retries with Advance.

const (
	// WebhookRetries is how many times a failed webhook delivery is retried.
	WebhookRetries = 12
	// DefaultWebhookRetryInterval is the sandbox time before the first retry
	// when Options.WebhookRetryInterval is zero; each later retry waits twice
	// as long, so the twelve span 4095 intervals (about 23.9 h).
	DefaultWebhookRetryInterval = 21 * time.Second
	webhookTimeout              = 5 * time.Second
)

func (s *Sandbox) queueConnectionStatusWebhook(m *member) {
	if s.hooks == nil {
		return
	}
	s.hooks.enqueue(connectionStatusWebhook{
		Action:                  "CHANGED",
		Type:                    "CONNECTION_STATUS",
		ConnectionStatus:        m.status,
		ConnectionStatusID:      statusIDs[m.status],
		ConnectionStatusMessage: statusMessage(m.status, m.inst.Name),
		MemberGUID:              m.guid,
		UserGUID:                m.user.guid,
	})
}

func (s *Sandbox) queueAggregationWebhook(m *member, at time.Time, created, updated int) {
	if s.hooks == nil {
		return
	}
	s.hooks.enqueue(aggregationWebhook{
		Action:                   "member_data_updated",
		Type:                     "AGGREGATION",
		MemberGUID:               m.guid,
		UserGUID:                 m.user.guid,
		UserID:                   strPtr(m.user.id),
		IsBackground:             m.jobBackground,
		JobGUID:                  m.jobGUID,
		CompletedAt:              at.Unix(),
		CompletedOn:              at.UTC().Format(time.DateOnly),
		TransactionsCreatedCount: created,
		TransactionsUpdatedCount: updated,
	})
}

type webhookSender struct {
	url, username, password string
	client                  *http.Client
	clock                   Clock
	interval                time.Duration

	mu      sync.Mutex
	queue   []*delivery
	retries []*delivery
	wake    chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// delivery is one payload and its delivery state.
type delivery struct {
	body []byte
	// attempts made so far, and when the next retry is due.
	attempts int
	due      time.Time
}

func newWebhookSender(opts Options, clock Clock) *webhookSender {
	ctx, cancel := context.WithCancel(context.Background())
	interval := opts.WebhookRetryInterval
	if interval <= 0 {
		interval = DefaultWebhookRetryInterval
	}
	return &webhookSender{
		url:      opts.WebhookURL,
		username: opts.WebhookUsername,
		password: opts.WebhookPassword,
		client:   &http.Client{Timeout: webhookTimeout},
		clock:    clock,
		interval: interval,
		wake:     make(chan struct{}, 1),
		ctx:      ctx,
		cancel:   cancel,
	}
}

func (w *webhookSender) start() {
	w.wg.Add(1)
	go w.run()
}

// enqueue queues a payload; it never blocks on delivery.
func (w *webhookSender) enqueue(payload any) {
	b, err := json.Marshal(payload)
	if err != nil {
		return
	}
	w.mu.Lock()
	w.queue = append(w.queue, &delivery{body: b})
	w.mu.Unlock()
	w.poke()
}

// poke makes the sender look for due deliveries (after the clock moved).
func (w *webhookSender) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// drop discards every queued payload and pending retry.
func (w *webhookSender) drop() {
	w.mu.Lock()
	w.queue = nil
	w.retries = nil
	w.mu.Unlock()
}

func (w *webhookSender) close() {
	w.cancel()
	w.wg.Wait()
}

// next returns the next delivery to attempt: the oldest first attempt, else
// the retry that has been due longest at sandbox time now.
func (w *webhookSender) next(now time.Time) (*delivery, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) > 0 {
		d := w.queue[0]
		w.queue = w.queue[1:]
		return d, true
	}
	best := -1
	for i, d := range w.retries {
		if !d.due.After(now) && (best < 0 || d.due.Before(w.retries[best].due)) {
			best = i
		}
	}
	if best < 0 {
		return nil, false
	}
	d := w.retries[best]
	w.retries = append(w.retries[:best:best], w.retries[best+1:]...)
	return d, true
}

func (w *webhookSender) run() {
	defer w.wg.Done()
	for {
		d, ok := w.next(w.clock.Now())
		if !ok {
			select {
			case <-w.ctx.Done():
				return
			case <-w.wake:
			}
			continue
		}
		w.attempt(d)
		if w.ctx.Err() != nil {
			return
		}
	}
}

// attempt POSTs d once; on failure it schedules the next retry on the
// sandbox clock, or drops d after WebhookRetries retries.
func (w *webhookSender) attempt(d *delivery) {
	started := w.clock.Now()
	if w.post(d.body) {
		return
	}
	d.attempts++
	if d.attempts > WebhookRetries {
		return
	}
	d.due = started.Add(w.interval << (d.attempts - 1))
	w.mu.Lock()
	w.retries = append(w.retries, d)
	w.mu.Unlock()
}

func (w *webhookSender) post(b []byte) bool {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, w.url, bytes.NewReader(b))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	if w.username != "" {
		req.SetBasicAuth(w.username, w.password)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}
