package webhook

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
)

type recorded struct {
	mu sync.Mutex
	ns []Notification
}

func (r *recorded) notify(_ context.Context, n Notification) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ns = append(r.ns, n)
}

func (r *recorded) all() []Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Notification{}, r.ns...)
}

func TestReceiver(t *testing.T) {
	cases := []struct {
		reason   string
		method   string
		user     string
		password string
		body     string
		code     int
		want     []Notification
	}{
		{
			reason: "a CONNECTION_STATUS webhook names the member",
			method: http.MethodPost, user: "mx", password: "secret",
			body: `{"action":"CHANGED","type":"CONNECTION_STATUS","connection_status":"CHALLENGED","connection_status_id":3,"member_guid":"MBR-1","user_guid":"USR-1"}`,
			code: http.StatusNoContent,
			want: []Notification{{Type: "CONNECTION_STATUS", MemberGUID: "MBR-1", UserGUID: "USR-1", ConnectionStatus: "CHALLENGED"}},
		},
		{
			reason: "an AGGREGATION webhook names the member",
			method: http.MethodPost, user: "mx", password: "secret",
			body: `{"action":"member_data_updated","type":"AGGREGATION","member_guid":"MBR-2","user_guid":"USR-1","completed_at":1531947410}`,
			code: http.StatusNoContent,
			want: []Notification{{Type: "AGGREGATION", MemberGUID: "MBR-2", UserGUID: "USR-1"}},
		},
		{
			reason: "a member payload carries the member's own guid",
			method: http.MethodPost, user: "mx", password: "secret",
			body: `{"guid":"MBR-3","user_guid":"USR-1","connection_status":6}`,
			code: http.StatusNoContent,
			want: []Notification{{MemberGUID: "MBR-3", UserGUID: "USR-1"}},
		},
		{
			reason: "a payload about no member is accepted and ignored, so MX does not retry it",
			method: http.MethodPost, user: "mx", password: "secret",
			body: `{"type":"SOMETHING_ELSE","guid":"USR-1"}`,
			code: http.StatusNoContent,
		},
		{
			reason: "a wrong password is refused",
			method: http.MethodPost, user: "mx", password: "guess",
			body: `{"member_guid":"MBR-1"}`,
			code: http.StatusUnauthorized,
		},
		{
			reason: "no credentials are refused",
			method: http.MethodPost,
			body:   `{"member_guid":"MBR-1"}`,
			code:   http.StatusUnauthorized,
		},
		{
			reason: "only POST is accepted",
			method: http.MethodGet, user: "mx", password: "secret",
			code: http.StatusMethodNotAllowed,
		},
		{
			reason: "a body that is not JSON is a bad request",
			method: http.MethodPost, user: "mx", password: "secret",
			body: `member_guid=MBR-1`,
			code: http.StatusBadRequest,
		},
		{
			reason: "an oversized body is refused",
			method: http.MethodPost, user: "mx", password: "secret",
			body: `{"member_guid":"` + strings.Repeat("x", maxBody) + `"}`,
			code: http.StatusRequestEntityTooLarge,
		},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			g := NewWithT(t)
			rec := &recorded{}
			r, err := NewReceiver("mx", "secret", rec.notify, logr.Discard())
			g.Expect(err).NotTo(HaveOccurred())
			req := httptest.NewRequest(tc.method, Path, strings.NewReader(tc.body))
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.password)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			g.Expect(w.Code).To(Equal(tc.code))
			if tc.want == nil {
				g.Expect(rec.all()).To(BeEmpty())
				return
			}
			g.Expect(rec.all()).To(Equal(tc.want))
		})
	}
}

func TestNewReceiverNeedsCredentials(t *testing.T) {
	g := NewWithT(t)
	_, err := NewReceiver("", "secret", func(context.Context, Notification) {}, logr.Discard())
	g.Expect(err).To(HaveOccurred())
	_, err = NewReceiver("mx", "", func(context.Context, Notification) {}, logr.Discard())
	g.Expect(err).To(HaveOccurred())
	_, err = NewReceiver("mx", "secret", nil, logr.Discard())
	g.Expect(err).To(HaveOccurred())
}

func TestServerServesPathAndStops(t *testing.T) {
	g := NewWithT(t)
	rec := &recorded{}
	r, err := NewReceiver("mx", "secret", rec.notify, logr.Discard())
	g.Expect(err).NotTo(HaveOccurred())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{Listener: ln, Receiver: r}).Start(ctx) }()

	req, err := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+Path, strings.NewReader(`{"member_guid":"MBR-9"}`))
	g.Expect(err).NotTo(HaveOccurred())
	req.SetBasicAuth("mx", "secret")
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusNoContent))
	g.Expect(rec.all()).To(Equal([]Notification{{MemberGUID: "MBR-9"}}))

	cancel()
	g.Eventually(done, 5*time.Second).Should(Receive(BeNil()), "a graceful stop")
	g.Expect((&Server{}).NeedLeaderElection()).To(BeTrue())
}
