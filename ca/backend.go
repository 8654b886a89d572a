// Package ca owns the seam between acmegate and the certificate authorities
// that sign for it: the Backend interface, the request and result it
// exchanges, the typed errors that tell a permanent refusal from a temporary
// outage, and the implementations in its sub-packages (ca/local, and later
// upstream CAs such as Sectigo, DigiCert or another ACME server).
//
// Package ca must not know about ACME or storage: it never imports acme or
// storage, never sees an account, a nonce or a database row. Everything a
// backend needs arrives in an IssueRequest, and everything the caller needs to
// persist comes back in an IssueResult.
package ca

import (
	"context"
	"crypto/x509"
	"time"
)

// Identifier types carried in Identifier.Type. They match the ACME identifier
// types (RFC 8555 §9.7.7, RFC 8738) without this package importing acme.
const (
	IdentifierDNS = "dns"
	IdentifierIP  = "ip"
)

// Identifier is one validated name for the certificate.
type Identifier struct {
	// Type is IdentifierDNS or IdentifierIP.
	Type string
	// Value is a DNS name (possibly a wildcard such as "*.example.com") or a
	// textual IP address, exactly as it must appear in the certificate.
	Value string
}

// IssueRequest is what a Backend needs to sign one certificate. The caller has
// already verified the CSR's signature and checked it against the identifiers
// and the directory's policy; a backend re-checks only what it must enforce
// itself (its own profiles and validity limits).
type IssueRequest struct {
	// OrderID is the idempotency key. A retried submission with the same
	// OrderID must never issue twice upstream: asynchronous backends send it
	// to the upstream (or look it up there) before submitting again.
	OrderID string
	// CSR supplies the public key. Its names and subject are NOT copied into
	// the certificate; Identifiers are.
	CSR *x509.CertificateRequest
	// Identifiers are the validated identifiers: exactly these become the
	// certificate's subjectAltName entries.
	Identifiers []Identifier
	// Profile names the backend's product or template; "" selects the
	// backend's default profile.
	Profile string
	// NotBefore and NotAfter request a validity window; the zero time means
	// the backend's default.
	NotBefore, NotAfter time.Time
}

// IssueResult is the outcome of Issue or Poll: either Chain is set (the
// certificate was issued) or Pending is true and Ref says what to poll.
type IssueResult struct {
	// Chain is the issued certificate first, then its issuers up to but not
	// including the root.
	Chain []*x509.Certificate
	// Alternates are other chains for the same leaf, each leaf first; ACME
	// serves them as Link rel="alternate" (RFC 8555 §7.4.2).
	Alternates [][]*x509.Certificate
	// Pending reports that the upstream accepted the request but has not
	// issued yet; poll Ref after RetryAfter.
	Pending bool
	// Ref is the upstream's reference for the request. It is set when
	// Pending, and also on issuance when the backend has one (for revocation
	// and for the operator's inventory). The caller must persist it before
	// polling so a restart polls instead of submitting again.
	Ref string
	// RetryAfter is the upstream's hint for the next Poll when Pending; zero
	// means the caller's own backoff.
	RetryAfter time.Duration
}

// Profile is a certificate profile a backend offers: a Sectigo certificate
// type, a DigiCert product, a local template.
type Profile struct {
	// Name is what directories and ACME clients select it by.
	Name string
	// Description is shown to operators and in the ACME directory's
	// meta.profiles.
	Description string
	// Validity is the longest (and, for the local CA, the default) lifetime
	// of a certificate issued under the profile.
	Validity time.Duration
	// ClientAuth adds the id-kp-clientAuth extended key usage next to
	// id-kp-serverAuth.
	ClientAuth bool
}

// Backend signs certificates. Implementations must be safe for concurrent use.
//
// Errors should be *Error values (or wrap one) so that the caller can tell a
// permanent refusal, which makes the order invalid, from a temporary outage,
// which it retries; see KindOf. Any other error is treated as temporary.
type Backend interface {
	// Name identifies the backend in logs, the certificate inventory and the
	// order timeline ("local", "sectigo", ...).
	Name() string
	// Issue submits req. A synchronous backend returns the chain; an
	// asynchronous one returns Pending with a Ref. Issue must be idempotent
	// on req.OrderID.
	Issue(ctx context.Context, req IssueRequest) (IssueResult, error)
	// Poll asks about a Ref an earlier Issue returned.
	Poll(ctx context.Context, ref string) (IssueResult, error)
	// Revoke asks the CA to revoke cert (RFC 5280 §5.3.1 reason).
	Revoke(ctx context.Context, cert *x509.Certificate, reason RevocationReason) error
	// Profiles lists what the backend offers, for operators to map
	// directory profiles onto.
	Profiles(ctx context.Context) ([]Profile, error)
}

// Synchronous is implemented by backends that issue within the Issue call
// and never return Pending (the local CA). The caller issues inline for
// them, so the subscriber gets a valid order at once; every other backend is
// driven only by the persisted, leased issuance job, so that no two
// processes ever submit the same order at the same time.
//
// A synchronous backend must keep no record of what it signs and publish
// nothing (no CT log submission, no database of its own): the caller signs
// before it records the certificate, and when two finalizations of one
// order race, the loser's certificate is discarded unseen. That is safe only
// because such a certificate never leaves the process.
type Synchronous interface {
	Synchronous() bool
}

// Checker is implemented by backends that can test, cheaply and without
// side effects, that their upstream answers and accepts their credentials
// (the CLI's `backend check` and the server's readiness probe). Errors must
// not carry credentials.
type Checker interface {
	Check(ctx context.Context) error
}
