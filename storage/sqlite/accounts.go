package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/acmegate/acmegate/storage"
)

const accountColumns = `id, directory, status, contact, terms_agreed, key_thumbprint, key_jwk,
    eab_key_id, created_at, updated_at`

const (
	sqlInsertAccount = `INSERT INTO accounts (` + accountColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlGetAccount             = `SELECT ` + accountColumns + ` FROM accounts WHERE id = ?`
	sqlGetAccountByThumbprint = `SELECT ` + accountColumns + ` FROM accounts
WHERE directory = ? AND key_thumbprint = ?`
	// RFC 8555 §7.3.6: deactivation is final, so a deactivated account
	// takes no further update.
	sqlUpdateAccount = `UPDATE accounts SET contact = ?, status = ?, updated_at = ?
WHERE id = ? AND status <> 'deactivated'`
	// RFC 8555 §7.3.5: the rollover applies only if the key is still the
	// one the request was signed with.
	sqlChangeAccountKey = `UPDATE accounts SET key_thumbprint = ?, key_jwk = ?
WHERE id = ? AND key_thumbprint = ?`
	sqlAccountExists = `SELECT 1 FROM accounts WHERE id = ?`
)

// CreateAccount inserts a; ErrConflict when its key is taken in its
// directory (the unique index decides, so two concurrent creations with the
// same key cannot both succeed). When a.EABKeyID is set the same
// transaction binds that key, after the insert, so a refused account never
// consumes it; ErrKeyUnusable rolls the insert back.
func (s *Store) CreateAccount(ctx context.Context, a *storage.Account) error {
	args := []any{a.ID, a.Directory, string(a.Status), jval(nonNil(a.Contact)), a.TermsAgreed,
		a.KeyThumbprint, a.KeyJWK, a.EABKeyID, tval(a.CreatedAt), tval(a.UpdatedAt)}
	if a.EABKeyID == "" {
		if _, err := s.writer().exec(ctx, sqlInsertAccount, args...); err != nil {
			return fmt.Errorf("sqlite: create account %q: %w", a.ID, err)
		}
		return nil
	}
	err := s.inWrite(ctx, func(q queryer) error {
		if _, err := q.exec(ctx, sqlInsertAccount, args...); err != nil {
			return err
		}
		return bindEABKey(ctx, q, a)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create account %q: %w", a.ID, err)
	}
	return nil
}

// GetAccount returns the account with that id or ErrNotFound.
func (s *Store) GetAccount(ctx context.Context, id string) (*storage.Account, error) {
	a, err := scanAccount(s.reader().queryRow(ctx, sqlGetAccount, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("account", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get account %q: %w", id, err)
	}
	return a, nil
}

// GetAccountByThumbprint returns the account of dir with that key
// thumbprint or ErrNotFound.
func (s *Store) GetAccountByThumbprint(ctx context.Context, dir, thumbprint string) (*storage.Account, error) {
	a, err := scanAccount(s.reader().queryRow(ctx, sqlGetAccountByThumbprint, dir, thumbprint))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("account with thumbprint", thumbprint)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get account by thumbprint: %w", err)
	}
	return a, nil
}

// UpdateAccount writes a's Contact, Status and UpdatedAt.
func (s *Store) UpdateAccount(ctx context.Context, a *storage.Account) error {
	// Told even when the write failed: a commit that failed may still have
	// written, and a needless invalidation costs one read.
	defer s.feed.Changed(a.ID)
	return s.inWrite(ctx, func(q queryer) error {
		n, err := q.execAffected(ctx, sqlUpdateAccount,
			jval(nonNil(a.Contact)), string(a.Status), tval(a.UpdatedAt), a.ID)
		if err != nil {
			return fmt.Errorf("sqlite: update account %q: %w", a.ID, err)
		}
		if n == 0 {
			return missingOrConflict(ctx, q, sqlAccountExists, "account", a.ID, "is deactivated")
		}
		return nil
	})
}

// ChangeAccountKey replaces the key of account id if it is still
// oldThumbprint; ErrConflict if newThumbprint is taken in the directory (the
// unique index) or the key changed meanwhile.
func (s *Store) ChangeAccountKey(ctx context.Context, id, oldThumbprint, newThumbprint string, newJWK []byte) error {
	defer s.feed.Changed(id)
	return s.inWrite(ctx, func(q queryer) error {
		n, err := q.execAffected(ctx, sqlChangeAccountKey, newThumbprint, newJWK, id, oldThumbprint)
		if err != nil {
			return fmt.Errorf("sqlite: change key of account %q: %w", id, err)
		}
		if n == 0 {
			return missingOrConflict(ctx, q, sqlAccountExists, "account", id, "no longer has the old key")
		}
		return nil
	})
}

// scanner is a *sql.Row, a row or a *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanAccount(r scanner) (*storage.Account, error) {
	var a storage.Account
	var status string
	err := r.Scan(&a.ID, &a.Directory, &status, jscan(&a.Contact), &a.TermsAgreed,
		&a.KeyThumbprint, &a.KeyJWK, &a.EABKeyID, tscan(&a.CreatedAt), tscan(&a.UpdatedAt))
	if err != nil {
		return nil, err
	}
	a.Status = storage.Status(status)
	return &a, nil
}

// nonNil stores an absent list as [] rather than null, so the JSON column
// always holds an array.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
