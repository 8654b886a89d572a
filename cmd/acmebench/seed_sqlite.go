package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	// Registers the "sqlite" database/sql driver, the one acmegate uses.
	_ "modernc.org/sqlite"

	"github.com/acmegate/acmegate/storage"
)

// sqliteTime is storage/sqlite's timestamp layout: UTC, fixed width, so
// that text order is time order; the zero time is 0001-01-01….
const sqliteTime = "2006-01-02T15:04:05.000000000Z"

// The seeder's statements, with the columns storage/sqlite writes.
const (
	seedSQLiteAccount = `INSERT INTO accounts (id, directory, status, contact, terms_agreed, key_thumbprint, key_jwk,
    eab_key_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	seedSQLiteAuthz = `INSERT INTO authorizations (id, directory, account_id, identifier_type, identifier_value,
    wildcard, status, expires, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	seedSQLiteChallenge = `INSERT INTO challenges (id, authz_id, position, type, status, token, validated, error,
    updated_at, account_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	seedSQLiteOrder = `INSERT INTO orders (id, directory, account_id, status, expires, not_before, not_after,
    identifiers, authz_ids, error, csr, certificate_id, profile, upstream_ref, created_at, updated_at,
    approval, approval_by, approval_reason, approval_deadline, replaces, replaces_certificate_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	seedSQLiteCertificate = `INSERT INTO certificates (id, directory, account_id, order_id, serial, issuer, names,
    not_before, not_after, chain_pem, alternates, profile, backend, upstream_ref, status,
    revoked_at, revocation_reason, created_at, replaced_by, renew_early)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	seedSQLiteEvent = `INSERT INTO order_events (order_id, authz_id, at, kind, actor, identifier, detail, request_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	seedSQLiteAudit = `INSERT INTO audit_log (seq, at, actor, directory, action, object, outcome, client_ip, detail,
    prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// sqliteSink writes on one connection, one transaction per batch.
type sqliteSink struct {
	db    *sql.DB
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

func openSQLiteSink(ctx context.Context, path string) (*sqliteSink, error) {
	if err := checkSQLitePath(path); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	dsn := (&url.URL{Scheme: "file", Path: abs}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", abs, err)
	}
	db.SetMaxOpenConns(1)
	s := &sqliteSink{db: db, stmts: map[string]*sql.Stmt{}}
	if err := s.open(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

func (s *sqliteSink) open(ctx context.Context) error {
	var err error
	if s.conn, err = s.db.Conn(ctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	// synchronous=OFF: a crash during the seed loses the seed, which is
	// simply run again. The page cache is the one setting that matters
	// for speed: every index of the big tables is written in random order.
	for _, p := range []string{"PRAGMA busy_timeout = 5000", "PRAGMA foreign_keys = ON",
		"PRAGMA synchronous = OFF", "PRAGMA cache_size = -524288"} {
		if _, err := s.conn.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	var version int
	if err := s.conn.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return fmt.Errorf("read the schema version (is this an acmegate database? run acmegate migrate first): %w", err)
	}
	if version < seedSchemaVersion {
		return fmt.Errorf("schema version %d, want at least %d: run acmegate migrate first", version, seedSchemaVersion)
	}
	for _, q := range []string{seedSQLiteAccount, seedSQLiteAuthz, seedSQLiteChallenge, seedSQLiteOrder,
		seedSQLiteCertificate, seedSQLiteEvent, seedSQLiteAudit} {
		st, err := s.conn.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		s.stmts[q] = st
	}
	return nil
}

func (s *sqliteSink) Close() error {
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
	}
	errs = append(errs, s.db.Close())
	return errors.Join(errs...)
}

func (s *sqliteSink) auditHead(ctx context.Context) (int64, []byte, error) {
	var seq int64
	var hash []byte
	err := s.conn.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read the audit chain's head: %w", err)
	}
	return seq, hash, nil
}

// inTx runs fn in one write transaction on the sink's connection.
func (s *sqliteSink) inTx(ctx context.Context, fn func() error) error {
	if _, err := s.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		// A context already ended cannot roll back: use a fresh one.
		_, rerr := s.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return errors.Join(err, rerr)
	}
	_, err := s.conn.ExecContext(ctx, "COMMIT")
	return err
}

func (s *sqliteSink) exec(ctx context.Context, q string, args ...any) error {
	_, err := s.stmts[q].ExecContext(ctx, args...)
	return err
}

func (s *sqliteSink) writeAccounts(ctx context.Context, accounts []*storage.Account, audit []*storage.AuditEntry) error {
	return s.inTx(ctx, func() error {
		for _, a := range accounts {
			if err := s.exec(ctx, seedSQLiteAccount, a.ID, a.Directory, string(a.Status), sqliteJSON(a.Contact),
				a.TermsAgreed, a.KeyThumbprint, a.KeyJWK, a.EABKeyID, sqliteT(a.CreatedAt), sqliteT(a.UpdatedAt)); err != nil {
				return fmt.Errorf("account %s: %w", a.ID, err)
			}
		}
		return s.writeAudit(ctx, audit)
	})
}

func (s *sqliteSink) writeAudit(ctx context.Context, audit []*storage.AuditEntry) error {
	for _, e := range audit {
		if err := s.exec(ctx, seedSQLiteAudit, e.Seq, sqliteT(e.At), e.Actor, e.Directory, e.Action, e.Object,
			e.Outcome, e.ClientIP, e.Detail, e.PrevHash, e.Hash); err != nil {
			return fmt.Errorf("audit entry %d: %w", e.Seq, err)
		}
	}
	return nil
}

func (s *sqliteSink) writeBatch(ctx context.Context, b *seedBatch) error {
	return s.inTx(ctx, func() error {
		for _, a := range b.authzs {
			if err := s.exec(ctx, seedSQLiteAuthz, a.ID, a.Directory, a.AccountID, string(a.Identifier.Type),
				a.Identifier.Value, a.Wildcard, string(a.Status), sqliteT(a.Expires), sqliteT(a.CreatedAt),
				sqliteT(a.UpdatedAt)); err != nil {
				return fmt.Errorf("authorization %s: %w", a.ID, err)
			}
			for i, c := range a.Challenges {
				if err := s.exec(ctx, seedSQLiteChallenge, c.ID, a.ID, i, string(c.Type), string(c.Status), c.Token,
					sqliteT(c.Validated), c.Error, sqliteT(c.UpdatedAt), a.AccountID); err != nil {
					return fmt.Errorf("challenge %s: %w", c.ID, err)
				}
			}
		}
		for _, o := range b.orders {
			if err := s.exec(ctx, seedSQLiteOrder, o.ID, o.Directory, o.AccountID, string(o.Status), sqliteT(o.Expires),
				sqliteT(o.NotBefore), sqliteT(o.NotAfter), sqliteJSON(o.Identifiers), sqliteJSON(o.AuthzIDs),
				o.Error, o.CSR, o.CertificateID, o.Profile, o.UpstreamRef, sqliteT(o.CreatedAt), sqliteT(o.UpdatedAt),
				string(o.Approval), o.ApprovalBy, o.ApprovalReason, sqliteT(o.ApprovalDeadline),
				o.Replaces, o.ReplacesCertificateID); err != nil {
				return fmt.Errorf("order %s: %w", o.ID, err)
			}
		}
		for _, c := range b.certs {
			if err := s.exec(ctx, seedSQLiteCertificate, c.ID, c.Directory, c.AccountID, c.OrderID, c.Serial, c.Issuer,
				sqliteJSON(c.Names), sqliteT(c.NotBefore), sqliteT(c.NotAfter), c.ChainPEM, sqliteJSON(c.Alternates),
				c.Profile, c.Backend, c.UpstreamRef, string(c.Status), sqliteT(c.RevokedAt), c.RevocationReason,
				sqliteT(c.CreatedAt), c.ReplacedBy, c.RenewEarly); err != nil {
				return fmt.Errorf("certificate %s: %w", c.ID, err)
			}
		}
		for _, e := range b.events {
			if err := s.exec(ctx, seedSQLiteEvent, e.OrderID, e.AuthzID, sqliteT(e.At), e.Kind, e.Actor,
				e.Identifier, e.Detail, e.RequestID); err != nil {
				return fmt.Errorf("event of order %q authorization %q: %w", e.OrderID, e.AuthzID, err)
			}
		}
		return s.writeAudit(ctx, b.audit)
	})
}

// finish refreshes the planner's statistics as acmegate's PRAGMA optimize
// at every shutdown would have over the database's life, and empties the
// WAL into the database so that acmegate starts on a clean file.
func (s *sqliteSink) finish(ctx context.Context, _ int64, _ []byte) error {
	for _, q := range []string{"PRAGMA optimize = 0x10002", "PRAGMA wal_checkpoint(TRUNCATE)"} {
		if _, err := s.conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// sqliteT is a timestamp as storage/sqlite stores it.
func sqliteT(t time.Time) string { return t.UTC().Format(sqliteTime) }

// sqliteJSON binds a JSON column as storage/sqlite stores it: a nil
// slice is [], never null.
func sqliteJSON[T any](v []T) sqliteJSONValue {
	if v == nil {
		v = []T{}
	}
	return sqliteJSONValue{v}
}

type sqliteJSONValue struct{ v any }

// Value implements driver.Valuer.
func (j sqliteJSONValue) Value() (driver.Value, error) {
	b, err := json.Marshal(j.v)
	if err != nil {
		return nil, fmt.Errorf("encode json column: %w", err)
	}
	return string(b), nil
}
