package digicert_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/digicert"
	"github.com/acmegate/acmegate/ca/digicert/digicerttest"
)

// clock is a settable clock safe for concurrent use.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func TestRateLimitStorm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		fake           digicerttest.Config
		storm          func(*digicerttest.Server)
		wantRetryAfter time.Duration
	}{
		{"429 without Retry-After: the backoff", digicerttest.Config{},
			func(s *digicerttest.Server) { s.FailNext(3, http.StatusTooManyRequests, digicerttest.Match{}) }, 5 * time.Second},
		{"429 with Retry-After", digicerttest.Config{RetryAfter: 9 * time.Second},
			func(s *digicerttest.Server) { s.FailNext(3, http.StatusTooManyRequests, digicerttest.Match{}) }, 9 * time.Second},
		{"the fake's own per-key limit", digicerttest.Config{RateLimits: []digicerttest.RateWindow{{Requests: 2, Per: time.Hour}}},
			func(s *digicerttest.Server) {}, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{}
			f := newFixture(t, tt.fake, func(c *digicert.Config) { c.Clock = clk.now })
			ctx := testContext(t)
			tt.storm(f.fake)
			var err error
			for range 3 { // the fake's own limit lets two through
				if _, err = f.b.ListProducts(ctx); err != nil {
					break
				}
			}
			e := wantKind(t, err, ca.Unavailable)
			if e.RetryAfter != tt.wantRetryAfter {
				t.Errorf("RetryAfter = %s, want %s", e.RetryAfter, tt.wantRetryAfter)
			}
			sent := len(f.fake.Requests())

			// During the backoff nothing reaches DigiCert.
			for range 5 {
				_, err := f.b.ListProducts(ctx)
				if e := wantKind(t, err, ca.Unavailable); e.RetryAfter <= 0 || e.RetryAfter > tt.wantRetryAfter {
					t.Errorf("during backoff RetryAfter = %s", e.RetryAfter)
				}
			}
			if got := len(f.fake.Requests()); got != sent {
				t.Errorf("%d requests reached DigiCert during the backoff", got-sent)
			}

			// After it, calls go out again. The storm may still be
			// raging (429 again): what matters is that the call was
			// made.
			clk.advance(tt.wantRetryAfter + time.Second)
			_, _ = f.b.ListProducts(ctx)
			if got := len(f.fake.Requests()); got != sent+1 {
				t.Errorf("after the backoff %d requests went out, want 1", got-sent)
			}
		})
	}
}

func TestRateLimitSpacesRequests(t *testing.T) {
	t.Parallel()
	const per = 300 * time.Millisecond
	f := newFixture(t, digicerttest.Config{}, func(c *digicert.Config) {
		c.RateLimit = digicert.RateLimit{Windows: []digicert.RateWindow{{Requests: 3, Per: per}}}
	})
	ctx := testContext(t)
	start := time.Now()
	var wg sync.WaitGroup
	for range 7 {
		wg.Go(func() {
			if _, err := f.b.ListProducts(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if el := time.Since(start); el < 2*per {
		t.Errorf("7 calls at 3 per %s took %s, want at least %s", per, el, 2*per)
	}
	reqs := f.fake.Requests()
	if len(reqs) != 7 {
		t.Fatalf("%d requests, want 7", len(reqs))
	}
	// The schedule itself (never more than 3 calls in any window) is
	// checked exactly, on a fake clock, by TestLimiterNeverExceedsAWindow.
	// Arrival times at the fake cannot be: on a loaded machine a call can
	// be held between its slot and the wire while a later one is not,
	// which makes arrivals look closer than the slots were. End to end,
	// the elapsed time above is the bound that holds.
}
