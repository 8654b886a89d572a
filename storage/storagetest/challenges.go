package storagetest

import (
	"slices"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

func testStartChallenge(t *testing.T, e *env) {
	acct := e.account("default")
	a := e.storedAuthz(acct, storage.StatusPending, 2)
	now := base().Add(time.Minute)
	c := a.Challenges[0]

	j := job(storage.JobValidate, c.ID, now)
	must(t, "StartChallenge", e.s.StartChallenge(e.ctx, c.ID, j, now))
	got, err := e.s.GetChallenge(e.ctx, c.ID)
	must(t, "GetChallenge", err)
	want := c
	want.Status, want.UpdatedAt = storage.StatusProcessing, now
	if d := diff(&want, got); d != "" {
		t.Errorf("after StartChallenge (-want +got):\n%s", d)
	}
	due := e.jobsDue(now)
	if len(due) != 1 || due[0].ID != j.ID || due[0].Kind != storage.JobValidate || due[0].Ref != c.ID {
		t.Fatalf("jobs after StartChallenge = %+v, want validation job %q", due, j.ID)
	}

	valid := e.storedAuthz(acct, storage.StatusValid, 1)
	tests := []struct {
		name string
		id   string
		want error
	}{
		{"twice", c.ID, storage.ErrConflict},
		{"authorization not pending", valid.Challenges[0].ID, storage.ErrConflict},
		{"unknown challenge", "no-such-challenge", storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.s.StartChallenge(e.ctx, tc.id, job(storage.JobValidate, tc.id, now), now)
			wantErr(t, "StartChallenge", err, tc.want)
		})
	}
	// Refused starts inserted no job and moved no challenge.
	if due := e.jobsDue(now); len(due) != 1 {
		t.Errorf("refused StartChallenge calls left %d jobs, want 1", len(due))
	}
	got, err = e.s.GetChallenge(e.ctx, valid.Challenges[0].ID)
	must(t, "GetChallenge", err)
	if got.Status != storage.StatusPending {
		t.Errorf("refused StartChallenge moved the challenge to %q", got.Status)
	}
}

// testFinishChallenge finishes a challenge from pending (validated within
// the client's request) and from processing (by a job), as valid and as
// invalid: the authorization follows and the challenge's validate jobs go.
func testFinishChallenge(t *testing.T, e *env) {
	acct := e.account("default")
	problem := []byte(`{"type":"urn:ietf:params:acme:error:incorrectResponse"}`)
	start := base().Add(time.Minute)
	now := base().Add(2 * time.Minute)
	tests := []struct {
		name          string
		started       bool
		status        storage.Status
		problem       []byte
		wantValidated time.Time
	}{
		{"processing/valid", true, storage.StatusValid, nil, now},
		{"processing/invalid", true, storage.StatusInvalid, problem, time.Time{}},
		{"pending/valid", false, storage.StatusValid, nil, now},
		{"pending/invalid", false, storage.StatusInvalid, problem, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			a := e.storedAuthz(acct, storage.StatusPending, 2)
			c := a.Challenges[1]
			// Another authorization's validation job stays, and so does a
			// job of another kind that happens to name the challenge.
			other := e.storedAuthz(acct, storage.StatusPending, 1)
			otherJob := job(storage.JobValidate, other.Challenges[0].ID, start)
			must(t, "StartChallenge other", e.s.StartChallenge(e.ctx, other.Challenges[0].ID, otherJob, start))
			o := e.storedOrder(acct, storage.StatusReady)
			foreignJob := job(storage.JobIssue, c.ID, start)
			must(t, "BeginFinalize", e.s.BeginFinalize(e.ctx, o.ID, []storage.Status{storage.StatusReady}, []byte("csr"), foreignJob, start, nil))
			var validateJob *storage.Job
			if tc.started {
				validateJob = job(storage.JobValidate, c.ID, start)
				must(t, "StartChallenge", e.s.StartChallenge(e.ctx, c.ID, validateJob, start))
			}
			must(t, "FinishChallenge", e.s.FinishChallenge(e.ctx, c.ID, tc.status, tc.problem, now, nil))

			want := *a
			want.Challenges = []storage.Challenge{a.Challenges[0], c}
			want.Status, want.UpdatedAt = tc.status, now
			want.Challenges[1].Status = tc.status
			want.Challenges[1].Error = tc.problem
			want.Challenges[1].Validated = tc.wantValidated
			want.Challenges[1].UpdatedAt = now
			got, err := e.s.GetAuthorization(e.ctx, a.ID)
			must(t, "GetAuthorization", err)
			if d := diff(&want, got); d != "" {
				t.Errorf("after FinishChallenge (-want +got):\n%s", d)
			}
			// Other subtests' jobs share the store: look for these three.
			var ids []string
			for _, j := range e.jobsDue(now) {
				ids = append(ids, j.ID)
			}
			if !slices.Contains(ids, otherJob.ID) || !slices.Contains(ids, foreignJob.ID) {
				t.Errorf("jobs after FinishChallenge %q: want %q and %q kept", ids, otherJob.ID, foreignJob.ID)
			}
			if validateJob != nil && slices.Contains(ids, validateJob.ID) {
				t.Errorf("jobs after FinishChallenge %q: want the challenge's validate job %q gone", ids, validateJob.ID)
			}
		})
	}
}

// testFinishChallengeConflicts: a challenge finishes once, and only while
// its authorization is pending. A refused finish writes nothing.
func testFinishChallengeConflicts(t *testing.T, e *env) {
	acct := e.account("default")
	finished := e.storedAuthz(acct, storage.StatusPending, 3)
	valid, sibling, _ := finished.Challenges[0], finished.Challenges[1], finished.Challenges[2]
	must(t, "FinishChallenge", e.s.FinishChallenge(e.ctx, valid.ID, storage.StatusValid, nil, base(), nil))
	failed := e.storedAuthz(acct, storage.StatusPending, 1)
	invalid := failed.Challenges[0]
	must(t, "StartChallenge", e.s.StartChallenge(e.ctx, invalid.ID, job(storage.JobValidate, invalid.ID, base()), base()))
	must(t, "FinishChallenge", e.s.FinishChallenge(e.ctx, invalid.ID, storage.StatusInvalid, []byte(`{}`), base(), nil))
	deactivated := e.storedAuthz(acct, storage.StatusPending, 2)
	must(t, "StartChallenge", e.s.StartChallenge(e.ctx, deactivated.Challenges[1].ID,
		job(storage.JobValidate, deactivated.Challenges[1].ID, base()), base()))
	must(t, "DeactivateAuthorization", e.s.DeactivateAuthorization(e.ctx, deactivated.ID, base()))
	w := watch{authzs: []string{finished.ID, failed.ID, deactivated.ID}}

	tests := []struct {
		name string
		id   string
		want error
	}{
		{"valid", valid.ID, storage.ErrConflict},
		{"invalid", invalid.ID, storage.ErrConflict},
		{"pending, authorization valid", sibling.ID, storage.ErrConflict},
		{"pending, authorization deactivated", deactivated.Challenges[0].ID, storage.ErrConflict},
		{"processing, authorization deactivated", deactivated.Challenges[1].ID, storage.ErrConflict},
		{"unknown challenge", "no-such-challenge", storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			before := e.snapshot(w)
			j := journalFor("", finished.ID, "finish")
			err := e.s.FinishChallenge(e.ctx, tc.id, storage.StatusInvalid, []byte(`{}`), base().Add(time.Hour), j)
			wantErr(t, "FinishChallenge", err, tc.want)
			e.wantUnwritten(before, w, j)
		})
	}
}
