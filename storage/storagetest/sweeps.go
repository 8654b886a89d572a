package storagetest

import (
	"testing"
	"time"
)

func testClaimSweep(t *testing.T, e *env) {
	const period = time.Hour
	t0 := base()
	claim := func(name string, now time.Time) bool {
		t.Helper()
		ok, err := e.s.ClaimSweep(e.ctx, name, period, now)
		must(t, "ClaimSweep", err)
		return ok
	}
	steps := []struct {
		what string
		name string
		now  time.Time
		want bool
	}{
		{"first claim ever", "expire", t0, true},
		{"again at once", "expire", t0, false},
		{"just before the period has passed", "expire", t0.Add(period - time.Microsecond), false},
		{"another sweep", "purge", t0.Add(time.Minute), true},
		{"once the period has passed", "expire", t0.Add(period), true},
		{"again in the new period", "expire", t0.Add(period + time.Minute), false},
		{"a clock behind the last run", "expire", t0, false},
		{"long after", "expire", t0.Add(10 * period), true},
		{"the other sweep keeps its own period", "purge", t0.Add(period), false},
	}
	for _, st := range steps {
		if got := claim(st.name, st.now); got != st.want {
			t.Errorf("%s: ClaimSweep(%q, %v) = %v, want %v", st.what, st.name, st.now, got, st.want)
		}
	}
}

// testClaimSweepConcurrent has 20 instances claim one sweep at the same
// instant, twice a period apart: each time exactly one wins.
func testClaimSweepConcurrent(t *testing.T, e *env) {
	const period = 5 * time.Minute
	for round, now := range []time.Time{base(), base().Add(period)} {
		won := make([]bool, 20)
		errs := concurrently(len(won), func(i int) error {
			ok, err := e.s.ClaimSweep(e.ctx, "report", period, now)
			won[i] = ok
			return err
		})
		winners := 0
		for i, err := range errs {
			must(t, "ClaimSweep", err)
			if won[i] {
				winners++
			}
		}
		if winners != 1 {
			t.Errorf("round %d: %d of %d concurrent claims won, want exactly 1", round, winners, len(won))
		}
	}
}
