package mx

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
)

// Wire constants (MX-API.md §1).
const (
	acceptHeader          = "application/vnd.mx.api.v1+json"
	jsonContentType       = "application/json"
	callbackPayloadHeader = "X-CALLBACK-PAYLOAD"
	// maxResponseBytes bounds a success body (a page of 1000 transactions
	// is a few MiB).
	maxResponseBytes = 64 << 20
	// maxErrorBodyBytes bounds the part of an error body that is read.
	maxErrorBodyBytes = 64 << 10
)

// Client calls the MX Platform API. It is safe for concurrent use; all its
// callers share one token bucket. Create it with [New].
type Client struct {
	// cfg has APIKey cleared; the key lives only in auth.
	cfg     Config
	limiter waiter
	// health is the client-wide view of MX's health, shared by every caller.
	health *health
	// auth returns the credentials. It is a closure so that no printing of
	// a Client through reflection (for example as a field of another struct,
	// under any verb) can reach the key: fmt prints a func as an address.
	auth func() clientAuth

	// Test seams; New sets the production implementations.
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(ceiling time.Duration) time.Duration
	now    func() time.Time
}

// clientAuth holds the credentials of a Client.
type clientAuth struct {
	// header is the Authorization header value.
	header string
	// secrets are redacted from every error message: the API key and the
	// base64 credentials of the Authorization header.
	secrets []string
}

// waiter is the part of *rate.Limiter the client uses.
type waiter interface {
	Wait(ctx context.Context) error
}

// New validates cfg, applies its defaults and returns a Client. A
// validation error names the offending field and never contains the API
// key.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	limiter := rate.NewLimiter(rate.Inf, 0)
	if cfg.QPS > 0 {
		limiter = rate.NewLimiter(rate.Limit(cfg.QPS), cfg.Burst)
	}
	basic := base64.StdEncoding.EncodeToString([]byte(cfg.ClientID + ":" + cfg.APIKey))
	creds := clientAuth{header: "Basic " + basic, secrets: []string{cfg.APIKey, basic}}
	auth := func() clientAuth { return creds }
	cfg.APIKey = ""
	c := &Client{
		cfg:     cfg,
		limiter: limiter,
		auth:    auth,
		sleep:   sleepContext,
		jitter:  fullJitter,
		now:     time.Now,
	}
	c.health = newHealth(func() time.Time { return c.now() }, cfg.FailureThreshold, cfg.CoolDownMin, cfg.CoolDownMax)
	if ho, ok := cfg.Observer.(HealthObserver); ok {
		c.health.observe = ho.ObserveCoolDown
	}
	return c, nil
}

// String describes the client without its API key.
func (c Client) String() string {
	return fmt.Sprintf("mx.Client{BaseURL:%q ClientID:%q}", c.cfg.BaseURL, c.cfg.ClientID)
}

// GoString returns the same form as String.
func (c Client) GoString() string { return c.String() }

// Format writes String for every verb, so that no fmt verb can print the
// API key through reflection.
func (c Client) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// sleepContext waits for d or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fullJitter returns a uniformly random duration in [0, ceiling].
func fullJitter(ceiling time.Duration) time.Duration {
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// route is one MX endpoint. Its endpoint string ("METHOD /template") is the
// Observer and log name, identical to the sandbox's counter keys.
type route struct {
	method   string
	template string
	// nonIdempotent routes are retried only when MX provably did not
	// process the request: on 429 and on failures to connect.
	nonIdempotent bool
}

// The routes this client calls.
var (
	routeCreateUser             = route{http.MethodPost, "/users", true}
	routeListUsers              = route{http.MethodGet, "/users", false}
	routeGetUser                = route{http.MethodGet, "/users/{user}", false}
	routeUpdateUser             = route{http.MethodPut, "/users/{user}", false}
	routeDeleteUser             = route{http.MethodDelete, "/users/{user}", false}
	routeListInstitutions       = route{http.MethodGet, "/institutions", false}
	routeGetInstitution         = route{http.MethodGet, "/institutions/{code}", false}
	routeInstitutionCredentials = route{http.MethodGet, "/institutions/{code}/credentials", false}
	routeCreateMember           = route{http.MethodPost, "/users/{user}/members", true}
	routeListMembers            = route{http.MethodGet, "/users/{user}/members", false}
	routeGetMember              = route{http.MethodGet, "/users/{user}/members/{member}", false}
	routeUpdateMember           = route{http.MethodPut, "/users/{user}/members/{member}", false}
	routeDeleteMember           = route{http.MethodDelete, "/users/{user}/members/{member}", false}
	routeMemberStatus           = route{http.MethodGet, "/users/{user}/members/{member}/status", false}
	routeAggregateMember        = route{http.MethodPost, "/users/{user}/members/{member}/aggregate", false}
	routeListChallenges         = route{http.MethodGet, "/users/{user}/members/{member}/challenges", false}
	routeResumeMember           = route{http.MethodPut, "/users/{user}/members/{member}/resume", true}
	routeOAuthWindowURI         = route{http.MethodGet, "/users/{user}/members/{member}/oauth_window_uri", false}
	routeMemberAccounts         = route{http.MethodGet, "/users/{user}/members/{member}/accounts", false}
	routeMemberTransactions     = route{http.MethodGet, "/users/{user}/members/{member}/transactions", false}
	routeAccountTransactions    = route{http.MethodGet, "/users/{user}/accounts/{account}/transactions", false}
	routeUserTransactions       = route{http.MethodGet, "/users/{user}/transactions", false}
	// routeCreateWidgetURL is a POST, but replaying it only mints a second
	// URL, which is harmless: it is retried like an idempotent route.
	routeCreateWidgetURL = route{http.MethodPost, "/users/{user}/widget_urls", false}
)

// allRoutes lists every route, in the order of MX-API.md §2, then the
// Connect widget's (§11).
var allRoutes = []route{
	routeCreateUser, routeListUsers, routeGetUser, routeUpdateUser, routeDeleteUser,
	routeListInstitutions, routeGetInstitution, routeInstitutionCredentials,
	routeCreateMember, routeListMembers, routeGetMember, routeUpdateMember, routeDeleteMember,
	routeMemberStatus, routeAggregateMember, routeListChallenges, routeResumeMember,
	routeOAuthWindowURI, routeMemberAccounts, routeMemberTransactions,
	routeAccountTransactions, routeUserTransactions, routeCreateWidgetURL,
}

// Endpoints returns the name of every endpoint the client calls, exactly as
// passed to Observer.ObserveRequest (e.g. "GET /users/{user}"), so that
// metrics can be initialised for this bounded label set.
func Endpoints() []string {
	out := make([]string, len(allRoutes))
	for i, r := range allRoutes {
		out[i] = r.endpoint()
	}
	return out
}

// endpoint returns "METHOD /template".
func (r route) endpoint() string { return r.method + " " + r.template }

// path substitutes args, path-escaped, for the template's placeholders in
// order. An empty or missing argument is an ErrInvalidRequest.
func (r route) path(args ...string) (string, error) {
	segs := strings.Split(r.template, "/")
	n := 0
	for i, s := range segs {
		if !strings.HasPrefix(s, "{") {
			continue
		}
		if n >= len(args) || args[n] == "" {
			return "", fmt.Errorf("mx: %s: empty %s: %w", r.endpoint(), s, ErrInvalidRequest)
		}
		segs[i] = url.PathEscape(args[n])
		n++
	}
	if n != len(args) {
		return "", fmt.Errorf("mx: %s: %d path arguments for %d placeholders: %w", r.endpoint(), len(args), n, ErrInvalidRequest)
	}
	return strings.Join(segs, "/"), nil
}

// call is one logical API call, which may take several HTTP attempts.
type call struct {
	route route
	args  []string
	query url.Values
	// body is JSON-encoded when not nil.
	body any
	// callbackPayload is sent base64-encoded in X-CALLBACK-PAYLOAD.
	callbackPayload []byte
	// secrets are redacted from error messages (credential values, MFA
	// answers) in addition to the client's own.
	secrets []string
}

// response is a complete 2xx response.
type response struct {
	endpoint string
	status   int
	body     []byte
	secrets  []string
}

// attemptResult is the outcome of one HTTP attempt: a complete response
// (status, body, header) or a NetworkError.
type attemptResult struct {
	status int
	body   []byte
	header http.Header
	err    error
}

// do performs cl with the client's health check, rate limiting,
// per-attempt timeouts and the retry policy, and returns the 2xx response. A
// non-2xx final response is an *APIError; a failure to get a response is a
// *NetworkError; a request refused, or a call cut short, because the client
// is cooling down is a *CoolingDownError (wrapping the call's last error, if
// it was sent).
//
// Every attempt is first admitted by c.health (refused at once, before the
// token bucket, while cooling down) and reports its outcome to it. Between
// attempts the call waits the backoff or Retry-After, or until the
// cool-down ends if that is later; a single wait longer than MaxBackoff, a
// total longer than MaxRetryWait or a wait past the caller's deadline ends
// the call instead.
func (c *Client) do(ctx context.Context, cl call) (*response, error) {
	endpoint := cl.route.endpoint()
	p, err := cl.route.path(cl.args...)
	if err != nil {
		return nil, err
	}
	target := c.cfg.BaseURL + p
	if len(cl.query) > 0 {
		target += "?" + cl.query.Encode()
	}
	var body []byte
	if cl.body != nil {
		if body, err = json.Marshal(cl.body); err != nil {
			// The wire types cannot fail to encode; do not echo err, which
			// could quote request content.
			return nil, fmt.Errorf("mx: %s: encoding the request body: %w", endpoint, ErrInvalidRequest)
		}
	}
	header := http.Header{}
	header.Set("Accept", acceptHeader)
	header.Set("Authorization", c.auth().header)
	header.Set("User-Agent", c.cfg.UserAgent)
	if body != nil {
		header.Set("Content-Type", jsonContentType)
	}
	if len(cl.callbackPayload) > 0 {
		enc := base64.StdEncoding.EncodeToString(cl.callbackPayload)
		if len(enc) > maxCallbackPayloadBytes {
			return nil, fmt.Errorf("mx: %s: callback payload encodes to %d bytes, more than %d: %w", endpoint, len(enc), maxCallbackPayloadBytes, ErrInvalidRequest)
		}
		header.Set(callbackPayloadHeader, enc)
	}
	secrets := append(append([]string(nil), cl.secrets...), c.auth().secrets...)
	log := logr.FromContextOrDiscard(ctx).V(1)

	// last is the error of the previous attempt, if any.
	var last error
	budget := c.cfg.MaxRetryWait
	for attempt := 0; ; attempt++ {
		tk, refused := c.health.admit()
		if refused != nil {
			log.Info("MX request not sent: the client is cooling down", "endpoint", endpoint, "method", cl.route.method, "cause", refused.Cause.String(), "retryAfter", refused.RetryAfter.String())
			return nil, refusal(refused, endpoint, last)
		}
		if err := c.limiter.Wait(ctx); err != nil {
			c.health.record(tk, outcomeUnknown, 0, false)
			return nil, &NetworkError{Endpoint: endpoint, Err: fmt.Errorf("waiting for the client rate limiter: %w", err)}
		}
		if tk, refused = c.health.recheck(tk); refused != nil {
			log.Info("MX request not sent: the client began cooling down", "endpoint", endpoint, "method", cl.route.method, "cause", refused.Cause.String(), "retryAfter", refused.RetryAfter.String())
			return nil, refusal(refused, endpoint, last)
		}
		res := c.attempt(ctx, cl.route.method, target, body, header, endpoint)
		log.Info("MX request", "endpoint", endpoint, "method", cl.route.method, "status", res.status, "attempt", attempt+1)

		retryAfter, hasRetryAfter := time.Duration(0), false
		if res.err == nil && (res.status == http.StatusTooManyRequests || res.status == http.StatusServiceUnavailable) {
			retryAfter, hasRetryAfter = c.parseRetryAfter(res.header.Get("Retry-After"))
		}
		o := attemptOutcome(ctx, res)
		c.health.record(tk, o, retryAfter, hasRetryAfter)
		if res.err == nil && res.status >= 200 && res.status < 300 {
			return &response{endpoint: endpoint, status: res.status, body: res.body, secrets: secrets}, nil
		}

		var final error = res.err
		if res.err == nil {
			final = &APIError{
				StatusCode: res.status,
				Endpoint:   endpoint,
				Message:    errorMessage(res.body, secrets),
				RetryAfter: retryAfter,
			}
		}
		last = final
		if attempt >= c.cfg.MaxRetries || ctx.Err() != nil || !shouldRetry(cl.route, res.status, res.err) {
			return nil, c.coolingDown(endpoint, final, o)
		}
		wait, ok := c.retryWait(attempt, retryAfter, hasRetryAfter)
		if !ok {
			return nil, c.coolingDown(endpoint, final, o)
		}
		wait = max(wait, c.health.left())
		if wait > c.cfg.MaxBackoff || wait > budget {
			return nil, c.coolingDown(endpoint, final, o)
		}
		// Deadlines are wall-clock times whatever c.now is.
		if deadline, has := ctx.Deadline(); has && wait > time.Until(deadline) {
			return nil, c.coolingDown(endpoint, final, o)
		}
		budget -= wait
		log.Info("Retrying MX request", "endpoint", endpoint, "method", cl.route.method, "status", res.status, "attempt", attempt+2)
		if err := c.sleep(ctx, wait); err != nil {
			return nil, c.coolingDown(endpoint, final, o)
		}
	}
}

// attemptOutcome is what res tells about MX's health. An attempt that ended
// because the caller's context ended tells nothing.
func attemptOutcome(ctx context.Context, res attemptResult) outcome {
	if res.err != nil {
		if _, ok := errors.AsType[*DecodeError](res.err); ok {
			return outcomeOK
		}
		if ctx.Err() != nil {
			return outcomeUnknown
		}
		return outcomeFailed
	}
	switch {
	case res.status == http.StatusTooManyRequests:
		return outcomeRateLimited
	case res.status >= 500 || res.status == http.StatusRequestTimeout:
		return outcomeFailed
	}
	return outcomeOK
}

// refusal completes a refusal from c.health with the endpoint and the
// call's last error.
func refusal(e *CoolingDownError, endpoint string, last error) *CoolingDownError {
	e.Endpoint = endpoint
	e.Err = last
	return e
}

// coolingDown returns final, the last error of a call, wrapped in a
// *CoolingDownError when it was a 429 or a failure and the client is now
// cooling down, so that the caller learns how long the cool-down lasts.
func (c *Client) coolingDown(endpoint string, final error, o outcome) error {
	if o != outcomeRateLimited && o != outcomeFailed {
		return final
	}
	e := c.health.coolingDown()
	if e == nil {
		return final
	}
	return refusal(e, endpoint, final)
}

// attempt sends one HTTP request with the per-request timeout, reads the
// whole body and reports the attempt to the Observer.
func (c *Client) attempt(ctx context.Context, method, target string, body []byte, header http.Header, endpoint string) attemptResult {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	start := c.now()
	req, err := http.NewRequestWithContext(actx, method, target, rd)
	if err != nil {
		// Only a malformed URL gets here; the URL holds no secrets.
		return attemptResult{err: &NetworkError{Endpoint: endpoint, Err: errors.New("building the request failed")}}
	}
	req.Header = header.Clone()
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		c.observe(endpoint, 0, start)
		return attemptResult{err: &NetworkError{Endpoint: endpoint, Err: unwrapURLError(err)}}
	}
	defer func() { _ = resp.Body.Close() }()
	limit := int64(maxResponseBytes)
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		limit = maxErrorBodyBytes
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	c.observe(endpoint, resp.StatusCode, start)
	if err != nil {
		return attemptResult{status: resp.StatusCode, err: &NetworkError{Endpoint: endpoint, Err: fmt.Errorf("reading the %d response: %w", resp.StatusCode, unwrapURLError(err))}}
	}
	if int64(len(data)) > limit {
		if limit == maxErrorBodyBytes {
			data = data[:limit]
		} else {
			return attemptResult{status: resp.StatusCode, err: &DecodeError{Endpoint: endpoint, StatusCode: resp.StatusCode, Err: fmt.Errorf("response body exceeds %d bytes", limit)}}
		}
	}
	return attemptResult{status: resp.StatusCode, body: data, header: resp.Header}
}

// observe reports one attempt to the Observer, if any.
func (c *Client) observe(endpoint string, code int, start time.Time) {
	if c.cfg.Observer != nil {
		c.cfg.Observer.ObserveRequest(endpoint, code, c.now().Sub(start))
	}
}

// unwrapURLError returns the cause of a *url.Error, so that error strings
// name the endpoint template rather than repeat the URL.
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// shouldRetry is the retry policy for one failed attempt on r: status is the
// response status (0 without a response) and netErr the failure to get a
// complete response.
//
//   - 429: always (MX rejected the request before processing it).
//   - Failing to connect (a dial error): always; the request never left.
//   - 5xx, 408, any other network error: only on idempotent routes; the
//     request may have been processed.
//   - Any other status: never.
func shouldRetry(r route, status int, netErr error) bool {
	if netErr != nil {
		if _, ok := errors.AsType[*DecodeError](netErr); ok {
			return false
		}
		return !r.nonIdempotent || isDialError(netErr)
	}
	switch {
	case status == http.StatusTooManyRequests:
		return true
	case status >= 500 || status == http.StatusRequestTimeout:
		return !r.nonIdempotent
	}
	return false
}

// isDialError reports whether err is a failure to open the connection, in
// which case no byte of the request was sent.
func isDialError(err error) bool {
	opErr, ok := errors.AsType[*net.OpError](err)
	return ok && opErr.Op == "dial"
}

// retryWait returns how long to wait before retry number attempt+1 and
// whether to retry at all. A Retry-After is honoured exactly when it is at
// most MaxBackoff; a longer one stops the retries, so that the caller can
// requeue (the returned *APIError carries it). Without Retry-After the wait
// is full jitter: uniform in [0, min(MaxBackoff, MinBackoff*2^attempt)].
func (c *Client) retryWait(attempt int, retryAfter time.Duration, hasRetryAfter bool) (time.Duration, bool) {
	if hasRetryAfter {
		if retryAfter > c.cfg.MaxBackoff {
			return 0, false
		}
		return retryAfter, true
	}
	ceiling := c.cfg.MaxBackoff
	if attempt < 32 {
		if d := c.cfg.MinBackoff << attempt; d > 0 && d < ceiling {
			ceiling = d
		}
	}
	return c.jitter(ceiling), true
}

// parseRetryAfter decodes a Retry-After header: delay-seconds or an
// HTTP-date (a date in the past means 0).
func (c *Client) parseRetryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(c.now()), 0), true
}

// decodeObject decodes the object under key of a single-object envelope,
// e.g. {"member":{…}}.
func decodeObject[T any](res *response, key string) (*T, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(res.body, &env); err != nil {
		return nil, res.decodeError(err)
	}
	raw, ok := env[key]
	if !ok || isJSONNull(raw) {
		return nil, res.decodeError(fmt.Errorf("no %q object", key))
	}
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, res.decodeError(err)
	}
	return v, nil
}

// decodeError wraps a decoding failure, with any secret redacted from its
// text.
func (r *response) decodeError(err error) *DecodeError {
	return &DecodeError{Endpoint: r.endpoint, StatusCode: r.status, Err: errors.New(redact(err.Error(), r.secrets))}
}

// isJSONNull reports whether raw is the JSON null literal.
func isJSONNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}
