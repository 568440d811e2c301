package txsync

import (
	"context"
	"time"
)

// SetWaits replaces how s sleeps between attempts and how it jitters a backoff (nil keeps the
// default jitter), so tests observe every wait without spending it.
func SetWaits(s *Sender, sleep func(context.Context, time.Duration) error, jitter func(time.Duration) time.Duration) {
	s.sleep = sleep
	if jitter != nil {
		s.jitter = jitter
	}
}
