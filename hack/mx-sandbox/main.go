// Command mx-sandbox runs the in-memory MX Platform API sandbox on a
// loopback address, for demos and manual testing. See docs/sandbox.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	sandbox "github.com/mxoperator/mx-operator/pkg/mxsandbox"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mx-sandbox:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		addr          = flag.String("addr", "127.0.0.1:8089", "loopback address to listen on (host must be 127.0.0.1; port 0 picks a free one)")
		clientID      = flag.String("client-id", "", "client_id the API requires (HTTP Basic username; required)")
		apiKey        = flag.String("api-key", "", "api_key the API requires (HTTP Basic password; required)")
		enableControl = flag.Bool("enable-control", false, "serve the /_sandbox/ control surface (no authentication: tests and demos only)")
		aggDuration   = flag.Duration("aggregation-duration", sandbox.DefaultAggregationDuration, "sandbox time one aggregation step takes")
		fakeClock     = flag.Bool("fake-clock", false, "run on a fake clock that starts now and only moves via POST /_sandbox/clock/advance")
		webhookURL    = flag.String("webhook-url", "", "URL that receives CONNECTION_STATUS and AGGREGATION webhooks")
		webhookUser   = flag.String("webhook-username", "", "HTTP Basic username for webhook delivery")
		webhookPass   = flag.String("webhook-password", "", "HTTP Basic password for webhook delivery")
		webhookRetry  = flag.Duration("webhook-retry-interval", sandbox.DefaultWebhookRetryInterval, "sandbox time before the first retry of a failed webhook (doubles for each of the 12 retries)")
		intChallenges = flag.Bool("integer-challenge-types", false, "report challenge types as MX's integer codes instead of strings")
		aggThrottle   = flag.Duration("aggregation-throttle", 0, "aggregation throttle window after a successful aggregation (0: MX's 3h; negative: none)")
		verbose       = flag.Bool("v", false, "log every request")
	)
	flag.Parse()

	if *clientID == "" || *apiKey == "" {
		return errors.New("--client-id and --api-key are required")
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("parsing --addr: %w", err)
	}
	if host != "127.0.0.1" {
		return fmt.Errorf("--addr must listen on 127.0.0.1, not %q: the sandbox has no real security", host)
	}

	opts := sandbox.Options{
		ClientID:              *clientID,
		APIKey:                *apiKey,
		AggregationDuration:   *aggDuration,
		EnableControl:         *enableControl,
		WebhookURL:            *webhookURL,
		WebhookUsername:       *webhookUser,
		WebhookPassword:       *webhookPass,
		WebhookRetryInterval:  *webhookRetry,
		IntegerChallengeTypes: *intChallenges,
		AggregationThrottle:   *aggThrottle,
	}
	if *fakeClock {
		opts.Clock = sandbox.NewFakeClock(time.Now())
	}
	sb := sandbox.New(opts)
	defer sb.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	var handler http.Handler = sb
	if *verbose {
		handler = logRequests(sb)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("MX sandbox listening on http://%s\n", ln.Addr())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests logs method, path, status and duration of every request
// (never headers or bodies: they carry credentials; nor the token of a
// Connect widget URL path, which is a bearer secret).
func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.Printf("%s %s %d %s", r.Method, sandbox.RedactPath(r.URL.Path), rec.status, time.Since(start).Round(time.Microsecond))
	})
}
