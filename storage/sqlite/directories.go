package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/acmegate/acmegate/storage"
)

const directoryColumns = `name, disabled, settings, source, created_at, updated_at`

const (
	sqlInsertDirectory = `INSERT INTO directories (` + directoryColumns + `)
VALUES (?, ?, ?, ?, ?, ?)`
	// The upsert leaves created_at alone: a directory rewritten from the
	// configuration at every start keeps the time it first appeared.
	sqlPutDirectory = sqlInsertDirectory + `
ON CONFLICT (name) DO UPDATE SET disabled = excluded.disabled, settings = excluded.settings,
    source = excluded.source, updated_at = excluded.updated_at`
	sqlGetDirectory    = `SELECT ` + directoryColumns + ` FROM directories WHERE name = ?`
	sqlListDirectories = `SELECT ` + directoryColumns + ` FROM directories ORDER BY name`
)

// directoryArgs are the values of directoryColumns for d, in order.
func directoryArgs(d *storage.Directory) []any {
	return []any{d.Name, d.Disabled, d.Settings, d.Source, tval(d.CreatedAt), tval(d.UpdatedAt)}
}

// PutDirectory inserts d or replaces the directory of the same name, keeping
// its CreatedAt.
func (s *Store) PutDirectory(ctx context.Context, d *storage.Directory) error {
	if _, err := s.writer().exec(ctx, sqlPutDirectory, directoryArgs(d)...); err != nil {
		return fmt.Errorf("sqlite: put directory %q: %w", d.Name, err)
	}
	return nil
}

// CreateDirectory inserts d; ErrConflict if the name is taken.
func (s *Store) CreateDirectory(ctx context.Context, d *storage.Directory) error {
	if _, err := s.writer().exec(ctx, sqlInsertDirectory, directoryArgs(d)...); err != nil {
		return fmt.Errorf("sqlite: create directory %q: %w", d.Name, err)
	}
	return nil
}

// GetDirectory returns the directory or ErrNotFound.
func (s *Store) GetDirectory(ctx context.Context, name string) (*storage.Directory, error) {
	d, err := scanDirectory(s.reader().queryRow(ctx, sqlGetDirectory, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("directory", name)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get directory %q: %w", name, err)
	}
	return d, nil
}

// ListDirectories returns every directory, by name.
func (s *Store) ListDirectories(ctx context.Context) ([]*storage.Directory, error) {
	out, err := queryAll(ctx, s.reader(), scanDirectory, sqlListDirectories)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list directories: %w", err)
	}
	return out, nil
}

func scanDirectory(r scanner) (*storage.Directory, error) {
	var d storage.Directory
	err := r.Scan(&d.Name, &d.Disabled, &d.Settings, &d.Source, tscan(&d.CreatedAt), tscan(&d.UpdatedAt))
	if err != nil {
		return nil, err
	}
	return &d, nil
}
