package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/acmegate/acmegate/storage"
)

const certificateColumns = `id, directory, account_id, order_id, serial, issuer, names,
    not_before, not_after, chain_pem, alternates, profile, backend, upstream_ref, status,
    revoked_at, revocation_reason, created_at, replaced_by, renew_early`

const (
	sqlInsertCertificate = `INSERT INTO certificates (` + certificateColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlGetCertificate         = `SELECT ` + certificateColumns + ` FROM certificates WHERE id = ?`
	sqlGetCertificateBySerial = `SELECT ` + certificateColumns + ` FROM certificates WHERE serial = ?`
	// RFC 8555 §7.6: revoking twice is an error (alreadyRevoked).
	sqlRevokeCertificate = `UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ?
WHERE id = ? AND status <> 'revoked'`
	sqlCertificateExists     = `SELECT 1 FROM certificates WHERE id = ?`
	sqlMarkRevocationPending = `UPDATE certificates SET status = 'revocation-pending', revocation_reason = ?
WHERE id = ? AND status = 'valid'`
	sqlSetRenewEarly = `UPDATE certificates SET renew_early = ? WHERE id = ?`
)

// insertCertificate inserts c; ErrConflict on a duplicate id or serial.
func insertCertificate(ctx context.Context, q queryer, c *storage.Certificate) error {
	_, err := q.exec(ctx, sqlInsertCertificate,
		c.ID, c.Directory, c.AccountID, c.OrderID, c.Serial, c.Issuer, jval(nonNil(c.Names)),
		tval(c.NotBefore), tval(c.NotAfter), nonNil(c.ChainPEM), jval(nonNil(c.Alternates)),
		c.Profile, c.Backend, c.UpstreamRef, string(c.Status),
		tval(c.RevokedAt), c.RevocationReason, tval(c.CreatedAt), c.ReplacedBy, c.RenewEarly)
	if err != nil {
		return fmt.Errorf("certificate %q: %w", c.ID, err)
	}
	return nil
}

// GetCertificate returns the certificate with that id or ErrNotFound.
func (s *Store) GetCertificate(ctx context.Context, id string) (*storage.Certificate, error) {
	c, err := scanCertificate(s.reader().queryRow(ctx, sqlGetCertificate, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("certificate", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get certificate %q: %w", id, err)
	}
	return c, nil
}

// GetCertificateBySerial returns the certificate with that serial or
// ErrNotFound.
func (s *Store) GetCertificateBySerial(ctx context.Context, serial string) (*storage.Certificate, error) {
	c, err := scanCertificate(s.reader().queryRow(ctx, sqlGetCertificateBySerial, serial))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("certificate with serial", serial)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get certificate by serial %q: %w", serial, err)
	}
	return c, nil
}

// RevokeCertificate marks the certificate revoked; ErrConflict if it
// already is.
func (s *Store) RevokeCertificate(ctx context.Context, id string, reason int, now time.Time) error {
	return s.inWrite(ctx, func(q queryer) error {
		n, err := q.execAffected(ctx, sqlRevokeCertificate, tval(now), reason, id)
		if err != nil {
			return fmt.Errorf("sqlite: revoke certificate %q: %w", id, err)
		}
		if n == 0 {
			return missingOrConflict(ctx, q, sqlCertificateExists, "certificate", id, "is already revoked")
		}
		return nil
	})
}

// SetRenewEarly sets or clears the operator's early-renewal flag;
// ErrNotFound for an unknown certificate.
func (s *Store) SetRenewEarly(ctx context.Context, id string, early bool) error {
	// SQLite counts a matched row as changed even when the value is already
	// early, so no row means no certificate.
	n, err := s.writer().execAffected(ctx, sqlSetRenewEarly, early, id)
	if err != nil {
		return fmt.Errorf("sqlite: set renew early of certificate %q: %w", id, err)
	}
	if n == 0 {
		return notFound("certificate", id)
	}
	return nil
}

func scanCertificate(r scanner) (*storage.Certificate, error) {
	var c storage.Certificate
	var status string
	err := r.Scan(&c.ID, &c.Directory, &c.AccountID, &c.OrderID, &c.Serial, &c.Issuer, jscan(&c.Names),
		tscan(&c.NotBefore), tscan(&c.NotAfter), &c.ChainPEM, jscan(&c.Alternates),
		&c.Profile, &c.Backend, &c.UpstreamRef, &status,
		tscan(&c.RevokedAt), &c.RevocationReason, tscan(&c.CreatedAt), &c.ReplacedBy, &c.RenewEarly)
	if err != nil {
		return nil, err
	}
	c.Status = storage.Status(status)
	return &c, nil
}

// MarkRevocationPending moves a valid certificate to revocation-pending and
// queues its revoke job, in one transaction.
func (s *Store) MarkRevocationPending(ctx context.Context, id string, reason int, job *storage.Job, now time.Time) error {
	if job == nil {
		return fmt.Errorf("sqlite: mark revocation pending %q: nil job", id)
	}
	return s.inWrite(ctx, func(q queryer) error {
		n, err := q.execAffected(ctx, sqlMarkRevocationPending, reason, id)
		if err != nil {
			return fmt.Errorf("sqlite: mark revocation pending %q: %w", id, err)
		}
		if n == 0 {
			return missingOrConflict(ctx, q, sqlCertificateExists, "certificate", id, "is not valid")
		}
		if err := insertJob(ctx, q, job); err != nil {
			return fmt.Errorf("sqlite: mark revocation pending %q: %w", id, err)
		}
		return nil
	})
}

// ImportCertificate inserts a certificate issued outside acmegate;
// ErrConflict on a known serial or id.
func (s *Store) ImportCertificate(ctx context.Context, c *storage.Certificate) error {
	return s.inWrite(ctx, func(q queryer) error {
		if err := insertCertificate(ctx, q, c); err != nil {
			return fmt.Errorf("sqlite: import %w", err)
		}
		return nil
	})
}
