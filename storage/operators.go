package storage

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"time"
)

// What the operators' surfaces (admin API, dashboard, reports, metrics,
// notifications) need: admin tokens, the audit trail, webhooks and their
// deliveries, inventory listings and once-per-period sweeps.

// Role is what an admin token may do.
type Role string

// Admin roles, from least to most powerful.
const (
	// RoleAuditor reads everything and changes nothing.
	RoleAuditor Role = "auditor"
	// RoleOperator may also approve, reject and revoke.
	RoleOperator Role = "operator"
	// RoleAdmin may also manage directories, EAB keys, tokens and webhooks.
	RoleAdmin Role = "admin"
)

// AdminToken is a bearer token of the admin API and dashboard. Only a hash
// of its secret is stored.
type AdminToken struct {
	// ID is public: it is part of the token string and of session cookies.
	ID string
	// Name is unique among tokens; it is the actor in the audit trail.
	Name string
	Role Role
	// Hash is the SHA-256 of the token's secret part.
	Hash       []byte
	CreatedBy  string
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	RevokedAt  time.Time // zero while usable
	LastUsedAt time.Time // zero until first use
}

// AdminTokenStore holds admin tokens.
type AdminTokenStore interface {
	// CreateAdminToken inserts t; ErrConflict, writing nothing, when its ID
	// or Name is taken (also by a revoked token).
	CreateAdminToken(ctx context.Context, t *AdminToken) error
	// GetAdminToken returns the token with that id or ErrNotFound.
	GetAdminToken(ctx context.Context, id string) (*AdminToken, error)
	// ListAdminTokens returns every token, newest first.
	ListAdminTokens(ctx context.Context) ([]*AdminToken, error)
	// RevokeAdminToken marks the token revoked at now; ErrConflict if it is
	// already revoked.
	RevokeAdminToken(ctx context.Context, id string, now time.Time) error
	// TouchAdminToken sets the token's LastUsedAt to now.
	TouchAdminToken(ctx context.Context, id string, now time.Time) error
}

// AuditEntry is one append-only, hash-chained record of a security-relevant
// event.
type AuditEntry struct {
	// Seq is assigned by AppendAudit: 1 for the first entry, then +1.
	Seq int64
	At  time.Time
	// Actor is "account:ID", "token:NAME", "operator:NAME" (CLI) or "system".
	Actor     string
	Directory string
	// Action is a dotted verb such as "account.create" or "order.approve".
	Action string
	// Object names what was acted on, such as "order:ID".
	Object string
	// Outcome is "success", "failure" or "denied".
	Outcome  string
	ClientIP string
	Detail   string
	// PrevHash is the Hash of entry Seq-1 (nil for the first entry) and Hash
	// is AuditHash of this entry; both are set by AppendAudit.
	PrevHash []byte
	Hash     []byte
}

// Audit outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeDenied  = "denied"
)

// AuditHash is the chain hash of e: SHA-256 over PrevHash and every other
// field but Hash, each length-prefixed so that no two entries share an
// encoding. At counts to the microsecond, what both databases keep.
func AuditHash(e *AuditEntry) []byte {
	h := sha256.New()
	var n [8]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	put([]byte("acmegate-audit-v1"))
	put(e.PrevHash)
	put([]byte(strconv.FormatInt(e.Seq, 10)))
	put([]byte(e.At.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)))
	for _, s := range []string{e.Actor, e.Directory, e.Action, e.Object, e.Outcome, e.ClientIP, e.Detail} {
		put([]byte(s))
	}
	return h.Sum(nil)
}

// AuditFilter selects audit entries; zero fields match everything. Action
// matches a whole action or, ending in ".", every action with that prefix.
type AuditFilter struct {
	Directory string
	Actor     string
	Action    string
	Object    string
	Outcome   string
	Since     time.Time // At >= Since
	Until     time.Time // At < Until
}

// AuditStore is the audit trail.
type AuditStore interface {
	// AppendAudit truncates e.At to the microsecond, assigns e.Seq (last
	// Seq + 1), e.PrevHash (the last entry's Hash) and e.Hash = AuditHash(e),
	// and inserts it. Appends from every instance MUST be serialized so the
	// chain never forks.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns one page of the entries matching f, newest first.
	ListAudit(ctx context.Context, f AuditFilter, p Page) ([]*AuditEntry, string, error)
	// ScanAudit returns up to limit entries with Seq > after, by Seq (the
	// chain verifier's walk).
	ScanAudit(ctx context.Context, after int64, limit int) ([]*AuditEntry, error)
}

// Webhook is an HTTP endpoint notified of events.
type Webhook struct {
	ID string
	// Directory limits the webhook to one directory's events; "" means all.
	Directory string
	URL       string
	// SealedSecret is the HMAC-SHA256 signing secret, sealed by the caller.
	SealedSecret []byte
	// Events lists the event types delivered; empty means every type.
	Events    []string
	CreatedAt time.Time
}

// Delivery is one notification to one webhook or mail recipient list, and
// its delivery log.
type Delivery struct {
	ID string
	// WebhookID is set for webhook deliveries, "" for e-mail.
	WebhookID string
	// Channel is "webhook" or "email".
	Channel string
	// Target is the webhook URL or the comma-separated mail recipients.
	Target    string
	Event     string
	Directory string
	// Payload is the event as JSON.
	Payload []byte
	// Status is "pending", "delivered" or "failed" (gave up).
	Status     string
	Attempts   int
	LastError  string
	LastStatus int // HTTP status of the last webhook attempt
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// DeliveredAt is zero until delivered.
	DeliveredAt time.Time
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// JobDeliver is the kind of a job that sends one Delivery (Ref is its id).
const JobDeliver JobKind = "deliver"

// NotificationStore holds webhooks and notification deliveries.
type NotificationStore interface {
	// CreateWebhook inserts w; ErrConflict if the id is taken.
	CreateWebhook(ctx context.Context, w *Webhook) error
	// GetWebhook returns the webhook or ErrNotFound.
	GetWebhook(ctx context.Context, id string) (*Webhook, error)
	// ListWebhooks returns the webhooks that receive events of directory dir
	// (its own and the global ones), or every webhook when dir is "", oldest
	// first.
	ListWebhooks(ctx context.Context, dir string) ([]*Webhook, error)
	// DeleteWebhook deletes the webhook (its deliveries stay in the log).
	DeleteWebhook(ctx context.Context, id string) error
	// EnqueueDeliveries inserts ds and jobs (one JobDeliver per delivery) in
	// one transaction.
	EnqueueDeliveries(ctx context.Context, ds []*Delivery, jobs []*Job) error
	// GetDelivery returns the delivery or ErrNotFound.
	GetDelivery(ctx context.Context, id string) (*Delivery, error)
	// UpdateDelivery writes d's Status, Attempts, LastError, LastStatus,
	// UpdatedAt and DeliveredAt.
	UpdateDelivery(ctx context.Context, d *Delivery) error
	// ListDeliveries returns one page of the deliveries of webhook
	// webhookID ("" for every delivery, e-mail included), newest first.
	ListDeliveries(ctx context.Context, webhookID string, p Page) ([]*Delivery, string, error)
}

// AccountFilter selects accounts; zero fields match everything.
type AccountFilter struct {
	Directory string
	Status    Status
}

// OrderFilter selects orders by their stored state; zero fields match
// everything.
type OrderFilter struct {
	Directory string
	AccountID string
	// Name matches orders with an identifier whose value contains it
	// (case-insensitive).
	Name string
	// Status is the stored status (pending and ready are both stored as
	// pending).
	Status Status
	// Approval matches the approval state (ApprovalPending and so on).
	Approval ApprovalState
	// CreatedSince and CreatedBefore bound CreatedAt: [since, before).
	CreatedSince  time.Time
	CreatedBefore time.Time
	// UpdatedSince: UpdatedAt >= UpdatedSince ("failed in the last 24 h").
	UpdatedSince time.Time
}

// CertificateFilter selects certificates of the inventory; zero fields
// match everything.
type CertificateFilter struct {
	Directory string
	// Name matches certificates with a name containing it
	// (case-insensitive).
	Name   string
	Status Status
	// ExpiringBefore: NotAfter < ExpiringBefore; ExpiringAfter: NotAfter >=
	// ExpiringAfter (to leave out what has already expired).
	ExpiringBefore time.Time
	ExpiringAfter  time.Time
	// IssuedSince: CreatedAt >= IssuedSince.
	IssuedSince time.Time
	// ByExpiry sorts by NotAfter, soonest first (then id); otherwise newest
	// first.
	ByExpiry bool
}

// JobCounts is how many jobs of one kind wait, run, and have failed at
// least once (LastError set).
type JobCounts struct {
	Queued  int
	Running int
	Failing int
}

// InventoryStore answers the operators' listings.
type InventoryStore interface {
	// ListAccounts returns one page of the accounts matching f, newest first.
	ListAccounts(ctx context.Context, f AccountFilter, p Page) ([]*Account, string, error)
	// ListOrders returns one page of the orders matching f, newest first.
	ListOrders(ctx context.Context, f OrderFilter, p Page) ([]*Order, string, error)
	// ListCertificates returns one page of the certificates matching f in
	// the order f asks for.
	ListCertificates(ctx context.Context, f CertificateFilter, p Page) ([]*Certificate, string, error)
	// CountExpiringCertificates counts, per directory, the valid
	// certificates whose NotAfter is in [now, before).
	CountExpiringCertificates(ctx context.Context, now, before time.Time) (map[string]int, error)
	// CountJobs counts the jobs of each kind: queued (not leased or lease
	// expired at now), running (leased until after now) and failing.
	CountJobs(ctx context.Context, now time.Time) (map[JobKind]JobCounts, error)
	// ListFailingJobs returns up to limit jobs whose LastError is set, most
	// recently created first (upstream CA errors on the dashboard).
	ListFailingJobs(ctx context.Context, limit int) ([]*Job, error)
}

// SweepStore makes periodic work run once across every instance.
type SweepStore interface {
	// ClaimSweep returns true to exactly one caller per period: when the
	// sweep called name never ran or last ran at or before now-period, it
	// records now as its last run and returns true; otherwise false.
	// Concurrent callers on any instance MUST NOT both get true.
	ClaimSweep(ctx context.Context, name string, period time.Duration, now time.Time) (bool, error)
}

// AuditBreak describes the first entry where the audit chain does not hold.
type AuditBreak struct {
	Seq    int64
	Reason string
}

// VerifyAudit walks the whole audit trail and recomputes its chain. It
// returns the number of entries checked and, when the chain is broken, the
// first entry that does not hold (a changed field, a removed or inserted
// entry, a changed link).
func VerifyAudit(ctx context.Context, s AuditStore) (int64, *AuditBreak, error) {
	var (
		after int64
		prev  []byte
		n     int64
	)
	for {
		page, err := s.ScanAudit(ctx, after, 1000)
		if err != nil {
			return n, nil, err
		}
		if len(page) == 0 {
			return n, nil, nil
		}
		for _, e := range page {
			switch {
			case e.Seq != after+1:
				return n, &AuditBreak{Seq: e.Seq, Reason: "entry " + strconv.FormatInt(after+1, 10) + " is missing"}, nil
			case string(e.PrevHash) != string(prev):
				return n, &AuditBreak{Seq: e.Seq, Reason: "its link to the previous entry does not match"}, nil
			case string(AuditHash(e)) != string(e.Hash):
				return n, &AuditBreak{Seq: e.Seq, Reason: "its content does not match its hash"}, nil
			}
			prev, after = e.Hash, e.Seq
			n++
		}
	}
}
