package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"

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
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return ms, nil
}

const (
	sqlMigrationLock          = `SELECT pg_advisory_xact_lock($1)`
	sqlSchemaExists           = `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`
	sqlSchemaMigrationsExists = `SELECT to_regclass('schema_migrations') IS NOT NULL`
	sqlCreateSchemaMigrations = `CREATE TABLE schema_migrations (
    version    integer     NOT NULL PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`
	sqlMaxMigration     = `SELECT coalesce(max(version), 0) FROM schema_migrations`
	sqlMigrationApplied = `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`
	sqlRecordMigration  = `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`
)

// Migrate applies every embedded migration the database has not recorded in
// schema_migrations, in version order, each in its own transaction together
// with its record, so a failed step leaves the schema at the previous
// version (PostgreSQL's DDL is transactional). Migrate refuses a database
// whose schema is newer than this binary's. Open calls it; it is exported
// for `acmegate migrate`.
//
// Several instances may start at once: each transaction first takes a
// transaction-scoped advisory lock, keyed by the schema, and re-checks
// under it, so exactly one instance applies each step and the others wait
// for it, then find the step recorded. The lock also covers creating the
// schema and schema_migrations: CREATE … IF NOT EXISTS alone is not safe
// against a concurrent twin (both may pass the check, and one then fails on
// the catalog's unique index).
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	var current int
	err = s.migrationTx(ctx, func(tx pgx.Tx) error {
		// Create only what is missing: an instance running as a role
		// without CREATE privilege (DDL left to `acmegate migrate` under
		// another role) opens an up-to-date database without any DDL.
		var exists bool
		if s.schema != "" {
			if err := tx.QueryRow(ctx, sqlSchemaExists, s.schema).Scan(&exists); err != nil {
				return fmt.Errorf("look up schema: %w", err)
			}
			if !exists {
				if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{s.schema}.Sanitize()); err != nil {
					return fmt.Errorf("create schema: %w", err)
				}
			}
		}
		if err := tx.QueryRow(ctx, sqlSchemaMigrationsExists).Scan(&exists); err != nil {
			return fmt.Errorf("look up schema_migrations: %w", err)
		}
		if !exists {
			if _, err := tx.Exec(ctx, sqlCreateSchemaMigrations); err != nil {
				return fmt.Errorf("create schema_migrations: %w", err)
			}
		}
		if err := tx.QueryRow(ctx, sqlMaxMigration).Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if latest := len(ms); current > latest {
		return fmt.Errorf("postgres: database schema version %d is newer than this binary's %d", current, latest)
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

// apply runs one migration and records it, unless another instance already
// did.
func (s *Store) apply(ctx context.Context, m storage.Migration) error {
	applied := false
	err := s.migrationTx(ctx, func(tx pgx.Tx) error {
		var done bool
		if err := tx.QueryRow(ctx, sqlMigrationApplied, m.Version).Scan(&done); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if done {
			return nil
		}
		// No arguments: pgx sends the file with the simple protocol, which
		// runs several statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, sqlRecordMigration, m.Version, m.Name); err != nil {
			return fmt.Errorf("migration %s: record: %w", m.Name, err)
		}
		applied = true
		return nil
	})
	if err != nil {
		return err
	}
	if applied {
		s.log.InfoContext(ctx, "applied database migration", "migration", m.Name, "schema", s.schema)
	}
	return nil
}

// migrationTx runs fn in a transaction holding the schema's migration lock.
func (s *Store) migrationTx(ctx context.Context, fn func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlMigrationLock, migrationLockKey(s.schema)); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		return fn(tx)
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", s.fail(err))
	}
	return nil
}

// migrationLockKey is the advisory lock key of the migrations of schema:
// instances migrating different schemas of one database do not wait for
// each other.
func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("acmegate/migrate/" + schema))
	return int64(h.Sum64())
}
