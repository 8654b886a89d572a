package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

const accountColumns = `id, directory, status, contact, terms_agreed, key_thumbprint, key_jwk,
    eab_key_id, created_at, updated_at`

const (
	sqlInsertAccount = `INSERT INTO accounts (` + accountColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	// RFC 8555 §7.3.4: the key is bound, and the account inserted, only if
	// the key exists in the account's directory, is not revoked, has not
	// expired at the account's creation ($9) and is reusable or still
	// unbound. Concurrent bindings of a single-use key queue on the key's
	// row lock; each re-checks bound = 0 once the one before it commits,
	// so exactly one matches. A duplicate thumbprint or id fails the whole
	// statement, the binding with it. When the key refuses, the final
	// SELECT also says whether the thumbprint (or the id) was taken, so
	// that case reports ErrConflict as it does without a key.
	sqlInsertAccountEAB = `WITH bound AS (
    UPDATE eab_keys SET bound = bound + 1, last_used_at = $9
    WHERE id = $8 AND directory = $2 AND revoked_at IS NULL
        AND (expires_at IS NULL OR expires_at > $9) AND (reusable OR bound = 0)
    RETURNING id),
inserted AS (
    INSERT INTO accounts (` + accountColumns + `)
    SELECT $1::text, $2::text, $3::text, $4::text[], $5::boolean, $6::text, $7::bytea, bound.id,
           $9::timestamptz, $10::timestamptz
    FROM bound)
SELECT EXISTS (SELECT 1 FROM bound),
    EXISTS (SELECT 1 FROM accounts WHERE directory = $2 AND key_thumbprint = $6)
        OR EXISTS (SELECT 1 FROM accounts WHERE id = $1)`
	sqlGetAccount             = `SELECT ` + accountColumns + ` FROM accounts WHERE id = $1`
	sqlGetAccountByThumbprint = `SELECT ` + accountColumns + ` FROM accounts
WHERE directory = $1 AND key_thumbprint = $2`
	// RFC 8555 §7.3.6: deactivation is final, so a deactivated account
	// takes no further update.
	sqlUpdateAccount = `WITH changed AS (
    UPDATE accounts SET contact = $1, status = $2, updated_at = $3
    WHERE id = $4 AND status <> 'deactivated'
    RETURNING 1)
SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $4), EXISTS (SELECT 1 FROM changed)`
	// RFC 8555 §7.3.5: the rollover applies only if the key is still the
	// one the request was signed with. A new key taken in the directory
	// fails the unique constraint: ErrConflict.
	sqlChangeAccountKey = `WITH changed AS (
    UPDATE accounts SET key_thumbprint = $1, key_jwk = $2
    WHERE id = $3 AND key_thumbprint = $4
    RETURNING 1)
SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $3), EXISTS (SELECT 1 FROM changed)`
)

// CreateAccount inserts a; ErrConflict when its key is taken in its
// directory (the unique constraint decides, so two concurrent creations with
// the same key cannot both succeed). When a.EABKeyID is set, one statement
// binds the key and inserts a; ErrKeyUnusable when the key refuses.
func (s *Store) CreateAccount(ctx context.Context, a *storage.Account) error {
	args := []any{a.ID, a.Directory, string(a.Status), nonNil(a.Contact), a.TermsAgreed,
		a.KeyThumbprint, nonNil(a.KeyJWK), a.EABKeyID, a.CreatedAt, a.UpdatedAt}
	if a.EABKeyID == "" {
		if _, err := s.exec(ctx, sqlInsertAccount, args...); err != nil {
			return fmt.Errorf("postgres: create account %q: %w", a.ID, err)
		}
		return nil
	}
	var bound, taken bool
	if err := s.queryRow(ctx, sqlInsertAccountEAB, args...).Scan(&bound, &taken); err != nil {
		return fmt.Errorf("postgres: create account %q: %w", a.ID, err)
	}
	switch {
	case bound:
		return nil
	case taken:
		return fmt.Errorf("postgres: create account %q: id or key thumbprint taken (directory %q): %w",
			a.ID, a.Directory, storage.ErrConflict)
	default:
		return fmt.Errorf("postgres: create account %q: EAB key %q: %w", a.ID, a.EABKeyID, storage.ErrKeyUnusable)
	}
}

// GetAccount returns the account with that id or ErrNotFound.
func (s *Store) GetAccount(ctx context.Context, id string) (*storage.Account, error) {
	a, err := scanAccount(s.queryRow(ctx, sqlGetAccount, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("account", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get account %q: %w", id, err)
	}
	return a, nil
}

// GetAccountByThumbprint returns the account of dir with that key
// thumbprint or ErrNotFound.
func (s *Store) GetAccountByThumbprint(ctx context.Context, dir, thumbprint string) (*storage.Account, error) {
	a, err := scanAccount(s.queryRow(ctx, sqlGetAccountByThumbprint, dir, thumbprint))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("account with thumbprint", thumbprint)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get account by thumbprint: %w", err)
	}
	return a, nil
}

// UpdateAccount writes a's Contact, Status and UpdatedAt.
func (s *Store) UpdateAccount(ctx context.Context, a *storage.Account) error {
	// This process's watchers learn of the change before the method
	// returns; the others through the trigger of migration 0006 (watch.go).
	// Told even when the write failed: a commit that failed may still have
	// written, and a needless invalidation costs one read.
	defer s.feed.Changed(a.ID)
	return s.guarded(ctx, "update account", "account", a.ID, "is deactivated", sqlUpdateAccount,
		nonNil(a.Contact), string(a.Status), a.UpdatedAt, a.ID)
}

// ChangeAccountKey replaces the key of account id if it is still
// oldThumbprint; ErrConflict if newThumbprint is taken in the directory or
// the key changed meanwhile.
func (s *Store) ChangeAccountKey(ctx context.Context, id, oldThumbprint, newThumbprint string, newJWK []byte) error {
	defer s.feed.Changed(id)
	return s.guarded(ctx, "change key of account", "account", id, "no longer has the old key",
		sqlChangeAccountKey, newThumbprint, nonNil(newJWK), id, oldThumbprint)
}

func scanAccount(r scanner) (*storage.Account, error) {
	var a storage.Account
	var status string
	err := r.Scan(&a.ID, &a.Directory, &status, &a.Contact, &a.TermsAgreed,
		&a.KeyThumbprint, &a.KeyJWK, &a.EABKeyID, scanTime(&a.CreatedAt), scanTime(&a.UpdatedAt))
	if err != nil {
		return nil, err
	}
	a.Status = storage.Status(status)
	return &a, nil
}
