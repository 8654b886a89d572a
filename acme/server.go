// Package acme owns the RFC 8555 wire protocol: resource types, problem
// documents, JWS and nonce verification, the HTTP handlers, and the order
// lifecycle (the "authority") with its background validation and issuance
// jobs.
//
// It must not know SQL (it talks to storage.Store) nor any upstream CA API
// (it talks to ca.Backend). Validation methods live in package validation and
// identifier, key and CSR rules in package policy; acme calls both.
package acme

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/validation"
)

// Validator proves control of an identifier and checks CAA;
// *validation.Validator is the implementation.
type Validator interface {
	Validate(ctx context.Context, r validation.Request) error
	CheckCAA(ctx context.Context, r validation.CAARequest) error
}

// Meta is the directory's meta object (RFC 8555 §7.1.1).
type Meta struct {
	TermsOfService          string   `json:"termsOfService,omitempty"`
	Website                 string   `json:"website,omitempty"`
	CAAIdentities           []string `json:"caaIdentities,omitempty"`
	ExternalAccountRequired bool     `json:"externalAccountRequired"`
	// Profiles maps each profile a directory offers to its description
	// (draft-aaron-acme-profiles).
	Profiles map[string]string `json:"profiles,omitempty"`
}

// Config configures a Server. Store, Backend, Validator and BaseURL are
// required. Directories, with their policies and profiles, live in storage
// (see PutConfigDirectories).
type Config struct {
	// BaseURL is the public URL clients reach the server at, such as
	// "https://acme.example.com" (no trailing slash). Every resource URL and
	// every JWS url check derives from it, so it must be what clients see,
	// also behind a TLS-terminating proxy.
	BaseURL string
	Store   storage.Store
	// Backend is the default CA backend; Backends are more, selectable by
	// directory profiles (ProfileSettings.Backend). Names must differ.
	Backend   ca.Backend
	Backends  []ca.Backend
	Validator Validator
	// Sealer opens the EAB HMAC keys kept in storage. Without one, External
	// Account Binding is refused.
	Sealer *Sealer
	// Logger receives one event per request. Default: slog.Default().
	Logger *slog.Logger
	// Clock is the time source. Default: the system clock (UTC).
	Clock Clock
	// NonceLifetime bounds how long a nonce stays good. Default: 1h.
	NonceLifetime time.Duration
	// LocalNonces keeps nonces in this process: minting and redeeming one
	// touch no storage, but a nonce is good only at the process that
	// minted it, and not after a restart. Another instance answers
	// badNonce with a fresh nonce of its own, with which clients retry
	// (RFC 8555 §6.5). Right for one instance (SQLite), or for several
	// behind a balancer that keeps each client connection on one instance;
	// wrong behind one that spreads a client's requests over instances.
	// Default: false, nonces are shared through storage, each redemption
	// one write.
	LocalNonces bool
	// OrderLifetime is how long a new order stays pending. Default: 7 days.
	OrderLifetime time.Duration
	// PendingAuthzLifetime is how long a new authorization stays pending.
	// Default: 7 days.
	PendingAuthzLifetime time.Duration
	// ValidAuthzLifetime is how long a valid authorization is reused.
	// Default: 30 days.
	ValidAuthzLifetime time.Duration
	// ValidationRetryWindow is how long a validation that failed for a
	// transient reason (dns, connection) is retried before the challenge
	// becomes invalid. Default: 20s; negative disables retries.
	ValidationRetryWindow time.Duration
	// ValidationTimeout bounds one validation attempt, on top of the
	// validator's own timeouts. Default: 30s.
	ValidationTimeout time.Duration
	// IssuanceDeadline is how long an order may stay processing before it
	// becomes invalid. Default: 24h.
	IssuanceDeadline time.Duration
	// MaxValidity is the longest notAfter-notBefore a client may ask for.
	// Default: 90 days.
	MaxValidity time.Duration
	// RetryAfter is the Retry-After sent with processing resources.
	// Default: 1s.
	RetryAfter time.Duration
	// ProcessingHold is how long a challenge response may take: the
	// validation runs within the client's request when it settles within
	// this time (and ValidationTimeout), and otherwise the response, like
	// an authorization read, waits for the validation job in progress on
	// this instance to finish, so clients see the result without sleeping
	// a Retry-After first. Default: 2s; negative disables both: every
	// validation runs as a job and responses answer at once.
	ProcessingHold time.Duration
	// MaxBodyBytes caps request bodies. Default: 64 KiB.
	MaxBodyBytes int64
	// RequestTimeout bounds one request. Default: 30s.
	RequestTimeout time.Duration
	// OrdersPageSize is how many order URLs one page of an account's orders
	// list holds. Default: 100.
	OrdersPageSize int
	// Workers is the number of concurrent background jobs. Default: 8.
	Workers int
	// JobLease is how long a worker holds a job before another may take it
	// over; a running job renews it every third of that. Default: 30s.
	JobLease time.Duration
	// JobTimeout bounds one run of a job (one validation attempt, one
	// submission or poll); the job is retried after it. Default: 5m.
	JobTimeout time.Duration
	// InstanceID names this process in job leases. Default: a random UUID.
	InstanceID string
	// Notifier hears about approvals required, failed orders, issued and
	// revoked certificates and upstream CA errors. Default: nil, no
	// notifications.
	Notifier Notifier
	// JobHandlers run the jobs of kinds this package does not know (such as
	// notify's storage.JobDeliver), leased and retried like its own: a nil
	// error completes the job, any other error runs it again after the
	// usual backoff. Default: none; a job of an unknown kind is retried
	// until some instance knows it.
	JobHandlers map[storage.JobKind]func(ctx context.Context, j *storage.Job) error
	// Sweeps run on every sweep tick (once a minute, on every instance; use
	// storage.SweepStore.ClaimSweep for work that must run once across
	// instances), after the built-in ones. Default: none.
	Sweeps []func(ctx context.Context, now time.Time)
	// Metrics records Prometheus metrics (see NewMetrics). Default: nil, no
	// metrics.
	Metrics *Metrics
	// AccountCacheTTL is how long an account and its parsed key stay
	// cached for the kid-signed requests (accountcache.go). The cache works
	// only with a Store that implements storage.AccountWatcher, and only
	// while Run runs its feed: a change made in this process is seen by the
	// next request, one made elsewhere as soon as the feed reports it; the
	// TTL is only a backstop. Default: 60s; negative disables the cache.
	AccountCacheTTL time.Duration
}

// Server is the ACME server: handlers plus the background job runner.
type Server struct {
	cfg       Config
	baseURL   string
	store     storage.Store
	backend   ca.Backend
	backends  map[string]ca.Backend
	validator Validator
	log       *slog.Logger
	clock     Clock
	nonces    *nonceService
	dirs      *registry
	// wake nudges the job runner when a request enqueued work, so validation
	// starts at once instead of at the next poll.
	wake chan struct{}
	// done wakes requests holding for a validation outcome.
	done *waiters
	// events buffers the "downloaded" timeline events; Run appends them.
	events *eventBatch
	// metrics is cfg.Metrics; nil records nothing.
	metrics *Metrics
	// ready caches the CA backends' health for /readyz.
	ready *readiness
	// accounts caches accounts and their keys, fed by accountFeed while
	// Run runs; nil when disabled or the store has no feed.
	accounts    *accountCache
	accountFeed storage.AccountWatcher
	// accountEpoch, when the store has one, is read at every lookup of
	// the cache, so another process's changes count at once.
	accountEpoch storage.AccountEpochReader
}

// New builds a Server. It reads or creates the shared nonce key.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Backend == nil || cfg.Validator == nil {
		return nil, errors.New("acme: Store, Backend and Validator are required")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("acme: BaseURL %q must be an absolute http(s) URL without a path", cfg.BaseURL)
	}
	setDefaults(&cfg)
	s := &Server{
		cfg:       cfg,
		baseURL:   strings.TrimSuffix(cfg.BaseURL, "/"),
		store:     cfg.Store,
		backend:   cfg.Backend,
		validator: cfg.Validator,
		log:       cfg.Logger,
		clock:     cfg.Clock,
		wake:      make(chan struct{}, 1),
		done:      newWaiters(),
		events:    &eventBatch{store: cfg.Store, log: cfg.Logger},
		metrics:   cfg.Metrics,
	}
	all := append([]ca.Backend{cfg.Backend}, cfg.Backends...)
	cat, err := CatalogOf(ctx, all...)
	if err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	s.backends = map[string]ca.Backend{}
	for _, b := range all {
		s.backends[b.Name()] = b
	}
	if w, ok := cfg.Store.(storage.AccountWatcher); ok && cfg.AccountCacheTTL > 0 {
		s.accounts = newAccountCache(cfg.AccountCacheTTL, accountCacheSize, cfg.Clock, cfg.Metrics)
		s.accountFeed = w
		s.accountEpoch, _ = cfg.Store.(storage.AccountEpochReader)
	}
	s.ready = newReadiness(all, cfg.Clock, cfg.Logger)
	s.dirs = newRegistry(cfg.Store, cat, cfg.Clock)
	if cfg.LocalNonces {
		s.nonces, err = newLocalNonceService(cfg.Clock, cfg.NonceLifetime)
	} else {
		s.nonces, err = newNonceService(ctx, cfg.Store, cfg.Clock, cfg.NonceLifetime)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func setDefaults(c *Config) {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.NonceLifetime, time.Hour)
	def(&c.OrderLifetime, 7*24*time.Hour)
	def(&c.PendingAuthzLifetime, 7*24*time.Hour)
	def(&c.ValidAuthzLifetime, 30*24*time.Hour)
	def(&c.ValidationRetryWindow, 20*time.Second)
	def(&c.RequestTimeout, 30*time.Second)
	def(&c.MaxValidity, 90*24*time.Hour)
	def(&c.ValidationTimeout, 30*time.Second)
	def(&c.IssuanceDeadline, 24*time.Hour)
	def(&c.RetryAfter, time.Second)
	def(&c.ProcessingHold, 2*time.Second)
	def(&c.JobLease, 30*time.Second)
	def(&c.JobTimeout, 5*time.Minute)
	def(&c.AccountCacheTTL, time.Minute)
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.OrdersPageSize == 0 {
		c.OrdersPageSize = 100
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.InstanceID == "" {
		c.InstanceID = uuid.NewString()
	}
}

// URL helpers. Every resource of directory d lives under /acme/d/.
func (s *Server) dirURL(dir string) string { return s.baseURL + "/acme/" + dir }

func (s *Server) directoryURL(dir string) string {
	if dir == "default" {
		return s.baseURL + "/directory"
	}
	return s.dirURL(dir) + "/directory"
}
func (s *Server) accountURL(dir, id string) string { return s.dirURL(dir) + "/account/" + id }
func (s *Server) orderURL(dir, id string) string   { return s.dirURL(dir) + "/order/" + id }
func (s *Server) authzURL(dir, id string) string   { return s.dirURL(dir) + "/authz/" + id }
func (s *Server) challengeURL(dir, id string) string {
	return s.dirURL(dir) + "/chall/" + id
}
func (s *Server) certURL(dir, id string) string { return s.dirURL(dir) + "/cert/" + id }

// requestURL is the URL the client addressed, as RFC 8555 §6.4 compares it.
func (s *Server) requestURL(r *http.Request) string {
	return s.baseURL + r.URL.RequestURI()
}
