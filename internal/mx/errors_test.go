package mx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// TestClassify proves the single classification: by status code and Go
// type, through wrapping, never by message text.
func TestClassify(t *testing.T) {
	apiErr := func(code int, msg string) error {
		return &APIError{StatusCode: code, Endpoint: "GET /users/{user}", Message: msg}
	}
	tests := []struct {
		reason string
		err    error
		want   ErrorClass
	}{
		{"nil is no error", nil, ClassNone},
		{"400 bad request is terminal", apiErr(400, ""), ClassTerminal},
		{"401 bad credentials needs an operator", apiErr(401, ""), ClassUnauthorized},
		{"403 IP not whitelisted needs an operator", apiErr(403, ""), ClassUnauthorized},
		{"404 unknown guid", apiErr(404, ""), ClassNotFound},
		{"405 resume on a member not CHALLENGED is terminal", apiErr(405, ""), ClassTerminal},
		{"406 bad Accept is terminal", apiErr(406, ""), ClassTerminal},
		{"408 request timeout is retryable", apiErr(408, ""), ClassRetryable},
		{"409 duplicate or other job running", apiErr(409, ""), ClassConflict},
		{"422 unprocessable is terminal", apiErr(422, ""), ClassTerminal},
		{"429 rate limited", apiErr(429, ""), ClassRateLimited},
		{"500 server error", apiErr(500, ""), ClassRetryable},
		{"502 bad gateway", apiErr(502, ""), ClassRetryable},
		{"503 maintenance", apiErr(503, ""), ClassRetryable},
		{"504 gateway timeout", apiErr(504, ""), ClassRetryable},
		{"a 3xx the client did not follow is terminal", apiErr(302, ""), ClassTerminal},
		{"the message text is ignored: 500 saying not found", apiErr(500, "member not found"), ClassRetryable},
		{"the message text is ignored: 404 saying try again", apiErr(404, "rate limited, try again"), ClassNotFound},
		{"wrapping is seen through", fmt.Errorf("creating member %q: %w", "m-1", apiErr(409, "")), ClassConflict},
		{"network errors are retryable", &NetworkError{Endpoint: "GET /users", Err: errors.New("connection reset")}, ClassRetryable},
		{"an undecodable 2xx is an unknown outcome, retryable", &DecodeError{Endpoint: "GET /users", StatusCode: 200, Err: errors.New("bad")}, ClassRetryable},
		{"a wrapped ErrUndecodableResponse is retryable", fmt.Errorf("x: %w", ErrUndecodableResponse), ClassRetryable},
		{"a refusal while cooling down after a 429 is rate limited", &CoolingDownError{Endpoint: "GET /users", Cause: CauseRateLimited, RetryAfter: time.Second}, ClassRateLimited},
		{"a refusal while cooling down after 5xx is retryable", fmt.Errorf("x: %w", &CoolingDownError{Endpoint: "GET /users", Cause: CauseUnavailable, RetryAfter: time.Second}), ClassRetryable},
		{"a call cut short by a cool-down keeps the class of its own error", &CoolingDownError{Cause: CauseRateLimited, RetryAfter: time.Second, Err: apiErr(500, "")}, ClassRetryable},
		{"Find* without a match is not found", fmt.Errorf("user: %w", ErrNotFound), ClassNotFound},
		{"invalid requests are terminal", fmt.Errorf("x: %w", ErrInvalidRequest), ClassTerminal},
		{"a bare context cancellation is retryable", context.Canceled, ClassRetryable},
		{"a bare deadline is retryable", fmt.Errorf("x: %w", context.DeadlineExceeded), ClassRetryable},
		{"an unknown error is terminal", errors.New("something else"), ClassTerminal},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(Classify(tt.err)).To(Equal(tt.want), tt.reason)
			g.Expect(IsNotFound(tt.err)).To(Equal(tt.want == ClassNotFound))
			g.Expect(IsConflict(tt.err)).To(Equal(tt.want == ClassConflict))
			g.Expect(IsRateLimited(tt.err)).To(Equal(tt.want == ClassRateLimited))
			g.Expect(IsUnauthorized(tt.err)).To(Equal(tt.want == ClassUnauthorized))
			g.Expect(IsRetryable(tt.err)).To(Equal(tt.want == ClassRetryable))
			g.Expect(IsTerminal(tt.err)).To(Equal(tt.want == ClassTerminal))
		})
	}
}

// TestRetryAfterOfErrors proves what RetryAfter reads: the time left in a
// cool-down (preferred over the Retry-After of the APIError it wraps, since
// the cool-down is what the client will enforce), or the server's
// Retry-After, through wrapping.
func TestRetryAfterOfErrors(t *testing.T) {
	tests := []struct {
		reason string
		err    error
		want   time.Duration
		wantOK bool
	}{
		{"a 429 with Retry-After", &APIError{StatusCode: 429, RetryAfter: 5 * time.Second}, 5 * time.Second, true},
		{"a 429 without Retry-After", &APIError{StatusCode: 429}, 0, false},
		{"a refusal gives the cool-down left", fmt.Errorf("x: %w", &CoolingDownError{Cause: CauseRateLimited, RetryAfter: 1500 * time.Millisecond}), 1500 * time.Millisecond, true},
		{"a cut-short call gives the cool-down left, not the wrapped Retry-After", &CoolingDownError{Cause: CauseRateLimited, RetryAfter: 7 * time.Second, Err: &APIError{StatusCode: 429, RetryAfter: 2 * time.Second}}, 7 * time.Second, true},
		{"other errors have none", errors.New("x"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			d, ok := RetryAfter(tt.err)
			g.Expect(ok).To(Equal(tt.wantOK), tt.reason)
			g.Expect(d).To(Equal(tt.want))
		})
	}
}

// TestAPIErrorsOverHTTP proves how error responses become *APIError: the
// status, the endpoint template, and MX's message decoded defensively.
func TestAPIErrorsOverHTTP(t *testing.T) {
	long := strings.Repeat("x", 1000)
	tests := []struct {
		reason      string
		status      int
		body        string
		wantClass   ErrorClass
		wantMessage string
	}{
		{"nested {error:{message}} is MX's documented shape", 404, `{"error":{"message":"Member not found."}}`, ClassNotFound, "Member not found."},
		{"flat {error:string} is tolerated", 409, `{"error":"Member already exists."}`, ClassConflict, "Member already exists."},
		{"a bare {message} is tolerated", 422, `{"message":"Cannot process."}`, ClassTerminal, "Cannot process."},
		{"raw text is kept", 503, "Service Unavailable\n\n  maintenance", ClassRetryable, "Service Unavailable maintenance"},
		{"raw text is truncated", 400, long, ClassTerminal, strings.Repeat("x", maxMessageLen) + "…"},
		{"an empty body gives an empty message", 401, "", ClassUnauthorized, ""},
		{"JSON without a message falls back to the raw text", 403, `{"status":"forbidden"}`, ClassUnauthorized, `{"status":"forbidden"}`},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			c, _ := newTestClient(t, srv.URL, func(c *Config) { c.MaxRetries = -1 })

			_, err := c.GetMember(context.Background(), "USR-1", "MBR-1")

			apiErr, ok := errors.AsType[*APIError](err)
			g.Expect(ok).To(BeTrue(), "an *APIError")
			g.Expect(apiErr.StatusCode).To(Equal(tt.status))
			g.Expect(apiErr.Endpoint).To(Equal("GET /users/{user}/members/{member}"))
			g.Expect(apiErr.Message).To(Equal(tt.wantMessage), tt.reason)
			g.Expect(Classify(err)).To(Equal(tt.wantClass))
			g.Expect(err.Error()).To(HavePrefix(fmt.Sprintf("mx: GET /users/{user}/members/{member}: %d ", tt.status)))
		})
	}
}

// TestDecodeErrors proves that a 2xx body that does not have the expected
// shape is a *DecodeError naming the endpoint, matching
// ErrUndecodableResponse and retryable (an unknown outcome, not the
// caller's fault), and is not retried inside the client.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		reason string
		body   string
	}{
		{"not JSON (a proxy's HTML page)", "<html>hello</html>"},
		{"the wrapper object is missing", `{"user":{"guid":"USR-1"}}`},
		{"the wrapper is null", `{"member":null}`},
		{"a field has an impossible type", `{"member":{"guid":["MBR-1"]}}`},
		{"trailing garbage after the object", `{"member":{"guid":"MBR-1"}}` + "trailing"},
		{"a job guid that is an object", `{"member":{"guid":"MBR-1","most_recent_job_guid":{"guid":"JOB-1"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			fake := &recordingServer{replies: []reply{{200, tt.body}}}
			c, _ := newTestClient(t, newServer(t, fake).URL)

			_, err := c.GetMember(context.Background(), "USR-1", "MBR-1")

			decErr, ok := errors.AsType[*DecodeError](err)
			g.Expect(ok).To(BeTrue(), tt.reason)
			g.Expect(decErr.Endpoint).To(Equal("GET /users/{user}/members/{member}"))
			g.Expect(err).To(MatchError(ErrUndecodableResponse))
			g.Expect(IsRetryable(err)).To(BeTrue())
			g.Expect(fake.recorded()).To(HaveLen(1), "a decode error is not retried")
		})
	}
}

// TestUndecodable2xxIsUnknownOutcome proves over real HTTP that a 2xx whose
// body cannot be decoded is reported as an unknown outcome: a create member
// answered 201 with truncated JSON (the member may exist) and a status read
// answered 200 with a body that is not the expected shape are both
// *DecodeError with the status MX sent, match ErrUndecodableResponse, are
// ClassRetryable and never terminal, and are sent once.
func TestUndecodable2xxIsUnknownOutcome(t *testing.T) {
	tests := []struct {
		reason       string
		status       int
		body         string
		invoke       func(context.Context, *Client) error
		wantEndpoint string
	}{
		{
			reason: "a create member answered 201 with a truncated body may have created the member",
			status: http.StatusCreated,
			body:   `{"member":{"guid":"MBR-1","id":"m-1","connection_st`,
			invoke: func(ctx context.Context, c *Client) error {
				_, _, err := c.CreateMember(ctx, "USR-1", CreateMemberRequest{InstitutionCode: "mxbank", ID: "m-1", Credentials: []CredentialValue{{GUID: "CRD-1", Value: "pw"}}})
				return err
			},
			wantEndpoint: "POST /users/{user}/members",
		},
		{
			reason: "a status read answered 200 with a bad body",
			status: http.StatusOK,
			body:   `{"member":{"connection_status":{"not":"a status"}}}`,
			invoke: func(ctx context.Context, c *Client) error {
				_, err := c.GetMemberStatus(ctx, "USR-1", "MBR-1")
				return err
			},
			wantEndpoint: "GET /users/{user}/members/{member}/status",
		},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			g := NewWithT(t)
			fake := &recordingServer{replies: []reply{{tt.status, tt.body}}}
			c, _ := newTestClient(t, newServer(t, fake).URL)

			err := tt.invoke(context.Background(), c)

			decErr, ok := errors.AsType[*DecodeError](err)
			g.Expect(ok).To(BeTrue(), "a *DecodeError, got %v", err)
			g.Expect(decErr.StatusCode).To(Equal(tt.status))
			g.Expect(decErr.Endpoint).To(Equal(tt.wantEndpoint))
			g.Expect(err).To(MatchError(ErrUndecodableResponse))
			g.Expect(Classify(err)).To(Equal(ClassRetryable), tt.reason)
			g.Expect(IsTerminal(err)).To(BeFalse(), "never the caller's fault")
			g.Expect(fake.recorded()).To(HaveLen(1), "sent once; the caller resolves the outcome")
		})
	}
}

// TestTimeoutIsRetryableNetworkError proves the per-request timeout: a
// server that never answers yields a retryable *NetworkError wrapping
// context.DeadlineExceeded.
func TestTimeoutIsRetryableNetworkError(t *testing.T) {
	g := NewWithT(t)
	release := make(chan struct{})
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer close(release)
	c, _ := newTestClient(t, srv.URL, func(c *Config) {
		c.Timeout = 50 * time.Millisecond
		c.MaxRetries = -1
	})

	_, err := c.GetUser(context.Background(), "USR-1")

	netErr, ok := errors.AsType[*NetworkError](err)
	g.Expect(ok).To(BeTrue())
	g.Expect(netErr.Endpoint).To(Equal("GET /users/{user}"))
	g.Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue())
	g.Expect(IsRetryable(err)).To(BeTrue())
	g.Expect(err.Error()).NotTo(ContainSubstring(srv.URL), "the URL is not repeated; the endpoint template names the call")
}
