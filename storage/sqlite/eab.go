package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/acmegate/acmegate/storage"
)

const eabKeyColumns = `id, directory, label, sealed_key, reusable, expires_at, revoked_at, bound,
    created_at, last_used_at`

const (
	sqlInsertEABKey = `INSERT INTO eab_keys (` + eabKeyColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlGetEABKey   = `SELECT ` + eabKeyColumns + ` FROM eab_keys WHERE id = ?`
	sqlListEABKeys = `SELECT ` + eabKeyColumns + ` FROM eab_keys WHERE directory = ?
ORDER BY created_at DESC, id DESC`
	sqlEABKeyExists = `SELECT 1 FROM eab_keys WHERE id = ?`
	// RFC 8555 §7.3.4: the binding is checked and recorded in one
	// conditional UPDATE, so the single write connection decides between
	// concurrent bindings of a single-use key. ?1 is the account's creation
	// time, ?4 the zero time (never expires, not revoked).
	sqlBindEABKey = `UPDATE eab_keys SET bound = bound + 1, last_used_at = ?1
WHERE id = ?2 AND directory = ?3 AND revoked_at = ?4
    AND (expires_at = ?4 OR expires_at > ?1) AND (reusable OR bound = 0)`
	sqlRevokeEABKey = `UPDATE eab_keys SET revoked_at = ? WHERE id = ? AND revoked_at = ?`
	// The repeated eab_key_id <> '' lets SQLite use the partial index
	// accounts_eab_key. The ids tell this process's account watchers.
	sqlDeactivateEABAccounts = `UPDATE accounts SET status = 'deactivated', updated_at = ?
WHERE eab_key_id = ? AND eab_key_id <> '' AND status = 'valid'
RETURNING id`
)

// CreateEABKey inserts k; ErrConflict if the id is taken.
func (s *Store) CreateEABKey(ctx context.Context, k *storage.EABKey) error {
	_, err := s.writer().exec(ctx, sqlInsertEABKey,
		k.ID, k.Directory, k.Label, nonNil(k.SealedKey), k.Reusable, tval(k.ExpiresAt),
		tval(k.RevokedAt), k.Bound, tval(k.CreatedAt), tval(k.LastUsedAt))
	if err != nil {
		return fmt.Errorf("sqlite: create EAB key %q: %w", k.ID, err)
	}
	return nil
}

// GetEABKey returns the key or ErrNotFound.
func (s *Store) GetEABKey(ctx context.Context, id string) (*storage.EABKey, error) {
	k, err := scanEABKey(s.reader().queryRow(ctx, sqlGetEABKey, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("EAB key", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get EAB key %q: %w", id, err)
	}
	return k, nil
}

// ListEABKeys returns the keys of dir, newest first.
func (s *Store) ListEABKeys(ctx context.Context, dir string) ([]*storage.EABKey, error) {
	out, err := queryAll(ctx, s.reader(), scanEABKey, sqlListEABKeys, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list EAB keys of %q: %w", dir, err)
	}
	return out, nil
}

// bindEABKey records that the key a.EABKeyID binds a, inside the
// transaction that inserts a; ErrKeyUnusable when the key does not exist in
// a.Directory, is revoked, has expired at a.CreatedAt or is single-use and
// already bound.
func bindEABKey(ctx context.Context, q queryer, a *storage.Account) error {
	n, err := q.execAffected(ctx, sqlBindEABKey, tval(a.CreatedAt), a.EABKeyID, a.Directory, tval(time.Time{}))
	if err != nil {
		return fmt.Errorf("bind EAB key %q: %w", a.EABKeyID, err)
	}
	if n == 0 {
		return fmt.Errorf("EAB key %q: %w", a.EABKeyID, storage.ErrKeyUnusable)
	}
	return nil
}

// RevokeEABKey marks the key revoked at now and, when deactivateAccounts is
// set, deactivates the valid accounts it bound, in one transaction.
func (s *Store) RevokeEABKey(ctx context.Context, id string, deactivateAccounts bool, now time.Time) (int, error) {
	if now.IsZero() {
		// The zero time is how the table says "not revoked".
		return 0, fmt.Errorf("sqlite: revoke EAB key %q: zero revocation time", id)
	}
	var deactivated []string
	err := s.inWrite(ctx, func(q queryer) error {
		n, err := q.execAffected(ctx, sqlRevokeEABKey, tval(now), id, tval(time.Time{}))
		if err != nil {
			return fmt.Errorf("sqlite: revoke EAB key %q: %w", id, err)
		}
		if n == 0 {
			return missingOrConflict(ctx, q, sqlEABKeyExists, "EAB key", id, "is already revoked")
		}
		if !deactivateAccounts {
			return nil
		}
		// RFC 8555 §7.3.6: a deactivated account stays deactivated, so only
		// valid accounts change.
		deactivated, err = queryAll(ctx, q, scanString, sqlDeactivateEABAccounts, tval(now), id)
		if err != nil {
			return fmt.Errorf("sqlite: deactivate accounts of EAB key %q: %w", id, err)
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
	err := r.Scan(&k.ID, &k.Directory, &k.Label, &k.SealedKey, &k.Reusable, tscan(&k.ExpiresAt),
		tscan(&k.RevokedAt), &k.Bound, tscan(&k.CreatedAt), tscan(&k.LastUsedAt))
	if err != nil {
		return nil, err
	}
	return &k, nil
}
