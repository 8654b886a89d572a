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
// the same key cannot both succeed).
func (s *Store) CreateAccount(ctx context.Context, a *storage.Account) error {
	_, err := s.exec(ctx, sqlInsertAccount,
		a.ID, a.Directory, string(a.Status), nonNil(a.Contact), a.TermsAgreed,
		a.KeyThumbprint, nonNil(a.KeyJWK), a.EABKeyID, a.CreatedAt, a.UpdatedAt)
	if err != nil {
		return fmt.Errorf("postgres: create account %q: %w", a.ID, err)
	}
	return nil
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
	return s.guarded(ctx, "update account", "account", a.ID, "is deactivated", sqlUpdateAccount,
		nonNil(a.Contact), string(a.Status), a.UpdatedAt, a.ID)
}

// ChangeAccountKey replaces the key of account id if it is still
// oldThumbprint; ErrConflict if newThumbprint is taken in the directory or
// the key changed meanwhile.
func (s *Store) ChangeAccountKey(ctx context.Context, id, oldThumbprint, newThumbprint string, newJWK []byte) error {
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
