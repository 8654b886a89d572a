package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const (
	sqlPutBackendCatalog = `INSERT INTO backend_catalogs (backend, catalog, synced_at) VALUES (?, ?, ?)
ON CONFLICT (backend) DO UPDATE SET catalog = excluded.catalog, synced_at = excluded.synced_at`
	sqlGetBackendCatalog = `SELECT catalog, synced_at FROM backend_catalogs WHERE backend = ?`
)

// PutBackendCatalog stores what backend offers, replacing the last sync.
func (s *Store) PutBackendCatalog(ctx context.Context, backend string, catalog []byte, now time.Time) error {
	if _, err := s.writer().exec(ctx, sqlPutBackendCatalog, backend, catalog, tval(now)); err != nil {
		return fmt.Errorf("sqlite: put catalog of %q: %w", backend, err)
	}
	return nil
}

// GetBackendCatalog returns the last synced catalog of backend and when it
// was synced, or ErrNotFound.
func (s *Store) GetBackendCatalog(ctx context.Context, backend string) ([]byte, time.Time, error) {
	var catalog []byte
	var at time.Time
	err := s.reader().queryRow(ctx, sqlGetBackendCatalog, backend).Scan(&catalog, tscan(&at))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, notFound("backend catalog", backend)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("sqlite: get catalog of %q: %w", backend, err)
	}
	return catalog, at, nil
}
