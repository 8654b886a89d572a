package storagetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// seedJobs inserts n validation jobs due at runAt, the way the protocol
// does: by starting one challenge each.
func (e *env) seedJobs(n int, runAt time.Time) []*storage.Job {
	e.t.Helper()
	acct := e.account("default")
	jobs := make([]*storage.Job, n)
	for i := range jobs {
		a := e.storedAuthz(acct, storage.StatusPending, 1)
		c := a.Challenges[0]
		jobs[i] = job(storage.JobValidate, c.ID, runAt)
		must(e.t, "StartChallenge", e.s.StartChallenge(e.ctx, c.ID, jobs[i], base()))
	}
	return jobs
}

// ids returns the ids of jobs, sorted.
func ids(jobs []*storage.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	slices.Sort(out)
	return out
}

func testLeaseJobs(t *testing.T, e *env) {
	seeded := e.seedJobs(3, base())
	later := e.seedJobs(1, base().Add(time.Hour))

	leased, err := e.s.LeaseJobs(e.ctx, "w1", 10, base(), time.Minute)
	must(t, "LeaseJobs", err)
	var want []*storage.Job
	for _, j := range seeded {
		w := *j
		w.LeaseOwner, w.LeaseUntil, w.Attempts = "w1", base().Add(time.Minute), 1
		want = append(want, &w)
	}
	byID := func(a, b *storage.Job) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(want, byID)
	slices.SortFunc(leased, byID)
	if d := diff(want, leased); d != "" {
		t.Fatalf("first lease (-want +got):\n%s", d)
	}
	checkUTC(t, leased)

	held, err := e.s.LeaseJobs(e.ctx, "w2", 10, base().Add(30*time.Second), time.Minute)
	must(t, "LeaseJobs while held", err)
	if len(held) != 0 {
		t.Errorf("leased %d jobs whose lease has not expired", len(held))
	}

	afterExpiry := base().Add(2 * time.Minute)
	taken, err := e.s.LeaseJobs(e.ctx, "w2", 10, afterExpiry, time.Minute)
	must(t, "LeaseJobs after expiry", err)
	if d := diff(ids(seeded), ids(taken)); d != "" {
		t.Errorf("expired leases re-leased (-want +got):\n%s", d)
	}
	for _, j := range taken {
		if j.LeaseOwner != "w2" || j.Attempts != 2 || !j.LeaseUntil.Equal(afterExpiry.Add(time.Minute)) {
			t.Errorf("re-leased job %q: owner %q attempts %d until %v", j.ID, j.LeaseOwner, j.Attempts, j.LeaseUntil)
		}
	}

	first := seeded[0].ID
	wantErr(t, "CompleteJob by the expired owner", e.s.CompleteJob(e.ctx, first, "w1"), storage.ErrConflict)
	must(t, "CompleteJob by the owner", e.s.CompleteJob(e.ctx, first, "w2"))
	wantErr(t, "CompleteJob twice", e.s.CompleteJob(e.ctx, first, "w2"), storage.ErrConflict)

	due, err := e.s.LeaseJobs(e.ctx, "w3", 10, base().Add(time.Hour), time.Minute)
	must(t, "LeaseJobs later", err)
	wantDue := append(ids(seeded[1:]), later[0].ID)
	slices.Sort(wantDue)
	if d := diff(wantDue, ids(due)); d != "" {
		t.Errorf("jobs due later (-want +got):\n%s", d)
	}
}

func testLeaseJobsLimit(t *testing.T, e *env) {
	e.seedJobs(5, base())
	for _, tc := range []struct{ n, want int }{{2, 2}, {0, 0}, {10, 3}, {10, 0}} {
		got, err := e.s.LeaseJobs(e.ctx, "w", tc.n, base(), time.Hour)
		must(t, "LeaseJobs", err)
		if len(got) != tc.want {
			t.Errorf("LeaseJobs(n=%d) = %d jobs, want %d", tc.n, len(got), tc.want)
		}
	}
}

func testRetryJob(t *testing.T, e *env) {
	j := e.seedJobs(1, base())[0]
	_, err := e.s.LeaseJobs(e.ctx, "w1", 1, base(), time.Minute)
	must(t, "LeaseJobs", err)

	retryAt := base().Add(10 * time.Minute)
	wantErr(t, "RetryJob by another worker", e.s.RetryJob(e.ctx, j.ID, "w2", retryAt, "x"), storage.ErrConflict)
	must(t, "RetryJob", e.s.RetryJob(e.ctx, j.ID, "w1", retryAt, "upstream said 503"))
	wantErr(t, "RetryJob after releasing", e.s.RetryJob(e.ctx, j.ID, "w1", retryAt, "x"), storage.ErrConflict)

	early, err := e.s.LeaseJobs(e.ctx, "w3", 10, retryAt.Add(-time.Second), time.Minute)
	must(t, "LeaseJobs before runAt", err)
	if len(early) != 0 {
		t.Errorf("retried job leased %v before its new run time", early[0].RunAt)
	}
	got, err := e.s.LeaseJobs(e.ctx, "w3", 10, retryAt, time.Minute)
	must(t, "LeaseJobs at runAt", err)
	want := *j
	want.RunAt, want.LastError, want.Attempts = retryAt, "upstream said 503", 2
	want.LeaseOwner, want.LeaseUntil = "w3", retryAt.Add(time.Minute)
	if d := diff([]*storage.Job{&want}, got); d != "" {
		t.Errorf("retried job (-want +got):\n%s", d)
	}
}

func testReleaseJobs(t *testing.T, e *env) {
	e.seedJobs(3, base())
	mine, err := e.s.LeaseJobs(e.ctx, "w1", 2, base(), time.Hour)
	must(t, "LeaseJobs w1", err)
	theirs, err := e.s.LeaseJobs(e.ctx, "w2", 10, base(), time.Hour)
	must(t, "LeaseJobs w2", err)
	if len(mine) != 2 || len(theirs) != 1 {
		t.Fatalf("leased %d and %d jobs, want 2 and 1", len(mine), len(theirs))
	}

	must(t, "ReleaseJobs", e.s.ReleaseJobs(e.ctx, "w1"))
	// Same instant, so nothing has expired: only released jobs are free.
	got, err := e.s.LeaseJobs(e.ctx, "w3", 10, base(), time.Hour)
	must(t, "LeaseJobs after release", err)
	if d := diff(ids(mine), ids(got)); d != "" {
		t.Errorf("jobs free after ReleaseJobs(w1) (-want +got):\n%s", d)
	}
	wantErr(t, "CompleteJob by the released owner", e.s.CompleteJob(e.ctx, mine[0].ID, "w1"), storage.ErrConflict)
	must(t, "CompleteJob by w2", e.s.CompleteJob(e.ctx, theirs[0].ID, "w2"))
}

// testLeaseJobsConcurrent has workers race to lease 20 jobs, a few at a
// time: every job must go to exactly one of them.
func testLeaseJobsConcurrent(t *testing.T, e *env) {
	seeded := e.seedJobs(20, base())
	const workers = 4
	var mu sync.Mutex
	leasedBy := map[string][]string{}
	errs := concurrently(workers, func(i int) error {
		owner := fmt.Sprint("w", i)
		for {
			jobs, err := e.s.LeaseJobs(e.ctx, owner, 3, base(), time.Hour)
			if err != nil {
				return err
			}
			if len(jobs) == 0 {
				return nil
			}
			mu.Lock()
			for _, j := range jobs {
				leasedBy[j.ID] = append(leasedBy[j.ID], owner)
				if j.LeaseOwner != owner {
					mu.Unlock()
					return fmt.Errorf("job %q returned to %q with owner %q", j.ID, owner, j.LeaseOwner)
				}
			}
			mu.Unlock()
		}
	})
	for _, err := range errs {
		must(t, "LeaseJobs", err)
	}
	for id, owners := range leasedBy {
		if len(owners) != 1 {
			t.Errorf("job %q leased to %v, want exactly one worker", id, owners)
		}
	}
	if len(leasedBy) != len(seeded) {
		t.Errorf("%d distinct jobs leased, want %d", len(leasedBy), len(seeded))
	}
}

// testRenewJobLease: a heartbeat keeps the job from other workers past the
// original lease, and only the holder can renew.
func testRenewJobLease(t *testing.T, e *env) {
	j := e.seedJobs(1, base())[0]
	_, err := e.s.LeaseJobs(e.ctx, "w1", 1, base(), time.Minute)
	must(t, "LeaseJobs", err)
	wantErr(t, "RenewJobLease by another worker", e.s.RenewJobLease(e.ctx, j.ID, "w2", base().Add(5*time.Minute)), storage.ErrConflict)
	wantErr(t, "RenewJobLease of an unknown job", e.s.RenewJobLease(e.ctx, "no-such-job", "w1", base().Add(5*time.Minute)), storage.ErrConflict)
	must(t, "RenewJobLease", e.s.RenewJobLease(e.ctx, j.ID, "w1", base().Add(5*time.Minute)))
	// Past the first lease but inside the renewed one: still held.
	got, err := e.s.LeaseJobs(e.ctx, "w2", 10, base().Add(2*time.Minute), time.Minute)
	must(t, "LeaseJobs inside the renewed lease", err)
	if len(got) != 0 {
		t.Fatalf("a renewed lease was taken over")
	}
	// Past the renewed lease: free for others.
	got, err = e.s.LeaseJobs(e.ctx, "w2", 10, base().Add(5*time.Minute), time.Minute)
	must(t, "LeaseJobs after the renewed lease", err)
	if len(got) != 1 || got[0].ID != j.ID {
		t.Fatalf("expired renewed lease not taken over: %v", got)
	}
	wantErr(t, "RenewJobLease by the old holder", e.s.RenewJobLease(e.ctx, j.ID, "w1", base().Add(time.Hour)), storage.ErrConflict)
}
