package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/acmegate/acmegate/storage"
)

const (
	// The primary key decides: of any number of concurrent redemptions of
	// one nonce exactly one inserts a row (RFC 8555 §6.5: a nonce is
	// accepted once).
	sqlRedeemNonce  = `INSERT INTO nonces (id, expires) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`
	sqlPurgeNonces  = `DELETE FROM nonces WHERE expires < ?`
	sqlGetSecret    = `SELECT value FROM secrets WHERE name = ?`
	sqlInsertSecret = `INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`
)

// RedeemNonce records the redemption of nonce id; ErrConflict if it was
// redeemed before.
func (s *Store) RedeemNonce(ctx context.Context, id string, expires time.Time) error {
	n, err := s.writer().execAffected(ctx, sqlRedeemNonce, id, tval(expires))
	if err != nil {
		return fmt.Errorf("sqlite: redeem nonce: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: nonce was redeemed before: %w", storage.ErrConflict)
	}
	return nil
}

// PurgeNonces deletes the redemption records that expired before now.
func (s *Store) PurgeNonces(ctx context.Context, now time.Time) (int64, error) {
	n, err := s.writer().execAffected(ctx, sqlPurgeNonces, tval(now))
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge nonces: %w", err)
	}
	return n, nil
}

// GetOrCreateSecret returns the secret called name, storing value first if
// there is none. The common case, the secret exists, costs one read; the
// insert and the read back share one write transaction so every concurrent
// caller gets the row the first insert wrote.
func (s *Store) GetOrCreateSecret(ctx context.Context, name string, value []byte) ([]byte, error) {
	var stored []byte
	err := s.reader().queryRow(ctx, sqlGetSecret, name).Scan(&stored)
	if err == nil {
		return stored, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: get secret %q: %w", name, err)
	}
	err = s.inWrite(ctx, func(q queryer) error {
		if _, err := q.exec(ctx, sqlInsertSecret, name, value); err != nil {
			return err
		}
		return q.queryRow(ctx, sqlGetSecret, name).Scan(&stored)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: create secret %q: %w", name, err)
	}
	return stored, nil
}
