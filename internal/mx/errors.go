package mx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrNotFound is returned (wrapped) by the Find* lookups when no object has
// the requested partner id. [Classify] reports it as [ClassNotFound], like a
// 404 from MX.
var ErrNotFound = errors.New("mx: not found")

// ErrUndecodableResponse is matched (errors.Is) by every [*DecodeError]: MX
// answered 2xx but the body could not be decoded. The request may have taken
// effect, so [Classify] reports it as [ClassRetryable], never as the caller's
// fault; after a create, look the object up before creating it again.
var ErrUndecodableResponse = errors.New("mx: undecodable response")

// ErrInvalidRequest is returned (wrapped) when a call is rejected before
// anything is sent: an empty guid, an empty update, an over-long callback
// payload. [Classify] reports it as [ClassTerminal].
var ErrInvalidRequest = errors.New("mx: invalid request")

// maxMessageLen bounds APIError.Message when it is taken from raw text.
const maxMessageLen = 256

// APIError is a response from MX with a non-2xx status.
type APIError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// Endpoint is the route template, e.g. "POST /users/{user}/members".
	Endpoint string
	// Message is MX's error message, decoded defensively from
	// {"error":{"message":…}}, then {"error":"…"}, then the raw text
	// (truncated). Any credential, MFA answer or API key sent with the
	// request is replaced by [REDACTED] should MX echo it.
	Message string
	// RetryAfter is the server's Retry-After, when it sent one on a 429 or
	// 503. It is set on the error returned after retries stopped, so that a
	// caller can requeue no sooner than MX asked.
	RetryAfter time.Duration
}

// Error returns "mx: <endpoint>: <code> <status text>[: <message>]". It
// never contains a request body, a credential or the API key.
func (e *APIError) Error() string {
	s := fmt.Sprintf("mx: %s: %d %s", e.Endpoint, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// NetworkError is a failure to get a complete response for an endpoint: a
// connection error, a dropped connection, a per-request timeout, a body read
// error or the caller's context ending. The outcome of a non-idempotent call
// that failed this way is unknown.
type NetworkError struct {
	// Endpoint is the route template.
	Endpoint string
	// Err is the underlying error (the *url.Error's cause when there is one,
	// so the request URL is not repeated).
	Err error
}

// Error returns "mx: <endpoint>: network error: <cause>".
func (e *NetworkError) Error() string {
	return fmt.Sprintf("mx: %s: network error: %v", e.Endpoint, e.Err)
}

// Unwrap returns the cause, so errors.Is(err, context.DeadlineExceeded)
// works.
func (e *NetworkError) Unwrap() error { return e.Err }

// DecodeError is a 2xx response whose body could not be decoded into the
// expected shape (or was too large), or a list whose pagination is
// inconsistent. MX answered, so the request may have taken effect: the
// outcome of a create or resume that ends with a DecodeError is unknown,
// exactly as after a lost response. It matches [ErrUndecodableResponse] and
// is [ClassRetryable].
type DecodeError struct {
	// Endpoint is the route template.
	Endpoint string
	// StatusCode is the HTTP status of the undecodable response.
	StatusCode int
	// Err describes the problem.
	Err error
}

// Error returns "mx: <endpoint>: decoding <code> response: <cause>".
func (e *DecodeError) Error() string {
	return fmt.Sprintf("mx: %s: decoding %d response: %v", e.Endpoint, e.StatusCode, e.Err)
}

// Unwrap returns the cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is reports whether target is [ErrUndecodableResponse].
func (e *DecodeError) Is(target error) bool { return target == ErrUndecodableResponse }

// ErrorClass is what a caller should do about an error. It is the only
// classification of errors in this package; see [Classify].
type ErrorClass int

// Error classes, from [Classify].
const (
	// ClassNone is the class of a nil error.
	ClassNone ErrorClass = iota
	// ClassNotFound: 404, or ErrNotFound from a Find* lookup. The object
	// does not exist (deleting callers treat it as done).
	ClassNotFound
	// ClassConflict: 409. The object already exists (same partner id, or
	// same user, institution and credentials), or a job of another kind is
	// running on the member.
	ClassConflict
	// ClassRateLimited: 429 after the client's own retries, or a
	// [*CoolingDownError] caused by a 429. Requeue after [RetryAfter] or
	// with backoff.
	ClassRateLimited
	// ClassUnauthorized: 401 (bad client id or API key) or 403 (egress IP
	// not whitelisted, feature not enabled). Needs an operator.
	ClassUnauthorized
	// ClassRetryable: 5xx, 408, network errors and timeouts, a
	// [*CoolingDownError] caused by them, and a 2xx whose body could not be
	// decoded ([ErrUndecodableResponse]). Try again with backoff; for a
	// create, first resolve the unknown outcome with the matching Find* call
	// (a CoolingDownError without Err was not sent: its outcome is known).
	ClassRetryable
	// ClassTerminal: every other 4xx (400, 405, 406, 422…), an invalid
	// request. Retrying the same call will not help.
	ClassTerminal
)

// String returns the class name, e.g. "RateLimited".
func (c ErrorClass) String() string {
	switch c {
	case ClassNone:
		return "None"
	case ClassNotFound:
		return "NotFound"
	case ClassConflict:
		return "Conflict"
	case ClassRateLimited:
		return "RateLimited"
	case ClassUnauthorized:
		return "Unauthorized"
	case ClassRetryable:
		return "Retryable"
	case ClassTerminal:
		return "Terminal"
	}
	return fmt.Sprintf("ErrorClass(%d)", int(c))
}

// Classify returns the class of err, looking through wrapping. It branches
// on the HTTP status of an [*APIError] and on the Go type of other errors,
// never on message text. Errors this package does not recognise are
// [ClassTerminal], except context cancellation and net.Error, which are
// [ClassRetryable].
func Classify(err error) ErrorClass {
	if err == nil {
		return ClassNone
	}
	if cdErr, ok := errors.AsType[*CoolingDownError](err); ok {
		switch {
		case cdErr.Err != nil:
			return Classify(cdErr.Err)
		case cdErr.Cause == CauseRateLimited:
			return ClassRateLimited
		}
		return ClassRetryable
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return classifyStatus(apiErr.StatusCode)
	}
	if errors.Is(err, ErrNotFound) {
		return ClassNotFound
	}
	if _, ok := errors.AsType[*NetworkError](err); ok {
		return ClassRetryable
	}
	if errors.Is(err, ErrUndecodableResponse) {
		return ClassRetryable
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ClassRetryable
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return ClassRetryable
	}
	return ClassTerminal
}

// classifyStatus maps a non-2xx HTTP status to its class.
func classifyStatus(code int) ErrorClass {
	switch {
	case code == http.StatusNotFound:
		return ClassNotFound
	case code == http.StatusConflict:
		return ClassConflict
	case code == http.StatusTooManyRequests:
		return ClassRateLimited
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return ClassUnauthorized
	case code >= 500 || code == http.StatusRequestTimeout:
		return ClassRetryable
	}
	return ClassTerminal
}

// IsNotFound reports whether Classify(err) is ClassNotFound.
func IsNotFound(err error) bool { return Classify(err) == ClassNotFound }

// IsConflict reports whether Classify(err) is ClassConflict.
func IsConflict(err error) bool { return Classify(err) == ClassConflict }

// IsRateLimited reports whether Classify(err) is ClassRateLimited.
func IsRateLimited(err error) bool { return Classify(err) == ClassRateLimited }

// IsUnauthorized reports whether Classify(err) is ClassUnauthorized.
func IsUnauthorized(err error) bool { return Classify(err) == ClassUnauthorized }

// IsRetryable reports whether Classify(err) is ClassRetryable. It is false
// for ClassRateLimited, which callers handle with [RetryAfter].
func IsRetryable(err error) bool { return Classify(err) == ClassRetryable }

// IsTerminal reports whether Classify(err) is ClassTerminal.
func IsTerminal(err error) bool { return Classify(err) == ClassTerminal }

// RetryAfter returns how long the caller should wait before calling again,
// and whether err says: for a [*CoolingDownError], the time left in the
// client's cool-down when the error was returned; otherwise the server's
// Retry-After carried by an [*APIError] for 429 or 503.
func RetryAfter(err error) (time.Duration, bool) {
	if cdErr, ok := errors.AsType[*CoolingDownError](err); ok && cdErr.RetryAfter > 0 {
		return cdErr.RetryAfter, true
	}
	apiErr, ok := errors.AsType[*APIError](err)
	if !ok || apiErr.RetryAfter <= 0 {
		return 0, false
	}
	return apiErr.RetryAfter, true
}

// errorMessage extracts MX's message from an error body: {"error":{"message":
// …}}, then {"error":"…"}, then {"message":"…"}, then the raw text. Every
// secret is replaced by [REDACTED] before the text is truncated to
// maxMessageLen bytes (at a rune boundary).
func errorMessage(body []byte, secrets []string) string {
	var msg string
	var nested struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	var flat struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	switch {
	case json.Unmarshal(body, &nested) == nil && nested.Error.Message != "":
		msg = nested.Error.Message
	case json.Unmarshal(body, &flat) == nil && (flat.Error != "" || flat.Message != ""):
		msg = flat.Error
		if msg == "" {
			msg = flat.Message
		}
	default:
		msg = string(body)
	}
	msg = redact(msg, secrets)
	msg = strings.Join(strings.Fields(msg), " ")
	if !utf8.ValidString(msg) {
		msg = strings.ToValidUTF8(msg, "?")
	}
	if len(msg) > maxMessageLen {
		cut := maxMessageLen
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// redact replaces every occurrence of every non-empty secret in s, in its
// plain and JSON-escaped forms, with [REDACTED]. Longer secrets are replaced
// first so that a secret containing another is removed whole.
func redact(s string, secrets []string) string {
	if len(secrets) == 0 {
		return s
	}
	forms := make([]string, 0, 2*len(secrets))
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		forms = append(forms, secret)
		if q, err := json.Marshal(secret); err == nil {
			if esc := string(q[1 : len(q)-1]); esc != secret {
				forms = append(forms, esc)
			}
		}
	}
	// Longest first: insertion sort, the list is tiny.
	for i := 1; i < len(forms); i++ {
		for j := i; j > 0 && len(forms[j]) > len(forms[j-1]); j-- {
			forms[j], forms[j-1] = forms[j-1], forms[j]
		}
	}
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, redacted)
	}
	return s
}
