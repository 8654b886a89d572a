package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/acmegate/acmegate/storage"
)

// postgresSink writes with COPY on one connection, one transaction per
// batch.
type postgresSink struct {
	conn *pgx.Conn
}

// The columns COPY fills, those storage/postgres writes
// (order_events.seq is an identity column).
var (
	seedPGAccountCols = []string{"id", "directory", "status", "contact", "terms_agreed", "key_thumbprint", "key_jwk",
		"eab_key_id", "created_at", "updated_at"}
	seedPGAuthzCols = []string{"id", "directory", "account_id", "identifier_type", "identifier_value", "wildcard",
		"status", "expires", "created_at", "updated_at"}
	seedPGChallengeCols = []string{"id", "authz_id", "position", "type", "status", "token", "validated", "error",
		"updated_at", "account_id"}
	seedPGOrderCols = []string{"id", "directory", "account_id", "status", "expires", "not_before", "not_after",
		"identifiers", "authz_ids", "error", "csr", "certificate_id", "profile", "upstream_ref", "created_at", "updated_at",
		"approval", "approval_by", "approval_reason", "approval_deadline", "replaces", "replaces_certificate_id"}
	seedPGCertificateCols = []string{"id", "directory", "account_id", "order_id", "serial", "issuer", "names",
		"not_before", "not_after", "chain_pem", "alternates", "profile", "backend", "upstream_ref", "status",
		"revoked_at", "revocation_reason", "created_at", "replaced_by", "renew_early"}
	seedPGEventCols = []string{"order_id", "authz_id", "at", "kind", "actor", "identifier", "detail", "request_id"}
	seedPGAuditCols = []string{"seq", "at", "actor", "directory", "action", "object", "outcome", "client_ip", "detail",
		"prev_hash", "hash"}
)

// seedPGTables are the tables a seed writes, for VACUUM (ANALYZE).
var seedPGTables = []string{"accounts", "authorizations", "challenges", "orders", "certificates", "order_events", "audit_log"}

func openPostgresSink(ctx context.Context, dsn string) (*postgresSink, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's error quotes the URL, password included: say less.
		return nil, errors.New("-db: not a valid PostgreSQL URL")
	}
	cfg.RuntimeParams["application_name"] = "acmebench-seed"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	s := &postgresSink{conn: conn}
	var version int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return nil, errors.Join(fmt.Errorf("read the schema version (is this an acmegate database? run acmegate migrate first): %w", err), s.Close())
	}
	if version < seedSchemaVersion {
		return nil, errors.Join(fmt.Errorf("schema version %d, want at least %d: run acmegate migrate first", version, seedSchemaVersion), s.Close())
	}
	return s, nil
}

func (s *postgresSink) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.conn.Close(ctx)
}

// auditHead reads the head row AppendAudit keeps.
func (s *postgresSink) auditHead(ctx context.Context) (int64, []byte, error) {
	var seq int64
	var hash []byte
	if err := s.conn.QueryRow(ctx, `SELECT seq, hash FROM audit_head`).Scan(&seq, &hash); err != nil {
		return 0, nil, fmt.Errorf("read the audit chain's head: %w", err)
	}
	return seq, hash, nil
}

// pgTime is a nullable timestamptz as storage/postgres writes it: NULL
// for the zero time.
func pgTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// pgBytes is NULL for an empty document, as storage/postgres writes it.
func pgBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nonNilSlice[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func (s *postgresSink) copy(ctx context.Context, tx pgx.Tx, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	if n != int64(len(rows)) {
		return fmt.Errorf("copy into %s: %d rows of %d", table, n, len(rows))
	}
	return nil
}

func auditRows(audit []*storage.AuditEntry) [][]any {
	rows := make([][]any, 0, len(audit))
	for _, e := range audit {
		rows = append(rows, []any{e.Seq, e.At, e.Actor, e.Directory, e.Action, e.Object, e.Outcome, e.ClientIP,
			e.Detail, e.PrevHash, e.Hash})
	}
	return rows
}

func (s *postgresSink) writeAccounts(ctx context.Context, accounts []*storage.Account, audit []*storage.AuditEntry) error {
	rows := make([][]any, 0, len(accounts))
	for _, a := range accounts {
		rows = append(rows, []any{a.ID, a.Directory, string(a.Status), nonNilSlice(a.Contact), a.TermsAgreed,
			a.KeyThumbprint, a.KeyJWK, a.EABKeyID, a.CreatedAt, a.UpdatedAt})
	}
	return pgx.BeginFunc(ctx, s.conn, func(tx pgx.Tx) error {
		if err := s.copy(ctx, tx, "accounts", seedPGAccountCols, rows); err != nil {
			return err
		}
		return s.copy(ctx, tx, "audit_log", seedPGAuditCols, auditRows(audit))
	})
}

func (s *postgresSink) writeBatch(ctx context.Context, b *seedBatch) error {
	var authzs, challenges, orders, certs, events [][]any
	for _, a := range b.authzs {
		authzs = append(authzs, []any{a.ID, a.Directory, a.AccountID, string(a.Identifier.Type), a.Identifier.Value,
			a.Wildcard, string(a.Status), a.Expires, a.CreatedAt, a.UpdatedAt})
		for i, c := range a.Challenges {
			challenges = append(challenges, []any{c.ID, a.ID, int32(i), string(c.Type), string(c.Status), c.Token,
				pgTime(c.Validated), pgBytes(c.Error), c.UpdatedAt, a.AccountID})
		}
	}
	for _, o := range b.orders {
		orders = append(orders, []any{o.ID, o.Directory, o.AccountID, string(o.Status), o.Expires,
			pgTime(o.NotBefore), pgTime(o.NotAfter), nonNilSlice(o.Identifiers), nonNilSlice(o.AuthzIDs),
			pgBytes(o.Error), pgBytes(o.CSR), o.CertificateID, o.Profile, o.UpstreamRef, o.CreatedAt, o.UpdatedAt,
			string(o.Approval), o.ApprovalBy, o.ApprovalReason, pgTime(o.ApprovalDeadline), o.Replaces, o.ReplacesCertificateID})
	}
	for _, c := range b.certs {
		certs = append(certs, []any{c.ID, c.Directory, c.AccountID, c.OrderID, c.Serial, c.Issuer, nonNilSlice(c.Names),
			c.NotBefore, c.NotAfter, c.ChainPEM, nonNilSlice(c.Alternates), c.Profile, c.Backend, c.UpstreamRef,
			string(c.Status), pgTime(c.RevokedAt), int32(c.RevocationReason), c.CreatedAt, c.ReplacedBy, c.RenewEarly})
	}
	for _, e := range b.events {
		events = append(events, []any{e.OrderID, e.AuthzID, e.At, e.Kind, e.Actor, e.Identifier, e.Detail, e.RequestID})
	}
	return pgx.BeginFunc(ctx, s.conn, func(tx pgx.Tx) error {
		for _, t := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"authorizations", seedPGAuthzCols, authzs},
			{"challenges", seedPGChallengeCols, challenges},
			{"orders", seedPGOrderCols, orders},
			{"certificates", seedPGCertificateCols, certs},
			{"order_events", seedPGEventCols, events},
			{"audit_log", seedPGAuditCols, auditRows(b.audit)},
		} {
			if err := s.copy(ctx, tx, t.table, t.cols, t.rows); err != nil {
				return err
			}
		}
		return nil
	})
}

// finish moves the audit chain's head past the seeded entries, then
// vacuums and analyzes what was written, as autovacuum would have on a
// database filled over months (and as a test server without autovacuum
// never does).
func (s *postgresSink) finish(ctx context.Context, seq int64, hash []byte) error {
	if _, err := s.conn.Exec(ctx, `UPDATE audit_head SET seq = $1, hash = $2`, seq, hash); err != nil {
		return fmt.Errorf("move the audit chain's head: %w", err)
	}
	for _, t := range seedPGTables {
		if _, err := s.conn.Exec(ctx, "VACUUM (ANALYZE) "+pgx.Identifier{t}.Sanitize()); err != nil {
			return fmt.Errorf("vacuum %s: %w", t, err)
		}
	}
	return nil
}
