package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// approvalCSR is the CSR every order awaiting approval carries.
var approvalCSR = []byte{0x30, 0x82, 0x02, 0x0b}

// awaiting stores a pending order of acct created at created and moves it
// to processing with an approval pending until deadline; it returns the
// order as stored.
func (e *env) awaiting(acct *storage.Account, created, deadline time.Time) *storage.Order {
	e.t.Helper()
	a := e.authz(acct, "www.example.com", storage.StatusValid, base().Add(24*time.Hour), 1)
	o := e.order(acct, storage.StatusPending, a)
	o.CreatedAt = created
	must(e.t, "CreateOrder", e.s.CreateOrder(e.ctx, o, []*storage.Authorization{a}, nil))
	must(e.t, "BeginApproval", e.s.BeginApproval(e.ctx, o.ID, []storage.Status{storage.StatusPending},
		approvalCSR, deadline, base()))
	o.Status, o.CSR, o.UpdatedAt = storage.StatusProcessing, approvalCSR, base()
	o.Approval, o.ApprovalDeadline = storage.ApprovalPending, deadline
	return o
}

// wantOrder fails the test unless the stored order o.ID equals want.
func (e *env) wantOrder(what string, want *storage.Order) {
	e.t.Helper()
	got, err := e.s.GetOrder(e.ctx, want.ID)
	must(e.t, "GetOrder", err)
	if d := diff(want, got); d != "" {
		e.t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

func testApprovalRoundTrip(t *testing.T, e *env) {
	paris := time.FixedZone("UTC+2", 2*60*60)
	acct := e.account("default")
	o := e.order(acct, storage.StatusProcessing)
	o.Approval = storage.ApprovalApproved
	o.ApprovalBy = "alice"
	o.ApprovalReason = "ticket PKI-1234"
	// Not UTC on the way in; MUST be UTC on the way out.
	o.ApprovalDeadline = base().Add(72 * time.Hour).In(paris)
	must(t, "CreateOrder", e.s.CreateOrder(e.ctx, o, nil, nil))
	got, err := e.s.GetOrder(e.ctx, o.ID)
	must(t, "GetOrder", err)
	if d := diff(o, got); d != "" {
		t.Errorf("GetOrder (-want +got):\n%s", d)
	}
	checkUTC(t, got)

	plain := e.storedOrder(acct, storage.StatusPending)
	got, err = e.s.GetOrder(e.ctx, plain.ID)
	must(t, "GetOrder", err)
	if got.Approval != storage.ApprovalNone || got.ApprovalBy != "" || !got.ApprovalDeadline.IsZero() {
		t.Errorf("order without approval came back with approval %q by %q until %v",
			got.Approval, got.ApprovalBy, got.ApprovalDeadline)
	}
}

func testBeginApproval(t *testing.T, e *env) {
	acct := e.account("default")
	o := e.storedOrder(acct, storage.StatusPending)
	now := base().Add(time.Minute)
	deadline := now.Add(72 * time.Hour)

	err := e.s.BeginApproval(e.ctx, o.ID, []storage.Status{storage.StatusReady}, approvalCSR, deadline, now)
	wantErr(t, "BeginApproval from a status the order is not in", err, storage.ErrConflict)
	e.wantOrder("refused BeginApproval wrote the order", o)

	must(t, "BeginApproval", e.s.BeginApproval(e.ctx, o.ID,
		[]storage.Status{storage.StatusPending, storage.StatusReady}, approvalCSR, deadline, now))
	want := *o
	want.Status, want.CSR, want.UpdatedAt = storage.StatusProcessing, approvalCSR, now
	want.Approval, want.ApprovalDeadline = storage.ApprovalPending, deadline
	e.wantOrder("after BeginApproval", &want)
	// The issue job comes with the approval, not before.
	if due := e.jobsDue(deadline); len(due) != 0 {
		t.Errorf("BeginApproval inserted jobs: %+v", due)
	}

	err = e.s.BeginApproval(e.ctx, o.ID, []storage.Status{storage.StatusPending}, []byte("other"), deadline, now)
	wantErr(t, "BeginApproval twice", err, storage.ErrConflict)
	e.wantOrder("second BeginApproval wrote the order", &want)

	err = e.s.BeginApproval(e.ctx, "no-such-order", []storage.Status{storage.StatusPending}, approvalCSR, deadline, now)
	wantErr(t, "BeginApproval unknown order", err, storage.ErrNotFound)
}

func testApproveOrder(t *testing.T, e *env) {
	acct := e.account("default")
	deadline := base().Add(72 * time.Hour)
	o := e.awaiting(acct, base(), deadline)
	now := base().Add(time.Hour)

	j := job(storage.JobIssue, o.ID, now)
	must(t, "ApproveOrder", e.s.ApproveOrder(e.ctx, o.ID, "alice", "ticket PKI-1", j, now))
	want := *o
	want.Approval, want.ApprovalBy, want.ApprovalReason, want.UpdatedAt =
		storage.ApprovalApproved, "alice", "ticket PKI-1", now
	e.wantOrder("after ApproveOrder (still processing)", &want)
	due := e.jobsDue(now)
	if len(due) != 1 || due[0].ID != j.ID || due[0].Kind != storage.JobIssue || due[0].Ref != o.ID {
		t.Fatalf("jobs after ApproveOrder = %+v, want the issue job %q", due, j.ID)
	}

	later := now.Add(time.Minute)
	err := e.s.ApproveOrder(e.ctx, o.ID, "bob", "again", job(storage.JobIssue, o.ID, later), later)
	wantErr(t, "ApproveOrder twice", err, storage.ErrConflict)
	err = e.s.RejectOrder(e.ctx, o.ID, "bob", "changed my mind", []byte(`{}`), later)
	wantErr(t, "RejectOrder after ApproveOrder", err, storage.ErrConflict)
	e.wantOrder("refused decisions wrote the order", &want)
	if due := e.jobsDue(later); len(due) != 1 {
		t.Errorf("refused decisions left %d jobs, want 1", len(due))
	}

	finalizing, _ := e.finalizing(acct)
	failed := e.awaiting(acct, base(), deadline)
	must(t, "FailOrder", e.s.FailOrder(e.ctx, failed.ID, []byte(`{"detail":"expired"}`), now, nil))
	tests := []struct {
		name string
		id   string
		want error
	}{
		{"order that never awaited approval", e.storedOrder(acct, storage.StatusReady).ID, storage.ErrConflict},
		{"order finalizing without approval", finalizing.ID, storage.ErrConflict},
		{"order failed while awaiting approval", failed.ID, storage.ErrConflict},
		{"unknown order", "no-such-order", storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.s.ApproveOrder(e.ctx, tc.id, "alice", "", job(storage.JobIssue, tc.id, now), now)
			wantErr(t, "ApproveOrder", err, tc.want)
			err = e.s.RejectOrder(e.ctx, tc.id, "alice", "no", []byte(`{}`), now)
			wantErr(t, "RejectOrder", err, tc.want)
		})
	}
	if due := e.jobsDue(now); len(due) != 2 {
		t.Errorf("after refused approvals %d jobs are due, want 2 (approval and finalization)", len(due))
	}
}

func testRejectOrder(t *testing.T, e *env) {
	acct := e.account("default")
	o := e.awaiting(acct, base(), base().Add(72*time.Hour))
	now := base().Add(time.Hour)
	problem := []byte(`{"type":"urn:ietf:params:acme:error:unauthorized","detail":"an operator rejected the order: no"}`)

	must(t, "RejectOrder", e.s.RejectOrder(e.ctx, o.ID, "alice", "no", problem, now))
	want := *o
	want.Status, want.Error, want.UpdatedAt = storage.StatusInvalid, problem, now
	want.Approval, want.ApprovalBy, want.ApprovalReason = storage.ApprovalRejected, "alice", "no"
	e.wantOrder("after RejectOrder", &want)

	later := now.Add(time.Minute)
	err := e.s.RejectOrder(e.ctx, o.ID, "bob", "twice", []byte(`{}`), later)
	wantErr(t, "RejectOrder twice", err, storage.ErrConflict)
	err = e.s.ApproveOrder(e.ctx, o.ID, "bob", "after all", job(storage.JobIssue, o.ID, later), later)
	wantErr(t, "ApproveOrder after RejectOrder", err, storage.ErrConflict)
	e.wantOrder("refused decisions wrote the order", &want)
	if due := e.jobsDue(later); len(due) != 0 {
		t.Errorf("rejected order has jobs: %+v", due)
	}
}

// testApprovalLapsed checks that a decision after the deadline is refused
// even before ExpireApprovals has run, and that an expired approval takes
// no decision either.
func testApprovalLapsed(t *testing.T, e *env) {
	acct := e.account("default")
	deadline := base().Add(time.Hour)
	tests := []struct {
		name string
		at   time.Time
		want error
	}{
		{"just before the deadline", deadline.Add(-time.Microsecond), nil},
		{"at the deadline", deadline, storage.ErrConflict},
		{"after the deadline", deadline.Add(time.Hour), storage.ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			approve := e.awaiting(acct, base(), deadline)
			err := e.s.ApproveOrder(e.ctx, approve.ID, "alice", "", job(storage.JobIssue, approve.ID, tc.at), tc.at)
			wantErr(t, "ApproveOrder", err, tc.want)
			reject := e.awaiting(acct, base(), deadline)
			err = e.s.RejectOrder(e.ctx, reject.ID, "alice", "no", []byte(`{}`), tc.at)
			wantErr(t, "RejectOrder", err, tc.want)
			if tc.want != nil {
				e.wantOrder("refused late ApproveOrder wrote the order", approve)
				e.wantOrder("refused late RejectOrder wrote the order", reject)
			}
		})
	}

	o := e.awaiting(acct, base(), deadline)
	expired, err := e.s.ExpireApprovals(e.ctx, deadline, []byte(`{}`))
	must(t, "ExpireApprovals", err)
	if !slices.Contains(expired, o.ID) {
		t.Fatalf("ExpireApprovals = %v, want it to include %q", expired, o.ID)
	}
	// A clock running behind the sweeper's must not revive the approval.
	early := deadline.Add(-time.Minute)
	err = e.s.ApproveOrder(e.ctx, o.ID, "alice", "", job(storage.JobIssue, o.ID, early), early)
	wantErr(t, "ApproveOrder after expiry", err, storage.ErrConflict)
	err = e.s.RejectOrder(e.ctx, o.ID, "alice", "no", []byte(`{}`), early)
	wantErr(t, "RejectOrder after expiry", err, storage.ErrConflict)
}

// testApproveConcurrent has several operators approve one order at once:
// exactly one approval wins and exactly its job exists.
func testApproveConcurrent(t *testing.T, e *env) {
	acct := e.account("default")
	o := e.awaiting(acct, base(), base().Add(72*time.Hour))
	now := base().Add(time.Hour)
	const n = 8
	jobs := make([]*storage.Job, n)
	for i := range jobs {
		jobs[i] = job(storage.JobIssue, o.ID, now)
	}
	errs := concurrently(n, func(i int) error {
		return e.s.ApproveOrder(e.ctx, o.ID, fmt.Sprint("operator-", i), "", jobs[i], now)
	})
	ok, conflicts := countOutcomes(t, errs)
	if ok != 1 || conflicts != n-1 {
		t.Fatalf("%d approvals won and %d conflicted, want 1 and %d", ok, conflicts, n-1)
	}
	winner := slices.IndexFunc(errs, func(err error) bool { return err == nil })
	got, err := e.s.GetOrder(e.ctx, o.ID)
	must(t, "GetOrder", err)
	if want := fmt.Sprint("operator-", winner); got.ApprovalBy != want || got.Approval != storage.ApprovalApproved {
		t.Errorf("approval %q by %q, want approved by the winner %q", got.Approval, got.ApprovalBy, want)
	}
	due := e.jobsDue(now)
	if len(due) != 1 || due[0].ID != jobs[winner].ID {
		t.Errorf("jobs after concurrent approvals = %+v, want only %q", due, jobs[winner].ID)
	}
}

// testDecideConcurrent races approvals against rejections: one decision
// wins and the order is consistent with it.
func testDecideConcurrent(t *testing.T, e *env) {
	acct := e.account("default")
	o := e.awaiting(acct, base(), base().Add(72*time.Hour))
	now := base().Add(time.Hour)
	const n = 8
	errs := concurrently(n, func(i int) error {
		if i%2 == 0 {
			return e.s.ApproveOrder(e.ctx, o.ID, fmt.Sprint("operator-", i), "", job(storage.JobIssue, o.ID, now), now)
		}
		return e.s.RejectOrder(e.ctx, o.ID, fmt.Sprint("operator-", i), "no", []byte(`{}`), now)
	})
	ok, conflicts := countOutcomes(t, errs)
	if ok != 1 || conflicts != n-1 {
		t.Fatalf("%d decisions won and %d conflicted, want 1 and %d", ok, conflicts, n-1)
	}
	winner := slices.IndexFunc(errs, func(err error) bool { return err == nil })
	got, err := e.s.GetOrder(e.ctx, o.ID)
	must(t, "GetOrder", err)
	wantStatus, wantApproval, wantJobs := storage.StatusProcessing, storage.ApprovalApproved, 1
	if winner%2 == 1 {
		wantStatus, wantApproval, wantJobs = storage.StatusInvalid, storage.ApprovalRejected, 0
	}
	if got.Status != wantStatus || got.Approval != wantApproval || got.ApprovalBy != fmt.Sprint("operator-", winner) {
		t.Errorf("order %q approval %q by %q; want %q %q by operator-%d",
			got.Status, got.Approval, got.ApprovalBy, wantStatus, wantApproval, winner)
	}
	if due := e.jobsDue(now); len(due) != wantJobs {
		t.Errorf("%d jobs after the race, want %d", len(due), wantJobs)
	}
}

func testListPendingApprovals(t *testing.T, e *env) {
	teamA := e.account("team-a")
	teamB := e.account("team-b")
	deadline := base().Add(72 * time.Hour)
	// Created out of order, so the listing must sort.
	a2 := e.awaiting(teamA, base().Add(2*time.Minute), deadline)
	b1 := e.awaiting(teamB, base().Add(time.Minute), deadline)
	a0 := e.awaiting(teamA, base(), deadline)

	approved := e.awaiting(teamA, base().Add(-time.Hour), deadline)
	must(t, "ApproveOrder", e.s.ApproveOrder(e.ctx, approved.ID, "alice", "", job(storage.JobIssue, approved.ID, base()), base()))
	rejected := e.awaiting(teamB, base().Add(-time.Hour), deadline)
	must(t, "RejectOrder", e.s.RejectOrder(e.ctx, rejected.ID, "alice", "no", []byte(`{}`), base()))
	failed := e.awaiting(teamA, base().Add(-time.Hour), deadline)
	must(t, "FailOrder", e.s.FailOrder(e.ctx, failed.ID, []byte(`{}`), base(), nil))
	e.finalizing(teamA)
	e.storedOrder(teamB, storage.StatusPending)

	tests := []struct {
		dir  string
		want []*storage.Order
	}{
		{"", []*storage.Order{a0, b1, a2}},
		{"team-a", []*storage.Order{a0, a2}},
		{"team-b", []*storage.Order{b1}},
		{"team-c", nil},
	}
	for _, tc := range tests {
		t.Run("dir="+tc.dir, func(t *testing.T) {
			got, err := e.s.ListPendingApprovals(e.ctx, tc.dir)
			must(t, "ListPendingApprovals", err)
			if d := diff(tc.want, got); d != "" {
				t.Errorf("ListPendingApprovals(%q) (-want +got):\n%s", tc.dir, d)
			}
			checkUTC(t, got)
		})
	}
}

func testExpireApprovals(t *testing.T, e *env) {
	acct := e.account("default")
	now := base().Add(24 * time.Hour)
	problem := []byte(`{"type":"urn:ietf:params:acme:error:unauthorized","detail":"not approved in time"}`)
	lapsed := e.awaiting(acct, base(), now.Add(-time.Hour))
	atDeadline := e.awaiting(acct, base(), now)
	open := e.awaiting(acct, base(), now.Add(time.Microsecond))
	approved := e.awaiting(acct, base(), now.Add(-time.Hour))
	must(t, "ApproveOrder", e.s.ApproveOrder(e.ctx, approved.ID, "alice", "", job(storage.JobIssue, approved.ID, base()), base()))
	approvedWant := *approved
	approvedWant.Approval, approvedWant.ApprovalBy = storage.ApprovalApproved, "alice"
	failed := e.awaiting(acct, base(), now.Add(-time.Hour))
	must(t, "FailOrder", e.s.FailOrder(e.ctx, failed.ID, []byte(`{"detail":"first"}`), base(), nil))
	failedWant := *failed
	failedWant.Status, failedWant.Error = storage.StatusInvalid, []byte(`{"detail":"first"}`)

	got, err := e.s.ExpireApprovals(e.ctx, now, problem)
	must(t, "ExpireApprovals", err)
	want := []string{lapsed.ID, atDeadline.ID}
	slices.Sort(want)
	if d := diff(want, got); d != "" {
		t.Errorf("ExpireApprovals (-want +got):\n%s", d)
	}
	for _, o := range []*storage.Order{lapsed, atDeadline} {
		w := *o
		w.Status, w.Error, w.UpdatedAt, w.Approval = storage.StatusInvalid, problem, now, storage.ApprovalRejected
		e.wantOrder("expired order", &w)
	}
	e.wantOrder("open approval", open)
	e.wantOrder("approved order", &approvedWant)
	e.wantOrder("order failed while awaiting approval", &failedWant)

	again, err := e.s.ExpireApprovals(e.ctx, now, problem)
	must(t, "ExpireApprovals again", err)
	if len(again) != 0 {
		t.Errorf("second ExpireApprovals expired %v again", again)
	}
}

// testExpireApprovalsConcurrent has several instances sweep at once: every
// lapsed approval is expired by exactly one of them.
func testExpireApprovalsConcurrent(t *testing.T, e *env) {
	acct := e.account("default")
	now := base().Add(24 * time.Hour)
	want := map[string]bool{}
	for i := range 20 {
		o := e.awaiting(acct, base(), now.Add(-time.Duration(i+1)*time.Minute))
		want[o.ID] = true
	}
	const sweepers = 4
	results := make([][]string, sweepers)
	errs := concurrently(sweepers, func(i int) error {
		var err error
		results[i], err = e.s.ExpireApprovals(e.ctx, now, []byte(`{}`))
		return err
	})
	for _, err := range errs {
		must(t, "ExpireApprovals", err)
	}
	seen := map[string]int{}
	for i, ids := range results {
		for _, id := range ids {
			if !want[id] {
				t.Errorf("sweeper %d expired %q, not a lapsed approval", i, id)
			}
			if prev, dup := seen[id]; dup {
				t.Errorf("%q expired by sweepers %d and %d", id, prev, i)
			}
			seen[id] = i
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d approvals expired, want %d", len(seen), len(want))
	}
}
