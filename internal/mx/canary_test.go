package mx

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
)

// Canaries: distinctive secrets with characters that JSON escapes, so that
// echoed request bodies hold them in escaped form too.
const (
	canaryPassword = `CANARY-PASSWORD-<"7f3a>`
	canaryAnswer   = `CANARY-ANSWER-&91bc`
	canaryAPIKey   = `CANARY-APIKEY-c0de`
	// canaryWidgetURL comes the other way: MX answers it, and it is a
	// bearer secret too.
	canaryWidgetURL = `https://int-widgets.moneydesktop.com/md/connect/CANARY-WIDGET-9d2e?s=<&>`
	canaryMarker    = "CANARY"
)

// canaryOK is every success body: each operation finds its object in it.
const canaryOK = `{"member":{"guid":"MBR-1"},"user":{"guid":"USR-1"},` +
	`"widget_url":{"type":"connect_widget","url":"` + canaryWidgetURL + `","user_id":"u-1"}}`

// canaryServer behaves per mode and echoes whatever it received (body and
// Authorization header) into its error responses, like a careless server
// might. It records whether the secrets reached it.
type canaryServer struct {
	mode string
	mu   sync.Mutex
	hits int
	seen string
}

func (s *canaryServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	echo := string(body) + " auth=" + r.Header.Get("Authorization")
	s.mu.Lock()
	s.hits++
	hit := s.hits
	s.seen += echo + "\n"
	s.mu.Unlock()
	quoted, _ := json.Marshal(echo)
	switch s.mode {
	case "success":
		writeJSON(w, 202, canaryOK)
	case "4xx json echo":
		writeJSON(w, 400, `{"error":{"message":`+string(quoted)+`}}`)
	case "4xx flat echo":
		writeJSON(w, 409, `{"error":`+string(quoted)+`}`)
	case "4xx raw echo":
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(422)
		_, _ = io.WriteString(w, "could not process: "+echo)
	case "5xx echo":
		writeJSON(w, 500, `{"error":{"message":`+string(quoted)+`}}`)
	case "429 echo then success":
		if hit == 1 {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, 429, `{"error":`+string(quoted)+`}`)
			return
		}
		writeJSON(w, 202, canaryOK)
	case "503 echo then success":
		if hit == 1 {
			writeJSON(w, 503, `{"error":`+string(quoted)+`}`)
			return
		}
		writeJSON(w, 200, canaryOK)
	case "undecodable 2xx echo":
		writeJSON(w, 200, `{"member":`+string(quoted)+`,"user":`+string(quoted)+`,"widget_url":`+string(quoted)+`}`)
	case "2xx cut after the widget URL":
		writeJSON(w, 200, canaryOK[:strings.Index(canaryOK, canaryWidgetURL)+len(canaryWidgetURL)+1])
	case "dropped connection":
		dropConnection(w)
	default:
		panic("unknown mode " + s.mode)
	}
}

func (s *canaryServer) received() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen
}

// TestCanaryNeverLeaks feeds a canary password, MFA answer and API key
// through every path (success, 4xx, 5xx, 429 retry, 5xx retry, undecodable
// response, dropped connection, connection refused) with a log sink that
// captures every line at every verbosity, and proves the canaries reach the
// server but appear in no log line, no error string and no Observer call.
// A canary Connect widget URL in every success answer proves the same of
// the URL MX answers, and of the WidgetURL holding it.
func TestCanaryNeverLeaks(t *testing.T) {
	creds := []CredentialValue{{GUID: "CRD-1", Value: "mxuser"}, {GUID: "CRD-2", Value: canaryPassword}}
	answers := []ChallengeAnswer{{GUID: "CRD-9", Value: canaryAnswer}}
	var widgets []WidgetURL
	ops := []struct {
		name       string
		idempotent bool
		secrets    []string // what the server must have received
		invoke     func(context.Context, *Client) error
	}{
		{"create member", false, []string{"CANARY-PASSWORD"}, func(ctx context.Context, c *Client) error {
			_, _, err := c.CreateMember(ctx, "USR-1", CreateMemberRequest{InstitutionCode: "mxbank", ID: "m-1", Credentials: creds})
			return err
		}},
		{"update member", true, []string{"CANARY-PASSWORD"}, func(ctx context.Context, c *Client) error {
			_, err := c.UpdateMember(ctx, "USR-1", "MBR-1", UpdateMemberRequest{Credentials: creds})
			return err
		}},
		{"resume", false, []string{"CANARY-ANSWER"}, func(ctx context.Context, c *Client) error {
			_, err := c.ResumeMember(ctx, "USR-1", "MBR-1", answers)
			return err
		}},
		{"create user", false, nil, func(ctx context.Context, c *Client) error {
			_, err := c.CreateUser(ctx, CreateUserRequest{ID: "u-1"})
			return err
		}},
		{"read member", true, nil, func(ctx context.Context, c *Client) error {
			_, err := c.GetMember(ctx, "USR-1", "MBR-1")
			return err
		}},
		// Minting a second URL is harmless: retried like an idempotent call.
		{"create widget URL", true, nil, func(ctx context.Context, c *Client) error {
			w, err := c.CreateConnectWidgetURL(ctx, "USR-1", ConnectWidgetOptions{InstitutionCode: "mxbank", ClientRedirectURL: "https://app.example/done"})
			if w != nil {
				widgets = append(widgets, *w)
			}
			return err
		}},
	}
	modes := []string{
		"success", "4xx json echo", "4xx flat echo", "4xx raw echo", "5xx echo",
		"429 echo then success", "503 echo then success", "undecodable 2xx echo",
		"2xx cut after the widget URL", "dropped connection", "connection refused",
	}

	var mu sync.Mutex
	var lines []string
	logger := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 10})
	ctx := logr.NewContext(context.Background(), logger)

	var outputs []string
	for _, mode := range modes {
		for _, op := range ops {
			t.Run(mode+"/"+op.name, func(t *testing.T) {
				g := NewWithT(t)
				srv := &canaryServer{mode: mode}
				base := closedAddr(t)
				if mode != "connection refused" {
					base = newServer(t, srv).URL
				}
				obs := &attemptObserver{}
				c, _ := newTestClient(t, base, func(c *Config) {
					c.APIKey = canaryAPIKey
					c.Observer = obs
				})

				err := op.invoke(ctx, c)
				outputs = append(outputs, fmt.Sprintf("%+v", obs.all()))

				if mode == "connection refused" {
					g.Expect(IsRetryable(err)).To(BeTrue())
				} else {
					got := srv.received()
					g.Expect(got).NotTo(BeEmpty())
					for _, s := range op.secrets {
						g.Expect(got).To(ContainSubstring(s), "the canary reached the server, so the test can fail")
					}
					g.Expect(got).To(ContainSubstring("auth=Basic "+base64.StdEncoding.EncodeToString([]byte(testClientID+":"+canaryAPIKey))), "the API key was sent")
				}
				succeeds := mode == "success" || mode == "429 echo then success" || (mode == "503 echo then success" && op.idempotent)
				if succeeds {
					g.Expect(err).NotTo(HaveOccurred())
				} else {
					g.Expect(err).To(HaveOccurred())
				}
				if err != nil {
					outputs = append(outputs,
						err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), fmt.Sprintf("%s", err))
				}
			})
		}
	}

	// The request types themselves, under every verb and encoding.
	reqs := []any{
		CreateMemberRequest{InstitutionCode: "mxbank", Credentials: creds},
		&CreateMemberRequest{InstitutionCode: "mxbank", Credentials: creds},
		UpdateMemberRequest{Credentials: creds},
		creds, answers, creds[1], answers[0], &answers[0],
	}
	for _, r := range reqs {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			outputs = append(outputs, fmt.Sprintf(verb, r))
		}
		b, err := json.Marshal(r)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		outputs = append(outputs, string(b))
	}
	text, _ := creds[1].MarshalText()
	outputs = append(outputs, string(text))
	logger.Info("Logging the request values", "creds", creds, "answer", answers[0], "req", CreateMemberRequest{Credentials: creds})

	// The widget URLs the client returned, under every verb, encoding and
	// logger.
	NewWithT(t).Expect(widgets).NotTo(BeEmpty())
	for _, w := range widgets {
		NewWithT(t).Expect(w.URL).To(Equal(canaryWidgetURL), "the canary reached the caller, so the test can fail")
	}
	w := widgets[0]
	for _, v := range []any{w, &w, widgets, struct{ W WidgetURL }{w}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			outputs = append(outputs, fmt.Sprintf(verb, v))
		}
		b, err := json.Marshal(v)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		outputs = append(outputs, string(b))
	}
	text, _ = w.MarshalText()
	outputs = append(outputs, string(text), w.String(), w.GoString())
	logger.Info("Logging the widget URL", "widget", w, "widgetPtr", &w)
	var slogged bytes.Buffer
	slog.New(slog.NewTextHandler(&slogged, nil)).Info("Logging the widget URL", "widget", w, "widgetPtr", &w)
	slog.New(slog.NewJSONHandler(&slogged, nil)).Info("Logging the widget URL", "widget", w, "widgetPtr", &w)
	outputs = append(outputs, slogged.String())
	NewWithT(t).Expect(slogged.String()).To(ContainSubstring("connect_widget"), "slog logged the value")

	g := NewWithT(t)
	mu.Lock()
	defer mu.Unlock()
	g.Expect(lines).NotTo(BeEmpty(), "the sink captured the client's log lines")
	g.Expect(strings.Join(lines, "\n")).To(ContainSubstring(`"endpoint"="POST /users/{user}/members"`))
	for _, line := range lines {
		g.Expect(line).NotTo(ContainSubstring(canaryMarker), "log line")
	}
	g.Expect(outputs).NotTo(BeEmpty())
	for _, out := range outputs {
		g.Expect(out).NotTo(ContainSubstring(canaryMarker), "error or formatted value")
	}
	g.Expect(strings.Join(outputs, "\n")).To(ContainSubstring(redacted), "echoes were redacted, not dropped")
}
