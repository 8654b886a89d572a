package storagetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// The journal of a transition (storage.Journal) is written in the
// transition's transaction: stored with it, chained like AppendAudit's
// entries, and never without it.

// journalAt is later than every other instant of the journal tests, so a
// journal's events list after the fixtures'.
func journalAt() time.Time { return base().Add(time.Hour) }

// journalFor builds what a transition records about itself: an event of
// the order (or of the authorization, when orderID is ""), an event of the
// authorization when there is one, and two audit entries. The entries'
// instants are not UTC and carry nanoseconds: the store keeps them to the
// microsecond, in UTC.
func journalFor(orderID, authzID, action string) *storage.Journal {
	paris := time.FixedZone("UTC+2", 2*60*60)
	at := journalAt().Add(789 * time.Nanosecond).In(paris)
	j := &storage.Journal{}
	ev := func(order, authz, kind string) *storage.OrderEvent {
		return &storage.OrderEvent{OrderID: order, AuthzID: authz, At: journalAt().In(paris), Kind: kind,
			Actor: "account:journal", Identifier: "www.example.com", Detail: action, RequestID: "req-" + action}
	}
	if orderID != "" {
		j.Events = append(j.Events, ev(orderID, "", action))
	}
	if authzID != "" {
		j.Events = append(j.Events, ev("", authzID, action+"-authz"))
	}
	object := "order:" + orderID
	if orderID == "" {
		object = "authz:" + authzID
	}
	j.Audit = []*storage.AuditEntry{
		auditEntry(at, "account:journal", "default", action, object, storage.OutcomeSuccess),
		auditEntry(at.Add(time.Second), "system", "default", action+".recorded", object, storage.OutcomeSuccess),
	}
	return j
}

// ownerless is j with an event of neither an order nor an authorization
// added: the store refuses the whole transition.
func ownerless(j *storage.Journal) *storage.Journal {
	bad := &storage.OrderEvent{At: journalAt(), Kind: "lost", Actor: "system"}
	return &storage.Journal{Events: append(slices.Clone(j.Events), bad), Audit: j.Audit}
}

// watch names the rows a journal test compares before and after a call.
type watch struct {
	orders, authzs, certs []string
}

// snapshot is what a store holds of the watched rows, with its jobs, the
// timelines of the watched orders and authorizations and its whole audit
// trail.
type snapshot struct {
	Orders map[string]*storage.Order
	Authzs map[string]*storage.Authorization
	Certs  map[string]*storage.Certificate
	Jobs   []string
	Events []*storage.OrderEvent
	Audit  []*storage.AuditEntry
}

func (e *env) snapshot(w watch) snapshot {
	e.t.Helper()
	s := snapshot{Orders: map[string]*storage.Order{}, Authzs: map[string]*storage.Authorization{},
		Certs: map[string]*storage.Certificate{}}
	for _, id := range w.orders {
		o, err := e.s.GetOrder(e.ctx, id)
		if err != nil {
			wantErr(e.t, "GetOrder", err, storage.ErrNotFound)
		}
		s.Orders[id] = o
	}
	for _, id := range w.authzs {
		a, err := e.s.GetAuthorization(e.ctx, id)
		if err != nil {
			wantErr(e.t, "GetAuthorization", err, storage.ErrNotFound)
		}
		s.Authzs[id] = a
	}
	for _, id := range w.certs {
		c, err := e.s.GetCertificate(e.ctx, id)
		if err != nil {
			wantErr(e.t, "GetCertificate", err, storage.ErrNotFound)
		}
		s.Certs[id] = c
	}
	// Leasing counts an attempt: only the ids are compared.
	for _, j := range e.jobsDue(base().Add(365 * 24 * time.Hour)) {
		s.Jobs = append(s.Jobs, j.ID)
	}
	slices.Sort(s.Jobs)
	order := ""
	if len(w.orders) > 0 {
		order = w.orders[0]
	}
	events, err := e.s.ListOrderEvents(e.ctx, order, w.authzs)
	must(e.t, "ListOrderEvents", err)
	s.Events = events
	audit, err := e.s.ScanAudit(e.ctx, 0, 1000)
	must(e.t, "ScanAudit", err)
	s.Audit = audit
	return s
}

// wantUnwritten checks that a refused call left the store as before and
// the caller's audit entries as they were given.
func (e *env) wantUnwritten(before snapshot, w watch, j *storage.Journal) {
	e.t.Helper()
	if d := diff(before, e.snapshot(w)); d != "" {
		e.t.Errorf("refused call wrote (-before +after):\n%s", d)
	}
	for i, a := range j.Audit {
		if a.Seq != 0 || a.Hash != nil || a.PrevHash != nil {
			e.t.Errorf("refused call chained the caller's audit entry %d: seq %d hash %x", i, a.Seq, a.Hash)
		}
	}
}

// wantJournal checks that a successful call stored j: its events after
// the timeline's earlier ones, its entries chained after the trail's
// earlier ones, with their Seq, PrevHash and Hash set on j's entries.
func (e *env) wantJournal(before snapshot, w watch, j *storage.Journal) {
	e.t.Helper()
	after := e.snapshot(w)
	if d := diff(append(slices.Clone(before.Events), j.Events...), after.Events); d != "" {
		e.t.Errorf("timeline after the call (-want +got):\n%s", d)
	}
	checkUTC(e.t, after.Events)
	next := int64(len(before.Audit)) + 1
	for i, a := range j.Audit {
		if a.Seq != next+int64(i) {
			e.t.Errorf("audit entry %d: Seq = %d, want %d", i, a.Seq, next+int64(i))
		}
		if a.At.Location() != time.UTC || a.At.Nanosecond()%1000 != 0 {
			e.t.Errorf("audit entry %d: At = %v, want microseconds in UTC", i, a.At)
		}
		if len(a.Hash) == 0 || string(a.Hash) != string(storage.AuditHash(a)) {
			e.t.Errorf("audit entry %d: Hash = %x, want AuditHash %x", i, a.Hash, storage.AuditHash(a))
		}
	}
	if d := diff(append(slices.Clone(before.Audit), j.Audit...), after.Audit); d != "" {
		e.t.Errorf("audit trail after the call (-want +got):\n%s", d)
	}
	e.verifyAudit(int64(len(after.Audit)))
}

// journalCase is one method taking a Journal. setup stores what the
// transition needs and returns the call, which succeeds once and then
// conflicts, the rows it touches, and the owners of its journal's events;
// unknown calls the method on a row that does not exist.
type journalCase struct {
	name    string
	setup   func(e *env) (call func(j *storage.Journal) error, w watch, orderID, authzID string)
	unknown func(e *env, j *storage.Journal) error
}

func journalCases() []journalCase {
	from := []storage.Status{storage.StatusPending, storage.StatusReady}
	now := base().Add(time.Minute)
	return []journalCase{
		{
			name: "CreateOrder",
			setup: func(e *env) (func(*storage.Journal) error, watch, string, string) {
				acct := e.account("default")
				a := e.authz(acct, "www.example.com", storage.StatusPending, base().Add(time.Hour), 2)
				o := e.order(acct, storage.StatusPending, a)
				call := func(j *storage.Journal) error {
					return e.s.CreateOrder(e.ctx, o, []*storage.Authorization{a}, j)
				}
				return call, watch{orders: []string{o.ID}, authzs: []string{a.ID}}, o.ID, a.ID
			},
			// An order replacing an unknown certificate: ErrNotFound.
			unknown: func(e *env, j *storage.Journal) error {
				acct := e.account("default")
				a := e.authz(acct, "www.example.com", storage.StatusPending, base().Add(time.Hour), 1)
				o := e.order(acct, storage.StatusPending, a)
				o.ReplacesCertificateID = "no-such-cert"
				return e.s.CreateOrder(e.ctx, o, []*storage.Authorization{a}, j)
			},
		},
		{
			name: "CreateOrderReplacing",
			setup: func(e *env) (func(*storage.Journal) error, watch, string, string) {
				acct := e.account("default")
				old := e.issued(acct, newID("serial"))
				o, a := e.renewal(acct, old.ID)
				call := func(j *storage.Journal) error {
					return e.s.CreateOrder(e.ctx, o, []*storage.Authorization{a}, j)
				}
				return call, watch{orders: []string{o.ID}, authzs: []string{a.ID}, certs: []string{old.ID}}, o.ID, ""
			},
		},
		{
			name: "BeginFinalize",
			setup: func(e *env) (func(*storage.Journal) error, watch, string, string) {
				o := e.storedOrder(e.account("default"), storage.StatusReady)
				jb := job(storage.JobIssue, o.ID, now)
				call := func(j *storage.Journal) error {
					return e.s.BeginFinalize(e.ctx, o.ID, from, []byte("csr"), jb, now, j)
				}
				return call, watch{orders: []string{o.ID}}, o.ID, ""
			},
			unknown: func(e *env, j *storage.Journal) error {
				return e.s.BeginFinalize(e.ctx, "no-such-order", from, []byte("csr"),
					job(storage.JobIssue, "no-such-order", now), now, j)
			},
		},
		{
			name: "FinalizeOrder",
			setup: func(e *env) (func(*storage.Journal) error, watch, string, string) {
				o := e.storedOrder(e.account("default"), storage.StatusReady)
				c := certificate(o, newID("serial"))
				call := func(j *storage.Journal) error {
					return e.s.FinalizeOrder(e.ctx, from, []byte("csr"), c, now, j)
				}
				return call, watch{orders: []string{o.ID}, certs: []string{c.ID}}, o.ID, ""
			},
			unknown: func(e *env, j *storage.Journal) error {
				c := certificate(&storage.Order{ID: "no-such-order", Directory: "default"}, newID("serial"))
				return e.s.FinalizeOrder(e.ctx, from, []byte("csr"), c, now, j)
			},
		},
		{
			name: "CompleteOrder",
			setup: func(e *env) (func(*storage.Journal) error, watch, string, string) {
				o, _ := e.finalizing(e.account("default"))
				c := certificate(o, newID("serial"))
				call := func(j *storage.Journal) error { return e.s.CompleteOrder(e.ctx, c, now, j) }
				return call, watch{orders: []string{o.ID}, certs: []string{c.ID}}, o.ID, ""
			},
			unknown: func(e *env, j *storage.Journal) error {
				c := certificate(&storage.Order{ID: "no-such-order", Directory: "default"}, newID("serial"))
				return e.s.CompleteOrder(e.ctx, c, now, j)
			},
		},
		{
			name: "FailOrder",
			setup: func(e *env) (func(*storage.Journal) error, watch, string, string) {
				o, _ := e.finalizing(e.account("default"))
				call := func(j *storage.Journal) error {
					return e.s.FailOrder(e.ctx, o.ID, []byte(`{"detail":"refused"}`), now, j)
				}
				return call, watch{orders: []string{o.ID}}, o.ID, ""
			},
			unknown: func(e *env, j *storage.Journal) error {
				return e.s.FailOrder(e.ctx, "no-such-order", []byte(`{}`), now, j)
			},
		},
		{
			name: "FinishChallenge",
			setup: func(e *env) (func(*storage.Journal) error, watch, string, string) {
				a := e.storedAuthz(e.account("default"), storage.StatusPending, 2)
				c := a.Challenges[0]
				must(e.t, "StartChallenge", e.s.StartChallenge(e.ctx, c.ID, job(storage.JobValidate, c.ID, base()), base()))
				call := func(j *storage.Journal) error {
					return e.s.FinishChallenge(e.ctx, c.ID, storage.StatusValid, nil, now, j)
				}
				return call, watch{authzs: []string{a.ID}}, "", a.ID
			},
			unknown: func(e *env, j *storage.Journal) error {
				return e.s.FinishChallenge(e.ctx, "no-such-challenge", storage.StatusInvalid, []byte(`{}`), now, j)
			},
		},
	}
}

// testJournal runs every method taking a Journal through the same steps:
// an ownerless event refuses the call; the call then succeeds with its
// journal; a second call conflicts; a call on an unknown row is
// ErrNotFound. A refused call writes nothing at all.
func testJournal(t *testing.T, e *env) {
	for _, tc := range journalCases() {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			call, w, orderID, authzID := tc.setup(e)

			j := journalFor(orderID, authzID, "first")
			before := e.snapshot(w)
			if err := call(ownerless(j)); err == nil {
				t.Fatalf("call with an ownerless event succeeded")
			}
			e.wantUnwritten(before, w, j)

			must(t, "call with its journal", call(j))
			e.wantJournal(before, w, j)

			again := journalFor(orderID, authzID, "again")
			before = e.snapshot(w)
			wantErr(t, "second call", call(again), storage.ErrConflict)
			e.wantUnwritten(before, w, again)

			if tc.unknown == nil {
				return
			}
			unknown := journalFor(orderID, authzID, "unknown")
			before = e.snapshot(w)
			wantErr(t, "call on an unknown row", tc.unknown(e, unknown), storage.ErrNotFound)
			e.wantUnwritten(before, w, unknown)
		})
	}
}

// testJournalEmpty checks that a nil Journal and an empty one write
// nothing but the transition.
func testJournalEmpty(t *testing.T, e *env) {
	for _, tc := range journalCases() {
		for _, j := range []*storage.Journal{nil, {}} {
			t.Run(fmt.Sprintf("%s/%v", tc.name, j != nil), func(t *testing.T) {
				e := e.with(t)
				call, w, _, _ := tc.setup(e)
				before := e.snapshot(w)
				must(t, "call", call(j))
				after := e.snapshot(w)
				if d := diff(before.Events, after.Events); d != "" {
					t.Errorf("timeline changed (-before +after):\n%s", d)
				}
				if d := diff(before.Audit, after.Audit); d != "" {
					t.Errorf("audit trail changed (-before +after):\n%s", d)
				}
			})
		}
	}
}

// testJournalConcurrent runs issuances with journals from many goroutines,
// with plain AppendAudit calls among them: the audit trail stays one
// unforked chain holding every entry, each with the Seq and Hash its caller
// was given.
func testJournalConcurrent(t *testing.T, e *env) {
	const n = 12
	acct := e.account("default")
	var mu sync.Mutex
	var entries []*storage.AuditEntry
	record := func(j *storage.Journal) {
		mu.Lock()
		defer mu.Unlock()
		entries = append(entries, j.Audit...)
	}
	type issuance struct {
		o *storage.Order
		a *storage.Authorization
	}
	issuances := make([]issuance, n)
	for i := range issuances {
		a := e.authz(acct, fmt.Sprintf("n%d.example.com", i), storage.StatusPending, base().Add(time.Hour), 1)
		issuances[i] = issuance{e.order(acct, storage.StatusPending, a), a}
	}
	errs := concurrently(2*n, func(i int) error {
		if i >= n {
			a := auditEntry(journalAt(), "system", "default", "job.run", fmt.Sprint("job:", i), storage.OutcomeSuccess)
			if err := e.s.AppendAudit(e.ctx, a); err != nil {
				return err
			}
			record(&storage.Journal{Audit: []*storage.AuditEntry{a}})
			return nil
		}
		is := issuances[i]
		c := is.a.Challenges[0]
		steps := []func(j *storage.Journal) error{
			func(j *storage.Journal) error {
				return e.s.CreateOrder(e.ctx, is.o, []*storage.Authorization{is.a}, j)
			},
			func(j *storage.Journal) error {
				return e.s.FinishChallenge(e.ctx, c.ID, storage.StatusValid, nil, base(), j)
			},
			func(j *storage.Journal) error {
				return e.s.BeginFinalize(e.ctx, is.o.ID, []storage.Status{storage.StatusPending}, []byte("csr"),
					job(storage.JobIssue, is.o.ID, base()), base(), j)
			},
			func(j *storage.Journal) error {
				return e.s.CompleteOrder(e.ctx, certificate(is.o, fmt.Sprint("serial-", i)), base(), j)
			},
		}
		for k, step := range steps {
			j := journalFor(is.o.ID, is.a.ID, fmt.Sprint("step", k))
			if err := step(j); err != nil {
				return fmt.Errorf("issuance %d step %d: %w", i, k, err)
			}
			record(j)
		}
		return nil
	})
	for _, err := range errs {
		must(t, "concurrent issuance", err)
	}
	e.verifyAudit(int64(len(entries)))
	stored, err := e.s.ScanAudit(e.ctx, 0, 1000)
	must(t, "ScanAudit", err)
	slices.SortFunc(entries, func(a, b *storage.AuditEntry) int { return int(a.Seq - b.Seq) })
	if d := diff(entries, stored); d != "" {
		t.Errorf("stored trail against the callers' entries (-callers +stored):\n%s", d)
	}
}

// testJournalRolledBack checks that a transition failing on a statement's
// error (not on its condition) takes its journal with it: a certificate
// whose serial is taken.
func testJournalRolledBack(t *testing.T, e *env) {
	acct := e.account("default")
	first, _ := e.finalizing(acct)
	second, _ := e.finalizing(acct)
	must(t, "CompleteOrder", e.s.CompleteOrder(e.ctx, certificate(first, "abc"), base(), nil))
	dup := certificate(second, "abc")
	w := watch{orders: []string{second.ID}, certs: []string{dup.ID}}
	j := journalFor(second.ID, "", "complete")
	before := e.snapshot(w)
	wantErr(t, "CompleteOrder with a taken serial", e.s.CompleteOrder(e.ctx, dup, base(), j), storage.ErrConflict)
	e.wantUnwritten(before, w, j)

	ready := e.storedOrder(acct, storage.StatusReady)
	dup = certificate(ready, "abc")
	w = watch{orders: []string{ready.ID}, certs: []string{dup.ID}}
	j = journalFor(ready.ID, "", "finalize")
	before = e.snapshot(w)
	wantErr(t, "FinalizeOrder with a taken serial",
		e.s.FinalizeOrder(e.ctx, []storage.Status{storage.StatusReady}, []byte("csr"), dup, base(), j), storage.ErrConflict)
	e.wantUnwritten(before, w, j)
}
