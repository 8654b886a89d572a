package sqlite

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// appendN appends n entries to s and returns them.
func appendN(t *testing.T, s *Store, n int) []*storage.AuditEntry {
	t.Helper()
	var out []*storage.AuditEntry
	for i := range n {
		e := &storage.AuditEntry{At: time.Date(2031, 3, 4, 5, 6, i, 0, time.UTC), Actor: "token:ops",
			Directory: "default", Action: "order.approve", Object: fmt.Sprintf("order:o%d", i),
			Outcome: storage.OutcomeSuccess, ClientIP: "192.0.2.1", Detail: "approved"}
		if err := s.AppendAudit(testCtx(t), e); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		out = append(out, e)
	}
	return out
}

// TestVerifyAuditDetectsTampering changes the trail behind the store's
// back, as someone with write access to the file could, and checks
// VerifyAudit names the first entry that no longer holds.
func TestVerifyAuditDetectsTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  string
		wantSeq int64
	}{
		{"changed detail", `UPDATE audit_log SET detail = 'nothing to see' WHERE seq = 3`, 3},
		{"changed time", `UPDATE audit_log SET at = '2031-03-04T05:06:07.000000000Z' WHERE seq = 4`, 4},
		{"deleted middle entry", `DELETE FROM audit_log WHERE seq = 5`, 6},
		{"rehashed entry", `UPDATE audit_log SET hash = (SELECT hash FROM audit_log WHERE seq = 1) WHERE seq = 2`, 2},
		{"deleted first entry", `DELETE FROM audit_log WHERE seq = 1`, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openAt(t, filepath.Join(t.TempDir(), "acmegate.db"))
			ctx := testCtx(t)
			appendN(t, s, 8)
			if n, brk, err := storage.VerifyAudit(ctx, s); err != nil || brk != nil || n != 8 {
				t.Fatalf("VerifyAudit before tampering = %d, %+v, %v; want 8, nil, nil", n, brk, err)
			}
			if _, err := s.write.ExecContext(ctx, tc.tamper); err != nil {
				t.Fatalf("tamper: %v", err)
			}
			n, brk, err := storage.VerifyAudit(ctx, s)
			if err != nil {
				t.Fatalf("VerifyAudit: %v", err)
			}
			if brk == nil || brk.Seq != tc.wantSeq {
				t.Fatalf("VerifyAudit after tampering = %d, %+v; want a break at %d", n, brk, tc.wantSeq)
			}
			if brk.Reason == "" {
				t.Errorf("break at %d without a reason", brk.Seq)
			}
		})
	}
}

// TestAuditTwoStoresOneFile appends from two Stores on one file, standing
// for two processes: BEGIN IMMEDIATE serializes their appends, so the
// chain holds with seqs 1..n.
func TestAuditTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acmegate.db")
	stores := []*Store{openAt(t, path), openAt(t, path)}
	ctx := testCtx(t)
	const perWorker, workers = 20, 6
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			for i := range perWorker {
				e := &storage.AuditEntry{At: time.Now(), Actor: fmt.Sprintf("token:w%d", w), Action: "job.run",
					Object: fmt.Sprintf("job:%d", i), Outcome: storage.OutcomeSuccess}
				if err := s.AppendAudit(ctx, e); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("AppendAudit: %v", err)
	}
	n, brk, err := storage.VerifyAudit(ctx, stores[1])
	if err != nil || brk != nil || n != perWorker*workers {
		t.Errorf("VerifyAudit = %d, %+v, %v; want %d entries and no break", n, brk, err, perWorker*workers)
	}
}

// TestListCursorsAreNotInterchangeable checks a cursor of one listing's
// order is refused by a listing in another order instead of silently
// starting from a wrong position.
func TestListCursorsAreNotInterchangeable(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "acmegate.db"))
	ctx := testCtx(t)
	created := encodeListCursor(orderCreated, time.Now(), "cert-1")
	expiry := encodeListCursor(orderExpiry, time.Now(), "cert-1")
	if _, _, err := s.ListCertificates(ctx, storage.CertificateFilter{ByExpiry: true}, storage.Page{Cursor: created}); err == nil {
		t.Errorf("ListCertificates by expiry accepted a cursor by creation")
	}
	if _, _, err := s.ListCertificates(ctx, storage.CertificateFilter{}, storage.Page{Cursor: expiry}); err == nil {
		t.Errorf("ListCertificates by creation accepted a cursor by expiry")
	}
	for _, c := range []string{expiry, base64.RawURLEncoding.EncodeToString([]byte("seq 0")), encodeSeqCursor(5) + "!"} {
		if _, _, err := s.ListAudit(ctx, storage.AuditFilter{}, storage.Page{Cursor: c}); err == nil {
			t.Errorf("ListAudit accepted cursor %q", c)
		}
	}
}
