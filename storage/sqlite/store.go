// Package sqlite is the embedded default implementation of storage.Store,
// on modernc.org/sqlite (pure Go, no cgo) through database/sql.
//
// It owns the SQLite schema, its embedded migrations and the SQL that keeps
// the storage.Store contracts. It knows nothing of HTTP or of the ACME
// protocol beyond the data the interface carries; it never calls another
// acmegate package except storage.
//
// Timestamps are stored as fixed-width RFC 3339 UTC text with nanoseconds
// (see timeLayout), so comparisons and ORDER BY run on plain indexes.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	// Registers the "sqlite" database/sql driver.
	_ "modernc.org/sqlite"

	"github.com/acmegate/acmegate/storage"
)

// Store is a storage.Store on one SQLite database file.
//
// SQLite allows one writer at a time, so the store keeps two pools on the
// same file:
//
//   - write: exactly one connection, every transaction started with BEGIN
//     IMMEDIATE (_txlock=immediate). Writers queue in database/sql for that
//     connection, honouring their contexts, instead of racing for the file
//     lock inside SQLite. BEGIN IMMEDIATE takes the write lock before the
//     first read, so a transaction never has to upgrade a read lock to a
//     write lock, the case in which SQLite returns SQLITE_BUSY at once
//     without waiting for busy_timeout. busy_timeout still covers another
//     process (acmegate migrate, a backup) holding the lock.
//   - read: several connections with query_only set. In WAL mode readers
//     never block the writer nor each other, and each read transaction sees
//     one snapshot.
//
// Measured with 8 goroutines on 2 cores, one read-modify-write transaction
// per four two-query read transactions, over 2 s:
//
//	one pool of 8, deferred BEGIN     5 980 writes, 5 455 SQLITE_BUSY, 45 718 reads
//	one pool of 8, BEGIN IMMEDIATE    6 950 writes,     0 SQLITE_BUSY, 27 780 reads
//	1 writer (IMMEDIATE) + 4 readers 10 250 writes,     0 SQLITE_BUSY, 40 975 reads
//
// A shared deferred pool fails half its writes (lock upgrades); a shared
// immediate pool is correct but queues readers behind writers; split pools
// are correct and fastest. With a single write connection IMMEDIATE costs
// nothing measurable, and it keeps the guarantee against other processes.
type Store struct {
	write  *sql.DB
	read   *sql.DB
	wstmts map[string]*sql.Stmt
	rstmts map[string]*sql.Stmt
	// writes runs every write transaction on the write connection, with
	// group commit (batch.go).
	writes *committer
	// feed tells the account watchers of this process about its account
	// changes (watch.go).
	feed storage.AccountFeed
}

var _ storage.Store = (*Store)(nil)

// busyTimeoutMS is how long a connection waits for a lock another process
// holds before failing with SQLITE_BUSY.
const busyTimeoutMS = "5000"

// WAL checkpointing of the write connection (see Open): pages of WAL
// before a commit checkpoints, and the size in bytes the WAL file is
// truncated to afterwards.
const (
	walCheckpointPages = "10000"
	walSizeLimit       = "67108864"
)

// Open opens (creating if needed) the SQLite database at path, applies any
// pending migrations and prepares the store's statements. The directory
// holding path must exist.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: database path: %w", err)
	}
	// The database holds secrets (the nonce key): create it readable by
	// its owner only. SQLite gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: create database file: %w", err)
	}
	s := &Store{}
	// WAL is a property of the file; the write pool sets it on its first
	// connection, before any reader connects. synchronous=NORMAL in WAL mode
	// loses no committed transaction on a process crash, only possibly the
	// last ones on a power loss, and saves an fsync per commit.
	//
	// The commit that grows the WAL past wal_autocheckpoint pages copies
	// the WAL into the database and fsyncs both, on the write connection:
	// at SQLite's default of 1 000 pages that was 8 % of the server's CPU
	// under load. A hot page (an index's last leaf) rewritten by many
	// commits is copied once per checkpoint, so checkpointing every 10 000
	// pages (40 MiB of WAL) cuts the copying as well as the fsyncs
	// (acmebench, c = 32: -7 % CPU per issuance, +13 % issuances/s).
	// journal_size_limit truncates the WAL file back to 64 MiB after a
	// checkpoint, so a burst does not leave a large file behind.
	s.write, err = openPool(ctx, abs, url.Values{
		"_busy_timeout": {busyTimeoutMS},
		"_journal_mode": {"WAL"},
		"_foreign_keys": {"1"},
		"_synchronous":  {"NORMAL"},
		"_txlock":       {"immediate"},
		"_pragma":       {"wal_autocheckpoint=" + walCheckpointPages, "journal_size_limit=" + walSizeLimit},
	}, 1)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		return nil, errors.Join(err, s.write.Close())
	}
	s.read, err = openPool(ctx, abs, url.Values{
		"_busy_timeout": {busyTimeoutMS},
		"_foreign_keys": {"1"},
		"_query_only":   {"1"},
	}, max(4, runtime.GOMAXPROCS(0)))
	if err != nil {
		return nil, errors.Join(err, s.write.Close())
	}
	if s.wstmts, err = prepareAll(ctx, s.write); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	if s.rstmts, err = prepareAll(ctx, s.read); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	s.writes = newCommitter(s.write, s.wstmts)
	return s, nil
}

// openPool opens a database/sql pool of at most conns connections on the
// file at abs with the driver parameters params, and checks it connects.
func openPool(ctx context.Context, abs string, params url.Values, conns int) (*sql.DB, error) {
	// A file: URI, rather than a bare name, so a path holding '?' or '#'
	// cannot be mistaken for parameters; SQLite decodes the escapes.
	dsn := (&url.URL{Scheme: "file", Path: abs, RawQuery: params.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open %s: %w", abs, err), db.Close())
	}
	return db, nil
}

// Ping checks both pools reach the database.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close lets SQLite refresh its query-planner statistics (PRAGMA optimize,
// as SQLite advises before closing a connection), then closes the prepared
// statements and both pools.
func (s *Store) Close() error {
	var errs []error
	if s.writes != nil {
		s.writes.close()
	}
	if s.write != nil {
		if _, err := s.write.Exec(`PRAGMA optimize`); err != nil {
			errs = append(errs, err)
		}
	}
	for _, m := range []map[string]*sql.Stmt{s.wstmts, s.rstmts} {
		if err := closeAll(m); err != nil {
			errs = append(errs, err)
		}
	}
	s.wstmts, s.rstmts = nil, nil
	for _, db := range []*sql.DB{s.read, s.write} {
		if db == nil {
			continue
		}
		if err := db.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// writer runs single autocommit statements on the write connection.
func (s *Store) writer() queryer { return queryer{stmts: s.wstmts} }

// reader runs single statements on the read pool.
func (s *Store) reader() queryer { return queryer{stmts: s.rstmts} }

// inWrite runs fn in one write transaction (BEGIN IMMEDIATE), committing if
// fn returns nil and rolling back otherwise, so a failed method writes
// nothing. The transaction may be shared with concurrent writes (group
// commit, batch.go); fn must use the queryer it is given, and the writes
// are committed when inWrite returns nil.
func (s *Store) inWrite(ctx context.Context, fn func(q queryer) error) error {
	if s.writes == nil {
		return errClosed
	}
	return s.writes.write(ctx, fn)
}

// inRead runs fn in one read transaction, so every query in it sees the same
// snapshot.
func (s *Store) inRead(ctx context.Context, fn func(q queryer) error) error {
	return inTx(ctx, s.read, s.rstmts, fn)
}

func inTx(ctx context.Context, db *sql.DB, stmts map[string]*sql.Stmt, fn func(q queryer) error) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	// done is set once Commit has run; until then any exit, a panic in fn
	// included, rolls back and frees the connection.
	done := false
	defer func() {
		if done {
			return
		}
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			err = errors.Join(err, fmt.Errorf("sqlite: rollback: %w", rbErr))
		}
	}()
	if err := fn(queryer{stmts: stmts, tx: tx}); err != nil {
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", classify(err))
	}
	return nil
}
