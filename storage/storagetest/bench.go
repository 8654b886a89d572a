package storagetest

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// Bench runs one benchmark per storage method on an ACME issuance's hot
// path, with the shapes that path uses: an order of one name whose fresh
// authorization has three challenges, one timeline event, one audit entry.
// Every implementation runs it from its own tests (go test -bench Store), so
// a regression in one method shows in ns/op and allocs/op before it shows in
// a load test. newStore must return a new, empty, migrated store for each
// benchmark and close it when b ends.
//
// A method taking a storage.Journal runs plain (nil), with the journal the
// protocol passes (…/journal: one event, one audit entry), and as the
// protocol wrote the same before journals existed (…/separate: the plain
// call, then AppendOrderEvents, then AppendAudit, three transactions).
//
// Methods that change a row's state (StartChallenge, FinishChallenge,
// BeginFinalize, CompleteOrder) need a fresh row per iteration: those rows
// are made before the timer starts.
func Bench(b *testing.B, newStore func(b *testing.B) storage.Store) {
	benches := []struct {
		name string
		fn   func(b *testing.B, f *fixture)
	}{
		{"GetAccount", benchGetAccount},
		{"RedeemNonce", benchRedeemNonce},
		{"RedeemNonce/parallel", benchRedeemNonceParallel},
		{"CreateOrder", benchCreateOrder},
		{"CreateOrder/journal", benchCreateOrderJournal},
		{"CreateOrder/separate", benchCreateOrderSeparate},
		{"GetOrder", benchGetOrder},
		{"GetAuthorizations", benchGetAuthorizations},
		{"FindReusableAuthorization", benchFindReusable},
		{"GetChallenge", benchGetChallenge},
		{"StartChallenge", benchStartChallenge},
		{"FinishChallenge", benchFinishChallenge},
		{"FinishChallenge/journal", benchFinishChallengeJournal},
		{"FinishChallenge/separate", benchFinishChallengeSeparate},
		{"BeginFinalize", benchBeginFinalize},
		{"CompleteOrder", benchCompleteOrder},
		{"CompleteOrder/journal", benchCompleteOrderJournal},
		{"CompleteOrder/separate", benchCompleteOrderSeparate},
		{"FinalizeOrder", benchFinalizeOrder},
		{"FinalizeOrder/journal", benchFinalizeOrderJournal},
		{"GetCertificate", benchGetCertificate},
		{"AppendOrderEvents", benchAppendOrderEvents},
		{"AppendAudit", benchAppendAudit},
		{"AppendAudit/parallel", benchAppendAuditParallel},
		{"LeaseJobs/empty", benchLeaseJobsEmpty},
	}
	for _, bc := range benches {
		b.Run(bc.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			f := &fixture{b: b, s: newStore(b), ctx: ctx, now: time.Now().UTC().Truncate(time.Microsecond)}
			f.acct = f.account()
			f.stopCPU = MeasureCPU(b)
			b.ReportAllocs()
			bc.fn(b, f)
			f.stopCPU()
		})
	}
}

// fixture is one benchmark's store, account and fixture builders.
type fixture struct {
	b    *testing.B
	s    storage.Store
	ctx  context.Context
	now  time.Time
	acct *storage.Account
	seq  atomic.Int64
	// stopCPU reports the CPU time per operation since the timer last
	// started for the benchmark's measured loop.
	stopCPU func()
}

// id returns a unique id with a readable prefix.
func (f *fixture) id(prefix string) string {
	return prefix + "-" + strconv.FormatInt(f.seq.Add(1), 36) + "-" + newID("x")[2:]
}

func (f *fixture) must(what string, err error) {
	f.b.Helper()
	if err != nil {
		f.b.Fatalf("%s: %v", what, err)
	}
}

func (f *fixture) account() *storage.Account {
	a := &storage.Account{
		ID:            f.id("acct"),
		Directory:     "default",
		Status:        storage.StatusValid,
		TermsAgreed:   true,
		KeyThumbprint: f.id("tp"),
		KeyJWK:        []byte(`{"kty":"EC","crv":"P-256","x":"5LR5aQ1mWjb2P1tNp6cOlIPjmpMkCx1LbE0OTKq1aNA","y":"3kWD7U2s3lM7yBVZP8F6kiO5L9m2fy3GC2HvQbk0ZQM"}`),
		CreatedAt:     f.now,
		UpdatedAt:     f.now,
	}
	f.must("CreateAccount", f.s.CreateAccount(f.ctx, a))
	return a
}

// order builds, without storing, a pending order of one name with a fresh
// authorization of authzStatus holding three pending challenges, as
// newOrder makes them.
func (f *fixture) order(authzStatus storage.Status) (*storage.Order, *storage.Authorization) {
	name := f.id("n") + ".example.com"
	a := &storage.Authorization{
		ID:         f.id("authz"),
		Directory:  f.acct.Directory,
		AccountID:  f.acct.ID,
		Identifier: storage.Identifier{Type: storage.IdentifierDNS, Value: name},
		Status:     authzStatus,
		Expires:    f.now.Add(7 * 24 * time.Hour),
		CreatedAt:  f.now,
		UpdatedAt:  f.now,
	}
	for _, t := range []storage.ChallengeType{storage.ChallengeHTTP01, storage.ChallengeDNS01, storage.ChallengeTLSALPN01} {
		a.Challenges = append(a.Challenges, storage.Challenge{
			ID: f.id("chall"), AuthzID: a.ID, Type: t, Status: storage.StatusPending,
			Token: newID("token-0123456789abcdef"), UpdatedAt: f.now,
		})
	}
	o := &storage.Order{
		ID:          f.id("order"),
		Directory:   f.acct.Directory,
		AccountID:   f.acct.ID,
		Status:      storage.StatusPending,
		Expires:     f.now.Add(7 * 24 * time.Hour),
		Identifiers: []storage.Identifier{a.Identifier},
		AuthzIDs:    []string{a.ID},
		CreatedAt:   f.now,
		UpdatedAt:   f.now,
	}
	return o, a
}

// storedOrder stores an order made by order.
func (f *fixture) storedOrder(authzStatus storage.Status) (*storage.Order, *storage.Authorization) {
	o, a := f.order(authzStatus)
	f.must("CreateOrder", f.s.CreateOrder(f.ctx, o, []*storage.Authorization{a}, nil))
	return o, a
}

func (f *fixture) job(kind storage.JobKind, ref string) *storage.Job {
	return &storage.Job{ID: f.id("job"), Kind: kind, Ref: ref, RunAt: f.now.Add(time.Hour), Deadline: f.now.Add(2 * time.Hour), CreatedAt: f.now}
}

// processingOrder stores a finalized order (processing, with its CSR and
// issue job), ready for CompleteOrder.
func (f *fixture) processingOrder() *storage.Order {
	o, _ := f.storedOrder(storage.StatusValid)
	f.must("BeginFinalize", f.s.BeginFinalize(f.ctx, o.ID, []storage.Status{storage.StatusPending}, benchCSR, f.job(storage.JobIssue, o.ID), f.now, nil))
	return o
}

func (f *fixture) certificate(o *storage.Order) *storage.Certificate {
	return &storage.Certificate{
		ID:        f.id("cert"),
		Directory: o.Directory,
		AccountID: o.AccountID,
		OrderID:   o.ID,
		Serial:    f.id("serial"),
		Issuer:    "CN=acmegate intermediate",
		Names:     []string{o.Identifiers[0].Value},
		NotBefore: f.now,
		NotAfter:  f.now.Add(90 * 24 * time.Hour),
		ChainPEM:  benchChain,
		Backend:   "local",
		Status:    storage.StatusValid,
		CreatedAt: f.now,
	}
}

// benchCSR and benchChain have the sizes of a P-256 CSR and of a leaf plus
// intermediate chain in PEM; the stores treat them as opaque bytes.
var (
	benchCSR   = make([]byte, 240)
	benchChain = make([]byte, 1700)
)

func benchGetAccount(b *testing.B, f *fixture) {
	for b.Loop() {
		if _, err := f.s.GetAccount(f.ctx, f.acct.ID); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRedeemNonce(b *testing.B, f *fixture) {
	expires := f.now.Add(time.Hour)
	for b.Loop() {
		if err := f.s.RedeemNonce(f.ctx, f.id("nonce"), expires); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRedeemNonceParallel(b *testing.B, f *fixture) {
	expires := f.now.Add(time.Hour)
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := f.s.RedeemNonce(f.ctx, f.id("nonce"), expires); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchCreateOrder(b *testing.B, f *fixture) {
	type pair struct {
		o *storage.Order
		a *storage.Authorization
	}
	orders := prepared(f, func() pair { o, a := f.order(storage.StatusPending); return pair{o, a} })
	b.ResetTimer()
	for i := range b.N {
		if err := f.s.CreateOrder(f.ctx, orders[i].o, []*storage.Authorization{orders[i].a}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCreateOrderJournal(b *testing.B, f *fixture) {
	type pair struct {
		o *storage.Order
		a *storage.Authorization
	}
	orders := prepared(f, func() pair { o, a := f.order(storage.StatusPending); return pair{o, a} })
	b.ResetTimer()
	for i := range b.N {
		o := orders[i].o
		if err := f.s.CreateOrder(f.ctx, o, []*storage.Authorization{orders[i].a}, f.journal(o.ID, "")); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCreateOrderSeparate(b *testing.B, f *fixture) {
	type pair struct {
		o *storage.Order
		a *storage.Authorization
	}
	orders := prepared(f, func() pair { o, a := f.order(storage.StatusPending); return pair{o, a} })
	b.ResetTimer()
	for i := range b.N {
		o := orders[i].o
		if err := f.s.CreateOrder(f.ctx, o, []*storage.Authorization{orders[i].a}, nil); err != nil {
			b.Fatal(err)
		}
		f.separately(o.ID, "")
	}
}

// journal is what the protocol records of one transition: one timeline
// event and one audit entry.
func (f *fixture) journal(orderID, authzID string) *storage.Journal {
	return &storage.Journal{
		Events: []*storage.OrderEvent{{OrderID: orderID, AuthzID: authzID, At: f.now, Kind: "created",
			Actor: "account:" + f.acct.ID, Identifier: "w1-1.bench.test", RequestID: "0123456789abcdef01234567"}},
		Audit: []*storage.AuditEntry{f.auditEntry()},
	}
}

// separately writes the journal of a transition as it was written before
// journals: in two more transactions.
func (f *fixture) separately(orderID, authzID string) {
	j := f.journal(orderID, authzID)
	f.must("AppendOrderEvents", f.s.AppendOrderEvents(f.ctx, j.Events...))
	f.must("AppendAudit", f.s.AppendAudit(f.ctx, j.Audit[0]))
}

func benchGetOrder(b *testing.B, f *fixture) {
	o, _ := f.storedOrder(storage.StatusPending)
	for b.Loop() {
		if _, err := f.s.GetOrder(f.ctx, o.ID); err != nil {
			b.Fatal(err)
		}
	}
}

func benchGetAuthorizations(b *testing.B, f *fixture) {
	o, _ := f.storedOrder(storage.StatusPending)
	for b.Loop() {
		if _, err := f.s.GetAuthorizations(f.ctx, o.AuthzIDs); err != nil {
			b.Fatal(err)
		}
	}
}

func benchFindReusable(b *testing.B, f *fixture) {
	// The common case of a new name: nothing to reuse.
	for b.Loop() {
		_, err := f.s.FindReusableAuthorization(f.ctx, f.acct.ID, storage.Identifier{Type: storage.IdentifierDNS, Value: "new.example.com"}, false, f.now)
		if err == nil {
			b.Fatal("found an authorization that was never stored")
		}
	}
}

func benchGetChallenge(b *testing.B, f *fixture) {
	_, a := f.storedOrder(storage.StatusPending)
	for b.Loop() {
		if _, err := f.s.GetChallenge(f.ctx, a.Challenges[0].ID); err != nil {
			b.Fatal(err)
		}
	}
}

// prepared makes b.N fixtures with build before the timer (and the CPU
// measure) starts.
func prepared[T any](f *fixture, build func() T) []T {
	b := f.b
	b.StopTimer()
	defer func() {
		f.stopCPU = MeasureCPU(b)
		b.StartTimer()
	}()
	out := make([]T, 0, b.N)
	for range b.N {
		out = append(out, build())
	}
	return out
}

func benchStartChallenge(b *testing.B, f *fixture) {
	authzs := prepared(f, func() *storage.Authorization { _, a := f.storedOrder(storage.StatusPending); return a })
	b.ResetTimer()
	for i := range b.N {
		c := authzs[i].Challenges[0]
		if err := f.s.StartChallenge(f.ctx, c.ID, f.job(storage.JobValidate, c.ID), f.now); err != nil {
			b.Fatal(err)
		}
	}
}

func benchFinishChallenge(b *testing.B, f *fixture) {
	authzs := startedChallenges(f)
	b.ResetTimer()
	for i := range b.N {
		if err := f.s.FinishChallenge(f.ctx, authzs[i].Challenges[0].ID, storage.StatusValid, nil, f.now, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// startedChallenges makes b.N authorizations whose first challenge is
// processing.
func startedChallenges(f *fixture) []*storage.Authorization {
	return prepared(f, func() *storage.Authorization {
		_, a := f.storedOrder(storage.StatusPending)
		c := a.Challenges[0]
		f.must("StartChallenge", f.s.StartChallenge(f.ctx, c.ID, f.job(storage.JobValidate, c.ID), f.now))
		return a
	})
}

func benchFinishChallengeJournal(b *testing.B, f *fixture) {
	authzs := startedChallenges(f)
	b.ResetTimer()
	for i := range b.N {
		a := authzs[i]
		if err := f.s.FinishChallenge(f.ctx, a.Challenges[0].ID, storage.StatusValid, nil, f.now, f.journal("", a.ID)); err != nil {
			b.Fatal(err)
		}
	}
}

func benchFinishChallengeSeparate(b *testing.B, f *fixture) {
	authzs := startedChallenges(f)
	b.ResetTimer()
	for i := range b.N {
		a := authzs[i]
		if err := f.s.FinishChallenge(f.ctx, a.Challenges[0].ID, storage.StatusValid, nil, f.now, nil); err != nil {
			b.Fatal(err)
		}
		f.separately("", a.ID)
	}
}

func benchBeginFinalize(b *testing.B, f *fixture) {
	orders := prepared(f, func() *storage.Order { o, _ := f.storedOrder(storage.StatusValid); return o })
	b.ResetTimer()
	for i := range b.N {
		o := orders[i]
		if err := f.s.BeginFinalize(f.ctx, o.ID, []storage.Status{storage.StatusPending}, benchCSR, f.job(storage.JobIssue, o.ID), f.now, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCompleteOrder(b *testing.B, f *fixture) {
	certs := prepared(f, func() *storage.Certificate { return f.certificate(f.processingOrder()) })
	b.ResetTimer()
	for i := range b.N {
		if err := f.s.CompleteOrder(f.ctx, certs[i], f.now, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCompleteOrderJournal(b *testing.B, f *fixture) {
	certs := prepared(f, func() *storage.Certificate { return f.certificate(f.processingOrder()) })
	b.ResetTimer()
	for i := range b.N {
		c := certs[i]
		if err := f.s.CompleteOrder(f.ctx, c, f.now, f.journal(c.OrderID, "")); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCompleteOrderSeparate(b *testing.B, f *fixture) {
	certs := prepared(f, func() *storage.Certificate { return f.certificate(f.processingOrder()) })
	b.ResetTimer()
	for i := range b.N {
		c := certs[i]
		if err := f.s.CompleteOrder(f.ctx, c, f.now, nil); err != nil {
			b.Fatal(err)
		}
		f.separately(c.OrderID, "")
	}
}

// readyCertificates makes b.N certificates of ready orders, for
// FinalizeOrder.
func readyCertificates(f *fixture) []*storage.Certificate {
	return prepared(f, func() *storage.Certificate {
		o, _ := f.storedOrder(storage.StatusValid)
		return f.certificate(o)
	})
}

func benchFinalizeOrder(b *testing.B, f *fixture) {
	certs := readyCertificates(f)
	b.ResetTimer()
	for i := range b.N {
		if err := f.s.FinalizeOrder(f.ctx, []storage.Status{storage.StatusPending}, benchCSR, certs[i], f.now, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func benchFinalizeOrderJournal(b *testing.B, f *fixture) {
	certs := readyCertificates(f)
	b.ResetTimer()
	for i := range b.N {
		c := certs[i]
		if err := f.s.FinalizeOrder(f.ctx, []storage.Status{storage.StatusPending}, benchCSR, c, f.now, f.journal(c.OrderID, "")); err != nil {
			b.Fatal(err)
		}
	}
}

func benchGetCertificate(b *testing.B, f *fixture) {
	c := f.certificate(f.processingOrder())
	f.must("CompleteOrder", f.s.CompleteOrder(f.ctx, c, f.now, nil))
	for b.Loop() {
		if _, err := f.s.GetCertificate(f.ctx, c.ID); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAppendOrderEvents(b *testing.B, f *fixture) {
	o, _ := f.storedOrder(storage.StatusPending)
	for b.Loop() {
		err := f.s.AppendOrderEvents(f.ctx, &storage.OrderEvent{OrderID: o.ID, At: f.now, Kind: "downloaded",
			Actor: "account:" + f.acct.ID, RequestID: "0123456789abcdef01234567"})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func (f *fixture) auditEntry() *storage.AuditEntry {
	return &storage.AuditEntry{At: f.now, Actor: "account:" + f.acct.ID, Directory: "default", Action: "order.create",
		Object: "order:" + f.id("order"), Outcome: storage.OutcomeSuccess, ClientIP: "127.0.0.1", Detail: "w1-1.bench.test"}
}

func benchAppendAudit(b *testing.B, f *fixture) {
	for b.Loop() {
		if err := f.s.AppendAudit(f.ctx, f.auditEntry()); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAppendAuditParallel(b *testing.B, f *fixture) {
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := f.s.AppendAudit(f.ctx, f.auditEntry()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchLeaseJobsEmpty is the job runner's poll of an idle queue, which
// every instance makes four times a second and after every nudge.
func benchLeaseJobsEmpty(b *testing.B, f *fixture) {
	for b.Loop() {
		if _, err := f.s.LeaseJobs(f.ctx, "bench", 8, f.now, 30*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
