package postgres

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acmegate/acmegate/storage"
)

// openAtVersion returns a store on schema with only the first version
// migrations applied, as an older binary would have left it.
func openAtVersion(t *testing.T, url, schema string, version int) *Store {
	t.Helper()
	ctx := testCtx(t)
	cfg, err := poolConfig(url, options{schema: schema})
	if err != nil {
		t.Fatalf("poolConfig: %v", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pool: %v", err)
	}
	t.Cleanup(pool.Close)
	adminExec(t, url, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize())
	if _, err := pool.Exec(ctx, sqlCreateSchemaMigrations); err != nil {
		t.Fatalf("create schema_migrations: %v", err)
	}
	s := &Store{pool: pool, schema: schema, log: quiet()}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}
	for _, m := range ms[:version] {
		if err := s.apply(ctx, m); err != nil {
			t.Fatalf("apply %s: %v", m.Name, err)
		}
	}
	return s
}

// Rows as schema version 2 wrote them, with version 2's column lists: what
// an instance of the previous release inserts, before and after another
// instance migrated the schema. $1 is a suffix for the ids, $2 the time.
var v2Inserts = []string{
	`INSERT INTO authorizations (id, directory, account_id, identifier_type, identifier_value, wildcard,
    status, expires, created_at, updated_at)
VALUES ('authz-' || $1, 'default', 'acct-1', 'dns', 'example.com', false, 'invalid', $2::timestamptz,
    $2::timestamptz, $2::timestamptz)`,
	`INSERT INTO challenges (id, authz_id, position, type, status, token, validated, error, updated_at)
VALUES ('chall-' || $1, 'authz-' || $1, 0, 'http-01', 'invalid', 'token-' || $1, NULL, '{}', $2::timestamptz)`,
	`INSERT INTO orders (id, directory, account_id, status, expires, not_before, not_after, identifiers,
    authz_ids, error, csr, certificate_id, profile, upstream_ref, created_at, updated_at)
VALUES ('order-' || $1, 'default', 'acct-1', 'valid', $2::timestamptz, NULL, NULL,
    '[{"type":"dns","value":"example.com"}]', ARRAY['authz-' || $1], NULL, NULL, 'cert-' || $1, '', '',
    $2::timestamptz, $2::timestamptz)`,
	`INSERT INTO certificates (id, directory, account_id, order_id, serial, issuer, names, not_before,
    not_after, chain_pem, alternates, profile, backend, upstream_ref, status, revoked_at,
    revocation_reason, created_at)
VALUES ('cert-' || $1, 'default', 'acct-1', 'order-' || $1, 'abc' || $1, 'CN=test', ARRAY['example.com'],
    $2::timestamptz, $2::timestamptz + interval '90 days', '\x00', '{}', '', 'local', '', 'valid', NULL, 0,
    $2::timestamptz)`,
}

// TestUpgradeFromVersion2 migrates a schema holding version 2 rows: the
// challenges get their account (CountFailedValidations counts them), the
// new columns read as "none", and an instance still running version 2 can
// keep inserting during a rolling upgrade.
func TestUpgradeFromVersion2(t *testing.T) {
	url := serverURL(t)
	schema := freshSchema(t, url)
	ctx := testCtx(t)
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	old := openAtVersion(t, url, schema, 2)
	if _, err := old.pool.Exec(ctx, `INSERT INTO accounts (id, directory, status, contact, terms_agreed,
    key_thumbprint, key_jwk, eab_key_id, created_at, updated_at)
VALUES ('acct-1', 'default', 'valid', '{}', true, 'tp', '\x7b7d', '', $1, $1)`, now); err != nil {
		t.Fatalf("insert account: %v", err)
	}
	insertV2 := func(s *Store, suffix string) {
		t.Helper()
		for _, q := range v2Inserts {
			if _, err := s.pool.Exec(ctx, q, suffix, now); err != nil {
				t.Fatalf("version 2 insert %.40q: %v", q, err)
			}
		}
	}
	insertV2(old, "before")

	s := openStore(t, url, schema)
	if d := cmp.Diff(wantMigrations(t), appliedMigrations(t, s)); d != "" {
		t.Fatalf("recorded migrations (-want +got):\n%s", d)
	}
	insertV2(old, "during") // the previous release, still running

	for _, suffix := range []string{"before", "during"} {
		o, err := s.GetOrder(ctx, "order-"+suffix)
		if err != nil {
			t.Fatalf("GetOrder: %v", err)
		}
		if o.Approval != storage.ApprovalNone || !o.ApprovalDeadline.IsZero() || o.Replaces != "" || o.ReplacesCertificateID != "" {
			t.Errorf("version 2 order %s reads approval %q until %v, replaces %q/%q; want none",
				suffix, o.Approval, o.ApprovalDeadline, o.Replaces, o.ReplacesCertificateID)
		}
		c, err := s.GetCertificate(ctx, "cert-"+suffix)
		if err != nil {
			t.Fatalf("GetCertificate: %v", err)
		}
		if c.ReplacedBy != "" || c.RenewEarly {
			t.Errorf("version 2 certificate %s reads replaced by %q, renew early %v; want neither", suffix, c.ReplacedBy, c.RenewEarly)
		}
	}
	// The backfilled challenge counts; the one inserted without its
	// account by the previous release cannot.
	n, err := s.CountFailedValidations(ctx, "acct-1", now)
	if err != nil || n != 1 {
		t.Errorf("CountFailedValidations after the upgrade = %d, %v; want 1 (the backfilled challenge)", n, err)
	}
	renewal := &storage.Order{ID: "order-renewal", Directory: "default", AccountID: "acct-1",
		Status: storage.StatusPending, Expires: now, ReplacesCertificateID: "cert-before", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateOrder(ctx, renewal, nil, nil); err != nil {
		t.Fatalf("CreateOrder replacing a version 2 certificate: %v", err)
	}
	if c, err := s.GetCertificate(ctx, "cert-before"); err != nil || c.ReplacedBy != renewal.ID {
		t.Errorf("version 2 certificate after renewal = %+v, %v; want replaced by %q", c, err, renewal.ID)
	}
}

// TestUpgradeFromVersion4 migrates a schema holding version 4 rows: order
// events read without a request id, also those an instance still running
// version 4 appends during a rolling upgrade, and the version 4 orders and
// certificates are in the inventory listings, whose indexes version 5
// rebuilt.
func TestUpgradeFromVersion4(t *testing.T) {
	url := serverURL(t)
	schema := freshSchema(t, url)
	ctx := testCtx(t)
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	old := openAtVersion(t, url, schema, 4)
	if _, err := old.pool.Exec(ctx, `INSERT INTO accounts (id, directory, status, contact, terms_agreed,
    key_thumbprint, key_jwk, eab_key_id, created_at, updated_at)
VALUES ('acct-1', 'default', 'valid', '{}', true, 'tp', '\x7b7d', '', $1, $1)`, now); err != nil {
		t.Fatalf("insert account: %v", err)
	}
	insertV4 := func(s *Store, suffix string) {
		t.Helper()
		for _, q := range v2Inserts[2:] { // an order and its certificate
			if _, err := s.pool.Exec(ctx, q, suffix, now); err != nil {
				t.Fatalf("version 4 insert %.40q: %v", q, err)
			}
		}
		if _, err := s.pool.Exec(ctx, `INSERT INTO order_events (order_id, authz_id, at, kind, actor, identifier, detail)
VALUES ('order-' || $1, '', $2, 'created', 'account:acct-1', 'example.com', '')`, suffix, now); err != nil {
			t.Fatalf("version 4 event: %v", err)
		}
	}
	insertV4(old, "before")

	s := openStore(t, url, schema)
	if d := cmp.Diff(wantMigrations(t), appliedMigrations(t, s)); d != "" {
		t.Fatalf("recorded migrations (-want +got):\n%s", d)
	}
	insertV4(old, "during") // the previous release, still running

	for _, suffix := range []string{"before", "during"} {
		events, err := s.ListOrderEvents(ctx, "order-"+suffix, nil)
		if err != nil || len(events) != 1 || events[0].RequestID != "" || events[0].Kind != "created" {
			t.Errorf("version 4 events of order-%s = %+v, %v; want the one event, without a request id", suffix, events, err)
		}
	}
	orders, _, err := s.ListOrders(ctx, storage.OrderFilter{Directory: "default", Name: "EXAMPLE"}, storage.Page{})
	if err != nil || len(orders) != 2 {
		t.Errorf("ListOrders after the upgrade = %d orders, %v; want the 2 version 4 orders", len(orders), err)
	}
	certs, _, err := s.ListCertificates(ctx, storage.CertificateFilter{Directory: "default", ByExpiry: true}, storage.Page{})
	if err != nil || len(certs) != 2 {
		t.Errorf("ListCertificates after the upgrade = %d certificates, %v; want the 2 version 4 certificates", len(certs), err)
	}
	if n, err := s.CountOrders(ctx, "default", "", now); err != nil || n != 2 {
		t.Errorf("CountOrders after the upgrade = %d, %v; want 2", n, err)
	}
	e := &storage.AuditEntry{At: now, Actor: "system", Action: "schema.migrate", Outcome: storage.OutcomeSuccess}
	if err := s.AppendAudit(ctx, e); err != nil || e.Seq != 1 {
		t.Errorf("first AppendAudit after the upgrade: seq %d, %v; want 1", e.Seq, err)
	}
}
