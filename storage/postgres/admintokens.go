package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

const adminTokenColumns = `id, name, role, hash, created_by, created_at, expires_at, revoked_at, last_used_at`

const (
	// The primary key and admin_tokens_name refuse a taken id or name.
	sqlInsertAdminToken = `INSERT INTO admin_tokens (` + adminTokenColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	sqlGetAdminToken   = `SELECT ` + adminTokenColumns + ` FROM admin_tokens WHERE id = $1`
	sqlListAdminTokens = `SELECT ` + adminTokenColumns + ` FROM admin_tokens
ORDER BY created_at DESC, id DESC`
	sqlRevokeAdminToken = `WITH changed AS (
    UPDATE admin_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL
    RETURNING 1)
SELECT EXISTS (SELECT 1 FROM admin_tokens WHERE id = $1), EXISTS (SELECT 1 FROM changed)`
	sqlTouchAdminToken = `UPDATE admin_tokens SET last_used_at = $2 WHERE id = $1`
)

// CreateAdminToken inserts t; ErrConflict if its id or name is taken.
func (s *Store) CreateAdminToken(ctx context.Context, t *storage.AdminToken) error {
	_, err := s.exec(ctx, sqlInsertAdminToken,
		t.ID, t.Name, string(t.Role), nonNil(t.Hash), t.CreatedBy, t.CreatedAt,
		optTime(t.ExpiresAt), optTime(t.RevokedAt), optTime(t.LastUsedAt))
	if err != nil {
		return fmt.Errorf("postgres: create admin token %q: %w", t.ID, err)
	}
	return nil
}

// GetAdminToken returns the token with that id or ErrNotFound.
func (s *Store) GetAdminToken(ctx context.Context, id string) (*storage.AdminToken, error) {
	t, err := scanAdminToken(s.queryRow(ctx, sqlGetAdminToken, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("admin token", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get admin token %q: %w", id, err)
	}
	return t, nil
}

// ListAdminTokens returns every token, newest first.
func (s *Store) ListAdminTokens(ctx context.Context) ([]*storage.AdminToken, error) {
	var out []*storage.AdminToken
	err := s.queryEach(ctx, func(rows pgx.Rows) error {
		t, err := scanAdminToken(rows)
		if err != nil {
			return err
		}
		out = append(out, t)
		return nil
	}, sqlListAdminTokens)
	if err != nil {
		return nil, fmt.Errorf("postgres: list admin tokens: %w", err)
	}
	return out, nil
}

// RevokeAdminToken marks the token revoked at now; ErrConflict if it
// already is.
func (s *Store) RevokeAdminToken(ctx context.Context, id string, now time.Time) error {
	return s.guarded(ctx, "revoke admin token", "admin token", id, "is already revoked",
		sqlRevokeAdminToken, id, now)
}

// TouchAdminToken sets the token's LastUsedAt to now; ErrNotFound for an
// unknown id.
func (s *Store) TouchAdminToken(ctx context.Context, id string, now time.Time) error {
	tag, err := s.exec(ctx, sqlTouchAdminToken, id, now)
	if err != nil {
		return fmt.Errorf("postgres: touch admin token %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("admin token", id)
	}
	return nil
}

func scanAdminToken(r scanner) (*storage.AdminToken, error) {
	var t storage.AdminToken
	var role string
	err := r.Scan(&t.ID, &t.Name, &role, &t.Hash, &t.CreatedBy, scanTime(&t.CreatedAt),
		scanTime(&t.ExpiresAt), scanTime(&t.RevokedAt), scanTime(&t.LastUsedAt))
	if err != nil {
		return nil, err
	}
	t.Role = storage.Role(role)
	return &t, nil
}
