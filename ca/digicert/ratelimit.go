package digicert

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/acmegate/acmegate/ca"
)

// limiter keeps the backend inside DigiCert's per-key limits, which are
// rolling windows ("1000 requests per 3 minutes plus 100 requests per 5
// seconds" [DC:rate-limits.html]). A token bucket refilled at N/W can let
// through up to 2N calls in one window W (a full bucket, then a window's
// refill), so this is an exact sliding log instead: it remembers when each
// recent call was (or will be) made and schedules the next one no earlier
// than the moment every window has room. Calls are scheduled in FIFO order,
// which keeps the log sorted and the check a single comparison per window.
//
// After a 429 the limiter also blocks every call until the upstream's
// Retry-After (or Backoff) has passed: during a storm the backend answers
// ca.Unavailable at once instead of adding to it.
type limiter struct {
	windows  []RateWindow
	disabled bool
	backoff  time.Duration
	now      func() time.Time

	mu           sync.Mutex
	log          []time.Time // scheduled call times, ascending
	blockedUntil time.Time
}

func newLimiter(cfg RateLimit, now func() time.Time) (*limiter, error) {
	if cfg.Windows == nil {
		cfg.Windows = DefaultRateWindows()
	}
	for _, w := range cfg.Windows {
		if w.Requests <= 0 || w.Per <= 0 {
			return nil, fmt.Errorf("digicert: rate window %d per %s is not positive", w.Requests, w.Per)
		}
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultRateLimitBackoff
	}
	if cfg.Backoff < 0 {
		return nil, fmt.Errorf("digicert: negative rate-limit Backoff %s", cfg.Backoff)
	}
	return &limiter{windows: slices.Clone(cfg.Windows), disabled: cfg.Disabled, backoff: cfg.Backoff, now: now}, nil
}

// reserve schedules one call and returns its time, or, while the limiter
// is blocked by a 429, how long the block still lasts.
func (l *limiter) reserve() (at time.Time, blocked time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Before(l.blockedUntil) {
		return time.Time{}, l.blockedUntil.Sub(now)
	}
	if l.disabled {
		return now, 0
	}
	at = now
	if n := len(l.log); n > 0 && l.log[n-1].After(at) {
		at = l.log[n-1]
	}
	longest := time.Duration(0)
	for _, w := range l.windows {
		longest = max(longest, w.Per)
		// The call may happen once the w.Requests-th latest call has left
		// the window: then at most w.Requests-1 earlier calls plus this
		// one fall in any window of length w.Per.
		if n := len(l.log); n >= w.Requests {
			if free := l.log[n-w.Requests].Add(w.Per); free.After(at) {
				at = free
			}
		}
	}
	drop := 0
	for drop < len(l.log) && now.Sub(l.log[drop]) >= longest {
		drop++
	}
	l.log = append(l.log[drop:], at)
	return at, 0
}

// cancel forgets a reservation that will not be used. Removing a time
// only leaves later reservations more conservative than needed.
func (l *limiter) cancel(at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := slices.IndexFunc(l.log, func(t time.Time) bool { return t.Equal(at) }); i >= 0 {
		l.log = slices.Delete(l.log, i, i+1)
	}
}

// wait blocks until the next call may be made. It returns a ca.Unavailable
// error, without waiting, when the limiter is blocked by a 429 or when the
// wait would outlast ctx.
func (l *limiter) wait(ctx context.Context) error {
	at, blocked := l.reserve()
	if blocked > 0 {
		return &ca.Error{Kind: ca.Unavailable, RetryAfter: blocked,
			Detail: fmt.Sprintf("DigiCert CertCentral rate limit: backing off for another %s", blocked.Round(time.Millisecond))}
	}
	delay := at.Sub(l.now())
	if delay <= 0 {
		return nil
	}
	// The deadline is wall-clock time; delay is a duration on l.now's
	// scale, which is wall-clock time outside tests.
	if deadline, ok := ctx.Deadline(); ok && delay > time.Until(deadline) {
		l.cancel(at)
		return &ca.Error{Kind: ca.Unavailable, RetryAfter: delay,
			Detail: fmt.Sprintf("DigiCert CertCentral rate limit: the next call is allowed in %s", delay.Round(time.Millisecond))}
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		l.cancel(at)
		return &ca.Error{Kind: ca.Unavailable, Detail: "waiting for the DigiCert rate limit", Err: ctx.Err()}
	}
}

// block stops all calls for d (the answer to a 429).
func (l *limiter) block(d time.Duration) time.Duration {
	if d <= 0 {
		d = l.backoff
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if until := l.now().Add(d); until.After(l.blockedUntil) {
		l.blockedUntil = until
	}
	return d
}
