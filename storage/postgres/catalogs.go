package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	sqlPutBackendCatalog = `INSERT INTO backend_catalogs (backend, catalog, synced_at) VALUES ($1, $2, $3)
ON CONFLICT (backend) DO UPDATE SET catalog = excluded.catalog, synced_at = excluded.synced_at`
	sqlGetBackendCatalog = `SELECT catalog, synced_at FROM backend_catalogs WHERE backend = $1`
)

// PutBackendCatalog stores what backend offers, replacing the last sync.
func (s *Store) PutBackendCatalog(ctx context.Context, backend string, catalog []byte, now time.Time) error {
	if _, err := s.exec(ctx, sqlPutBackendCatalog, backend, catalog, now); err != nil {
		return fmt.Errorf("postgres: put catalog of %q: %w", backend, err)
	}
	return nil
}

// GetBackendCatalog returns the last synced catalog of backend and when it
// was synced, or ErrNotFound.
func (s *Store) GetBackendCatalog(ctx context.Context, backend string) ([]byte, time.Time, error) {
	var catalog []byte
	var at time.Time
	err := s.queryRow(ctx, sqlGetBackendCatalog, backend).Scan(&catalog, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, time.Time{}, notFound("backend catalog", backend)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("postgres: get catalog of %q: %w", backend, err)
	}
	return catalog, at.UTC(), nil
}
