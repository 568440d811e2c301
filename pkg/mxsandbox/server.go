package mxsandbox

import (
	"net/http/httptest"
	"sync"
)

// DefaultClientID and DefaultAPIKey are the credentials NewServer and Start
// give a sandbox whose Options leave ClientID or APIKey empty. The code under
// test must send them as its MX client_id and api_key.
const (
	DefaultClientID = "mxsandbox-client"
	DefaultAPIKey   = "mxsandbox-api-key"
)

// Server is a Sandbox served over real HTTP on a free port of 127.0.0.1.
// Every Sandbox method (Calls, SetFault, Advance, ...) is available on it;
// URL is the MX base URL to give the code under test.
type Server struct {
	*Sandbox
	srv       *httptest.Server
	closeOnce sync.Once
}

// NewServer creates a Sandbox as NewSandbox does, with DefaultClientID and
// DefaultAPIKey for empty credentials, and serves it on 127.0.0.1 until
// Close. It returns an error when the options are invalid.
func NewServer(opts Options) (*Server, error) {
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.APIKey == "" {
		opts.APIKey = DefaultAPIKey
	}
	sb, err := NewSandbox(opts)
	if err != nil {
		return nil, err
	}
	return &Server{Sandbox: sb, srv: httptest.NewServer(sb)}, nil
}

// URL is the server's base URL, http://127.0.0.1:<port>, without a trailing
// slash: the MX base URL for the code under test (and the root of the
// control surface with Options.EnableControl).
func (s *Server) URL() string {
	return s.srv.URL
}

// Close stops the sandbox and the HTTP server: requests held by a Hold fault
// are released with a closed connection, open connections are closed, and
// Close returns once every handler has returned. It is safe to call more
// than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.ReleaseHeld()
		// Closing the sandbox first also ends any request held after the
		// release: a closed sandbox holds nothing.
		s.Sandbox.Close()
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// TB is the part of testing.TB that Start uses. *testing.T, *testing.B,
// *testing.F and Ginkgo's GinkgoT() satisfy it.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// Start serves a new sandbox for the rest of the test, as NewServer does,
// and closes it when the test and its subtests end (t.Cleanup). Invalid
// options fail the test. The sandbox's credentials are in sb.Options().
func Start(t TB, opts Options) *Server {
	t.Helper()
	s, err := NewServer(opts)
	if err != nil {
		t.Fatalf("starting the MX sandbox: %v", err)
		return nil
	}
	t.Cleanup(s.Close)
	return s
}
