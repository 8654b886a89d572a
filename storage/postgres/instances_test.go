package postgres

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// seedJobs inserts n validation jobs due at runAt through s, the way the
// protocol does: by starting one challenge each.
func seedJobs(t *testing.T, s *Store, n int, runAt time.Time) []*storage.Job {
	t.Helper()
	ctx := testCtx(t)
	acct := &storage.Account{
		ID: randomName("acct-"), Directory: "default", Status: storage.StatusValid,
		KeyThumbprint: randomName("tp-"), KeyJWK: []byte(`{}`), CreatedAt: runAt, UpdatedAt: runAt,
	}
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	jobs := make([]*storage.Job, n)
	for i := range jobs {
		a := &storage.Authorization{
			ID: randomName("authz-"), Directory: "default", AccountID: acct.ID,
			Identifier: storage.Identifier{Type: storage.IdentifierDNS, Value: "example.com"},
			Status:     storage.StatusPending, Expires: runAt.Add(time.Hour), CreatedAt: runAt, UpdatedAt: runAt,
			Challenges: []storage.Challenge{{
				ID: randomName("chall-"), Type: storage.ChallengeHTTP01, Status: storage.StatusPending,
				Token: randomName("token-"), UpdatedAt: runAt,
			}},
		}
		if err := s.CreateAuthorization(ctx, a); err != nil {
			t.Fatalf("CreateAuthorization: %v", err)
		}
		jobs[i] = &storage.Job{
			ID: randomName("job-"), Kind: storage.JobValidate, Ref: a.Challenges[0].ID,
			RunAt: runAt, Deadline: runAt.Add(time.Hour), CreatedAt: runAt,
		}
		if err := s.StartChallenge(ctx, a.Challenges[0].ID, jobs[i], runAt); err != nil {
			t.Fatalf("StartChallenge: %v", err)
		}
	}
	return jobs
}

// twoInstances opens two stores on one schema, standing for two acmegate
// processes sharing a database.
func twoInstances(t *testing.T) [2]*Store {
	url := serverURL(t)
	schema := freshSchema(t, url)
	return [2]*Store{openStore(t, url, schema), openStore(t, url, schema)}
}

// TestInstancesRedeemNonceOnce replays each of several nonces from eight
// goroutines spread over two instances: exactly one redemption of each
// succeeds, the others are ErrConflict (DESIGN.md §8).
func TestInstancesRedeemNonceOnce(t *testing.T) {
	stores := twoInstances(t)
	ctx := testCtx(t)
	const nonces, replays = 20, 8
	expires := time.Now().Add(time.Hour)
	for n := range nonces {
		id := fmt.Sprint("nonce-", n)
		errs := make([]error, replays)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range replays {
			wg.Go(func() {
				<-start
				errs[i] = stores[i%2].RedeemNonce(ctx, id, expires)
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, storage.ErrConflict):
				t.Errorf("%s: unexpected error %v", id, err)
			}
		}
		if won != 1 {
			t.Errorf("%s redeemed %d times across two instances, want exactly once", id, won)
		}
	}
}

// TestInstancesLeaseJobsOnce has three workers in each of two instances
// lease jobs a few at a time until none is left: every job goes to exactly
// one worker.
func TestInstancesLeaseJobsOnce(t *testing.T) {
	stores := twoInstances(t)
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	seeded := seedJobs(t, stores[0], 40, now)
	ctx := testCtx(t)

	var mu sync.Mutex
	leasedBy := map[string][]string{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 6)
	for i := range 6 {
		wg.Go(func() {
			<-start
			owner := fmt.Sprintf("instance%d-worker%d", i%2, i)
			for {
				jobs, err := stores[i%2].LeaseJobs(ctx, owner, 3, now, time.Hour)
				if err != nil {
					errs <- err
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					leasedBy[j.ID] = append(leasedBy[j.ID], owner)
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("LeaseJobs: %v", err)
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

// TestEmptyLeaseOwner checks the empty owner, the mark of a free job, can
// neither lease nor act on a free job.
func TestEmptyLeaseOwner(t *testing.T) {
	url := serverURL(t)
	s := openStore(t, url, freshSchema(t, url))
	ctx := testCtx(t)
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	free := seedJobs(t, s, 1, now)[0]
	if _, err := s.LeaseJobs(ctx, "", 1, now, time.Minute); err == nil {
		t.Errorf("LeaseJobs with the empty owner succeeded")
	}
	if err := s.ReleaseJobs(ctx, ""); err == nil {
		t.Errorf("ReleaseJobs with the empty owner succeeded")
	}
	for name, err := range map[string]error{
		"CompleteJob":   s.CompleteJob(ctx, free.ID, ""),
		"RetryJob":      s.RetryJob(ctx, free.ID, "", now, "x"),
		"RenewJobLease": s.RenewJobLease(ctx, free.ID, "", now.Add(time.Hour)),
	} {
		if !errors.Is(err, storage.ErrConflict) {
			t.Errorf("%s with the empty owner = %v, want ErrConflict", name, err)
		}
	}
	jobs, err := s.LeaseJobs(ctx, "w", 10, now, time.Minute)
	if err != nil || len(jobs) != 1 || jobs[0].ID != free.ID || jobs[0].Attempts != 1 {
		t.Errorf("LeaseJobs after the refused calls = %+v, %v; want the untouched job %q", jobs, err, free.ID)
	}
}
