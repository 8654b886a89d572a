package validation

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Challenge types (RFC 8555 §8.3, §8.4, RFC 8737 §3).
const (
	ChallengeHTTP01    = "http-01"
	ChallengeDNS01     = "dns-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
)

// Identifier types (RFC 8555 §9.7.7, RFC 8738 §3).
const (
	IdentifierDNS = "dns"
	IdentifierIP  = "ip"
)

// Request is one validation attempt.
type Request struct {
	// ChallengeType is ChallengeHTTP01, ChallengeDNS01 or ChallengeTLSALPN01.
	ChallengeType string
	// IdentifierType is IdentifierDNS or IdentifierIP.
	IdentifierType string
	// Identifier is the DNS name (for a wildcard authorization the base
	// domain, without "*.") or the IP address text.
	Identifier string
	// Token is the challenge token (RFC 8555 §8.1).
	Token string
	// KeyAuthorization is Token + "." + the account key thumbprint, computed
	// by the caller (see KeyAuthorization).
	KeyAuthorization string
}

// target is a checked Request: the identifier in canonical form.
type target struct {
	Request
	// name is the lowercase DNS name, for dns identifiers.
	name string
	// ip is the address, for ip identifiers.
	ip netip.Addr
}

// host is what to connect to: the name, or the IP address text.
func (t target) host() string {
	if t.ip.IsValid() {
		return t.ip.String()
	}
	return t.name
}

// check validates r and returns it in canonical form, or a KindMalformed
// *Error.
func check(r Request) (target, *Error) {
	t := target{Request: r}
	switch r.ChallengeType {
	case ChallengeHTTP01, ChallengeDNS01, ChallengeTLSALPN01:
	default:
		return t, failf(KindMalformed, nil, "unsupported challenge type %q", r.ChallengeType)
	}
	switch r.IdentifierType {
	case IdentifierDNS:
		name := strings.ToLower(strings.TrimSuffix(r.Identifier, "."))
		if strings.Contains(name, "*") {
			return t, failf(KindMalformed, nil, "%s: identifier %q must not contain a wildcard label; pass the base domain", r.ChallengeType, r.Identifier)
		}
		if _, err := netip.ParseAddr(name); err == nil {
			return t, failf(KindMalformed, nil, "%s: dns identifier %q is an IP address", r.ChallengeType, r.Identifier)
		}
		if _, ok := dns.IsDomainName(name); !ok || name == "" || len(name) > 253 || strings.ContainsAny(name, "/:@ \\") {
			return t, failf(KindMalformed, nil, "%s: %q is not a valid DNS name", r.ChallengeType, r.Identifier)
		}
		t.name = name
	case IdentifierIP:
		// RFC 8738 §7: "the dns-01 challenge MUST NOT be used to validate IP
		// identifiers".
		if r.ChallengeType == ChallengeDNS01 {
			return t, failf(KindMalformed, nil, "dns-01 cannot validate IP identifier %s (RFC 8738 §7)", r.Identifier)
		}
		a, err := netip.ParseAddr(r.Identifier)
		if err != nil || a.Zone() != "" {
			return t, failf(KindMalformed, err, "%s: %q is not a valid IP address", r.ChallengeType, r.Identifier)
		}
		t.ip = a
	default:
		return t, failf(KindMalformed, nil, "%s: unsupported identifier type %q", r.ChallengeType, r.IdentifierType)
	}
	// RFC 8555 §8.3: the token "MUST NOT contain any characters outside the
	// base64url alphabet"; it ends up in a URL path, so this also keeps it
	// from adding path segments or a query.
	if r.Token == "" || !isBase64URL(r.Token) {
		return t, failf(KindMalformed, nil, "%s: token %q is not unpadded base64url", r.ChallengeType, r.Token)
	}
	// RFC 8555 §8.1: keyAuthorization = token || '.' || base64url(Thumbprint(accountKey)).
	thumb, ok := strings.CutPrefix(r.KeyAuthorization, r.Token+".")
	if !ok || thumb == "" || !isBase64URL(thumb) {
		return t, failf(KindMalformed, nil, "%s: key authorization is not the token followed by \".\" and a base64url thumbprint", r.ChallengeType)
	}
	return t, nil
}

func isBase64URL(s string) bool {
	for _, c := range s {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
