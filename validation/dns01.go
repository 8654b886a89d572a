package validation

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// maxListed caps how many records a Detail lists.
const maxListed = 5

// validateDNS01 implements RFC 8555 §8.4: a TXT record at
// _acme-challenge.{identifier} must hold base64url(SHA-256(key
// authorization)). CNAMEs on the way are followed, which is how subscribers
// delegate the record to another zone.
func (v *Validator) validateDNS01(ctx context.Context, t target) *Error {
	name := "_acme-challenge." + t.name
	want := DNS01Value(t.KeyAuthorization)
	txts, err := v.resolver.LookupTXT(ctx, name)
	switch {
	case errors.Is(err, ErrNXDomain):
		// The subscriber has not published anything: not a DNS failure.
		return failf(KindUnauthorized, err, "dns-01: no TXT record found at %s: %s", name, resolveDetail(err))
	case err != nil:
		return failf(KindDNS, err, "dns-01: TXT lookup of %s failed: %s", name, resolveDetail(err))
	case len(txts) == 0:
		return failf(KindUnauthorized, nil, "dns-01: no TXT record found at %s", name)
	}
	// RFC 8555 §8.4: "Verify that the contents of one of the TXT records
	// match the digest value." Others may be present (several pending
	// authorizations for the same name, or leftovers).
	for _, txt := range txts {
		if txt == want {
			return nil
		}
	}
	return failf(KindUnauthorized, nil, "dns-01: %d TXT record(s) at %s but none is %q: found %s",
		len(txts), name, want, listQuoted(txts))
}

// listQuoted renders values for a Detail, at most maxListed of them.
func listQuoted(values []string) string {
	var parts []string
	for i, s := range values {
		if i == maxListed {
			parts = append(parts, fmt.Sprintf("and %d more", len(values)-maxListed))
			break
		}
		parts = append(parts, quote(s))
	}
	return strings.Join(parts, ", ")
}
