// Package webhook receives MX's webhooks (MX-API.md §9) so that the operator learns about a
// member's change (an end user authorised an OAuth connection, an aggregation finished, MX needs
// the end user) without polling.
//
// MX signs nothing, so the receiver requires HTTP Basic authentication (configure the same pair
// in MX's dashboard) and should sit behind TLS at the ingress. Handling is idempotent: a
// notification only makes the operator read the member from MX, so a duplicate or replayed
// delivery costs at most one read. The receiver answers 204 at once, as MX asks; anything it
// cannot use is answered 204 too, so MX does not retry it for a day.
package webhook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
)

// Path is where the receiver serves MX's webhooks.
const Path = "/webhooks/mx"

// maxBody bounds a webhook body; MX's payloads are a few hundred bytes.
const maxBody = 64 << 10

// Notification is what the operator takes from an MX webhook.
type Notification struct {
	// Type is MX's payload type: CONNECTION_STATUS, AGGREGATION, or empty for member payloads.
	Type string
	// MemberGUID is the member the webhook is about (MBR-…).
	MemberGUID string
	// UserGUID is the member's user (USR-…), when MX sent it.
	UserGUID string
	// ConnectionStatus is the member's new connection status, for CONNECTION_STATUS payloads.
	ConnectionStatus string
}

// NotifyFunc hands a notification to the operator. It must not block.
type NotifyFunc func(ctx context.Context, n Notification)

// Receiver is the http.Handler for MX webhooks.
type Receiver struct {
	username, password [sha256.Size]byte
	notify             NotifyFunc
	log                logr.Logger
}

// NewReceiver returns a receiver that accepts webhooks carrying HTTP Basic username and password
// and hands each to notify. Both username and password are required.
func NewReceiver(username, password string, notify NotifyFunc, log logr.Logger) (*Receiver, error) {
	if username == "" || password == "" {
		return nil, errors.New("webhook: a username and a password are required")
	}
	if notify == nil {
		return nil, errors.New("webhook: a notify function is required")
	}
	return &Receiver{
		username: sha256.Sum256([]byte(username)),
		password: sha256.Sum256([]byte(password)),
		notify:   notify,
		log:      log,
	}, nil
}

// payload holds the fields of MX's webhook payloads the operator uses. Member payloads carry the
// member's own fields, so their guid is the member's.
type payload struct {
	Type             string `json:"type"`
	MemberGUID       string `json:"member_guid"`
	GUID             string `json:"guid"`
	UserGUID         string `json:"user_guid"`
	ConnectionStatus any    `json:"connection_status"`
}

// ServeHTTP authenticates the request, decodes the payload, hands it to the operator and answers
// 204. It answers 405 to anything but POST, 401 without the right credentials, 413 to an
// oversized body and 400 to a body that is not JSON.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !rc.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="mx-operator webhooks"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	if len(body) > maxBody {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "body is not JSON", http.StatusBadRequest)
		return
	}
	n := Notification{Type: p.Type, MemberGUID: p.MemberGUID, UserGUID: p.UserGUID}
	if n.MemberGUID == "" && strings.HasPrefix(p.GUID, "MBR-") {
		n.MemberGUID = p.GUID
	}
	if s, ok := p.ConnectionStatus.(string); ok {
		n.ConnectionStatus = s
	}
	if n.MemberGUID != "" {
		rc.log.V(1).Info("MX webhook", "type", n.Type, "memberGUID", n.MemberGUID, "connectionStatus", n.ConnectionStatus)
		rc.notify(r.Context(), n)
	}
	w.WriteHeader(http.StatusNoContent)
}

// authorized compares the Basic credentials in constant time.
func (rc *Receiver) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	u := sha256.Sum256([]byte(user))
	p := sha256.Sum256([]byte(pass))
	return subtle.ConstantTimeCompare(u[:], rc.username[:])&subtle.ConstantTimeCompare(p[:], rc.password[:]) == 1
}

// Server serves a Receiver at Path on an address, as a manager Runnable that runs on the leader
// only (the replica whose controllers consume the notifications).
type Server struct {
	// Addr is the listen address, for example ":9443".
	Addr string
	// Receiver handles the webhooks.
	Receiver *Receiver
	// Listener, when set, is used instead of listening on Addr (tests).
	Listener net.Listener
}

// Start serves until ctx ends, then shuts down gracefully.
func (s *Server) Start(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.Handle(Path, s.Receiver)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	ln := s.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.Addr); err != nil {
			return err
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// NeedLeaderElection makes the server run on the leader only.
func (s *Server) NeedLeaderElection() bool { return true }
