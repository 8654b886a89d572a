package sqlite

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migrationFiles holds the schema history, one file per version named
// NNNN_what.sql. A released file is never edited: change the schema with a
// new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations in version order. Versions
// must be unique and start at 1 without gaps, so a missing file is caught
// here rather than by a failing ALTER on some operator's database.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		if !ok || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("sqlite: migration %q is not named NNNN_what.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("sqlite: migration %q has no version number", name)
		}
		body, err := fs.ReadFile(migrationFiles, path.Join("migrations", name))
		if err != nil {
			return nil, fmt.Errorf("sqlite: read migration %q: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("sqlite: migration %q: want version %d", m.name, i+1)
		}
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
		if m.version <= current {
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
func (s *Store) apply(ctx context.Context, m migration) error {
	return inTx(ctx, s.write, nil, func(q queryer) error {
		var n int
		if err := q.tx.QueryRowContext(ctx, sqlMigrationApplied, m.version).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
		}
		if n > 0 {
			return nil
		}
		if _, err := q.tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
		}
		if _, err := q.tx.ExecContext(ctx, sqlRecordMigration, m.version, m.name, tval(time.Now())); err != nil {
			return fmt.Errorf("sqlite: migration %s: record: %w", m.name, err)
		}
		return nil
	})
}
