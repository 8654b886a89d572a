package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

const certificateColumns = `id, directory, account_id, order_id, serial, issuer, names,
    not_before, not_after, chain_pem, alternates, profile, backend, upstream_ref, status,
    revoked_at, revocation_reason, created_at, replaced_by, renew_early`

const (
	sqlGetCertificate         = `SELECT ` + certificateColumns + ` FROM certificates WHERE id = $1`
	sqlGetCertificateBySerial = `SELECT ` + certificateColumns + ` FROM certificates WHERE serial = $1`
	// RFC 8555 §7.6: revoking twice is an error (alreadyRevoked).
	sqlRevokeCertificate = `WITH changed AS (
    UPDATE certificates SET status = 'revoked', revoked_at = $2, revocation_reason = $3
    WHERE id = $1 AND status <> 'revoked'
    RETURNING 1)
SELECT EXISTS (SELECT 1 FROM certificates WHERE id = $1), EXISTS (SELECT 1 FROM changed)`
	sqlSetRenewEarly     = `UPDATE certificates SET renew_early = $2 WHERE id = $1`
	sqlImportCertificate = `INSERT INTO certificates (` + certificateColumns + `)
VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text[],
        $8::timestamptz, $9::timestamptz, $10::bytea, $11::bytea[], $12::text, $13::text,
        $14::text, $15::text, $16::timestamptz, $17::integer, $18::timestamptz, $19::text, $20::boolean)`
	sqlMarkRevocationPending = `WITH moved AS (
    UPDATE certificates SET status = 'revocation-pending', revocation_reason = $2
    WHERE id = $1 AND status = 'valid'
    RETURNING id),
queued AS (
    INSERT INTO jobs (` + jobColumns + `)
    SELECT $3::text, $4::text, $5::text, $6::timestamptz, $7::integer, $8::text,
           $9::timestamptz, $10::timestamptz, $11::text, $12::timestamptz
    FROM moved)
SELECT EXISTS (SELECT 1 FROM certificates WHERE id = $1), EXISTS (SELECT 1 FROM moved)`
)

// GetCertificate returns the certificate with that id or ErrNotFound.
func (s *Store) GetCertificate(ctx context.Context, id string) (*storage.Certificate, error) {
	c, err := scanCertificate(s.queryRow(ctx, sqlGetCertificate, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("certificate", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get certificate %q: %w", id, err)
	}
	return c, nil
}

// GetCertificateBySerial returns the certificate with that serial or
// ErrNotFound.
func (s *Store) GetCertificateBySerial(ctx context.Context, serial string) (*storage.Certificate, error) {
	c, err := scanCertificate(s.queryRow(ctx, sqlGetCertificateBySerial, serial))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("certificate with serial", serial)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get certificate by serial %q: %w", serial, err)
	}
	return c, nil
}

// RevokeCertificate marks the certificate revoked; ErrConflict if it
// already is.
func (s *Store) RevokeCertificate(ctx context.Context, id string, reason int, now time.Time) error {
	return s.guarded(ctx, "revoke certificate", "certificate", id, "is already revoked",
		sqlRevokeCertificate, id, now, reason)
}

// SetRenewEarly sets or clears the operator's early-renewal flag;
// ErrNotFound for an unknown certificate.
func (s *Store) SetRenewEarly(ctx context.Context, id string, early bool) error {
	// PostgreSQL counts a matched row as updated even when the flag already
	// had that value, so no row means no certificate.
	tag, err := s.exec(ctx, sqlSetRenewEarly, id, early)
	if err != nil {
		return fmt.Errorf("postgres: set renew early of certificate %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("certificate", id)
	}
	return nil
}

func scanCertificate(r scanner) (*storage.Certificate, error) {
	var c storage.Certificate
	var status string
	err := r.Scan(&c.ID, &c.Directory, &c.AccountID, &c.OrderID, &c.Serial, &c.Issuer, &c.Names,
		scanTime(&c.NotBefore), scanTime(&c.NotAfter), &c.ChainPEM, &c.Alternates,
		&c.Profile, &c.Backend, &c.UpstreamRef, &status,
		scanTime(&c.RevokedAt), &c.RevocationReason, scanTime(&c.CreatedAt), &c.ReplacedBy, &c.RenewEarly)
	if err != nil {
		return nil, err
	}
	c.Status = storage.Status(status)
	return &c, nil
}

// MarkRevocationPending moves a valid certificate to revocation-pending and
// queues its revoke job in the same statement.
func (s *Store) MarkRevocationPending(ctx context.Context, id string, reason int, job *storage.Job, now time.Time) error {
	if job == nil {
		return fmt.Errorf("postgres: mark revocation pending %q: nil job", id)
	}
	args := append([]any{id, reason}, jobArgs(job)...)
	return s.guarded(ctx, "mark revocation pending", "certificate", id, "is not valid", sqlMarkRevocationPending, args...)
}

// ImportCertificate inserts a certificate issued outside acmegate;
// ErrConflict on a known serial or id.
func (s *Store) ImportCertificate(ctx context.Context, c *storage.Certificate) error {
	_, err := s.exec(ctx, sqlImportCertificate,
		c.ID, c.Directory, c.AccountID, c.OrderID, c.Serial, c.Issuer, nonNil(c.Names),
		c.NotBefore, c.NotAfter, nonNil(c.ChainPEM), nonNil(c.Alternates), c.Profile, c.Backend,
		c.UpstreamRef, string(c.Status), optTime(c.RevokedAt), c.RevocationReason, c.CreatedAt, c.ReplacedBy, c.RenewEarly)
	if err != nil {
		return fmt.Errorf("postgres: import certificate %q: %w", c.ID, err)
	}
	return nil
}
