package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/acmegate/acmegate/storage"
)

const adminTokenColumns = `id, name, role, hash, created_by, created_at, expires_at, revoked_at, last_used_at`

const (
	// The primary key and admin_tokens_name refuse a taken id or name.
	sqlInsertAdminToken = `INSERT INTO admin_tokens (` + adminTokenColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlGetAdminToken   = `SELECT ` + adminTokenColumns + ` FROM admin_tokens WHERE id = ?`
	sqlListAdminTokens = `SELECT ` + adminTokenColumns + ` FROM admin_tokens
ORDER BY created_at DESC, id DESC`
	// ?3 is the zero time: not revoked.
	sqlRevokeAdminToken = `UPDATE admin_tokens SET revoked_at = ?1 WHERE id = ?2 AND revoked_at = ?3`
	sqlTouchAdminToken  = `UPDATE admin_tokens SET last_used_at = ? WHERE id = ?`
	sqlAdminTokenExists = `SELECT 1 FROM admin_tokens WHERE id = ?`
)

// CreateAdminToken inserts t; ErrConflict if its id or name is taken.
func (s *Store) CreateAdminToken(ctx context.Context, t *storage.AdminToken) error {
	_, err := s.writer().exec(ctx, sqlInsertAdminToken,
		t.ID, t.Name, string(t.Role), nonNil(t.Hash), t.CreatedBy, tval(t.CreatedAt),
		tval(t.ExpiresAt), tval(t.RevokedAt), tval(t.LastUsedAt))
	if err != nil {
		return fmt.Errorf("sqlite: create admin token %q: %w", t.ID, err)
	}
	return nil
}

// GetAdminToken returns the token with that id or ErrNotFound.
func (s *Store) GetAdminToken(ctx context.Context, id string) (*storage.AdminToken, error) {
	t, err := scanAdminToken(s.reader().queryRow(ctx, sqlGetAdminToken, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("admin token", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get admin token %q: %w", id, err)
	}
	return t, nil
}

// ListAdminTokens returns every token, newest first.
func (s *Store) ListAdminTokens(ctx context.Context) ([]*storage.AdminToken, error) {
	out, err := queryAll(ctx, s.reader(), scanAdminToken, sqlListAdminTokens)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list admin tokens: %w", err)
	}
	return out, nil
}

// RevokeAdminToken marks the token revoked at now; ErrConflict if it
// already is.
func (s *Store) RevokeAdminToken(ctx context.Context, id string, now time.Time) error {
	return s.inWrite(ctx, func(q queryer) error {
		n, err := q.execAffected(ctx, sqlRevokeAdminToken, tval(now), id, tval(time.Time{}))
		if err != nil {
			return fmt.Errorf("sqlite: revoke admin token %q: %w", id, err)
		}
		if n == 0 {
			return missingOrConflict(ctx, q, sqlAdminTokenExists, "admin token", id, "is already revoked")
		}
		return nil
	})
}

// TouchAdminToken sets the token's LastUsedAt to now; ErrNotFound for an
// unknown id.
func (s *Store) TouchAdminToken(ctx context.Context, id string, now time.Time) error {
	// SQLite counts a matched row as changed even when the value stays
	// the same, so no row means no token.
	n, err := s.writer().execAffected(ctx, sqlTouchAdminToken, tval(now), id)
	if err != nil {
		return fmt.Errorf("sqlite: touch admin token %q: %w", id, err)
	}
	if n == 0 {
		return notFound("admin token", id)
	}
	return nil
}

func scanAdminToken(r scanner) (*storage.AdminToken, error) {
	var t storage.AdminToken
	var role string
	err := r.Scan(&t.ID, &t.Name, &role, &t.Hash, &t.CreatedBy, tscan(&t.CreatedAt),
		tscan(&t.ExpiresAt), tscan(&t.RevokedAt), tscan(&t.LastUsedAt))
	if err != nil {
		return nil, err
	}
	t.Role = storage.Role(role)
	return &t, nil
}
