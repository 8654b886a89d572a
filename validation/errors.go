package validation

import (
	"fmt"
	"log/slog"
)

// Kind classifies a validation failure. Every Kind is the suffix of an
// RFC 8555 §6.7 error type: the problem type a caller reports is
// "urn:ietf:params:acme:error:" + string(kind).
type Kind string

// Failure kinds. Which kinds are transient (worth retrying) is the caller's
// decision; as a rule KindDNS and KindConnection can heal by themselves and
// the others reflect what the subscriber deliberately serves.
const (
	// KindDNS: a lookup failed (NXDOMAIN for the name to connect to,
	// SERVFAIL, REFUSED, timeout, a CNAME chain too long or looping).
	KindDNS Kind = "dns"
	// KindConnection: the validation target could not be reached or spoke
	// garbage: TCP connection refused or timed out, malformed HTTP response,
	// a response not complete within Config.Timeout, a redirect that may
	// not be followed (bad scheme or port, more than 10 redirects, a target
	// whose addresses the address filter refuses or that is this server
	// itself: Boulder's choice, since the identifier is fine and its server
	// pointed somewhere validation does not go).
	KindConnection Kind = "connection"
	// KindUnauthorized: the target answered but did not prove control:
	// http-01 status other than 200, dns-01 TXT record missing or not
	// matching, tls-alpn-01 certificate without the right ALPN, SAN or
	// acmeIdentifier extension.
	KindUnauthorized Kind = "unauthorized"
	// KindIncorrectResponse: the http-01 response body is not the key
	// authorization.
	KindIncorrectResponse Kind = "incorrectResponse"
	// KindTLS: the TLS handshake with the target failed (tls-alpn-01, or an
	// http-01 redirect to https).
	KindTLS Kind = "tls"
	// KindRejectedIdentifier: every address the identifier itself resolved
	// to is refused: loopback, private, link-local and other special
	// ranges outside Config.AllowedNetworks, or the server's own listening
	// addresses (Config.ServerAddresses). It is not transient: retrying
	// cannot change the answer, unlike KindConnection. (A redirect target
	// refused the same way is KindConnection.)
	KindRejectedIdentifier Kind = "rejectedIdentifier"
	// KindMalformed: the Request itself is unusable (unknown challenge or
	// identifier type, dns-01 for an IP address, a token that is not
	// base64url, a key authorization that does not start with the token).
	KindMalformed Kind = "malformed"
	// KindCAA: the CAA records of the name or of its closest ancestor
	// with CAA records forbid this CA to issue (RFC 8659, RFC 8657); only
	// Validator.CheckCAA produces it.
	KindCAA Kind = "caa"
)

// Error is the failure of one validation attempt. Detail is written for the
// subscriber: it names the method, the address or record involved and what
// was wrong, and never contains secrets. Err is the underlying cause, for
// logs and errors.Is / errors.As (context.Canceled when the caller gave up,
// a *ResolveError for DNS failures, a net error for connections).
type Error struct {
	Kind   Kind
	Detail string
	Err    error
}

// Error implements error.
func (e *Error) Error() string {
	return string(e.Kind) + ": " + e.Detail
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// LogValue implements slog.LogValuer.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("kind", string(e.Kind)), slog.String("detail", e.Detail)}
	if e.Err != nil {
		attrs = append(attrs, slog.String("cause", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// failf builds an *Error with a formatted detail.
func failf(kind Kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...), Err: cause}
}
