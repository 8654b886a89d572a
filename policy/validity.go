package policy

import (
	"fmt"
	"time"
)

// MaxValidity returns the longest certificate validity the directory allows,
// or 0 when the policy sets no limit. Callers cap the validity they ask a CA
// for when the client requested none.
func (p *Policy) MaxValidity() time.Duration { return p.maxValidity }

// CheckValidity decides the validity period a newOrder requests (RFC 8555
// §7.4: the optional notBefore and notAfter fields; a zero time is an absent
// field). The span runs from notBefore, or from now when it is absent, to
// notAfter. A refusal is a malformed *Error: a notAfter that is not after
// the start, or a span longer than MaxValidity, with both durations in the
// detail. Without a notAfter there is nothing to check: the CA's default
// validity applies, capped by the caller with MaxValidity.
func (p *Policy) CheckValidity(notBefore, notAfter, now time.Time) error {
	if notAfter.IsZero() {
		return nil
	}
	start := notBefore
	if start.IsZero() {
		start = now
	}
	if !notAfter.After(start) {
		return newError(KindMalformed, "notAfter %s is not after the start of the validity %s", notAfter.UTC().Format(time.RFC3339), start.UTC().Format(time.RFC3339))
	}
	if span := notAfter.Sub(start); p.maxValidity > 0 && span > p.maxValidity {
		return newError(KindMalformed, "the requested validity of %s exceeds this directory's maximum of %s", formatDuration(span), formatDuration(p.maxValidity))
	}
	return nil
}

// formatDuration writes a validity for a subscriber: in days when it is a
// whole number of them ("90 days"), as a Go duration otherwise.
func formatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return d.Round(time.Second).String()
}
