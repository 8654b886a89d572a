package digicerttest

import (
	"sync"
	"time"
)

// windowLimiter enforces DigiCert's per-key rolling windows
// [DC:rate-limits.html]: a request is allowed when, for every window, fewer
// than Requests requests of the same key were allowed in the last Per.
type windowLimiter struct {
	windows []RateWindow

	mu   sync.Mutex
	seen map[string][]time.Time // per key, allowed request times, oldest first
}

func newWindowLimiter(windows []RateWindow) *windowLimiter {
	return &windowLimiter{windows: windows, seen: map[string][]time.Time{}}
}

// allow records a request of key at now if every window has room, and
// otherwise reports how long until one would.
func (l *windowLimiter) allow(key string, now time.Time) (wait time.Duration, ok bool) {
	if len(l.windows) == 0 {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	times := l.seen[key]
	longest := time.Duration(0)
	for _, w := range l.windows {
		longest = max(longest, w.Per)
		n := 0
		for i := len(times) - 1; i >= 0 && now.Sub(times[i]) < w.Per; i-- {
			n++
		}
		if n >= w.Requests {
			oldest := times[len(times)-n]
			wait = max(wait, oldest.Add(w.Per).Sub(now))
		}
	}
	if wait > 0 {
		return wait, false
	}
	// Forget what no window can see any more.
	drop := 0
	for drop < len(times) && now.Sub(times[drop]) >= longest {
		drop++
	}
	l.seen[key] = append(times[drop:], now)
	return 0, true
}
