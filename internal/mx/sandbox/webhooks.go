package sandbox

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
// blocking) and POSTed in order by one goroutine.

const (
	webhookAttempts = 3
	webhookBackoff  = 200 * time.Millisecond
	webhookTimeout  = 5 * time.Second
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
		CompletedAt:              at.Unix(),
		TransactionsCreatedCount: created,
		TransactionsUpdatedCount: updated,
	})
}

type webhookSender struct {
	url, username, password string
	client                  *http.Client

	mu    sync.Mutex
	queue [][]byte
	wake  chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newWebhookSender(url, username, password string) *webhookSender {
	ctx, cancel := context.WithCancel(context.Background())
	return &webhookSender{
		url:      url,
		username: username,
		password: password,
		client:   &http.Client{Timeout: webhookTimeout},
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
	w.queue = append(w.queue, b)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// drop discards every queued payload.
func (w *webhookSender) drop() {
	w.mu.Lock()
	w.queue = nil
	w.mu.Unlock()
}

func (w *webhookSender) close() {
	w.cancel()
	w.wg.Wait()
}

func (w *webhookSender) next() ([]byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return nil, false
	}
	b := w.queue[0]
	w.queue = w.queue[1:]
	return b, true
}

func (w *webhookSender) run() {
	defer w.wg.Done()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.wake:
		}
		for {
			b, ok := w.next()
			if !ok {
				break
			}
			w.deliver(b)
			if w.ctx.Err() != nil {
				return
			}
		}
	}
}

// deliver POSTs one payload, retrying a few times on failure as MX does
// (with much shorter pauses); a payload that still fails is dropped.
func (w *webhookSender) deliver(b []byte) {
	for attempt := 1; attempt <= webhookAttempts; attempt++ {
		if w.post(b) {
			return
		}
		t := time.NewTimer(time.Duration(attempt) * webhookBackoff)
		select {
		case <-w.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
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
