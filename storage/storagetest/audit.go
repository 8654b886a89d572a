package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// auditEntry builds an entry to append, as the caller fills it.
func auditEntry(at time.Time, actor, dir, action, object, outcome string) *storage.AuditEntry {
	return &storage.AuditEntry{At: at, Actor: actor, Directory: dir, Action: action, Object: object,
		Outcome: outcome, ClientIP: "192.0.2.7", Detail: action + " of " + object}
}

// appendAudit appends entries, failing the test on any error.
func (e *env) appendAudit(entries ...*storage.AuditEntry) {
	e.t.Helper()
	for _, a := range entries {
		must(e.t, "AppendAudit", e.s.AppendAudit(e.ctx, a))
	}
}

// seqs returns the Seq of each entry, in order.
func seqs(entries []*storage.AuditEntry) []int64 {
	var out []int64
	for _, a := range entries {
		out = append(out, a.Seq)
	}
	return out
}

// verifyAudit checks the whole chain holds and has n entries.
func (e *env) verifyAudit(n int64) {
	e.t.Helper()
	checked, brk, err := storage.VerifyAudit(e.ctx, e.s)
	must(e.t, "VerifyAudit", err)
	if brk != nil {
		e.t.Fatalf("VerifyAudit: chain broken at %d: %s", brk.Seq, brk.Reason)
	}
	if checked != n {
		e.t.Errorf("VerifyAudit checked %d entries, want %d", checked, n)
	}
}

func testAuditAppend(t *testing.T, e *env) {
	paris := time.FixedZone("UTC+2", 2*60*60)
	// Nanoseconds and a zone on the way in: the entry keeps the instant to
	// the microsecond, in UTC.
	at := base().Add(789 * time.Nanosecond).In(paris)
	entries := []*storage.AuditEntry{
		auditEntry(at, "token:ci", "default", "eab.create", "eab:k1", storage.OutcomeSuccess),
		auditEntry(at, "account:a1", "default", "order.create", "order:o1", storage.OutcomeSuccess),
		auditEntry(at.Add(time.Second), "system", "", "approval.expire", "order:o2", storage.OutcomeFailure),
	}
	var prev []byte
	for i, a := range entries {
		in := *a
		must(t, "AppendAudit", e.s.AppendAudit(e.ctx, a))
		if a.Seq != int64(i+1) {
			t.Errorf("entry %d: Seq = %d, want %d", i, a.Seq, i+1)
		}
		if want := in.At.UTC().Truncate(time.Microsecond); !a.At.Equal(want) || a.At.Location() != time.UTC {
			t.Errorf("entry %d: At = %v, want %v in UTC", i, a.At, want)
		}
		if string(a.PrevHash) != string(prev) {
			t.Errorf("entry %d: PrevHash = %x, want the previous entry's hash %x", i, a.PrevHash, prev)
		}
		if len(a.Hash) == 0 || string(a.Hash) != string(storage.AuditHash(a)) {
			t.Errorf("entry %d: Hash = %x, want AuditHash %x", i, a.Hash, storage.AuditHash(a))
		}
		prev = a.Hash
	}
	if entries[0].PrevHash != nil {
		t.Errorf("first entry: PrevHash = %x, want nil", entries[0].PrevHash)
	}
	got, err := e.s.ScanAudit(e.ctx, 0, 100)
	must(t, "ScanAudit", err)
	if d := diff(entries, got); d != "" {
		t.Errorf("stored entries (-want +got):\n%s", d)
	}
	checkUTC(t, got)
	e.verifyAudit(3)
}

func testAuditScan(t *testing.T, e *env) {
	checked, brk, err := storage.VerifyAudit(e.ctx, e.s)
	if err != nil || brk != nil || checked != 0 {
		t.Errorf("VerifyAudit of an empty trail = %d, %+v, %v; want 0, nil, nil", checked, brk, err)
	}
	for i := range 7 {
		e.appendAudit(auditEntry(base().Add(time.Duration(i)*time.Second), "system", "default", "job.run",
			fmt.Sprintf("job:%d", i), storage.OutcomeSuccess))
	}
	tests := []struct {
		after int64
		limit int
		want  []int64
	}{
		{0, 3, []int64{1, 2, 3}},
		{3, 3, []int64{4, 5, 6}},
		{6, 3, []int64{7}},
		{7, 3, nil},
		{2, 100, []int64{3, 4, 5, 6, 7}},
	}
	for _, tc := range tests {
		got, err := e.s.ScanAudit(e.ctx, tc.after, tc.limit)
		must(t, "ScanAudit", err)
		if d := diff(tc.want, seqs(got)); d != "" {
			t.Errorf("ScanAudit(%d, %d) seqs (-want +got):\n%s", tc.after, tc.limit, d)
		}
	}
	e.verifyAudit(7)
}

func testAuditList(t *testing.T, e *env) {
	t0 := base()
	e.appendAudit(
		auditEntry(t0, "token:ci", "default", "eab.create", "eab:k1", storage.OutcomeSuccess),              // 1
		auditEntry(t0.Add(1*time.Minute), "account:a1", "default", "order.create", "order:o1", "success"),  // 2
		auditEntry(t0.Add(2*time.Minute), "account:a1", "default", "order.finalize", "order:o1", "denied"), // 3
		auditEntry(t0.Add(3*time.Minute), "token:ops", "team", "order.approve", "order:o2", "success"),     // 4
		auditEntry(t0.Add(4*time.Minute), "token:ops", "team", "orders.export", "report:r1", "success"),    // 5
		auditEntry(t0.Add(5*time.Minute), "system", "", "order", "order:o3", "failure"),                    // 6
		auditEntry(t0.Add(6*time.Minute), "operator:root", "team", "token.revoke", "token:t1", "success"),  // 7
	)
	tests := []struct {
		name string
		f    storage.AuditFilter
		want []int64
	}{
		{"everything, newest first", storage.AuditFilter{}, []int64{7, 6, 5, 4, 3, 2, 1}},
		{"directory", storage.AuditFilter{Directory: "team"}, []int64{7, 5, 4}},
		{"actor", storage.AuditFilter{Actor: "account:a1"}, []int64{3, 2}},
		{"exact action", storage.AuditFilter{Action: "order.create"}, []int64{2}},
		// "order." matches order.* only: not "orders.export", not "order".
		{"action prefix", storage.AuditFilter{Action: "order."}, []int64{4, 3, 2}},
		{"action without its prefix dot", storage.AuditFilter{Action: "order"}, []int64{6}},
		{"object", storage.AuditFilter{Object: "order:o1"}, []int64{3, 2}},
		{"outcome", storage.AuditFilter{Outcome: storage.OutcomeDenied}, []int64{3}},
		{"since, inclusive", storage.AuditFilter{Since: t0.Add(5 * time.Minute)}, []int64{7, 6}},
		{"until, exclusive", storage.AuditFilter{Until: t0.Add(2 * time.Minute)}, []int64{2, 1}},
		{"time window", storage.AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []int64{3, 2}},
		{"several fields", storage.AuditFilter{Directory: "team", Actor: "token:ops", Action: "order."}, []int64{4}},
		{"nothing matches", storage.AuditFilter{Actor: "token:nobody"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, next, err := e.s.ListAudit(e.ctx, tc.f, storage.Page{})
			must(t, "ListAudit", err)
			if d := diff(tc.want, seqs(got)); d != "" {
				t.Errorf("ListAudit(%+v) seqs (-want +got):\n%s", tc.f, d)
			}
			if next != "" {
				t.Errorf("ListAudit(%+v): next page %q after every entry", tc.f, next)
			}
			checkUTC(t, got)
		})
	}
	// A listed entry is the stored entry, hash and link included.
	all, err := e.s.ScanAudit(e.ctx, 0, 100)
	must(t, "ScanAudit", err)
	got, _, err := e.s.ListAudit(e.ctx, storage.AuditFilter{Object: "token:t1"}, storage.Page{})
	must(t, "ListAudit", err)
	if d := diff(all[6:7], got); d != "" {
		t.Errorf("listed entry (-want +got):\n%s", d)
	}
}

// testAuditListPages pages through the trail while it grows: entries
// appended between pages never show up on later pages (they are newer),
// and no entry is listed twice or skipped.
func testAuditListPages(t *testing.T, e *env) {
	for i := range 10 {
		dir := "default"
		if i%2 == 1 {
			dir = "team"
		}
		e.appendAudit(auditEntry(base(), "system", dir, "job.run", fmt.Sprintf("job:%d", i), storage.OutcomeSuccess))
	}
	var got []int64
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatalf("pagination does not end")
		}
		entries, next, err := e.s.ListAudit(e.ctx, storage.AuditFilter{Directory: "default"}, storage.Page{Cursor: cursor, Limit: 2})
		must(t, "ListAudit", err)
		got = append(got, seqs(entries)...)
		if next == "" {
			break
		}
		cursor = next
		e.appendAudit(auditEntry(base(), "system", "default", "job.run", "job:late", storage.OutcomeSuccess))
	}
	if d := diff([]int64{9, 7, 5, 3, 1}, got); d != "" {
		t.Errorf("pages of a growing trail (-want +got):\n%s", d)
	}
	all, sizes := allPages(t, 3, 10, func(p storage.Page) ([]*storage.AuditEntry, string, error) {
		return e.s.ListAudit(e.ctx, storage.AuditFilter{}, p)
	})
	if d := diff(pageSizes(12, 3), sizes); d != "" {
		t.Errorf("page sizes (-want +got):\n%s", d)
	}
	want := make([]int64, 12)
	for i := range want {
		want[i] = int64(12 - i)
	}
	if d := diff(want, seqs(all)); d != "" {
		t.Errorf("every page (-want +got):\n%s", d)
	}
	_, _, err := e.s.ListAudit(e.ctx, storage.AuditFilter{}, storage.Page{Cursor: "not a cursor!"})
	if !errors.Is(err, storage.ErrBadCursor) {
		t.Errorf("ListAudit on a malformed cursor: %v, want ErrBadCursor", err)
	}
}

// testAuditConcurrent appends from many goroutines at once: every append
// succeeds, the seqs are 1..n without gaps and the chain holds.
func testAuditConcurrent(t *testing.T, e *env) {
	const workers, each = 8, 15
	var mu sync.Mutex
	var got []int64
	errs := concurrently(workers, func(w int) error {
		for i := range each {
			a := auditEntry(base(), fmt.Sprintf("token:w%d", w), "default", "order.approve",
				fmt.Sprintf("order:%d-%d", w, i), storage.OutcomeSuccess)
			if err := e.s.AppendAudit(e.ctx, a); err != nil {
				return err
			}
			mu.Lock()
			got = append(got, a.Seq)
			mu.Unlock()
		}
		return nil
	})
	for _, err := range errs {
		must(t, "AppendAudit", err)
	}
	slices.Sort(got)
	for i, seq := range got {
		if seq != int64(i+1) {
			t.Fatalf("assigned seqs %v, want 1..%d each once", got, workers*each)
		}
	}
	e.verifyAudit(workers * each)
}
