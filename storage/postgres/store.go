// Package postgres is the PostgreSQL implementation of storage.Store, on pgx
// v5 and its connection pool: the engine for running several acmegate
// instances against one database (DESIGN.md §8).
//
// It owns the PostgreSQL schema, its embedded migrations and the SQL that
// keeps the storage.Store contracts. It knows nothing of HTTP or of the ACME
// protocol beyond the data the interface carries, and it never calls another
// acmegate package except storage.
//
// Every method is one statement or one transaction. Conditional writes are
// single statements: a data-modifying WITH does the optimistic-concurrency
// UPDATE (… WHERE status = old), any row that must be written with it, and
// reports in the same statement whether the addressed row exists at all. That
// is one round trip instead of BEGIN, UPDATE, SELECT, COMMIT, and the
// existence check reads the same snapshot as the UPDATE, which two statements
// of a READ COMMITTED transaction would not. RevokeEABKey is the exception
// that wants exactly that: its second statement must see the bindings that
// committed while its first waited for the key's row lock. A transition
// given a storage.Journal with something in it (journal.go) is the other:
// its statement, the journal's events and audit entries and the audit
// chain's lock share one transaction, pipelined into three round trips.
//
// PostgreSQL stores timestamps with microsecond precision: the store keeps
// instants to the microsecond (pgx truncates the rest) and returns them in
// UTC. An absent time (the zero time.Time of a free lease, an unrevoked
// certificate, a challenge not validated) is stored as NULL.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acmegate/acmegate/storage"
)

// Store is a storage.Store on a PostgreSQL database, shared safely by any
// number of Stores in any number of processes.
//
// Connection loss (a failover, a restarted server, an operator's
// pg_terminate_backend) surfaces as an error on the calls that were using,
// or next draw, a broken connection: a *pgconn.PgError with SQLSTATE 57P01
// (admin_shutdown) or 57P02, or a network error such as unexpected EOF. Such
// an error is neither storage.ErrNotFound nor storage.ErrConflict, so callers
// treat it as an internal error. A statement that failed that way before
// COMMIT wrote nothing; one that failed during its commit may or may not
// have committed, as with any database. On the first such error the store
// resets the pool (see fail), so the connections opened before the failure
// are discarded together and the next call dials a fresh one, instead of
// each caller meeting its own dead connection in turn. Nothing hangs: every
// call is bounded by its context and by the pool's connect timeout.
type Store struct {
	pool   *pgxpool.Pool
	schema string // "" when the connection string's search_path decides
	log    *slog.Logger
	// feed tells the account watchers of this process about its account
	// changes (watch.go).
	feed storage.AccountFeed
}

var _ storage.Store = (*Store)(nil)

// Pool defaults, applied when neither an Option nor the connection string
// sets them.
const (
	// DefaultMaxConns is the pool size: enough for a busy instance's
	// requests and workers, small enough that a few instances stay well
	// under PostgreSQL's default max_connections of 100.
	DefaultMaxConns = 16
	// defaultHealthCheckPeriod is how often the pool closes connections past
	// their idle time or lifetime and tops up MinConns.
	defaultHealthCheckPeriod = 30 * time.Second
	// defaultMaxConnIdleTime closes connections a quiet instance no longer
	// needs, so a burst's connections do not sit on the server for long.
	defaultMaxConnIdleTime = 5 * time.Minute
	// defaultConnectTimeout bounds dialing and authenticating one connection;
	// pgx waits forever otherwise, when no context deadline applies.
	defaultConnectTimeout = 5 * time.Second
	// defaultApplicationName is what pg_stat_activity shows for the store's
	// connections.
	defaultApplicationName = "acmegate"
)

// Option configures Open.
type Option func(*options)

type options struct {
	schema   string
	maxConns int32
	appName  string
	log      *slog.Logger
}

// WithSchema keeps every table in the PostgreSQL schema name: Open creates
// the schema if it does not exist and sets search_path to it on every
// connection. Default: the connection string's search_path (normally
// "$user", public).
func WithSchema(name string) Option { return func(o *options) { o.schema = name } }

// WithMaxConns sets the maximum number of pooled connections. Default: the
// connection string's pool_max_conns, else DefaultMaxConns.
func WithMaxConns(n int32) Option { return func(o *options) { o.maxConns = n } }

// WithApplicationName sets the application_name of the store's connections,
// as pg_stat_activity and the server's logs show it. Default: the connection
// string's application_name, else "acmegate".
func WithApplicationName(name string) Option { return func(o *options) { o.appName = name } }

// WithLogger sets where the store logs (migrations applied). Default:
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Open connects to the PostgreSQL database at connString (a postgres:// URL
// or a keyword/value string, as pgx accepts, pool_* settings included),
// applies any pending migrations and returns the store.
func Open(ctx context.Context, connString string, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	cfg, err := poolConfig(connString, o)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: create pool: %w", err)
	}
	s := &Store{pool: pool, schema: o.schema, log: o.log}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// poolConfig turns the connection string and the options into the pool's
// configuration. Options win over the connection string, which wins over
// the package defaults.
func poolConfig(connString string, o options) (*pgxpool.Config, error) {
	// The parse errors of pgconn quote the connection string with the
	// password redacted on a best-effort basis only: never repeat them.
	errParse := errors.New("postgres: cannot parse the connection string (not shown: it may hold a password)")
	// pgconn leaves the pool_* settings among the runtime parameters, where
	// this tells which ones the operator set; pgxpool.ParseConfig removes
	// them and fills in its own defaults.
	given, err := pgconn.ParseConfig(connString)
	if err != nil {
		return nil, errParse
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, errParse
	}
	set := func(param string) bool { _, ok := given.RuntimeParams[param]; return ok }
	switch {
	case o.maxConns > 0:
		cfg.MaxConns = o.maxConns
	case o.maxConns < 0:
		return nil, fmt.Errorf("postgres: max conns %d is negative", o.maxConns)
	case !set("pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	if !set("pool_health_check_period") {
		cfg.HealthCheckPeriod = defaultHealthCheckPeriod
	}
	if !set("pool_max_conn_idle_time") {
		cfg.MaxConnIdleTime = defaultMaxConnIdleTime
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	params := cfg.ConnConfig.RuntimeParams
	switch {
	case o.appName != "":
		params["application_name"] = o.appName
	case params["application_name"] == "":
		params["application_name"] = defaultApplicationName
	}
	if o.schema != "" {
		if err := validSchemaName(o.schema); err != nil {
			return nil, err
		}
		// A startup parameter rather than a SET in AfterConnect: it costs
		// no round trip, and no connection can ever run without it.
		params["search_path"] = pgx.Identifier{o.schema}.Sanitize()
	}
	return cfg, nil
}

// validSchemaName refuses names PostgreSQL would truncate or reject. The
// name is always quoted, so any other character is safe.
func validSchemaName(name string) error {
	switch {
	case len(name) > 63:
		return fmt.Errorf("postgres: schema name %q is longer than 63 bytes", name)
	case strings.ContainsRune(name, 0):
		return errors.New("postgres: schema name holds a NUL byte")
	case strings.HasPrefix(strings.ToLower(name), "pg_"):
		return fmt.Errorf("postgres: schema name %q: the pg_ prefix is reserved", name)
	}
	return nil
}

// Ping checks a connection to the database works (readiness).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.fail(s.pool.Ping(ctx)); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes every connection of the pool, waiting for those in use to be
// returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// fail is the single exit of every database error. It maps unique
// violations to storage.ErrConflict and, when the error says the connection
// is gone, resets the pool: a failover or a server restart kills every
// pooled connection at once, and without the reset each of them would fail
// one more request before pgxpool noticed it.
func (s *Store) fail(err error) error {
	if err == nil {
		return nil
	}
	if connectionLost(err) {
		s.pool.Reset()
	}
	return classify(err)
}

// connectionLost reports whether err means the server side of the
// connection is gone rather than that a statement failed.
func connectionLost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 is connection exception; 57P01-57P03 are an
		// administrator's or a crash's shutdown of the backend.
		return strings.HasPrefix(pgErr.Code, "08") ||
			pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The caller gave up; the connection may be fine, and pgx closes it
		// itself if a reply was left unread.
		return false
	}
	var netErr net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &netErr)
}
