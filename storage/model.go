package storage

import "time"

// Status is the lifecycle state of an account, order, authorization or
// challenge, spelled as RFC 8555 §7.1.6 spells it on the wire.
type Status string

// Statuses of RFC 8555 §7.1.6 plus the certificate states the inventory uses.
const (
	StatusPending     Status = "pending"
	StatusReady       Status = "ready"
	StatusProcessing  Status = "processing"
	StatusValid       Status = "valid"
	StatusInvalid     Status = "invalid"
	StatusDeactivated Status = "deactivated"
	StatusExpired     Status = "expired"
	StatusRevoked     Status = "revoked"
	// StatusRevocationPending: revocation was asked for but the CA has not
	// confirmed it yet; a revoke job retries it.
	StatusRevocationPending Status = "revocation-pending"
)

// IdentifierType is the type of an ACME identifier (RFC 8555 §9.7.7, RFC 8738).
type IdentifierType string

// Identifier types acmegate knows.
const (
	IdentifierDNS IdentifierType = "dns"
	IdentifierIP  IdentifierType = "ip"
)

// ChallengeType names a validation method.
type ChallengeType string

// Challenge types acmegate implements.
const (
	ChallengeHTTP01    ChallengeType = "http-01"
	ChallengeDNS01     ChallengeType = "dns-01"
	ChallengeTLSALPN01 ChallengeType = "tls-alpn-01"
)

// Identifier is one name an order or authorization is about. For a wildcard
// authorization Value holds the base domain and the authorization's Wildcard
// flag is set (RFC 8555 §7.1.4).
type Identifier struct {
	Type  IdentifierType `json:"type"`
	Value string         `json:"value"`
}

// Account is an ACME account (RFC 8555 §7.1.2). Accounts belong to exactly
// one directory; the key thumbprint (RFC 7638, base64url SHA-256) is unique
// within that directory.
type Account struct {
	ID            string
	Directory     string
	Status        Status
	Contact       []string
	TermsAgreed   bool
	KeyThumbprint string
	// KeyJWK is the account public key as a JSON Web Key document.
	KeyJWK    []byte
	EABKeyID  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Order is an ACME order (RFC 8555 §7.1.3). Status holds the stored state;
// pending and ready are derived from the authorizations on read by the
// protocol layer, so storage never has to rewrite an order when one of its
// authorizations changes.
type Order struct {
	ID          string
	Directory   string
	AccountID   string
	Status      Status
	Expires     time.Time
	NotBefore   time.Time // zero when the client did not ask
	NotAfter    time.Time // zero when the client did not ask
	Identifiers []Identifier
	AuthzIDs    []string
	// Error is the RFC 7807 problem document, as JSON, that made the order
	// invalid; nil otherwise.
	Error         []byte
	CSR           []byte // DER, set when finalization starts
	CertificateID string
	Profile       string
	// UpstreamRef is the backend's reference once an async backend accepted
	// the finalized CSR.
	UpstreamRef string
	// Approval is the state of the order's approval: "" when none is
	// needed, then pending, approved or rejected (ApprovalState values).
	Approval ApprovalState
	// ApprovalBy and ApprovalReason record the operator's decision.
	ApprovalBy     string
	ApprovalReason string
	// ApprovalDeadline is when a pending approval lapses.
	ApprovalDeadline time.Time
	// Replaces is the ARI certificate identifier (RFC 9773) of the
	// certificate this order renews, as the client sent it, and
	// ReplacesCertificateID that certificate's id; both empty when none.
	Replaces              string
	ReplacesCertificateID string
	CreatedAt             time.Time
	UpdatedAt             time.Time
}

// Authorization is an ACME authorization (RFC 8555 §7.1.4) with its
// challenges.
type Authorization struct {
	ID         string
	Directory  string
	AccountID  string
	Identifier Identifier
	Wildcard   bool
	Status     Status
	Expires    time.Time
	Challenges []Challenge
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Challenge is one way to prove control of an authorization's identifier
// (RFC 8555 §8).
type Challenge struct {
	ID        string
	AuthzID   string
	Type      ChallengeType
	Status    Status
	Token     string
	Validated time.Time // zero until valid
	// Error is the problem document, as JSON, of the last failed attempt.
	Error     []byte
	UpdatedAt time.Time
}

// ApprovalState is where an order stands in the approval workflow.
type ApprovalState string

// Approval states.
const (
	ApprovalNone     ApprovalState = ""
	ApprovalPending  ApprovalState = "pending"
	ApprovalApproved ApprovalState = "approved"
	ApprovalRejected ApprovalState = "rejected"
)

// Certificate is an issued certificate as the inventory keeps it.
type Certificate struct {
	ID        string
	Directory string
	AccountID string
	OrderID   string
	// Serial is the certificate serial number in lower-case hex without
	// leading zeros, as big.Int.Text(16) prints it.
	Serial    string
	Issuer    string
	Names     []string
	NotBefore time.Time
	NotAfter  time.Time
	// ChainPEM is the leaf followed by the issuers, PEM encoded.
	ChainPEM []byte
	// Alternates are other chains for the same leaf, PEM encoded.
	Alternates [][]byte
	Profile    string
	Backend    string
	// UpstreamRef is the backend's own reference (an upstream order id).
	UpstreamRef      string
	Status           Status // valid or revoked
	RevokedAt        time.Time
	RevocationReason int
	// ReplacedBy is the id of the order that renews this certificate
	// through ARI's "replaces" (RFC 9773), "" until one does.
	ReplacedBy string
	// RenewEarly is set by an operator who wants the certificate renewed
	// now: ARI then suggests a window in the past.
	RenewEarly bool
	CreatedAt  time.Time
}

// OrderEvent is one step of an order's timeline (or of one of its
// authorizations' when AuthzID is set, since an authorization can serve
// several orders): what happened, when, and who did it.
type OrderEvent struct {
	OrderID string
	AuthzID string
	At      time.Time
	// Kind names the step: created, authorization-reused, pre-validated,
	// validated, validation-failed, finalize-requested, awaiting-approval,
	// approved, rejected, submitted, issued, downloaded, revoked, failed.
	Kind string
	// Actor is who caused it: "account:ID", "operator:NAME", "system" or
	// "backend:NAME".
	Actor      string
	Identifier string
	Detail     string
	// RequestID is the id of the HTTP request that caused the event (the
	// X-Request-Id the server logged), "" for background work.
	RequestID string
}

// JobKind says what a job does.
type JobKind string

// Job kinds.
const (
	JobValidate JobKind = "validate"
	JobIssue    JobKind = "issue"
	JobRevoke   JobKind = "revoke"
)

// Job is a unit of persisted background work. A job is leased, never owned:
// a worker that dies leaves a lease that expires, and another worker picks the
// job up.
type Job struct {
	ID       string
	Kind     JobKind
	Ref      string // challenge id for validate, order id for issue, certificate id for revoke
	RunAt    time.Time
	Attempts int
	// LeaseOwner and LeaseUntil are set while a worker holds the job.
	LeaseOwner string
	LeaseUntil time.Time
	// Deadline is when the job must give up.
	Deadline  time.Time
	LastError string
	CreatedAt time.Time
}

// Page asks for one page of a listing. Cursor is opaque to callers: it is
// the value a previous page returned as Next, or "" for the first page.
type Page struct {
	Cursor string
	Limit  int
}

// Directory is one ACME directory (a team's endpoint). Its settings
// (policy, profiles, EAB, CAA, …) belong to the protocol layer, which
// stores them as an opaque JSON document; storage only keeps them.
type Directory struct {
	Name     string
	Disabled bool
	// Settings is the directory's configuration as JSON.
	Settings []byte
	// Source says where the directory is defined: "config" for the
	// configuration file (rewritten at every start) or "runtime" for the
	// CLI and admin API.
	Source    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// EABKey is an External Account Binding key (RFC 8555 §7.3.4).
type EABKey struct {
	// ID is the key identifier handed to the subscriber.
	ID        string
	Directory string
	Label     string
	// SealedKey is the HMAC key as the caller sealed it (encrypted): storage
	// never holds the key in plain text.
	SealedKey []byte
	// Reusable keys may bind any number of accounts; others bind one.
	Reusable bool
	// ExpiresAt is when the key stops binding accounts; zero means never.
	ExpiresAt time.Time
	// RevokedAt is when the key was revoked; zero while it is not.
	RevokedAt time.Time
	// Bound is how many accounts the key has bound.
	Bound      int
	CreatedAt  time.Time
	LastUsedAt time.Time
}
