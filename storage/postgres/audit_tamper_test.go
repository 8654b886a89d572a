package postgres

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// appendN appends n entries to s.
func appendN(t *testing.T, s *Store, n int) {
	t.Helper()
	for i := range n {
		e := &storage.AuditEntry{At: time.Date(2031, 3, 4, 5, 6, i, 0, time.UTC), Actor: "token:ops",
			Directory: "default", Action: "order.approve", Object: fmt.Sprintf("order:o%d", i),
			Outcome: storage.OutcomeSuccess, ClientIP: "192.0.2.1", Detail: "approved"}
		if err := s.AppendAudit(testCtx(t), e); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
	}
}

// TestVerifyAuditDetectsTampering changes the trail behind the store's
// back, as someone with write access to the database could, and checks
// VerifyAudit names the first entry that no longer holds.
func TestVerifyAuditDetectsTampering(t *testing.T) {
	url := serverURL(t)
	tests := []struct {
		name    string
		tamper  string
		wantSeq int64
	}{
		{"changed detail", `UPDATE audit_log SET detail = 'nothing to see' WHERE seq = 3`, 3},
		{"changed time", `UPDATE audit_log SET at = at + interval '1 microsecond' WHERE seq = 4`, 4},
		{"deleted middle entry", `DELETE FROM audit_log WHERE seq = 5`, 6},
		{"rehashed entry", `UPDATE audit_log SET hash = (SELECT hash FROM audit_log WHERE seq = 1) WHERE seq = 2`, 2},
		{"deleted first entry", `DELETE FROM audit_log WHERE seq = 1`, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, url, freshSchema(t, url))
			ctx := testCtx(t)
			appendN(t, s, 8)
			if n, brk, err := storage.VerifyAudit(ctx, s); err != nil || brk != nil || n != 8 {
				t.Fatalf("VerifyAudit before tampering = %d, %+v, %v; want 8, nil, nil", n, brk, err)
			}
			if _, err := s.pool.Exec(ctx, tc.tamper); err != nil {
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

// TestInstancesAppendAuditChain appends from many goroutines spread over
// two instances sharing a schema: every append succeeds, the seqs are
// 1..n without gaps and the chain verifies (DESIGN.md §8, §11).
func TestInstancesAppendAuditChain(t *testing.T) {
	stores := twoInstances(t)
	ctx := testCtx(t)
	const workers, each = 12, 25
	var (
		mu   sync.Mutex
		seqs []int64
		wg   sync.WaitGroup
	)
	errs := make(chan error, workers)
	start := make(chan struct{})
	for w := range workers {
		s := stores[w%2]
		wg.Go(func() {
			<-start
			for i := range each {
				e := &storage.AuditEntry{At: time.Now(), Actor: fmt.Sprintf("token:w%d", w), Directory: "default",
					Action: "order.approve", Object: fmt.Sprintf("order:%d-%d", w, i), Outcome: storage.OutcomeSuccess}
				if err := s.AppendAudit(ctx, e); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seqs = append(seqs, e.Seq)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("AppendAudit: %v", err)
	}
	slices.Sort(seqs)
	for i, seq := range seqs {
		if seq != int64(i+1) {
			t.Fatalf("assigned seqs %v, want 1..%d each once", seqs, workers*each)
		}
	}
	for i, s := range stores {
		n, brk, err := storage.VerifyAudit(ctx, s)
		if err != nil || brk != nil || n != workers*each {
			t.Errorf("VerifyAudit through instance %d = %d, %+v, %v; want %d entries and no break", i, n, brk, err, workers*each)
		}
	}
}

// TestInstancesClaimSweepOnce has 20 goroutines over two instances claim
// one sweep at the same instant, twice a period apart: each time exactly
// one wins.
func TestInstancesClaimSweepOnce(t *testing.T) {
	stores := twoInstances(t)
	ctx := testCtx(t)
	const period = time.Minute
	for round, now := range []time.Time{time.Now(), time.Now().Add(period)} {
		var won sync.WaitGroup
		var mu sync.Mutex
		winners := 0
		start := make(chan struct{})
		for i := range 20 {
			won.Go(func() {
				<-start
				ok, err := stores[i%2].ClaimSweep(ctx, "expire-approvals", period, now)
				if err != nil {
					t.Errorf("ClaimSweep: %v", err)
					return
				}
				if ok {
					mu.Lock()
					winners++
					mu.Unlock()
				}
			})
		}
		close(start)
		won.Wait()
		if winners != 1 {
			t.Errorf("round %d: %d of 20 concurrent claims won, want exactly 1", round, winners)
		}
	}
}
