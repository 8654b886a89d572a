package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/acmegate/acmegate/storage"
)

// Statements run through these helpers so every error passes through fail.
// pgx prepares each distinct statement text once per connection and caches
// it (QueryExecModeCacheStatement), so a request pays for binding and
// execution, not parsing.

// exec runs a statement that returns no rows.
func (s *Store) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := s.pool.Exec(ctx, sql, args...)
	return tag, s.fail(err)
}

// inTx runs fn in one transaction, committing if fn returns nil and rolling
// back otherwise. For the few methods that need two statements, each with
// its own snapshot; the others are single statements.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.fail(pgx.BeginFunc(ctx, s.pool, fn))
}

// row is a single-row result whose error goes through fail.
type row struct {
	s *Store
	r pgx.Row
}

// Scan scans the row; pgx.ErrNoRows is returned unchanged so callers can
// turn it into storage.ErrNotFound with their own context.
func (r row) Scan(dest ...any) error { return r.s.fail(r.r.Scan(dest...)) }

// queryRow runs a statement that returns at most one row.
func (s *Store) queryRow(ctx context.Context, sql string, args ...any) row {
	return row{s: s, r: s.pool.QueryRow(ctx, sql, args...)}
}

// queryEach runs a statement and calls fn for each row it returns.
func (s *Store) queryEach(ctx context.Context, fn func(pgx.Rows) error, sql string, args ...any) error {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return s.fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return s.fail(rows.Err())
}

// sendBatch sends the batch's statements in one round trip. With no
// explicit BEGIN they run in one implicit transaction, ended by the single
// Sync pgx sends after them (PostgreSQL protocol, "Pipelining"): the first
// failing statement rolls back all of them.
func (s *Store) sendBatch(ctx context.Context, b *pgx.Batch) error {
	br := s.pool.SendBatch(ctx, b)
	var err error
	for i := 0; i < b.Len() && err == nil; i++ {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return s.fail(err)
}

// guarded runs a conditional write shaped as
//
//	WITH changed AS (UPDATE … WHERE id = $k AND <condition> RETURNING …) [, more writes]
//	SELECT EXISTS (SELECT 1 FROM <table> WHERE id = $k), EXISTS (SELECT 1 FROM changed)
//
// and turns its two answers into the contract's errors: ErrNotFound when the
// row does not exist, checked first, then ErrConflict when the condition
// refused the write. Both answers come from one snapshot, in one round trip.
// what names the operation in other errors.
func (s *Store) guarded(ctx context.Context, what, kind, id, why, sql string, args ...any) error {
	var found, changed bool
	if err := s.queryRow(ctx, sql, args...).Scan(&found, &changed); err != nil {
		return fmt.Errorf("postgres: %s %q: %w", what, id, err)
	}
	switch {
	case !found:
		return notFound(kind, id)
	case !changed:
		return conflict(kind, id, why)
	}
	return nil
}

// uniqueViolation is the SQLSTATE of unique_violation.
const uniqueViolation = "23505"

// classify maps unique violations to storage.ErrConflict, keeping the
// driver error in the chain for logs.
func classify(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		return fmt.Errorf("%w: %w", storage.ErrConflict, err)
	}
	return err
}

// notFound wraps storage.ErrNotFound with what was looked for.
func notFound(kind, id string) error {
	return fmt.Errorf("postgres: %s %q: %w", kind, id, storage.ErrNotFound)
}

// conflict wraps storage.ErrConflict with why the write was refused.
func conflict(kind, id, why string) error {
	return fmt.Errorf("postgres: %s %q %s: %w", kind, id, why, storage.ErrConflict)
}

// optTime binds t for a column where the zero time means "none": NULL.
func optTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// timeScanner reads a timestamptz into a time.Time in UTC, NULL as the zero
// time.
type timeScanner struct{ t *time.Time }

// scanTime scans a timestamptz column into t.
func scanTime(t *time.Time) *timeScanner { return &timeScanner{t} }

// ScanTimestamptz implements pgtype.TimestamptzScanner.
func (s *timeScanner) ScanTimestamptz(v pgtype.Timestamptz) error {
	switch {
	case !v.Valid:
		*s.t = time.Time{}
	case v.InfinityModifier != pgtype.Finite:
		return errors.New("postgres: stored timestamp is infinite")
	default:
		*s.t = v.Time.UTC()
	}
	return nil
}

// optBytes stores an empty document as NULL (json columns refuse "").
func optBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nonNil stores an absent list as an empty one, never NULL.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// scanner is a pgx.Row, a row or a pgx.Rows.
type scanner interface{ Scan(dest ...any) error }
