package sqlite

import (
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// TestUpgradeFromVersion2 migrates a database holding rows that schema
// version 2 wrote: the challenges get their account (CountFailedValidations
// counts them) and the new columns read as "none".
func TestUpgradeFromVersion2(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "acmegate.db")
	write, err := openPool(ctx, path, url.Values{"_journal_mode": {"WAL"}, "_txlock": {"immediate"}}, 1)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	old := &Store{write: write}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}
	if _, err := write.ExecContext(ctx, sqlCreateSchemaMigrations); err != nil {
		t.Fatalf("create schema_migrations: %v", err)
	}
	for _, m := range ms[:2] {
		if err := old.apply(ctx, m); err != nil {
			t.Fatalf("apply %s: %v", m.Name, err)
		}
	}
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	ts := now.Format(timeLayout)
	zero := time.Time{}.Format(timeLayout)
	// Rows as version 2 wrote them, with version 2's column lists.
	for _, q := range []string{
		`INSERT INTO accounts (id, directory, status, contact, terms_agreed, key_thumbprint, key_jwk,
    eab_key_id, created_at, updated_at)
VALUES ('acct-1', 'default', 'valid', '[]', 1, 'tp', X'7b7d', '', ?1, ?1)`,
		`INSERT INTO authorizations (id, directory, account_id, identifier_type, identifier_value, wildcard,
    status, expires, created_at, updated_at)
VALUES ('authz-1', 'default', 'acct-1', 'dns', 'example.com', 0, 'invalid', ?1, ?1, ?1)`,
		`INSERT INTO challenges (id, authz_id, position, type, status, token, validated, error, updated_at)
VALUES ('chall-1', 'authz-1', 0, 'http-01', 'invalid', 'token', ?2, X'7b7d', ?1)`,
		`INSERT INTO orders (id, directory, account_id, status, expires, not_before, not_after, identifiers,
    authz_ids, error, csr, certificate_id, profile, upstream_ref, created_at, updated_at)
VALUES ('order-1', 'default', 'acct-1', 'valid', ?1, ?2, ?2, '[]', '["authz-1"]', NULL, NULL, 'cert-1',
    '', '', ?1, ?1)`,
		`INSERT INTO certificates (id, directory, account_id, order_id, serial, issuer, names, not_before,
    not_after, chain_pem, alternates, profile, backend, upstream_ref, status, revoked_at,
    revocation_reason, created_at)
VALUES ('cert-1', 'default', 'acct-1', 'order-1', 'abc', 'CN=test', '[]', ?1, ?1, X'00', '[]', '',
    'local', '', 'valid', ?2, 0, ?1)`,
	} {
		if _, err := write.ExecContext(ctx, q, ts, zero); err != nil {
			t.Fatalf("version 2 insert %.40q: %v", q, err)
		}
	}
	if err := write.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s := openAt(t, path)
	o, err := s.GetOrder(ctx, "order-1")
	if err != nil {
		t.Fatalf("GetOrder: %v", err)
	}
	if o.Approval != storage.ApprovalNone || !o.ApprovalDeadline.IsZero() || o.Replaces != "" || o.ReplacesCertificateID != "" {
		t.Errorf("version 2 order reads approval %q until %v, replaces %q/%q; want none",
			o.Approval, o.ApprovalDeadline, o.Replaces, o.ReplacesCertificateID)
	}
	c, err := s.GetCertificate(ctx, "cert-1")
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	if c.ReplacedBy != "" || c.RenewEarly {
		t.Errorf("version 2 certificate reads replaced by %q, renew early %v; want neither", c.ReplacedBy, c.RenewEarly)
	}
	if n, err := s.CountFailedValidations(ctx, "acct-1", now); err != nil || n != 1 {
		t.Errorf("CountFailedValidations after the upgrade = %d, %v; want 1 (the backfilled challenge)", n, err)
	}
	renewal := &storage.Order{ID: "order-2", Directory: "default", AccountID: "acct-1",
		Status: storage.StatusPending, Expires: now, ReplacesCertificateID: "cert-1", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateOrder(ctx, renewal, nil, nil); err != nil {
		t.Fatalf("CreateOrder replacing a version 2 certificate: %v", err)
	}
	if c, err := s.GetCertificate(ctx, "cert-1"); err != nil || c.ReplacedBy != renewal.ID {
		t.Errorf("version 2 certificate after renewal = %+v, %v; want replaced by %q", c, err, renewal.ID)
	}
}

// TestUpgradeFromVersion4 migrates a database holding rows that schema
// version 4 wrote: its order events read without a request id, and the
// orders and certificates it holds are in the inventory listings, whose
// indexes version 5 rebuilt.
func TestUpgradeFromVersion4(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "acmegate.db")
	write, err := openPool(ctx, path, url.Values{"_journal_mode": {"WAL"}, "_txlock": {"immediate"}}, 1)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	old := &Store{write: write}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}
	if _, err := write.ExecContext(ctx, sqlCreateSchemaMigrations); err != nil {
		t.Fatalf("create schema_migrations: %v", err)
	}
	for _, m := range ms[:4] {
		if err := old.apply(ctx, m); err != nil {
			t.Fatalf("apply %s: %v", m.Name, err)
		}
	}
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	ts := now.Format(timeLayout)
	for _, q := range []string{
		`INSERT INTO accounts (id, directory, status, contact, terms_agreed, key_thumbprint, key_jwk,
    eab_key_id, created_at, updated_at)
VALUES ('acct-1', 'default', 'valid', '[]', 1, 'tp', X'7b7d', '', ?1, ?1)`,
		`INSERT INTO orders (id, directory, account_id, status, expires, not_before, not_after, identifiers,
    authz_ids, error, csr, certificate_id, profile, upstream_ref, created_at, updated_at)
VALUES ('order-1', 'default', 'acct-1', 'invalid', ?1, ?1, ?1, '[{"type":"dns","value":"www.example.com"}]',
    '[]', NULL, NULL, '', '', '', ?1, ?1)`,
		`INSERT INTO certificates (id, directory, account_id, order_id, serial, issuer, names, not_before,
    not_after, chain_pem, alternates, profile, backend, upstream_ref, status, revoked_at,
    revocation_reason, created_at)
VALUES ('cert-1', 'default', 'acct-1', 'order-1', 'abc', 'CN=test', '["www.example.com"]', ?1, ?1, X'00',
    '[]', '', 'local', '', 'valid', ?1, 0, ?1)`,
		`INSERT INTO order_events (order_id, authz_id, at, kind, actor, identifier, detail)
VALUES ('order-1', '', ?1, 'created', 'account:acct-1', 'www.example.com', '')`,
	} {
		if _, err := write.ExecContext(ctx, q, ts); err != nil {
			t.Fatalf("version 4 insert %.40q: %v", q, err)
		}
	}
	if err := write.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s := openAt(t, path)
	events, err := s.ListOrderEvents(ctx, "order-1", nil)
	if err != nil || len(events) != 1 || events[0].RequestID != "" || events[0].Kind != "created" {
		t.Errorf("version 4 events = %+v, %v; want the one event, without a request id", events, err)
	}
	orders, _, err := s.ListOrders(ctx, storage.OrderFilter{Directory: "default", Name: "WWW"}, storage.Page{})
	if err != nil || len(orders) != 1 || orders[0].ID != "order-1" {
		t.Errorf("ListOrders after the upgrade = %v, %v; want order-1", orders, err)
	}
	certs, _, err := s.ListCertificates(ctx, storage.CertificateFilter{Directory: "default", ByExpiry: true}, storage.Page{})
	if err != nil || len(certs) != 1 || certs[0].ID != "cert-1" {
		t.Errorf("ListCertificates after the upgrade = %v, %v; want cert-1", certs, err)
	}
	if n, err := s.CountOrders(ctx, "default", "", now); err != nil || n != 1 {
		t.Errorf("CountOrders after the upgrade = %d, %v; want 1", n, err)
	}
}
