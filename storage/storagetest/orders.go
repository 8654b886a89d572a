package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

func testOrderRoundTrip(t *testing.T, e *env) {
	acct := e.account("default")
	reused := e.authz(acct, "example.com", storage.StatusValid, base().Add(30*24*time.Hour), 2)
	must(t, "CreateAuthorization", e.s.CreateAuthorization(e.ctx, reused))
	fresh1 := e.authz(acct, "www.example.com", storage.StatusPending, base().Add(24*time.Hour), 3)
	fresh2 := e.authz(acct, "example.net", storage.StatusPending, base().Add(24*time.Hour), 1)
	fresh2.Wildcard = true

	o := e.order(acct, storage.StatusPending, reused, fresh1, fresh2)
	o.NotAfter = base().Add(90 * 24 * time.Hour) // NotBefore stays zero
	o.Identifiers = append(o.Identifiers, storage.Identifier{Type: storage.IdentifierIP, Value: "192.0.2.1"})
	o.UpdatedAt = base().Add(time.Millisecond)
	must(t, "CreateOrder", e.s.CreateOrder(e.ctx, o, []*storage.Authorization{fresh1, fresh2}, nil))

	got, err := e.s.GetOrder(e.ctx, o.ID)
	must(t, "GetOrder", err)
	if d := diff(o, got); d != "" {
		t.Errorf("GetOrder (-want +got):\n%s", d)
	}
	if !got.NotBefore.IsZero() {
		t.Errorf("zero NotBefore came back as %v", got.NotBefore)
	}
	checkUTC(t, got)

	authzs, err := e.s.GetAuthorizations(e.ctx, got.AuthzIDs)
	must(t, "GetAuthorizations", err)
	if d := diff([]*storage.Authorization{reused, fresh1, fresh2}, authzs); d != "" {
		t.Errorf("order's authorizations (-want +got):\n%s", d)
	}
}

func testOrderNotFound(t *testing.T, e *env) {
	got, err := e.s.GetOrder(e.ctx, "no-such-order")
	wantErr(t, "GetOrder", err, storage.ErrNotFound)
	if got != nil {
		t.Errorf("got %+v with ErrNotFound", got)
	}
}

// testCreateOrderRollsBack checks that a CreateOrder refused anywhere writes
// nothing: not the order, not the authorizations inserted before the
// failure, not their challenges.
func testCreateOrderRollsBack(t *testing.T, e *env) {
	acct := e.account("default")
	existing := e.storedAuthz(acct, storage.StatusPending, 1)
	prior := e.storedOrder(acct, storage.StatusPending)

	tests := []struct {
		name  string
		build func() (*storage.Order, []*storage.Authorization)
	}{
		{"authorization id taken", func() (*storage.Order, []*storage.Authorization) {
			fresh := e.authz(acct, "a.example.com", storage.StatusPending, base().Add(time.Hour), 2)
			dup := e.authz(acct, "b.example.com", storage.StatusPending, base().Add(time.Hour), 1)
			dup.ID = existing.ID
			return e.order(acct, storage.StatusPending, fresh, dup), []*storage.Authorization{fresh, dup}
		}},
		{"challenge id taken", func() (*storage.Order, []*storage.Authorization) {
			fresh := e.authz(acct, "a.example.com", storage.StatusPending, base().Add(time.Hour), 2)
			dup := e.authz(acct, "b.example.com", storage.StatusPending, base().Add(time.Hour), 2)
			dup.Challenges[1].ID = existing.Challenges[0].ID
			return e.order(acct, storage.StatusPending, fresh, dup), []*storage.Authorization{fresh, dup}
		}},
		{"order id taken", func() (*storage.Order, []*storage.Authorization) {
			fresh := e.authz(acct, "a.example.com", storage.StatusPending, base().Add(time.Hour), 2)
			o := e.order(acct, storage.StatusPending, fresh)
			o.ID = prior.ID
			return o, []*storage.Authorization{fresh}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, authzs := tc.build()
			wantErr(t, "CreateOrder", e.s.CreateOrder(e.ctx, o, authzs, nil), storage.ErrConflict)
			if o.ID != prior.ID {
				_, err := e.s.GetOrder(e.ctx, o.ID)
				wantErr(t, "GetOrder of refused order", err, storage.ErrNotFound)
			}
			fresh := authzs[0]
			_, err := e.s.GetAuthorization(e.ctx, fresh.ID)
			wantErr(t, "GetAuthorization inserted before the failure", err, storage.ErrNotFound)
			for _, c := range fresh.Challenges {
				_, err := e.s.GetChallenge(e.ctx, c.ID)
				wantErr(t, "GetChallenge inserted before the failure", err, storage.ErrNotFound)
			}
		})
	}

	// The rows that made the creations fail are untouched.
	got, err := e.s.GetAuthorization(e.ctx, existing.ID)
	must(t, "GetAuthorization existing", err)
	if d := diff(existing, got); d != "" {
		t.Errorf("existing authorization changed (-want +got):\n%s", d)
	}
	gotOrder, err := e.s.GetOrder(e.ctx, prior.ID)
	must(t, "GetOrder prior", err)
	if d := diff(prior, gotOrder); d != "" {
		t.Errorf("prior order changed (-want +got):\n%s", d)
	}
}

// testListOrderIDs pages through 25 orders, some created in the same
// instant, ten at a time.
func testListOrderIDs(t *testing.T, e *env) {
	acct := e.account("default")
	other := e.account("default")
	created := map[string]time.Time{}
	for i := range 25 {
		o := e.order(acct, storage.StatusPending)
		o.CreatedAt = base().Add(time.Duration(i/2) * time.Second) // pairs share a timestamp
		must(t, "CreateOrder", e.s.CreateOrder(e.ctx, o, nil, nil))
		created[o.ID] = o.CreatedAt
	}
	for range 3 {
		must(t, "CreateOrder other", e.s.CreateOrder(e.ctx, e.order(other, storage.StatusPending), nil, nil))
	}

	var all []string
	var sizes []int
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatalf("pagination does not end")
		}
		ids, next, err := e.s.ListOrderIDs(e.ctx, acct.ID, storage.Page{Cursor: cursor, Limit: 10})
		must(t, "ListOrderIDs", err)
		all = append(all, ids...)
		sizes = append(sizes, len(ids))
		if next == "" {
			break
		}
		cursor = next
	}
	if d := diff([]int{10, 10, 5}, sizes); d != "" {
		t.Errorf("page sizes (-want +got):\n%s", d)
	}
	seen := map[string]bool{}
	for i, id := range all {
		if _, ok := created[id]; !ok {
			t.Errorf("listed %q, not an order of the account", id)
		}
		if seen[id] {
			t.Errorf("listed %q twice", id)
		}
		seen[id] = true
		if i > 0 && created[id].After(created[all[i-1]]) {
			t.Errorf("order %d (%v) is newer than order %d (%v): want newest first", i, created[id], i-1, created[all[i-1]])
		}
	}
	if len(seen) != len(created) {
		t.Errorf("listed %d distinct orders, want %d", len(seen), len(created))
	}
}

func testListOrderIDsEdges(t *testing.T, e *env) {
	empty := e.account("default")
	ten := e.account("default")
	for i := range 10 {
		o := e.order(ten, storage.StatusPending)
		o.CreatedAt = base().Add(time.Duration(i) * time.Minute)
		must(t, "CreateOrder", e.s.CreateOrder(e.ctx, o, nil, nil))
	}
	tests := []struct {
		name     string
		account  string
		limit    int
		wantN    int
		wantNext bool
	}{
		{"no orders", empty.ID, 10, 0, false},
		{"exactly one full page", ten.ID, 10, 10, false},
		{"one short of the total", ten.ID, 9, 9, true},
		{"unknown account", "no-such-account", 10, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ids, next, err := e.s.ListOrderIDs(e.ctx, tc.account, storage.Page{Limit: tc.limit})
			must(t, "ListOrderIDs", err)
			if len(ids) != tc.wantN || (next != "") != tc.wantNext {
				t.Errorf("got %d ids, next %q; want %d ids, next present %v", len(ids), next, tc.wantN, tc.wantNext)
			}
		})
	}
}

func testBeginFinalize(t *testing.T, e *env) {
	acct := e.account("default")
	o := e.storedOrder(acct, storage.StatusPending)
	now := base().Add(time.Minute)
	csr := []byte{0x30, 0x82, 0x01, 0x0a}

	j := job(storage.JobIssue, o.ID, now)
	err := e.s.BeginFinalize(e.ctx, o.ID, []storage.Status{storage.StatusReady}, csr, j, now, nil)
	wantErr(t, "BeginFinalize from a status the order is not in", err, storage.ErrConflict)
	got, err := e.s.GetOrder(e.ctx, o.ID)
	must(t, "GetOrder", err)
	if d := diff(o, got); d != "" {
		t.Errorf("refused BeginFinalize wrote the order (-want +got):\n%s", d)
	}
	if jobs := e.jobsDue(now); len(jobs) != 0 {
		t.Errorf("refused BeginFinalize inserted %d jobs", len(jobs))
	}

	must(t, "BeginFinalize", e.s.BeginFinalize(e.ctx, o.ID, []storage.Status{storage.StatusPending, storage.StatusReady}, csr, j, now, nil))
	want := *o
	want.Status, want.CSR, want.UpdatedAt = storage.StatusProcessing, csr, now
	got, err = e.s.GetOrder(e.ctx, o.ID)
	must(t, "GetOrder", err)
	if d := diff(&want, got); d != "" {
		t.Errorf("after BeginFinalize (-want +got):\n%s", d)
	}
	jobs := e.jobsDue(now)
	if len(jobs) != 1 || jobs[0].ID != j.ID || jobs[0].Kind != storage.JobIssue || jobs[0].Ref != o.ID {
		t.Errorf("jobs after BeginFinalize = %+v, want the issue job %q", jobs, j.ID)
	}

	again := job(storage.JobIssue, o.ID, now)
	err = e.s.BeginFinalize(e.ctx, o.ID, []storage.Status{storage.StatusPending, storage.StatusReady}, csr, again, now, nil)
	wantErr(t, "BeginFinalize twice", err, storage.ErrConflict)
	if jobs := e.jobsDue(now); len(jobs) != 1 {
		t.Errorf("second BeginFinalize left %d jobs, want 1", len(jobs))
	}

	err = e.s.BeginFinalize(e.ctx, "no-such-order", []storage.Status{storage.StatusPending}, csr, job(storage.JobIssue, "x", now), now, nil)
	wantErr(t, "BeginFinalize unknown order", err, storage.ErrNotFound)
}

func testBeginFinalizeConcurrent(t *testing.T, e *env) {
	acct := e.account("default")
	o := e.storedOrder(acct, storage.StatusReady)
	const n = 8
	jobs := make([]*storage.Job, n)
	for i := range jobs {
		jobs[i] = job(storage.JobIssue, o.ID, base())
	}
	errs := concurrently(n, func(i int) error {
		return e.s.BeginFinalize(e.ctx, o.ID, []storage.Status{storage.StatusReady}, []byte(fmt.Sprint("csr", i)), jobs[i], base(), nil)
	})
	ok, conflicts := countOutcomes(t, errs)
	if ok != 1 || conflicts != n-1 {
		t.Fatalf("%d finalizations won and %d conflicted, want 1 and %d", ok, conflicts, n-1)
	}
	winner := 0
	for i, err := range errs {
		if err == nil {
			winner = i
		}
	}
	got, err := e.s.GetOrder(e.ctx, o.ID)
	must(t, "GetOrder", err)
	if want := fmt.Sprint("csr", winner); string(got.CSR) != want {
		t.Errorf("stored CSR %q, want the winner's %q", got.CSR, want)
	}
	due := e.jobsDue(base())
	if len(due) != 1 || due[0].ID != jobs[winner].ID {
		t.Errorf("jobs after concurrent finalization = %+v, want only %q", due, jobs[winner].ID)
	}
}

func testCompleteOrder(t *testing.T, e *env) {
	acct := e.account("default")
	o, _ := e.finalizing(acct)
	bystander, bystanderJob := e.finalizing(acct)
	pending := e.storedOrder(acct, storage.StatusPending)
	now := base().Add(time.Hour)

	early := certificate(pending, "a1")
	wantErr(t, "CompleteOrder of a pending order", e.s.CompleteOrder(e.ctx, early, now, nil), storage.ErrConflict)
	_, err := e.s.GetCertificate(e.ctx, early.ID)
	wantErr(t, "GetCertificate of refused completion", err, storage.ErrNotFound)

	c := certificate(o, "1f2e3d")
	must(t, "CompleteOrder", e.s.CompleteOrder(e.ctx, c, now, nil))
	got, err := e.s.GetOrder(e.ctx, o.ID)
	must(t, "GetOrder", err)
	if got.Status != storage.StatusValid || got.CertificateID != c.ID || !got.UpdatedAt.Equal(now) {
		t.Errorf("order after CompleteOrder: status %q cert %q updated %v; want valid %q %v",
			got.Status, got.CertificateID, got.UpdatedAt, c.ID, now)
	}
	gotCert, err := e.s.GetCertificate(e.ctx, c.ID)
	must(t, "GetCertificate", err)
	if d := diff(c, gotCert); d != "" {
		t.Errorf("stored certificate (-want +got):\n%s", d)
	}
	// Only the completed order's issue job goes.
	due := e.jobsDue(now)
	if len(due) != 1 || due[0].ID != bystanderJob.ID {
		t.Errorf("jobs after CompleteOrder = %+v, want only %q of order %q", due, bystanderJob.ID, bystander.ID)
	}

	second := certificate(o, "2f2e3d")
	wantErr(t, "CompleteOrder twice", e.s.CompleteOrder(e.ctx, second, now, nil), storage.ErrConflict)
	_, err = e.s.GetCertificate(e.ctx, second.ID)
	wantErr(t, "GetCertificate of second completion", err, storage.ErrNotFound)

	orphan := certificate(o, "3f")
	orphan.OrderID = "no-such-order"
	wantErr(t, "CompleteOrder unknown order", e.s.CompleteOrder(e.ctx, orphan, now, nil), storage.ErrNotFound)
}

// testCompleteOrderDuplicateSerial checks that a certificate refused for
// its serial rolls back the order's move to valid.
func testCompleteOrderDuplicateSerial(t *testing.T, e *env) {
	acct := e.account("default")
	first, _ := e.finalizing(acct)
	second, secondJob := e.finalizing(acct)
	must(t, "CompleteOrder", e.s.CompleteOrder(e.ctx, certificate(first, "abc"), base(), nil))

	dup := certificate(second, "abc")
	wantErr(t, "CompleteOrder with a taken serial", e.s.CompleteOrder(e.ctx, dup, base(), nil), storage.ErrConflict)
	got, err := e.s.GetOrder(e.ctx, second.ID)
	must(t, "GetOrder", err)
	if got.Status != storage.StatusProcessing || got.CertificateID != "" {
		t.Errorf("refused completion left order %q with certificate %q, want processing without", got.Status, got.CertificateID)
	}
	if due := e.jobsDue(base()); len(due) != 1 || due[0].ID != secondJob.ID {
		t.Errorf("refused completion changed jobs: %+v", due)
	}
}

func testFailOrder(t *testing.T, e *env) {
	acct := e.account("default")
	problem := []byte(`{"type":"urn:ietf:params:acme:error:badCSR","detail":"key too small"}`)
	now := base().Add(time.Hour)
	tests := []struct {
		from storage.Status
		want error
	}{
		{storage.StatusPending, nil},
		{storage.StatusReady, nil},
		{storage.StatusProcessing, nil},
		{storage.StatusValid, storage.ErrConflict},
		{storage.StatusInvalid, storage.ErrConflict},
	}
	for _, tc := range tests {
		t.Run(string(tc.from), func(t *testing.T) {
			e := e.with(t)
			o := e.storedOrder(acct, tc.from)
			err := e.s.FailOrder(e.ctx, o.ID, problem, now, nil)
			wantErr(t, "FailOrder", err, tc.want)
			want := *o
			if tc.want == nil {
				want.Status, want.Error, want.UpdatedAt = storage.StatusInvalid, problem, now
			}
			got, err := e.s.GetOrder(e.ctx, o.ID)
			must(t, "GetOrder", err)
			if d := diff(&want, got); d != "" {
				t.Errorf("order after FailOrder (-want +got):\n%s", d)
			}
		})
	}

	finalizing, _ := e.finalizing(acct)
	must(t, "FailOrder processing", e.s.FailOrder(e.ctx, finalizing.ID, problem, now, nil))
	if due := e.jobsDue(now); len(due) != 0 {
		t.Errorf("FailOrder left the issue job: %+v", due)
	}
	wantErr(t, "FailOrder unknown", e.s.FailOrder(e.ctx, "no-such-order", problem, now, nil), storage.ErrNotFound)
}

func testSetOrderUpstreamRef(t *testing.T, e *env) {
	acct := e.account("default")
	o, _ := e.finalizing(acct)
	must(t, "SetOrderUpstreamRef", e.s.SetOrderUpstreamRef(e.ctx, o.ID, "sectigo-12345"))
	got, err := e.s.GetOrder(e.ctx, o.ID)
	must(t, "GetOrder", err)
	if got.UpstreamRef != "sectigo-12345" || got.Status != storage.StatusProcessing {
		t.Errorf("order after SetOrderUpstreamRef: ref %q status %q", got.UpstreamRef, got.Status)
	}

	pending := e.storedOrder(acct, storage.StatusPending)
	err = e.s.SetOrderUpstreamRef(e.ctx, pending.ID, "late")
	wantErr(t, "SetOrderUpstreamRef of a pending order", err, storage.ErrConflict)
	err = e.s.SetOrderUpstreamRef(e.ctx, "no-such-order", "x")
	wantErr(t, "SetOrderUpstreamRef unknown", err, storage.ErrNotFound)
}

func testFinalizeOrder(t *testing.T, e *env) {
	acct := e.account("default")
	now := base().Add(time.Minute)
	csr := []byte{0x30, 0x82, 0x01, 0x0a}
	o := e.storedOrder(acct, storage.StatusReady)
	bystander, bystanderJob := e.finalizing(acct)

	refused := certificate(o, "aa01")
	err := e.s.FinalizeOrder(e.ctx, []storage.Status{storage.StatusPending}, csr, refused, now, nil)
	wantErr(t, "FinalizeOrder from a status the order is not in", err, storage.ErrConflict)
	e.wantOrder("refused FinalizeOrder", o)
	_, err = e.s.GetCertificate(e.ctx, refused.ID)
	wantErr(t, "GetCertificate of a refused finalization", err, storage.ErrNotFound)

	c := certificate(o, "aa02")
	must(t, "FinalizeOrder", e.s.FinalizeOrder(e.ctx, []storage.Status{storage.StatusPending, storage.StatusReady}, csr, c, now, nil))
	want := *o
	want.Status, want.CSR, want.CertificateID, want.UpdatedAt = storage.StatusValid, csr, c.ID, now
	e.wantOrder("after FinalizeOrder", &want)
	gotCert, err := e.s.GetCertificate(e.ctx, c.ID)
	must(t, "GetCertificate", err)
	if d := diff(c, gotCert); d != "" {
		t.Errorf("stored certificate (-want +got):\n%s", d)
	}
	if due := e.jobsDue(now); len(due) != 1 || due[0].ID != bystanderJob.ID {
		t.Errorf("jobs after FinalizeOrder = %+v, want only %q of order %q", due, bystanderJob.ID, bystander.ID)
	}

	second := certificate(o, "aa03")
	err = e.s.FinalizeOrder(e.ctx, []storage.Status{storage.StatusPending, storage.StatusReady}, csr, second, now, nil)
	wantErr(t, "FinalizeOrder twice", err, storage.ErrConflict)
	_, err = e.s.GetCertificate(e.ctx, second.ID)
	wantErr(t, "GetCertificate of the second finalization", err, storage.ErrNotFound)
	e.wantOrder("after a second FinalizeOrder", &want)

	// ErrNotFound comes first: the certificate's id is taken too.
	orphan := certificate(o, "aa04")
	orphan.ID, orphan.OrderID = c.ID, "no-such-order"
	err = e.s.FinalizeOrder(e.ctx, []storage.Status{storage.StatusReady}, csr, orphan, now, nil)
	wantErr(t, "FinalizeOrder unknown order", err, storage.ErrNotFound)
}

// testFinalizeOrderConcurrent: of concurrent one-step finalizations
// exactly one wins, and only its certificate and its journal are stored.
func testFinalizeOrderConcurrent(t *testing.T, e *env) {
	acct := e.account("default")
	o := e.storedOrder(acct, storage.StatusReady)
	const n = 8
	certs := make([]*storage.Certificate, n)
	journals := make([]*storage.Journal, n)
	for i := range certs {
		certs[i] = certificate(o, fmt.Sprintf("c0%d", i))
		journals[i] = journalFor(o.ID, "", fmt.Sprint("finalize", i))
	}
	errs := concurrently(n, func(i int) error {
		return e.s.FinalizeOrder(e.ctx, []storage.Status{storage.StatusReady}, []byte(fmt.Sprint("csr", i)), certs[i], base(), journals[i])
	})
	ok, conflicts := countOutcomes(t, errs)
	if ok != 1 || conflicts != n-1 {
		t.Fatalf("%d finalizations won and %d conflicted, want 1 and %d", ok, conflicts, n-1)
	}
	winner := 0
	for i, err := range errs {
		if err == nil {
			winner = i
		}
	}
	got, err := e.s.GetOrder(e.ctx, o.ID)
	must(t, "GetOrder", err)
	if got.Status != storage.StatusValid || got.CertificateID != certs[winner].ID || string(got.CSR) != fmt.Sprint("csr", winner) {
		t.Errorf("order after concurrent finalization: %q cert %q csr %q; want valid with the winner's %q and csr%d",
			got.Status, got.CertificateID, got.CSR, certs[winner].ID, winner)
	}
	for i, c := range certs {
		_, err := e.s.GetCertificate(e.ctx, c.ID)
		if i == winner {
			must(t, "GetCertificate of the winner", err)
		} else {
			wantErr(t, "GetCertificate of a loser", err, storage.ErrNotFound)
		}
	}
	events, err := e.s.ListOrderEvents(e.ctx, o.ID, nil)
	must(t, "ListOrderEvents", err)
	if d := diff(journals[winner].Events, events); d != "" {
		t.Errorf("timeline: want only the winner's events (-want +got):\n%s", d)
	}
	audit, err := e.s.ScanAudit(e.ctx, 0, 100)
	must(t, "ScanAudit", err)
	if d := diff(journals[winner].Audit, audit); d != "" {
		t.Errorf("audit trail: want only the winner's entries (-want +got):\n%s", d)
	}
	e.verifyAudit(int64(len(journals[winner].Audit)))
}
