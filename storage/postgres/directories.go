package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

const directoryColumns = `name, disabled, settings, source, created_at, updated_at`

const (
	sqlInsertDirectory = `INSERT INTO directories (` + directoryColumns + `)
VALUES ($1, $2, $3, $4, $5, $6)`
	// The upsert leaves created_at alone: a directory rewritten from the
	// configuration at every start keeps the time it first appeared.
	sqlPutDirectory = sqlInsertDirectory + `
ON CONFLICT (name) DO UPDATE SET disabled = excluded.disabled, settings = excluded.settings,
    source = excluded.source, updated_at = excluded.updated_at`
	sqlGetDirectory    = `SELECT ` + directoryColumns + ` FROM directories WHERE name = $1`
	sqlListDirectories = `SELECT ` + directoryColumns + ` FROM directories ORDER BY name`
)

// directoryArgs are the values of directoryColumns for d, in order.
func directoryArgs(d *storage.Directory) []any {
	return []any{d.Name, d.Disabled, optBytes(d.Settings), d.Source, d.CreatedAt, d.UpdatedAt}
}

// PutDirectory inserts d or replaces the directory of the same name, keeping
// its CreatedAt.
func (s *Store) PutDirectory(ctx context.Context, d *storage.Directory) error {
	if _, err := s.exec(ctx, sqlPutDirectory, directoryArgs(d)...); err != nil {
		return fmt.Errorf("postgres: put directory %q: %w", d.Name, err)
	}
	return nil
}

// CreateDirectory inserts d; ErrConflict if the name is taken.
func (s *Store) CreateDirectory(ctx context.Context, d *storage.Directory) error {
	if _, err := s.exec(ctx, sqlInsertDirectory, directoryArgs(d)...); err != nil {
		return fmt.Errorf("postgres: create directory %q: %w", d.Name, err)
	}
	return nil
}

// GetDirectory returns the directory or ErrNotFound.
func (s *Store) GetDirectory(ctx context.Context, name string) (*storage.Directory, error) {
	d, err := scanDirectory(s.queryRow(ctx, sqlGetDirectory, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("directory", name)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get directory %q: %w", name, err)
	}
	return d, nil
}

// ListDirectories returns every directory, by name.
func (s *Store) ListDirectories(ctx context.Context) ([]*storage.Directory, error) {
	var out []*storage.Directory
	err := s.queryEach(ctx, func(rows pgx.Rows) error {
		d, err := scanDirectory(rows)
		if err != nil {
			return err
		}
		out = append(out, d)
		return nil
	}, sqlListDirectories)
	if err != nil {
		return nil, fmt.Errorf("postgres: list directories: %w", err)
	}
	return out, nil
}

func scanDirectory(r scanner) (*storage.Directory, error) {
	var d storage.Directory
	err := r.Scan(&d.Name, &d.Disabled, &d.Settings, &d.Source, scanTime(&d.CreatedAt), scanTime(&d.UpdatedAt))
	if err != nil {
		return nil, err
	}
	return &d, nil
}
