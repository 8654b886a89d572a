// Package validation proves control of identifiers for ACME: it owns the
// http-01 and dns-01 checks (RFC 8555 §8.3, §8.4), tls-alpn-01 (RFC 8737),
// their IP identifier variants (RFC 8738), the CAA check (RFC 8659,
// RFC 8657), the DNS resolver configuration (every lookup goes through a
// Resolver talking to configured servers) and the address filter that
// keeps validation from being used to reach loopback, private and other
// special addresses (SSRF guard).
//
// Every connection goes to an address vetted from one resolution per host
// and attempt (no DNS-rebinding gap), never to the server's own listening
// addresses, and one deadline (Config.Timeout) bounds the whole attempt,
// redirects and reads included, so a slow peer cannot hold a worker.
//
// A Validator answers two questions with nil or an *Error whose Kind is an
// RFC 8555 §6.7 error type suffix: "does this challenge check out right
// now?" (Validate) and, once it did, "do the CAA records let this CA issue
// for the name?" (CheckCAA: RFC 8659, with the RFC 8657 accounturi and
// validationmethods parameters). It knows nothing of storage, accounts,
// orders or HTTP handlers: the caller computes the key authorization,
// passes the account URL and the CA's identities, records the outcome and
// decides about retries.
//
// Multi-perspective corroboration is not implemented yet;
// Validator.Validate marks where it plugs in.
package validation
