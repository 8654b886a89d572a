package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

// seedSQL fills a schema with 100 000 rows in each big table (20 000
// accounts, orders spread over 20 directories, one in a hundred awaiting
// approval, a quarter of the challenges failed) in a few seconds: generate_series inside the server, no row
// crosses the wire. $1 is "now". The first statement fills the table the
// others refer to, the last one refers to a table the others fill.
func seedSQL() []string {
	return []string{
		`INSERT INTO accounts (id, directory, status, contact, terms_agreed, key_thumbprint, key_jwk,
    eab_key_id, created_at, updated_at)
SELECT 'acct-' || i, 'default', 'valid', '{}', true, 'tp-' || i, '\x7b7d',
       CASE WHEN i % 4 = 0 THEN 'kid-' || (i % 5000) ELSE '' END, $1::timestamptz, $1::timestamptz
FROM generate_series(1, 20000) AS i`,
		// 10 000 EAB keys over 20 directories, a tenth of them revoked.
		`INSERT INTO eab_keys (id, directory, label, sealed_key, reusable, expires_at, revoked_at, bound,
    created_at, last_used_at)
SELECT 'kid-' || i, 'dir-' || (i % 20), '', '\x00', i % 2 = 0, NULL,
       CASE WHEN i % 10 = 0 THEN $1::timestamptz END, i % 3, $1::timestamptz - i * interval '1 minute', NULL
FROM generate_series(1, 10000) AS i`,
		`INSERT INTO orders (id, directory, account_id, status, expires, not_before, not_after,
    identifiers, authz_ids, error, csr, certificate_id, profile, upstream_ref, created_at, updated_at,
    approval, approval_by, approval_reason, approval_deadline, replaces, replaces_certificate_id)
SELECT 'order-' || i, 'dir-' || (i % 20), 'acct-' || (i % 20000 + 1),
       (ARRAY['pending', 'ready', 'processing', 'valid', 'invalid'])[i % 5 + 1],
       $1::timestamptz + interval '7 days', NULL, NULL,
       '[{"type":"dns","value":"example.com"}]', ARRAY['authz-' || i], NULL, NULL, '', '', '',
       $1::timestamptz - i * interval '1 second', $1::timestamptz,
       CASE WHEN i % 100 = 2 THEN 'pending' ELSE '' END, '', '',
       CASE WHEN i % 100 = 2 THEN $1::timestamptz + (i % 72 - 36) * interval '1 hour' END,
       '', ''
FROM generate_series(1, 100000) AS i`,
		`INSERT INTO authorizations (id, directory, account_id, identifier_type, identifier_value,
    wildcard, status, expires, created_at, updated_at)
SELECT 'authz-' || i, 'default', 'acct-' || (i % 20000 + 1), 'dns', 'host' || (i % 5000) || '.example.com',
       i % 7 = 0, (ARRAY['pending', 'valid', 'valid', 'invalid'])[i % 4 + 1],
       $1::timestamptz + (i % 720) * interval '1 hour', $1::timestamptz, $1::timestamptz
FROM generate_series(1, 100000) AS i`,
		`INSERT INTO certificates (id, directory, account_id, order_id, serial, issuer, names,
    not_before, not_after, chain_pem, alternates, profile, backend, upstream_ref, status,
    revoked_at, revocation_reason, created_at, replaced_by, renew_early)
SELECT 'cert-' || i, 'default', 'acct-' || (i % 20000 + 1), 'order-' || i, to_hex(i * 7919 + 1),
       'CN=test', ARRAY['host' || i || '.example.com'], $1::timestamptz,
       $1::timestamptz + (i % 90) * interval '1 day', '\x00', '{}', '', 'local', '', 'valid', NULL, 0,
       $1::timestamptz, CASE WHEN i % 3 = 0 THEN 'order-' || (i + 1) ELSE '' END, i % 50 = 0
FROM generate_series(1, 100000) AS i`,
		// Run times spread over two hours around now; a third of the jobs
		// leased by one of ten workers.
		`INSERT INTO jobs (id, kind, ref, run_at, attempts, lease_owner, lease_until, deadline,
    last_error, created_at)
SELECT 'job-' || i, CASE WHEN i % 2 = 0 THEN 'validate' ELSE 'issue' END, 'order-' || i,
       $1::timestamptz - interval '1 hour' + (i % 7200) * interval '1 second', 0,
       CASE WHEN i % 3 = 0 THEN 'worker-' || (i % 10) ELSE '' END,
       CASE WHEN i % 3 = 0 THEN $1::timestamptz + interval '5 minutes' END,
       $1::timestamptz + interval '1 day', '', $1::timestamptz
FROM generate_series(1, 100000) AS i`,
		`INSERT INTO nonces (id, expires)
SELECT 'nonce-' || i, $1::timestamptz + (i % 600) * interval '1 second'
FROM generate_series(1, 100000) AS i`,
		// Two events per order over 50 000 orders, a third of them about
		// an authorization, one in ten about an authorization alone.
		`INSERT INTO order_events (order_id, authz_id, at, kind, actor, identifier, detail)
SELECT CASE WHEN i % 10 = 0 THEN '' ELSE 'order-' || (i % 50000 + 1) END,
       CASE WHEN i % 3 = 0 OR i % 10 = 0 THEN 'authz-' || i ELSE '' END,
       $1::timestamptz - i * interval '1 second', 'validated', 'system', 'example.com', ''
FROM generate_series(1, 100000) AS i`,
		// An audit trail of 100 000 entries over 20 directories and 50
		// actors (the hashes are not a chain: plans do not care).
		`INSERT INTO audit_log (seq, at, actor, directory, action, object, outcome, client_ip, detail,
    prev_hash, hash)
SELECT i, $1::timestamptz - (100000 - i) * interval '1 second', 'token:t' || (i % 50), 'dir-' || (i % 20),
       (ARRAY['order.create', 'order.approve', 'account.create', 'eab.create', 'orders.export'])[i % 5 + 1],
       'order:order-' || i, 'success', '192.0.2.1', '', NULL, '\x00'
FROM generate_series(1, 100000) AS i`,
		// Deliveries to 100 webhooks, a tenth of them e-mail.
		`INSERT INTO deliveries (id, webhook_id, channel, target, event, directory, payload, status, attempts,
    last_error, last_status, created_at, updated_at, delivered_at)
SELECT 'dlv-' || i, CASE WHEN i % 10 = 0 THEN '' ELSE 'hook-' || (i % 100) END, 'webhook', 'https://h',
       'order.issued', 'default', '\x7b7d', 'delivered', 1, '', 204, $1::timestamptz - i * interval '1 second',
       $1::timestamptz, $1::timestamptz
FROM generate_series(1, 100000) AS i`,
		// Each authorization's challenge in its authorization's status,
		// failures spread over the last day.
		`INSERT INTO challenges (id, authz_id, position, type, status, token, validated, error, updated_at,
    account_id)
SELECT 'chall-' || i, 'authz-' || i, 0, 'http-01', (ARRAY['pending', 'valid', 'valid', 'invalid'])[i % 4 + 1],
       'token-' || i, NULL, NULL, $1::timestamptz - (i % 1440) * interval '1 minute', 'acct-' || (i % 20000 + 1)
FROM generate_series(1, 100000) AS i`,
	}
}

// TestQueryPlansUseIndexes loads 100 000 rows into every big table and has
// PostgreSQL explain the store's hot-path statements, both as a custom plan
// (the parameter values known, as for a statement's first executions) and
// as the generic plan PostgreSQL may switch to for a statement pgx keeps
// prepared: no plan may read a table sequentially.
func TestQueryPlansUseIndexes(t *testing.T) {
	url := serverURL(t)
	s := openStore(t, url, freshSchema(t, url))
	ctx := testCtx(t)
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

	start := time.Now()
	seed := seedSQL()
	// Accounts first, challenges last: the foreign keys want their parents.
	// The tables in between fill in parallel, each on its own connection.
	waves := [][]string{seed[:1], seed[1 : len(seed)-1], seed[len(seed)-1:]}
	for _, wave := range waves {
		parallel(t, wave, func(q string) error {
			_, err := s.pool.Exec(ctx, q, now)
			return err
		})
	}
	tables := []string{"accounts", "eab_keys", "orders", "authorizations", "challenges", "certificates", "jobs",
		"nonces", "order_events", "audit_log", "deliveries"}
	parallel(t, tables, func(table string) error {
		_, err := s.pool.Exec(ctx, `ANALYZE `+table)
		return err
	})
	t.Logf("seeded and analyzed in %v", time.Since(start).Round(time.Millisecond))

	job := &storage.Job{ID: "job-new", Kind: storage.JobIssue, Ref: "order-5", RunAt: now, Deadline: now, CreatedAt: now}
	cert := &storage.Certificate{ID: "cert-new", OrderID: "order-5", Serial: "abc", Status: storage.StatusValid}
	tests := []struct {
		name string
		sql  string
		args []any
	}{
		{"GetAccount", sqlGetAccount, []any{"acct-5"}},
		{"GetAccountByThumbprint", sqlGetAccountByThumbprint, []any{"default", "tp-77"}},
		{"UpdateAccount", sqlUpdateAccount, []any{[]string{}, "valid", now, "acct-5"}},
		{"ChangeAccountKey", sqlChangeAccountKey, []any{"tp-new", []byte("{}"), "acct-5", "tp-5"}},
		{"CreateAccount with EAB", sqlInsertAccountEAB, []any{"acct-new", "dir-7", "valid", []string{}, true, "tp-new",
			[]byte("{}"), "kid-7", now, now}},
		{"GetEABKey", sqlGetEABKey, []any{"kid-9"}},
		{"ListEABKeys", sqlListEABKeys, []any{"dir-3"}},
		{"RevokeEABKey", sqlRevokeEABKey, []any{"kid-9", now}},
		{"DeactivateEABAccounts", sqlDeactivateEABAccounts, []any{"kid-8", now}},
		{"GetOrder", sqlGetOrder, []any{"order-500"}},
		{"ListOrderIDs first page", sqlListOrderIDsFirst, []any{"acct-7", 101}},
		{"ListOrderIDs next page", sqlListOrderIDsAfter, []any{"acct-7", now.Add(-time.Hour), "order-3600", 101}},
		{"BeginFinalize", sqlBeginFinalize, append([]any{"order-5", []byte("csr"), now, []string{"ready"}}, jobArgs(job)...)},
		{"CompleteOrder", sqlCompleteOrder, []any{"order-5", cert.ID, now, "default", "acct-5", cert.Serial, "CN=x",
			[]string{}, now, now, []byte("pem"), [][]byte{}, "", "local", "", "valid", optTime(time.Time{}), 0, now, "issue",
			"", false}},
		{"FinalizeOrder", sqlFinalizeOrder, []any{"order-5", cert.ID, now, "default", "acct-5", cert.Serial, "CN=x",
			[]string{}, now, now, []byte("pem"), [][]byte{}, "", "local", "", "valid", optTime(time.Time{}), 0, now,
			[]string{"ready"}, "", false, []byte("csr")}},
		{"FailOrder", sqlFailOrder, []any{"order-5", []byte(`{}`), now, "issue"}},
		{"SetOrderUpstreamRef", sqlSetOrderUpstreamRef, []any{"order-5", "ref"}},
		{"GetAuthorizations", sqlGetAuthzs, []any{[]string{"authz-1", "authz-2", "authz-3"}}},
		{"FindReusableAuthorization", sqlFindReusableAuthz, []any{"acct-8", "dns", "host7.example.com", false, now}},
		{"DeactivateAuthorization", sqlDeactivateAuthz, []any{"authz-9", now}},
		{"GetChallenge", sqlGetChallenge, []any{"chall-9"}},
		{"StartChallenge", sqlStartChallenge, append([]any{"chall-9", now}, jobArgs(job)...)},
		{"FinishChallenge", sqlFinishChallenge, []any{"chall-9", "valid", []byte(nil), optTime(now), now, "validate"}},
		{"GetCertificate", sqlGetCertificate, []any{"cert-9"}},
		{"GetCertificateBySerial", sqlGetCertificateBySerial, []any{"3de1"}},
		{"RevokeCertificate", sqlRevokeCertificate, []any{"cert-9", now, 1}},
		{"LeaseJobs", sqlLeaseJobs, []any{"w", now.Add(time.Minute), now, 10}},
		{"CompleteJob", sqlCompleteJob, []any{"job-9", "worker-9"}},
		{"RetryJob", sqlRetryJob, []any{"job-9", now, "err", "worker-9"}},
		{"RenewJobLease", sqlRenewLease, []any{"job-9", "worker-9", now}},
		{"ReleaseJobs", sqlReleaseJobs, []any{"worker-3"}},
		{"RedeemNonce", sqlRedeemNonce, []any{"nonce-new", now}},
		{"PurgeNonces", sqlPurgeNonces, []any{now}},
		{"CreateOrder replacing", sqlMarkReplaced, []any{"order-new", "cert-10"}},
		{"SetRenewEarly", sqlSetRenewEarly, []any{"cert-9", true}},
		{"BeginApproval", sqlBeginApproval, []any{"order-5", []byte("csr"), now.Add(time.Hour), now, []string{"ready"}}},
		{"ApproveOrder", sqlApproveOrder, append([]any{"order-102", "ops", "ok", now}, jobArgs(job)...)},
		{"RejectOrder", sqlRejectOrder, []any{"order-202", "ops", "no", now, []byte(`{}`), "issue"}},
		{"ListPendingApprovals", sqlListPendingApprovals, nil},
		{"ListPendingApprovals of a directory", sqlListPendingApprovalsIn, []any{"dir-2"}},
		{"ExpireApprovals", sqlExpireApprovals, []any{now, []byte(`{}`)}},
		{"AppendOrderEvents", sqlInsertEvents, []any{[]string{"order-5", ""}, []string{"", "authz-5"},
			[]time.Time{now, now}, []string{"created", "validated"}, []string{"system", "system"},
			[]string{"", "example.com"}, []string{"", ""}, []string{"req-1", ""}}},
		{"ListOrderEvents", sqlListOrderEvents, []any{"order-7", []string{"authz-6", "authz-30", "authz-40"}}},
		{"CountOrders of a directory", sqlCountOrdersInDirectory, []any{"dir-3", now.Add(-time.Hour)}},
		{"CountOrders of an account", sqlCountOrdersOfAccount, []any{"acct-7", "dir-6", now.Add(-24 * time.Hour)}},
		{"CountFailedValidations", sqlCountFailedValidations, []any{"acct-7", now.Add(-time.Hour)}},
		{"CountPendingAuthorizations", sqlCountPendingAuthzs, []any{"acct-7", now}},
	}
	tests = append(tests, listingPlans(t, now)...)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	defer conn.Release()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			custom := explain(ctx, t, conn.Conn(), `EXPLAIN (FORMAT JSON) `+tc.sql, tc.args...)
			checkNoSeqScan(t, "custom plan", custom)

			name := fmt.Sprintf("plan_%d", i)
			if _, err := conn.Exec(ctx, `PREPARE `+name+` AS `+tc.sql); err != nil {
				t.Fatalf("PREPARE: %v", err)
			}
			defer conn.Exec(ctx, `DEALLOCATE `+name)
			if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
				t.Fatalf("SET plan_cache_mode: %v", err)
			}
			defer conn.Exec(ctx, `RESET plan_cache_mode`)
			execute := `EXECUTE ` + name
			if len(tc.args) > 0 {
				execute += `(` + strings.TrimSuffix(strings.Repeat("NULL, ", len(tc.args)), ", ") + `)`
			}
			generic := explain(ctx, t, conn.Conn(), `EXPLAIN (FORMAT JSON) `+execute)
			checkNoSeqScan(t, "generic plan", generic)
			t.Logf("custom: %s; generic: %s", summary(custom), summary(generic))
		})
	}
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
}

// planNode is one node of EXPLAIN (FORMAT JSON) output.
type planNode struct {
	NodeType string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Plans    []planNode `json:"Plans"`
}

func explain(ctx context.Context, t *testing.T, conn *pgx.Conn, sql string, args ...any) planNode {
	t.Helper()
	var raw []byte
	if err := conn.QueryRow(ctx, sql, args...).Scan(&raw); err != nil {
		t.Fatalf("%.60q: %v", sql, err)
	}
	var out []struct{ Plan planNode }
	if err := json.Unmarshal(raw, &out); err != nil || len(out) != 1 {
		t.Fatalf("EXPLAIN output %s: %v", raw, err)
	}
	return out[0].Plan
}

// walk calls fn for n and every node under it.
func walk(n planNode, fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		walk(c, fn)
	}
}

func checkNoSeqScan(t *testing.T, which string, plan planNode) {
	t.Helper()
	walk(plan, func(n planNode) {
		if n.NodeType == "Seq Scan" {
			t.Errorf("%s reads %s sequentially: %s", which, n.Relation, summary(plan))
		}
	})
}

// summary renders the plan's scans compactly, for failure messages and -v.
func summary(plan planNode) string {
	var parts []string
	walk(plan, func(n planNode) {
		switch {
		case n.Index != "":
			parts = append(parts, n.NodeType+" "+n.Index)
		case n.Relation != "":
			parts = append(parts, n.NodeType+" "+n.Relation)
		}
	})
	return strings.Join(parts, ", ")
}

// parallel runs fn on every item at once and fails t on any error.
func parallel[T any](t *testing.T, items []T, fn func(T) error) {
	t.Helper()
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, item := range items {
		wg.Go(func() { errs[i] = fn(item) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%.50v: %v", items[i], err)
		}
	}
}

// listingPlans are the operators' listings as the store builds them for a
// few typical filters, and their other statements: each must find its rows
// through an index, whatever the filter.
func listingPlans(t *testing.T, now time.Time) []struct {
	name string
	sql  string
	args []any
} {
	t.Helper()
	type plan = struct {
		name string
		sql  string
		args []any
	}
	var out []plan
	created := func(name, table, columns string, w *where, p storage.Page) {
		q, _, err := createdQuery(table, columns, w, p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, plan{name, q, w.args})
	}
	expiry := func(name string, f storage.CertificateFilter, p storage.Page) {
		w := certificatesWhere(f)
		q, _, err := expiryQuery(w, p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, plan{name, q, w.args})
	}
	audit := func(name string, f storage.AuditFilter, p storage.Page) {
		q, args, _, err := auditQuery(f, p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, plan{name, q, args})
	}
	next := storage.Page{Cursor: encodeListCursor(orderCreated, now.Add(-time.Hour), "order-3600")}
	nextExpiry := storage.Page{Cursor: encodeListCursor(orderExpiry, now.Add(24*time.Hour), "cert-500")}
	created("ListAccounts", "accounts", accountColumns, accountsWhere(storage.AccountFilter{}), storage.Page{})
	created("ListAccounts of a directory", "accounts", accountColumns,
		accountsWhere(storage.AccountFilter{Directory: "default"}), storage.Page{})
	created("ListOrders", "orders", orderColumns, ordersWhere(storage.OrderFilter{}), storage.Page{})
	created("ListOrders next page", "orders", orderColumns, ordersWhere(storage.OrderFilter{}), next)
	created("ListOrders of a directory", "orders", orderColumns,
		ordersWhere(storage.OrderFilter{Directory: "dir-3"}), next)
	created("ListOrders of an account", "orders", orderColumns,
		ordersWhere(storage.OrderFilter{AccountID: "acct-7"}), storage.Page{})
	created("ListOrders failed lately", "orders", orderColumns,
		ordersWhere(storage.OrderFilter{Status: storage.StatusInvalid, UpdatedSince: now.Add(-24 * time.Hour)}), storage.Page{})
	created("ListCertificates", "certificates", certificateColumns,
		certificatesWhere(storage.CertificateFilter{}), storage.Page{})
	created("ListCertificates issued lately", "certificates", certificateColumns,
		certificatesWhere(storage.CertificateFilter{Directory: "default", IssuedSince: now.Add(-time.Hour)}), storage.Page{})
	expiry("ListCertificates by expiry", storage.CertificateFilter{}, nextExpiry)
	expiry("ListCertificates of a directory by expiry", storage.CertificateFilter{Directory: "default"}, storage.Page{})
	expiry("ListCertificates valid, expiring in 30 days", storage.CertificateFilter{Status: storage.StatusValid,
		ExpiringAfter: now, ExpiringBefore: now.Add(30 * 24 * time.Hour)}, nextExpiry)
	audit("ListAudit", storage.AuditFilter{}, storage.Page{})
	audit("ListAudit next page", storage.AuditFilter{}, storage.Page{Cursor: encodeSeqCursor(50000)})
	audit("ListAudit of an actor", storage.AuditFilter{Actor: "token:t7"}, storage.Page{})
	audit("ListAudit of an action prefix", storage.AuditFilter{Action: "account."}, storage.Page{})
	audit("ListAudit of an object", storage.AuditFilter{Object: "order:order-77"}, storage.Page{})
	created("ListDeliveries", "deliveries", deliveryColumns, &where{}, storage.Page{})
	var ofHook where
	ofHook.eq("webhook_id", "hook-7")
	created("ListDeliveries of a webhook", "deliveries", deliveryColumns, &ofHook, storage.Page{})
	return append(out,
		plan{"CountExpiringCertificates", sqlCountExpiringCertificates, []any{now, now.Add(24 * time.Hour)}},
		plan{"ListFailingJobs", sqlListFailingJobs, []any{100}},
		plan{"ScanAudit", sqlScanAudit, []any{int64(5000), 1000}},
		plan{"ClaimSweep", sqlClaimSweep, []any{"expire", now, now.Add(-time.Hour)}},
	)
}
