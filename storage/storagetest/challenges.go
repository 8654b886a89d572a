package storagetest

import (
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

func testFinishChallenge(t *testing.T, e *env) {
	acct := e.account("default")
	problem := []byte(`{"type":"urn:ietf:params:acme:error:incorrectResponse"}`)
	start := base().Add(time.Minute)
	now := base().Add(2 * time.Minute)
	tests := []struct {
		name          string
		status        storage.Status
		problem       []byte
		wantValidated time.Time
	}{
		{"valid", storage.StatusValid, nil, now},
		{"invalid", storage.StatusInvalid, problem, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			a := e.storedAuthz(acct, storage.StatusPending, 2)
			c := a.Challenges[1]
			must(t, "StartChallenge", e.s.StartChallenge(e.ctx, c.ID, job(storage.JobValidate, c.ID, start), start))
			must(t, "FinishChallenge", e.s.FinishChallenge(e.ctx, c.ID, tc.status, tc.problem, now))

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
		})
	}
}

func testFinishChallengeConflicts(t *testing.T, e *env) {
	acct := e.account("default")
	a := e.storedAuthz(acct, storage.StatusPending, 2)
	done, notStarted := a.Challenges[0], a.Challenges[1]
	must(t, "StartChallenge", e.s.StartChallenge(e.ctx, done.ID, job(storage.JobValidate, done.ID, base()), base()))
	must(t, "FinishChallenge", e.s.FinishChallenge(e.ctx, done.ID, storage.StatusValid, nil, base()))
	before, err := e.s.GetAuthorization(e.ctx, a.ID)
	must(t, "GetAuthorization", err)

	tests := []struct {
		name string
		id   string
		want error
	}{
		{"finished twice", done.ID, storage.ErrConflict},
		{"never started", notStarted.ID, storage.ErrConflict},
		{"unknown challenge", "no-such-challenge", storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.s.FinishChallenge(e.ctx, tc.id, storage.StatusInvalid, []byte(`{}`), base().Add(time.Hour))
			wantErr(t, "FinishChallenge", err, tc.want)
		})
	}
	after, err := e.s.GetAuthorization(e.ctx, a.ID)
	must(t, "GetAuthorization", err)
	if d := diff(before, after); d != "" {
		t.Errorf("refused FinishChallenge calls wrote (-before +after):\n%s", d)
	}
}
