package policy

import (
	"testing"
	"time"
)

func TestCheckValidity(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	days90 := Config{MaxValidity: 90 * day}
	tests := []struct {
		name                string
		cfg                 Config
		notBefore, notAfter time.Time
		want                string // substring of the malformed detail; "" for acceptance
	}{
		{name: "nothing requested", cfg: days90},
		{name: "only notBefore", cfg: days90, notBefore: now.Add(day)},
		{name: "exactly the maximum from now", cfg: days90, notAfter: now.Add(90 * day)},
		{name: "exactly the maximum from notBefore", cfg: days90, notBefore: now.Add(10 * day), notAfter: now.Add(100 * day)},
		{name: "a second over the maximum", cfg: days90, notAfter: now.Add(90*day + time.Second), want: "the requested validity of 2160h0m1s exceeds this directory's maximum of 90 days"},
		{name: "over the maximum from notBefore", cfg: days90, notBefore: now.Add(day), notAfter: now.Add(101 * day), want: "the requested validity of 100 days exceeds this directory's maximum of 90 days"},
		{name: "one-day maximum", cfg: Config{MaxValidity: day}, notAfter: now.Add(2 * day), want: "validity of 2 days exceeds this directory's maximum of 1 day"},
		{name: "sub-day maximum", cfg: Config{MaxValidity: 6 * time.Hour}, notAfter: now.Add(7 * time.Hour), want: "validity of 7h0m0s exceeds this directory's maximum of 6h0m0s"},
		{name: "no limit", notAfter: now.Add(10 * 365 * day)},
		{name: "notAfter before notBefore", cfg: days90, notBefore: now.Add(2 * day), notAfter: now.Add(day), want: "notAfter 2025-03-02T12:00:00Z is not after the start of the validity 2025-03-03T12:00:00Z"},
		{name: "notAfter equal to now", notAfter: now, want: "is not after the start of the validity 2025-03-01T12:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPolicy(t, tc.cfg)
			if got := p.MaxValidity(); got != tc.cfg.MaxValidity {
				t.Errorf("MaxValidity() = %s, want %s", got, tc.cfg.MaxValidity)
			}
			err := p.CheckValidity(tc.notBefore, tc.notAfter, now)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckValidity: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckValidity: nil, want a refusal containing %q", tc.want)
			}
			checkError(t, err, wantErr{Kind: KindMalformed, Detail: tc.want})
		})
	}
}
