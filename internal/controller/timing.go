package controller

import (
	"fmt"
	"hash/fnv"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Timing holds the intervals of both controllers. A zero field takes its default; tests shorten
// them so that stories run in seconds.
type Timing struct {
	// PollInterval is the first wait before reading a member's status while MX aggregates it.
	// MX asks clients to poll no faster than every 3 s. Default 3s.
	PollInterval time.Duration
	// MaxPollInterval caps the growing wait between status reads during one aggregation.
	// Default 1m.
	MaxPollInterval time.Duration
	// RetryLaterInterval is how long to wait before reading a member that MX reports FAILED,
	// DEGRADED or DISCONNECTED. Default 30m.
	RetryLaterInterval time.Duration
	// ResyncInterval is how often an object that needs nothing is re-read from MX, jittered by
	// ±10% per object. Default 12h.
	ResyncInterval time.Duration
	// AggregationThrottleWindow is how long after a member's last aggregation the operator does
	// not ask MX for another one (MX ignores such requests). Default 3h.
	AggregationThrottleWindow time.Duration
	// UnauthorizedRetryInterval is how long to wait after MX refused the operator's own
	// credentials (401/403). Default 15m.
	UnauthorizedRetryInterval time.Duration
	// WaitingRetryInterval is a safety net for objects waiting on something the operator watches
	// (a Secret that does not exist yet): they are re-examined this often even if no event comes.
	// It costs no MX call. Default 10m.
	WaitingRetryInterval time.Duration
	// FailureBaseDelay and FailureMaxDelay bound the per-object exponential backoff after an
	// error (MX 429, 5xx or unreachable, API server errors): jittered, doubling per refusal in a
	// row, reset when MX answers. Defaults 1s and 5m.
	FailureBaseDelay time.Duration
	FailureMaxDelay  time.Duration
	// OAuthPollInterval and OAuthMaxPollInterval bound the growing wait between reads of a
	// PENDING OAuth member when no webhook reports its authorisation. Defaults 10s and 5m.
	OAuthPollInterval    time.Duration
	OAuthMaxPollInterval time.Duration
}

// withDefaults returns t with every zero field set to its default.
func (t Timing) withDefaults() Timing {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.PollInterval, 3*time.Second)
	def(&t.MaxPollInterval, time.Minute)
	def(&t.RetryLaterInterval, 30*time.Minute)
	def(&t.ResyncInterval, 12*time.Hour)
	def(&t.AggregationThrottleWindow, 3*time.Hour)
	def(&t.UnauthorizedRetryInterval, 15*time.Minute)
	def(&t.WaitingRetryInterval, 10*time.Minute)
	def(&t.FailureBaseDelay, time.Second)
	def(&t.FailureMaxDelay, 5*time.Minute)
	def(&t.OAuthPollInterval, 10*time.Second)
	def(&t.OAuthMaxPollInterval, 5*time.Minute)
	return t
}

// rateLimiter is the per-object backoff after a reconcile error.
func (t Timing) rateLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](t.FailureBaseDelay, t.FailureMaxDelay)
}

// pollDelay is the wait before the next status read of a member whose job MX started elapsed
// ago (time the operator spent refused by MX is not counted): PollInterval at first, then half the elapsed time (so reads thin out geometrically),
// capped at MaxPollInterval.
func (t Timing) pollDelay(elapsed time.Duration) time.Duration {
	return min(max(t.PollInterval, elapsed/2), max(t.MaxPollInterval, t.PollInterval))
}

// refusalDelay is the wait of an object MX refused n times in a row: FailureBaseDelay doubling
// per refusal up to FailureMaxDelay, jittered down to half by a hash of uid and n (so objects
// refused together spread out, deterministically), and never before MX's Retry-After (or the
// client's cool-down) says.
func (t Timing) refusalDelay(uid types.UID, n int, retryAfter time.Duration) time.Duration {
	d := t.FailureBaseDelay << min(max(n-1, 0), 30)
	if d <= 0 || d > t.FailureMaxDelay {
		d = t.FailureMaxDelay
	}
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%s/%d", uid, n)
	d = d/2 + time.Duration(h.Sum64()%uint64(d/2+1))
	return max(d, retryAfter)
}

// oauthPollDelay is the wait before the next read of a member PENDING for elapsed:
// OAuthPollInterval at first, then a quarter of the elapsed time, capped at OAuthMaxPollInterval.
func (t Timing) oauthPollDelay(elapsed time.Duration) time.Duration {
	return min(max(t.OAuthPollInterval, elapsed/4), max(t.OAuthMaxPollInterval, t.OAuthPollInterval))
}

// resyncDelay is ResyncInterval jittered by up to ±10% by a hash of uid, so objects created
// together do not all resync together, and one object keeps the same schedule across restarts.
func (t Timing) resyncDelay(uid types.UID) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(uid))
	frac := float64(h.Sum64()%2001)/1000 - 1 // [-1, 1]
	return t.ResyncInterval + time.Duration(frac*0.1*float64(t.ResyncInterval))
}
