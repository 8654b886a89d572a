package sqlite

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// TestListingPlansUseIndexes has SQLite explain the operators' listings as
// the store builds them for typical filters, and their other statements:
// each must walk the index it was written for, never read a table whole.
func TestListingPlansUseIndexes(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "acmegate.db"))
	ctx := testCtx(t)
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	type plan struct {
		name  string
		query string
		args  []any
		index string
	}
	var tests []plan
	created := func(name, table, columns string, w *where, p storage.Page, index string) {
		q, _, err := createdQuery(table, columns, w, p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		tests = append(tests, plan{name, q, w.args, index})
	}
	expiry := func(name string, f storage.CertificateFilter, p storage.Page, index string) {
		w := certificatesWhere(f)
		q, _, err := expiryQuery(w, p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		tests = append(tests, plan{name, q, w.args, index})
	}
	audit := func(name string, f storage.AuditFilter, p storage.Page, index string) {
		q, args, _, err := auditQuery(f, p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		tests = append(tests, plan{name, q, args, index})
	}
	next := storage.Page{Cursor: encodeListCursor(orderCreated, now, "id-1")}
	nextExpiry := storage.Page{Cursor: encodeListCursor(orderExpiry, now, "id-1")}
	created("ListAccounts", "accounts", accountColumns, accountsWhere(storage.AccountFilter{}), next, "accounts_created")
	created("ListAccounts of a directory", "accounts", accountColumns,
		accountsWhere(storage.AccountFilter{Directory: "default"}), next, "accounts_directory_created")
	created("ListOrders", "orders", orderColumns, ordersWhere(storage.OrderFilter{}), next, "orders_created")
	created("ListOrders of a directory", "orders", orderColumns,
		ordersWhere(storage.OrderFilter{Directory: "default"}), next, "orders_directory_created")
	created("ListOrders of an account", "orders", orderColumns,
		ordersWhere(storage.OrderFilter{AccountID: "acct-1"}), next, "orders_account_created")
	created("ListOrders failed lately", "orders", orderColumns,
		ordersWhere(storage.OrderFilter{Status: storage.StatusInvalid, UpdatedSince: now}), storage.Page{}, "orders_status_updated")
	created("ListCertificates", "certificates", certificateColumns,
		certificatesWhere(storage.CertificateFilter{}), next, "certificates_created")
	created("ListCertificates of a directory", "certificates", certificateColumns,
		certificatesWhere(storage.CertificateFilter{Directory: "default"}), next, "certificates_directory_created")
	expiry("ListCertificates by expiry", storage.CertificateFilter{}, nextExpiry, "certificates_not_after")
	expiry("ListCertificates of a directory by expiry", storage.CertificateFilter{Directory: "default"}, nextExpiry,
		"certificates_directory_not_after")
	expiry("ListCertificates valid, expiring in 30 days", storage.CertificateFilter{Status: storage.StatusValid,
		ExpiringAfter: now, ExpiringBefore: now.Add(30 * 24 * time.Hour)}, nextExpiry, "certificates_status_not_after")
	audit("ListAudit", storage.AuditFilter{}, storage.Page{Cursor: encodeSeqCursor(500)}, "")
	audit("ListAudit of an actor", storage.AuditFilter{Actor: "token:ci"}, storage.Page{}, "audit_log_actor")
	audit("ListAudit of an object", storage.AuditFilter{Object: "order:o1"}, storage.Page{}, "audit_log_object")
	audit("ListAudit of an action prefix", storage.AuditFilter{Action: "order."}, storage.Page{}, "audit_log_action")
	created("ListDeliveries", "deliveries", deliveryColumns, &where{}, next, "deliveries_created")
	var ofHook where
	ofHook.eq("webhook_id", "hook-1")
	created("ListDeliveries of a webhook", "deliveries", deliveryColumns, &ofHook, next, "deliveries_webhook_created")
	tests = append(tests,
		plan{"CountExpiringCertificates", sqlCountExpiringCertificates, []any{tval(now), tval(now)}, "certificates_status_not_after"},
		plan{"ListFailingJobs", sqlListFailingJobs, []any{100}, "jobs_failing"},
		plan{"ListWebhooks of a directory", sqlListWebhooksOf, []any{"default"}, "webhooks_directory"},
	)
	fullScan := regexp.MustCompile(`^SCAN (\w+)$`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := s.read.QueryContext(ctx, `EXPLAIN QUERY PLAN `+tc.query, tc.args...)
			if err != nil {
				t.Fatalf("EXPLAIN QUERY PLAN: %v", err)
			}
			defer rows.Close()
			var steps []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatalf("scan plan: %v", err)
				}
				steps = append(steps, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("read plan: %v", err)
			}
			for _, step := range steps {
				if m := fullScan.FindStringSubmatch(step); m != nil {
					t.Errorf("reads %s whole: %q", m[1], steps)
				}
			}
			if tc.index != "" && !slices.ContainsFunc(steps, func(step string) bool {
				return strings.Contains(step, " "+tc.index+" ") || strings.HasSuffix(step, " "+tc.index)
			}) {
				t.Errorf("plan does not use %s: %q", tc.index, steps)
			}
			t.Logf("%q", steps)
		})
	}
}
