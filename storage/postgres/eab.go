package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

const eabKeyColumns = `id, directory, label, sealed_key, reusable, expires_at, revoked_at, bound,
    created_at, last_used_at`

const (
	sqlInsertEABKey = `INSERT INTO eab_keys (` + eabKeyColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	sqlGetEABKey   = `SELECT ` + eabKeyColumns + ` FROM eab_keys WHERE id = $1`
	sqlListEABKeys = `SELECT ` + eabKeyColumns + ` FROM eab_keys WHERE directory = $1
ORDER BY created_at DESC, id DESC`
	// The UPDATE waits for any binding in flight to commit and holds later
	// ones back until the transaction ends, so the accounts UPDATE that
	// follows, a new statement with a new snapshot, sees every account the
	// key bound before it was revoked, and none can bind after.
	sqlRevokeEABKey = `WITH changed AS (
    UPDATE eab_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL
    RETURNING 1)
SELECT EXISTS (SELECT 1 FROM eab_keys WHERE id = $1), EXISTS (SELECT 1 FROM changed)`
	// The repeated eab_key_id <> '' lets a generic plan use the partial
	// index accounts_eab_key. The ids tell this process's account
	// watchers.
	sqlDeactivateEABAccounts = `UPDATE accounts SET status = 'deactivated', updated_at = $2
WHERE eab_key_id = $1 AND eab_key_id <> '' AND status = 'valid'
RETURNING id`
)

// CreateEABKey inserts k; ErrConflict if the id is taken.
func (s *Store) CreateEABKey(ctx context.Context, k *storage.EABKey) error {
	_, err := s.exec(ctx, sqlInsertEABKey,
		k.ID, k.Directory, k.Label, nonNil(k.SealedKey), k.Reusable, optTime(k.ExpiresAt),
		optTime(k.RevokedAt), k.Bound, k.CreatedAt, optTime(k.LastUsedAt))
	if err != nil {
		return fmt.Errorf("postgres: create EAB key %q: %w", k.ID, err)
	}
	return nil
}

// GetEABKey returns the key or ErrNotFound.
func (s *Store) GetEABKey(ctx context.Context, id string) (*storage.EABKey, error) {
	k, err := scanEABKey(s.queryRow(ctx, sqlGetEABKey, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("EAB key", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get EAB key %q: %w", id, err)
	}
	return k, nil
}

// ListEABKeys returns the keys of dir, newest first.
func (s *Store) ListEABKeys(ctx context.Context, dir string) ([]*storage.EABKey, error) {
	var out []*storage.EABKey
	err := s.queryEach(ctx, func(rows pgx.Rows) error {
		k, err := scanEABKey(rows)
		if err != nil {
			return err
		}
		out = append(out, k)
		return nil
	}, sqlListEABKeys, dir)
	if err != nil {
		return nil, fmt.Errorf("postgres: list EAB keys of %q: %w", dir, err)
	}
	return out, nil
}

// RevokeEABKey marks the key revoked at now and, when deactivateAccounts is
// set, deactivates the valid accounts it bound, in one transaction.
//
// Unlike the store's other conditional writes this is two statements in a
// transaction: a statement's snapshot is taken before it waits for a row
// lock, so a single statement revoking the key and deactivating its
// accounts would miss an account whose binding committed while it waited. Revocation is a
// rare operator action; the extra round trips cost nothing that matters.
func (s *Store) RevokeEABKey(ctx context.Context, id string, deactivateAccounts bool, now time.Time) (int, error) {
	if now.IsZero() {
		// NULL, the zero time, is how the table says "not revoked".
		return 0, fmt.Errorf("postgres: revoke EAB key %q: zero revocation time", id)
	}
	var deactivated []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var found, changed bool
		if err := tx.QueryRow(ctx, sqlRevokeEABKey, id, now).Scan(&found, &changed); err != nil {
			return fmt.Errorf("postgres: revoke EAB key %q: %w", id, err)
		}
		switch {
		case !found:
			return notFound("EAB key", id)
		case !changed:
			return conflict("EAB key", id, "is already revoked")
		}
		if !deactivateAccounts {
			return nil
		}
		// RFC 8555 §7.3.6: a deactivated account stays deactivated, so only
		// valid accounts change.
		rows, err := tx.Query(ctx, sqlDeactivateEABAccounts, id, now)
		if err == nil {
			deactivated, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		if err != nil {
			return fmt.Errorf("postgres: deactivate accounts of EAB key %q: %w", id, err)
		}
		return nil
	})
	if err != nil {
		if deactivateAccounts && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrConflict) {
			// The commit may have failed after writing: the accounts
			// that were to be deactivated are unknown.
			s.feed.Changed("")
		}
		return 0, err
	}
	s.feed.Changed(deactivated...)
	return len(deactivated), nil
}

func scanEABKey(r scanner) (*storage.EABKey, error) {
	var k storage.EABKey
	err := r.Scan(&k.ID, &k.Directory, &k.Label, &k.SealedKey, &k.Reusable, scanTime(&k.ExpiresAt),
		scanTime(&k.RevokedAt), &k.Bound, scanTime(&k.CreatedAt), scanTime(&k.LastUsedAt))
	if err != nil {
		return nil, err
	}
	return &k, nil
}
