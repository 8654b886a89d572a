// Package storage owns acmegate's persistent data: the Store interface, its
// SQLite (embedded default) and PostgreSQL implementations, the versioned
// migrations, and the conformance suite every implementation passes
// (storage/storagetest).
//
// Storage knows the shape of the data and the transitions that must be atomic
// (an order and its new authorizations, a challenge and its job, an order and
// its certificate), nothing of HTTP or of ACME semantics beyond that. Every
// method is one transaction. Every timestamp is stored and returned in UTC.
package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them with %w; callers test with
// errors.Is.
var (
	// ErrNotFound: the row asked for does not exist.
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict: a uniqueness rule or an optimistic-concurrency check
	// (UPDATE … WHERE status = old) refused the write. Nothing was written.
	ErrConflict = errors.New("storage: conflict")
	// ErrKeyUnusable: an EAB key cannot bind another account (single-use and
	// already bound, revoked, or expired). Nothing was written.
	ErrKeyUnusable = errors.New("storage: EAB key cannot bind another account")
	// ErrBadCursor: a Page.Cursor that no listing of this kind returned.
	ErrBadCursor = errors.New("storage: malformed page cursor")
)

// Every method that addresses a row by id MUST return ErrNotFound when the
// row does not exist, before any ErrConflict check.

// Journal is what a state transition records about itself: the order
// timeline events and the audit entries that describe it. A method taking a
// Journal writes it in the transaction of the transition, so a crash never
// keeps the one without the other, and costs no commit of its own. A nil
// Journal, or one with nothing in it, writes nothing more. Events are
// stored as AppendOrderEvents stores them (an event with neither OrderID
// nor AuthzID is refused before anything is written); audit entries are
// chained as AppendAudit chains them, in the order given, and each entry's
// Seq, PrevHash and Hash are set once the transaction has committed.
type Journal struct {
	Events []*OrderEvent
	Audit  []*AuditEntry
}

// AccountStore holds ACME accounts.
type AccountStore interface {
	// CreateAccount inserts a. It MUST return ErrConflict, and write nothing,
	// when an account with the same KeyThumbprint exists in a.Directory.
	// When a.EABKeyID is set, the same transaction binds the key: it MUST
	// return ErrKeyUnusable, writing nothing, if that key does not exist in
	// a.Directory, is revoked, expired at a.CreatedAt, or is single-use and
	// already bound, so that concurrent bindings of a single-use key let
	// exactly one account through; on success the key's Bound count grows
	// by one and its LastUsedAt is a.CreatedAt.
	CreateAccount(ctx context.Context, a *Account) error
	// GetAccount returns the account with that id or ErrNotFound.
	GetAccount(ctx context.Context, id string) (*Account, error)
	// GetAccountByThumbprint returns the account of directory dir whose key
	// has that RFC 7638 thumbprint, or ErrNotFound.
	GetAccountByThumbprint(ctx context.Context, dir, thumbprint string) (*Account, error)
	// UpdateAccount writes a's Contact, Status and UpdatedAt. It MUST return
	// ErrNotFound for an unknown id and ErrConflict when the stored account is
	// deactivated (deactivation is final, RFC 8555 §7.3.6).
	UpdateAccount(ctx context.Context, a *Account) error
	// ChangeAccountKey replaces the key of account id, provided its current
	// thumbprint is oldThumbprint. It MUST return ErrConflict when another
	// account of the same directory already has newThumbprint, or when the
	// current key is no longer oldThumbprint.
	ChangeAccountKey(ctx context.Context, id, oldThumbprint, newThumbprint string, newJWK []byte) error
}

// AccountWatcher is an optional interface of a Store: a feed of the
// accounts that change, for a cache of accounts (the protocol layer's) to
// stay correct. It is not part of Store, so a store without it (a test
// double) simply runs without such a cache.
//
// WatchAccounts calls fn with the id of every account whose row changed
// (UpdateAccount, ChangeAccountKey, the deactivations of RevokeEABKey and
// any other change of an account row), by any process sharing the
// database, after the change committed. fn("") means "anything may have
// changed": the caller MUST drop everything it derived from accounts.
//
//   - Once it is listening, WatchAccounts MUST call fn(""). Changes before
//     that may go unreported, so a cache MUST stay empty until then.
//   - While WatchAccounts runs, a change made through this Store MUST call
//     fn with the id of each account it changed, synchronously, before the
//     method that made it returns, so that the very next request of this
//     process sees the change; also when the method failed (a commit that
//     failed may have written), with fn("") if it cannot tell which
//     accounts it might have changed.
//   - A change made by another process MUST be followed by fn(id) or
//     fn("") within a bounded delay the implementation documents.
//   - When it can no longer keep that promise (its connection to the
//     database failed), WatchAccounts MUST return the error. It also
//     returns when ctx ends. Either way fn is not called after it
//     returned; the caller MUST drop everything, and may call it again.
//
// fn may be called from several goroutines at once (the in-process calls
// come from the goroutines making the changes); it must be quick and must
// not call the Store. Several WatchAccounts may run on one Store at once
// (several servers on one store); each costs what the implementation
// documents (a database connection, a poll).
type AccountWatcher interface {
	WatchAccounts(ctx context.Context, fn func(accountID string)) error
}

// AccountEpochReader is an optional interface of an AccountWatcher whose
// feed hears other processes' changes late (SQLite's polls once a second),
// for a cache to see every change at once instead: the acmegate CLI
// revoking an EAB key with its accounts shuts them out of the server's
// very next request.
type AccountEpochReader interface {
	// AccountEpoch returns a number that moves, in the transaction of the
	// change, with every change of an account row by any process. It MUST
	// be one cheap read: a cache calls it at every lookup, and drops
	// everything when it moved.
	AccountEpoch(ctx context.Context) (int64, error)
}

// DirectoryStore holds ACME directories.
type DirectoryStore interface {
	// PutDirectory inserts d or replaces the directory of the same name
	// (its Disabled, Settings, Source and UpdatedAt; CreatedAt is kept).
	PutDirectory(ctx context.Context, d *Directory) error
	// CreateDirectory inserts d; ErrConflict if the name is taken.
	CreateDirectory(ctx context.Context, d *Directory) error
	// GetDirectory returns the directory or ErrNotFound.
	GetDirectory(ctx context.Context, name string) (*Directory, error)
	// ListDirectories returns every directory, by name.
	ListDirectories(ctx context.Context) ([]*Directory, error)
}

// CatalogStore keeps what each upstream CA account offers, as an opaque
// JSON document per backend (acmegate backend sync).
type CatalogStore interface {
	// PutBackendCatalog stores catalog for backend, replacing the last one.
	PutBackendCatalog(ctx context.Context, backend string, catalog []byte, now time.Time) error
	// GetBackendCatalog returns the last catalog of backend and when it was
	// stored, or ErrNotFound.
	GetBackendCatalog(ctx context.Context, backend string) ([]byte, time.Time, error)
}

// EABStore holds External Account Binding keys.
type EABStore interface {
	// CreateEABKey inserts k; ErrConflict if the id is taken.
	CreateEABKey(ctx context.Context, k *EABKey) error
	// GetEABKey returns the key or ErrNotFound.
	GetEABKey(ctx context.Context, id string) (*EABKey, error)
	// ListEABKeys returns the keys of a directory, newest first.
	ListEABKeys(ctx context.Context, dir string) ([]*EABKey, error)
	// RevokeEABKey marks the key revoked at now and, when
	// deactivateAccounts is set, deactivates every account it bound, in one
	// transaction; it returns how many accounts it deactivated. ErrConflict
	// if the key is already revoked.
	RevokeEABKey(ctx context.Context, id string, deactivateAccounts bool, now time.Time) (int, error)
}

// OrderStore holds orders, authorizations and challenges.
type OrderStore interface {
	// CreateOrder inserts o together with the authorizations in newAuthzs
	// (and their challenges) in one transaction. o.AuthzIDs lists every
	// authorization of the order: the new ones and reused existing ones.
	// When o.ReplacesCertificateID is set, the same transaction marks that
	// certificate as replaced by o; it MUST return ErrConflict, writing
	// nothing, if the certificate is already replaced (RFC 9773 §5). j is
	// written in the same transaction.
	CreateOrder(ctx context.Context, o *Order, newAuthzs []*Authorization, j *Journal) error
	// GetOrder returns the order or ErrNotFound.
	GetOrder(ctx context.Context, id string) (*Order, error)
	// ListOrderIDs returns one page of the ids of an account's orders, newest
	// first, and the cursor of the next page ("" on the last page). A Limit
	// of 0 or less means 100; more than 1000 is capped at 1000.
	ListOrderIDs(ctx context.Context, accountID string, p Page) (ids []string, next string, err error)
	// BeginFinalize moves an order to processing, records its CSR and
	// inserts job (the issuance job that finishes the order if the caller
	// dies before it does), in one transaction, provided the order's stored
	// status is one of from. It MUST return ErrConflict, writing nothing,
	// otherwise, so two concurrent finalizations cannot both win. j is
	// written in the same transaction.
	BeginFinalize(ctx context.Context, orderID string, from []Status, csr []byte, job *Job, now time.Time, j *Journal) error
	// FinalizeOrder is finalization in one step, for a CA that issues
	// while the request waits: provided the order's stored status is one of
	// from, it records csr, inserts c and moves the order c.OrderID to
	// valid pointing at c, with j, in one transaction. It MUST return
	// ErrConflict, writing nothing, otherwise: of two concurrent
	// finalizations one wins, and the other's certificate, never stored, is
	// never handed out.
	FinalizeOrder(ctx context.Context, from []Status, csr []byte, c *Certificate, now time.Time, j *Journal) error
	// CompleteOrder inserts c, moves the order c.OrderID from processing to
	// valid pointing at c and deletes the order's issue jobs, with j, in
	// one transaction; ErrConflict if the order is not processing.
	CompleteOrder(ctx context.Context, c *Certificate, now time.Time, j *Journal) error
	// FailOrder moves an order to invalid with the problem document problem
	// (JSON) and deletes its issue jobs, with j, in one transaction. It
	// MUST return ErrConflict, writing nothing, if the order is already
	// valid or invalid.
	FailOrder(ctx context.Context, orderID string, problem []byte, now time.Time, j *Journal) error
	// SetOrderUpstreamRef records the backend's reference for an order that
	// is processing (an async backend accepted the submission); ErrConflict
	// if the order is not processing.
	SetOrderUpstreamRef(ctx context.Context, orderID, ref string) error

	// CreateAuthorization inserts a and its challenges (pre-authorization,
	// RFC 8555 §7.4.1).
	CreateAuthorization(ctx context.Context, a *Authorization) error
	// GetAuthorization returns the authorization with its challenges, or
	// ErrNotFound.
	GetAuthorization(ctx context.Context, id string) (*Authorization, error)
	// GetAuthorizations returns the authorizations with those ids, with their
	// challenges, in the order of ids; ErrNotFound if any is missing.
	GetAuthorizations(ctx context.Context, ids []string) ([]*Authorization, error)
	// FindReusableAuthorization returns an authorization of accountID for the
	// identifier (and wildcard flag) whose status is valid and which does not
	// expire before notBefore, preferring the one expiring last; ErrNotFound
	// when there is none.
	FindReusableAuthorization(ctx context.Context, accountID string, id Identifier, wildcard bool, notBefore time.Time) (*Authorization, error)
	// DeactivateAuthorization moves the authorization to deactivated if its
	// status is pending or valid; ErrConflict otherwise.
	DeactivateAuthorization(ctx context.Context, id string, now time.Time) error
	// GetChallenge returns a challenge or ErrNotFound.
	GetChallenge(ctx context.Context, id string) (*Challenge, error)
	// StartChallenge moves the challenge from pending to processing and
	// inserts job, in one transaction. It MUST return ErrConflict, writing
	// nothing, if the challenge is not pending or its authorization is not
	// pending.
	StartChallenge(ctx context.Context, challengeID string, job *Job, now time.Time) error
	// FinishChallenge records the outcome of a validation: the challenge goes
	// from pending (a validation run within the client's request) or
	// processing (one run by a job) to status (valid or invalid) with
	// problem (JSON, or nil) and the authorization follows (valid, or
	// invalid); when the challenge is valid its Validated time is now. The
	// challenge's validate jobs are deleted and j is written, in the same
	// transaction. It MUST return ErrConflict, writing nothing, if the
	// challenge is neither pending nor processing or its authorization's
	// stored status is not pending.
	FinishChallenge(ctx context.Context, challengeID string, status Status, problem []byte, now time.Time, j *Journal) error
}

// CertificateStore holds issued certificates.
type CertificateStore interface {
	// GetCertificate returns the certificate with that id or ErrNotFound.
	GetCertificate(ctx context.Context, id string) (*Certificate, error)
	// GetCertificateBySerial returns the certificate with that serial (lower
	// case hex) or ErrNotFound.
	GetCertificateBySerial(ctx context.Context, serial string) (*Certificate, error)
	// RevokeCertificate marks the certificate revoked with reason (from
	// valid or revocation-pending). It MUST return ErrConflict if it is
	// already revoked.
	RevokeCertificate(ctx context.Context, id string, reason int, now time.Time) error
	// ImportCertificate adds a certificate issued outside acmegate to the
	// inventory (its AccountID and OrderID are empty). It MUST return
	// ErrConflict, writing nothing, if its serial or id is already known.
	ImportCertificate(ctx context.Context, c *Certificate) error
	// MarkRevocationPending records a revocation the CA has not confirmed:
	// the certificate becomes revocation-pending with reason and job (the
	// revoke job that retries it) is inserted, in one transaction. It MUST
	// return ErrConflict, writing nothing, unless the certificate is valid.
	MarkRevocationPending(ctx context.Context, id string, reason int, job *Job, now time.Time) error
}

// RenewalStore holds what ARI (RFC 9773) needs beyond the inventory.
type RenewalStore interface {
	// SetRenewEarly sets or clears the operator's early-renewal flag;
	// ErrNotFound for an unknown certificate.
	SetRenewEarly(ctx context.Context, id string, early bool) error
}

// ApprovalStore holds the approval workflow of orders.
type ApprovalStore interface {
	// BeginApproval moves an order whose stored status is one of from to
	// processing, records its CSR and marks its approval pending until
	// deadline, in one transaction; ErrConflict otherwise. No job is created:
	// the issue job comes with the approval.
	BeginApproval(ctx context.Context, orderID string, from []Status, csr []byte, deadline, now time.Time) error
	// ApproveOrder records an operator's approval of a pending order and
	// inserts job (its issue job) in one transaction; ErrConflict unless the
	// order is processing with its approval pending and its deadline after
	// now (a lapsed approval cannot be approved, whether or not
	// ExpireApprovals ran).
	ApproveOrder(ctx context.Context, orderID, by, reason string, job *Job, now time.Time) error
	// RejectOrder records an operator's rejection: the approval becomes
	// rejected and the order invalid with problem (JSON), in one
	// transaction; ErrConflict under the same conditions as ApproveOrder.
	RejectOrder(ctx context.Context, orderID, by, reason string, problem []byte, now time.Time) error
	// ListPendingApprovals returns the orders of directory dir ("" for all)
	// whose approval is pending, oldest first.
	ListPendingApprovals(ctx context.Context, dir string) ([]*Order, error)
	// ExpireApprovals rejects every pending approval whose deadline is not
	// after now (ApprovalBy and ApprovalReason stay empty: no operator
	// decided), making the order invalid with problem (JSON), and returns
	// the ids of the orders it expired. Safe to run on every instance: each
	// order is expired once.
	ExpireApprovals(ctx context.Context, now time.Time, problem []byte) ([]string, error)
}

// EventStore keeps order timelines.
type EventStore interface {
	// AppendOrderEvents stores events; an event with neither OrderID nor
	// AuthzID is refused. Events of the same instant keep their order.
	AppendOrderEvents(ctx context.Context, events ...*OrderEvent) error
	// ListOrderEvents returns the events of order orderID and of the
	// authorizations authzIDs, oldest first.
	ListOrderEvents(ctx context.Context, orderID string, authzIDs []string) ([]*OrderEvent, error)
}

// LimitStore counts what rate limits are about. Counts come from the
// tables every instance shares, so limits hold across instances; two
// requests racing at the limit can both pass (the count is read, not
// reserved), which bounds the excess by the concurrency.
type LimitStore interface {
	// CountOrders counts the orders created at or after since in directory
	// dir, of account accountID when it is not "".
	CountOrders(ctx context.Context, dir, accountID string, since time.Time) (int, error)
	// CountFailedValidations counts the challenges of account accountID's
	// authorizations that became invalid at or after since.
	CountFailedValidations(ctx context.Context, accountID string, since time.Time) (int, error)
	// CountPendingAuthorizations counts account accountID's authorizations
	// that are pending and not expired at now.
	CountPendingAuthorizations(ctx context.Context, accountID string, now time.Time) (int, error)
}

// JobStore holds persisted background work. Its methods that act on a
// leased job return ErrConflict when owner does not hold the lease, which
// includes a job that no longer exists.
type JobStore interface {
	// LeaseJobs hands owner up to n jobs whose RunAt is not after now and
	// whose lease is free or expired, setting LeaseOwner and LeaseUntil =
	// now+lease and incrementing Attempts. Two concurrent callers MUST never
	// receive the same job.
	LeaseJobs(ctx context.Context, owner string, n int, now time.Time, lease time.Duration) ([]*Job, error)
	// CompleteJob deletes a job that owner holds; ErrConflict if owner no
	// longer holds the lease.
	CompleteJob(ctx context.Context, id, owner string) error
	// RetryJob releases a job that owner holds and schedules it at runAt with
	// lastError; ErrConflict if owner no longer holds the lease.
	RetryJob(ctx context.Context, id, owner string, runAt time.Time, lastError string) error
	// RenewJobLease extends the lease owner holds on job id until until (the
	// worker's heartbeat while a job runs); ErrConflict if owner no longer
	// holds it.
	RenewJobLease(ctx context.Context, id, owner string, until time.Time) error
	// ReleaseJobs clears every lease owner holds, so other workers may take
	// its jobs at once (graceful shutdown).
	ReleaseJobs(ctx context.Context, owner string) error
}

// NonceStore records redeemed nonces. Nonces are authenticated by the
// protocol layer and carry their own expiry; storage only guarantees that each
// is redeemed once, across every instance sharing the database.
type NonceStore interface {
	// RedeemNonce records the redemption of nonce id valid until expires. It
	// MUST return ErrConflict if id was redeemed before.
	RedeemNonce(ctx context.Context, id string, expires time.Time) error
	// PurgeNonces deletes redemption records that expired before now and
	// returns how many it deleted.
	PurgeNonces(ctx context.Context, now time.Time) (int64, error)
}

// SecretStore keeps small named secrets shared by every instance, such as
// the nonce authentication key.
type SecretStore interface {
	// GetOrCreateSecret returns the secret called name, inserting value first
	// if there is none yet. Concurrent callers all get the same stored value.
	GetOrCreateSecret(ctx context.Context, name string, value []byte) ([]byte, error)
}

// Store is everything acmegate persists.
type Store interface {
	DirectoryStore
	CatalogStore
	EABStore
	AccountStore
	OrderStore
	ApprovalStore
	CertificateStore
	RenewalStore
	EventStore
	LimitStore
	JobStore
	NonceStore
	SecretStore
	AdminTokenStore
	AuditStore
	NotificationStore
	InventoryStore
	SweepStore
	// Ping checks the database is reachable (readiness).
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}
