package storagetest

import (
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

func testCountOrders(t *testing.T, e *env) {
	since := base().Add(time.Hour)
	a1 := e.account("team-a")
	a2 := e.account("team-a")
	b1 := e.account("team-b")
	create := func(acct *storage.Account, at time.Time) {
		o := e.order(acct, storage.StatusPending)
		o.CreatedAt = at
		must(t, "CreateOrder", e.s.CreateOrder(e.ctx, o, nil, nil))
	}
	create(a1, since.Add(-time.Microsecond)) // just before: not counted
	create(a1, since)                        // at since: counted
	create(a1, since.Add(time.Hour))
	create(a2, since.Add(time.Minute))
	create(a2, base()) // long before
	create(b1, since.Add(time.Minute))

	tests := []struct {
		name    string
		dir     string
		account string
		since   time.Time
		want    int
	}{
		{"directory", "team-a", "", since, 3},
		{"account", "team-a", a1.ID, since, 2},
		{"other account", "team-a", a2.ID, since, 1},
		{"other directory", "team-b", "", since, 1},
		{"account of another directory", "team-b", a1.ID, since, 0},
		{"everything", "team-a", "", base(), 5},
		{"after the last", "team-a", "", since.Add(time.Hour + time.Microsecond), 0},
		{"unknown directory", "team-c", "", base(), 0},
		{"unknown account", "team-a", "no-such-account", base(), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.s.CountOrders(e.ctx, tc.dir, tc.account, tc.since)
			must(t, "CountOrders", err)
			if got != tc.want {
				t.Errorf("CountOrders(%q, %q, %v) = %d, want %d", tc.dir, tc.account, tc.since, got, tc.want)
			}
		})
	}
}

func testCountFailedValidations(t *testing.T, e *env) {
	since := base().Add(time.Hour)
	acct := e.account("default")
	other := e.account("default")
	// failedAt stores an authorization of a whose first challenge failed at
	// at (a challenge is final once invalid: its last update is its
	// failure) and whose second is still pending.
	failedAt := func(a *storage.Account, at time.Time) {
		z := e.authz(a, "www.example.com", storage.StatusInvalid, base().Add(24*time.Hour), 2)
		z.Challenges[0].Status, z.Challenges[0].Error, z.Challenges[0].UpdatedAt =
			storage.StatusInvalid, []byte(`{"type":"urn:ietf:params:acme:error:incorrectResponse"}`), at
		must(t, "CreateAuthorization", e.s.CreateAuthorization(e.ctx, z))
	}
	failedAt(acct, since.Add(-time.Microsecond)) // just before: not counted
	failedAt(acct, since)                        // at since: counted
	failedAt(acct, since.Add(time.Minute))
	failedAt(other, since.Add(time.Minute))

	// Through the store's own transitions: a validation that fails, one
	// that succeeds, and one whose authorization was deactivated before it
	// finished (refused: the challenge never fails, and is not counted).
	finish := func(status storage.Status, deactivate bool) {
		z := e.storedAuthz(acct, storage.StatusPending, 1)
		c := z.Challenges[0]
		at := since.Add(2 * time.Minute)
		must(t, "StartChallenge", e.s.StartChallenge(e.ctx, c.ID, job(storage.JobValidate, c.ID, at), at))
		if deactivate {
			must(t, "DeactivateAuthorization", e.s.DeactivateAuthorization(e.ctx, z.ID, at))
			wantErr(t, "FinishChallenge of a deactivated authorization",
				e.s.FinishChallenge(e.ctx, c.ID, status, nil, at, nil), storage.ErrConflict)
			return
		}
		must(t, "FinishChallenge", e.s.FinishChallenge(e.ctx, c.ID, status, nil, at, nil))
	}
	finish(storage.StatusInvalid, false)
	finish(storage.StatusValid, false)
	finish(storage.StatusInvalid, true)

	tests := []struct {
		name    string
		account string
		since   time.Time
		want    int
	}{
		{"account since", acct.ID, since, 3},
		{"account before", acct.ID, base(), 4},
		{"after the last", acct.ID, since.Add(3 * time.Minute), 0},
		{"other account", other.ID, since, 1},
		{"unknown account", "no-such-account", base(), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.s.CountFailedValidations(e.ctx, tc.account, tc.since)
			must(t, "CountFailedValidations", err)
			if got != tc.want {
				t.Errorf("CountFailedValidations(%q, %v) = %d, want %d", tc.account, tc.since, got, tc.want)
			}
		})
	}
}

func testCountPendingAuthorizations(t *testing.T, e *env) {
	now := base().Add(time.Hour)
	acct := e.account("default")
	other := e.account("default")
	store := func(a *storage.Account, status storage.Status, expires time.Time) {
		z := e.authz(a, "www.example.com", status, expires, 1)
		must(t, "CreateAuthorization", e.s.CreateAuthorization(e.ctx, z))
	}
	store(acct, storage.StatusPending, now.Add(time.Microsecond)) // counted
	store(acct, storage.StatusPending, now.Add(24*time.Hour))     // counted
	store(acct, storage.StatusPending, now)                       // expires at now: expired
	store(acct, storage.StatusPending, now.Add(-time.Hour))       // expired
	store(acct, storage.StatusValid, now.Add(24*time.Hour))
	store(acct, storage.StatusInvalid, now.Add(24*time.Hour))
	store(other, storage.StatusPending, now.Add(24*time.Hour))
	deactivated := e.authz(acct, "www.example.com", storage.StatusPending, now.Add(24*time.Hour), 1)
	must(t, "CreateAuthorization", e.s.CreateAuthorization(e.ctx, deactivated))
	must(t, "DeactivateAuthorization", e.s.DeactivateAuthorization(e.ctx, deactivated.ID, now))

	tests := []struct {
		name    string
		account string
		now     time.Time
		want    int
	}{
		{"account", acct.ID, now, 2},
		{"account earlier", acct.ID, now.Add(-2 * time.Hour), 4},
		{"account later", acct.ID, now.Add(time.Hour), 1},
		{"other account", other.ID, now, 1},
		{"unknown account", "no-such-account", now, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.s.CountPendingAuthorizations(e.ctx, tc.account, tc.now)
			must(t, "CountPendingAuthorizations", err)
			if got != tc.want {
				t.Errorf("CountPendingAuthorizations(%q, %v) = %d, want %d", tc.account, tc.now, got, tc.want)
			}
		})
	}
}
