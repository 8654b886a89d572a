package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

const (
	// The primary key decides: of any number of concurrent redemptions of
	// one nonce, from any number of instances, exactly one inserts a row
	// (RFC 8555 §6.5: a nonce is accepted once). A second inserter waits for
	// the first's transaction and then does nothing, so it never sees an
	// error for the race, only zero rows affected.
	sqlRedeemNonce  = `INSERT INTO nonces (id, expires) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`
	sqlPurgeNonces  = `DELETE FROM nonces WHERE expires < $1`
	sqlGetSecret    = `SELECT value FROM secrets WHERE name = $1`
	sqlInsertSecret = `INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`
)

// RedeemNonce records the redemption of nonce id; ErrConflict if it was
// redeemed before. One statement, one round trip.
func (s *Store) RedeemNonce(ctx context.Context, id string, expires time.Time) error {
	tag, err := s.exec(ctx, sqlRedeemNonce, id, expires)
	if err != nil {
		return fmt.Errorf("postgres: redeem nonce: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: nonce was redeemed before: %w", storage.ErrConflict)
	}
	return nil
}

// PurgeNonces deletes the redemption records that expired before now.
func (s *Store) PurgeNonces(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.exec(ctx, sqlPurgeNonces, now)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge nonces: %w", err)
	}
	return tag.RowsAffected(), nil
}

// GetOrCreateSecret returns the secret called name, storing value first if
// there is none. The common case, the secret exists, costs one read.
// Otherwise the insert and the read back are two statements, deliberately
// not one: a statement reads the snapshot taken when it started, so a read
// in the same statement as an insert that lost the race (and waited for the
// winner's commit) would not see the winner's row. The second statement
// starts after that commit and does.
func (s *Store) GetOrCreateSecret(ctx context.Context, name string, value []byte) ([]byte, error) {
	var stored []byte
	err := s.queryRow(ctx, sqlGetSecret, name).Scan(&stored)
	if err == nil {
		return stored, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: get secret %q: %w", name, err)
	}
	if _, err := s.exec(ctx, sqlInsertSecret, name, nonNil(value)); err != nil {
		return nil, fmt.Errorf("postgres: create secret %q: %w", name, err)
	}
	if err := s.queryRow(ctx, sqlGetSecret, name).Scan(&stored); err != nil {
		return nil, fmt.Errorf("postgres: read back secret %q: %w", name, err)
	}
	return stored, nil
}
