package sqlite

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// migrationFiles holds the schema history, one file per version named
// NNNN_what.sql. A released file is never edited: change the schema with a
// new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]storage.Migration, error) {
	ms, err := storage.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return ms, nil
}

const (
	sqlCreateSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at TEXT    NOT NULL
) STRICT`
	sqlMaxMigration     = `SELECT coalesce(max(version), 0) FROM schema_migrations`
	sqlMigrationApplied = `SELECT count(*) FROM schema_migrations WHERE version = ?`
	sqlRecordMigration  = `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`
)

// Migrate applies every embedded migration the database has not recorded in
// schema_migrations, in version order, each in its own write transaction
// together with its record, so a failed step leaves the schema at the
// previous version. Several processes may migrate the same file at once:
// BEGIN IMMEDIATE serialises them and each re-checks inside its transaction.
// Migrate refuses a database whose schema is newer than this binary's.
// Open calls it; it is exported for `acmegate migrate`.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if _, err := s.write.ExecContext(ctx, sqlCreateSchemaMigrations); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	var current int
	if err := s.write.QueryRowContext(ctx, sqlMaxMigration).Scan(&current); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if latest := len(ms); current > latest {
		return fmt.Errorf("sqlite: database schema version %d is newer than this binary's %d", current, latest)
	}
	for _, m := range ms {
		if m.Version <= current {
			continue
		}
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// apply runs one migration and records it, unless another process already
// did. It uses unprepared statements: the store prepares its statements only
// once the schema is current.
func (s *Store) apply(ctx context.Context, m storage.Migration) error {
	return inTx(ctx, s.write, nil, func(q queryer) error {
		var n int
		if err := q.tx.QueryRowContext(ctx, sqlMigrationApplied, m.Version).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
		if n > 0 {
			return nil
		}
		if _, err := q.tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
		if _, err := q.tx.ExecContext(ctx, sqlRecordMigration, m.Version, m.Name, tval(time.Now())); err != nil {
			return fmt.Errorf("sqlite: migration %s: record: %w", m.Name, err)
		}
		return nil
	})
}
