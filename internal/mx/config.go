package mx

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults applied by [New] to zero-valued [Config] fields.
const (
	DefaultBaseURL    = "https://int-api.mx.com"
	DefaultTimeout    = 30 * time.Second
	DefaultMaxRetries = 2
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = time.Second
	// DefaultMaxRetryWait bounds the waiting inside one call: with the
	// defaults above, at most about 0.3 s of backoff between three attempts
	// on 5xx, or one wait of up to 1 s for a short Retry-After or cool-down.
	DefaultMaxRetryWait = time.Second
	// DefaultFailureThreshold is the number of consecutive 5xx, 408 or
	// network failures (across all callers) that starts a cool-down.
	DefaultFailureThreshold = 3
	DefaultCoolDownMin      = time.Second
	DefaultCoolDownMax      = 5 * time.Second
	DefaultUserAgent        = "mx-operator"
	// DefaultPageSize is the records_per_page used for every list except
	// institutions. It is MX's maximum for those lists.
	DefaultPageSize = 1000
)

// MX's records_per_page limits (MX-API.md §3). A value above the maximum is
// not clamped by MX: it silently falls back to 25.
const (
	minPageSize             = 10
	maxPageSize             = 1000
	institutionPageSize     = 100
	maxCallbackPayloadBytes = 1024
)

// Config configures a [Client]. The zero value of every field except ClientID
// and APIKey selects a documented default.
type Config struct {
	// BaseURL is the API root, without a trailing path such as /users.
	// Default DefaultBaseURL (MX's integration environment); production is
	// https://api.mx.com. http is accepted only so that tests and the demo can
	// talk to the loopback or in-cluster sandbox: MX itself requires https.
	BaseURL string
	// ClientID is the HTTP Basic user name. Required.
	ClientID string
	// APIKey is the HTTP Basic password. Required. It never appears in an
	// error, a log line or the String form of a Config or Client.
	APIKey string
	// Timeout bounds each HTTP attempt, including reading the response body.
	// Default DefaultTimeout. Retries get a fresh Timeout each.
	Timeout time.Duration
	// QPS is the steady request rate of the token bucket shared by every
	// caller of one Client. QPS <= 0 means unlimited.
	QPS float64
	// Burst is the token bucket size. When QPS > 0 and Burst <= 0 it defaults
	// to max(1, ceil(QPS)). Ignored when QPS <= 0.
	Burst int
	// MaxRetries is the number of retries after the first attempt, within
	// one call. Retries are meant to ride out a blip, not an outage: a call
	// never blocks its caller for long (see MaxRetryWait), and longer waits
	// belong to the caller's requeue. 0 selects DefaultMaxRetries; a negative
	// value disables retries.
	MaxRetries int
	// MinBackoff is the base of the exponential backoff (full jitter: the
	// wait before retry n is uniform in [0, min(MaxBackoff, MinBackoff*2^n)]).
	// Default DefaultMinBackoff.
	MinBackoff time.Duration
	// MaxBackoff caps the backoff and is also the longest single wait the
	// client makes in-line for a Retry-After or for the end of a cool-down;
	// a longer one ends the call at once with the error (its
	// [APIError.RetryAfter] or [CoolingDownError.RetryAfter] tells the caller
	// when to come back). Default DefaultMaxBackoff.
	MaxBackoff time.Duration
	// MaxRetryWait bounds the sum of the waits between the attempts of one
	// call; a wait that would exceed what is left ends the call with the
	// error. Must not be negative. Default DefaultMaxRetryWait.
	MaxRetryWait time.Duration
	// FailureThreshold is the number of consecutive 5xx, 408 or network
	// failures, counted over every caller of the Client, that makes the
	// client cool down (see [Client.CoolingDownUntil]); a 503 with
	// Retry-After does at once. A 429 always does, whatever this is. 0
	// selects DefaultFailureThreshold; a negative value means failures never
	// start a cool-down.
	FailureThreshold int
	// CoolDownMin and CoolDownMax bound a cool-down without Retry-After:
	// the first lasts between CoolDownMin/2 and CoolDownMin (equal jitter),
	// and each one that follows before the client recovers doubles the
	// interval, up to CoolDownMax: short, so that the client notices within
	// seconds that MX answers again (a probe every few seconds is a
	// negligible load). A Retry-After from MX is honoured as the cool-down
	// instead, up to 10 minutes. Defaults DefaultCoolDownMin and
	// DefaultCoolDownMax.
	CoolDownMin time.Duration
	CoolDownMax time.Duration
	// PageSize is the records_per_page for every list except institutions
	// (which always use 100, MX's maximum there). Must be within 10..1000.
	// Default DefaultPageSize.
	PageSize int
	// HTTPClient, when set, is used as is. Otherwise the client uses a
	// transport cloned from http.DefaultTransport that requires TLS 1.2 or
	// newer and does not follow redirects (so credentials and bodies are
	// never replayed to another location).
	HTTPClient *http.Client
	// Observer, when set, is told about every HTTP attempt, and about every
	// cool-down and recovery when it also implements [HealthObserver].
	Observer Observer
	// UserAgent is sent on every request. Default DefaultUserAgent.
	UserAgent string
}

// Observer is a metrics hook. ObserveRequest is called once per HTTP attempt
// (a retried call reports each attempt) with the route template as endpoint
// (for example "GET /users/{user}/members/{member}/status"), the HTTP status
// code (0 when no response was received) and the attempt's duration. It must
// be safe for concurrent use and must not block.
type Observer interface {
	ObserveRequest(endpoint string, code int, d time.Duration)
}

// String returns the configuration with the API key redacted.
func (c Config) String() string {
	return fmt.Sprintf("mx.Config{BaseURL:%q ClientID:%q APIKey:%s Timeout:%s QPS:%g Burst:%d MaxRetries:%d MinBackoff:%s MaxBackoff:%s MaxRetryWait:%s FailureThreshold:%d CoolDownMin:%s CoolDownMax:%s PageSize:%d UserAgent:%q}",
		c.BaseURL, c.ClientID, redacted, c.Timeout, c.QPS, c.Burst, c.MaxRetries, c.MinBackoff, c.MaxBackoff, c.MaxRetryWait, c.FailureThreshold, c.CoolDownMin, c.CoolDownMax, c.PageSize, c.UserAgent)
}

// GoString returns the same redacted form as String.
func (c Config) GoString() string { return c.String() }

// Format writes the redacted String form for every verb, so that no fmt verb
// (including %d or %x) can print the API key through reflection.
func (c Config) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// withDefaults returns cfg with defaults applied, or an error naming the first
// invalid field. The error never contains the API key.
func (c Config) withDefaults() (Config, error) {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(c.BaseURL)
	switch {
	case err != nil:
		return c, errors.New("mx: invalid config: BaseURL is not a URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return c, fmt.Errorf("mx: invalid config: BaseURL scheme %q is not http or https", u.Scheme)
	case u.Host == "":
		return c, errors.New("mx: invalid config: BaseURL has no host")
	case u.User != nil:
		return c, errors.New("mx: invalid config: BaseURL must not contain user info; use ClientID and APIKey")
	case u.RawQuery != "" || u.Fragment != "":
		return c, errors.New("mx: invalid config: BaseURL must not contain a query or fragment")
	}
	c.BaseURL = strings.TrimRight(u.String(), "/")

	if c.ClientID == "" {
		return c, errors.New("mx: invalid config: ClientID is required")
	}
	if c.APIKey == "" {
		return c, errors.New("mx: invalid config: APIKey is required")
	}
	if c.Timeout < 0 {
		return c, errors.New("mx: invalid config: Timeout must not be negative")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.QPS > 0 && c.Burst <= 0 {
		c.Burst = int(math.Max(1, math.Ceil(c.QPS)))
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.MinBackoff < 0 || c.MaxBackoff < 0 {
		return c, errors.New("mx: invalid config: MinBackoff and MaxBackoff must not be negative")
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.MinBackoff > c.MaxBackoff {
		return c, errors.New("mx: invalid config: MinBackoff exceeds MaxBackoff")
	}
	if c.MaxRetryWait < 0 {
		return c, errors.New("mx: invalid config: MaxRetryWait must not be negative")
	}
	if c.MaxRetryWait == 0 {
		c.MaxRetryWait = DefaultMaxRetryWait
	}
	if c.FailureThreshold == 0 {
		c.FailureThreshold = DefaultFailureThreshold
	}
	if c.CoolDownMin < 0 || c.CoolDownMax < 0 {
		return c, errors.New("mx: invalid config: CoolDownMin and CoolDownMax must not be negative")
	}
	if c.CoolDownMin == 0 {
		c.CoolDownMin = DefaultCoolDownMin
	}
	if c.CoolDownMax == 0 {
		c.CoolDownMax = DefaultCoolDownMax
	}
	if c.CoolDownMin > c.CoolDownMax {
		return c, errors.New("mx: invalid config: CoolDownMin exceeds CoolDownMax")
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.PageSize < minPageSize || c.PageSize > maxPageSize {
		return c, fmt.Errorf("mx: invalid config: PageSize %d is outside %d..%d (MX falls back to 25 above the maximum)", c.PageSize, minPageSize, maxPageSize)
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.HTTPClient == nil {
		c.HTTPClient = defaultHTTPClient()
	}
	return c, nil
}

// defaultHTTPClient returns an HTTP client whose transport requires TLS 1.2
// or newer and which never follows redirects.
func defaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
