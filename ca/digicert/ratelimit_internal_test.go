package digicert

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/acmegate/acmegate/ca"
)

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestLimiterNeverExceedsAWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		windows []RateWindow
		calls   int
		every   time.Duration // time between attempts
	}{
		{"DigiCert's limits, a burst", DefaultRateWindows(), 1500, 0},
		{"DigiCert's limits, steady 30/s", DefaultRateWindows(), 3000, time.Second / 30},
		{"one small window", []RateWindow{{Requests: 3, Per: time.Second}}, 20, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			l, err := newLimiter(RateLimit{Windows: tt.windows}, clk.now)
			if err != nil {
				t.Fatal(err)
			}
			var at []time.Time
			for range tt.calls {
				a, blocked := l.reserve()
				if blocked != 0 {
					t.Fatal("blocked without a 429")
				}
				if a.Before(clk.t) {
					t.Fatalf("scheduled in the past: %s < %s", a, clk.t)
				}
				at = append(at, a)
				clk.t = clk.t.Add(tt.every)
			}
			for _, w := range tt.windows {
				// Any w.Requests+1 consecutive calls span at least w.Per.
				for i := w.Requests; i < len(at); i++ {
					if d := at[i].Sub(at[i-w.Requests]); d < w.Per {
						t.Fatalf("calls %d..%d fall within %s < %s: %d calls in one window", i-w.Requests, i, d, w.Per, w.Requests+1)
					}
				}
			}
			// And the limiter is not needlessly slow: the first
			// w.Requests calls of the tightest window go at once.
			if !at[0].Equal(at[min(len(at), tt.windows[0].Requests)-1]) && tt.every == 0 {
				t.Error("a burst within the limit was delayed")
			}
		})
	}
}

func TestLimiterBlockAndDeadline(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l, err := newLimiter(RateLimit{Windows: []RateWindow{{Requests: 1, Per: time.Hour}}, Backoff: 4 * time.Second}, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.wait(ctx); err != nil {
		t.Fatalf("first call: %v", err)
	}
	// The second would wait an hour: past the deadline, fail at once.
	start := time.Now()
	err = l.wait(ctx)
	var e *ca.Error
	if !errors.As(err, &e) || e.Kind != ca.Unavailable || e.RetryAfter != time.Hour {
		t.Fatalf("second call = %v, want Unavailable with RetryAfter 1h", err)
	}
	if time.Since(start) > time.Second {
		t.Error("the limiter waited although the deadline was too close")
	}
	// The abandoned reservation was dropped: only one call is logged.
	if n := len(l.log); n != 1 {
		t.Errorf("log holds %d reservations, want 1", n)
	}

	if got := l.block(0); got != 4*time.Second {
		t.Errorf("block(0) = %s, want the Backoff", got)
	}
	clk.t = clk.t.Add(time.Second)
	err = l.wait(ctx)
	if !errors.As(err, &e) || e.RetryAfter != 3*time.Second {
		t.Errorf("while blocked = %v, want Unavailable with 3s left", err)
	}
}
