// Package validation proves control of identifiers for ACME: it owns the
// http-01 and dns-01 checks (RFC 8555 §8.3, §8.4), tls-alpn-01 (RFC 8737),
// their IP identifier variants (RFC 8738), the DNS resolver configuration
// (every lookup goes through a Resolver talking to configured servers) and
// the address filter that keeps validation from being used to reach
// loopback, private and other special addresses (SSRF guard).
//
// A Validator answers one question, "does this challenge check out right
// now?", with nil or an *Error whose Kind is an RFC 8555 §6.7 error type
// suffix. It knows nothing of storage, accounts, orders or HTTP handlers:
// the caller computes the key authorization, records the outcome and
// decides about retries.
//
// CAA (RFC 8659, RFC 8657) and multi-perspective corroboration are not
// implemented yet; Validator.Validate marks where they plug in.
package validation
