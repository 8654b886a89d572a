package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/local"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/sqlite"
	"github.com/acmegate/acmegate/validation"
)

// dashEnv is the whole dashboard on loopback: the admin server's real
// handler on a TLS listener, over SQLite in a temp dir, with a real
// acme.Server (local CA) whose job runner issues what operators approve.
type dashEnv struct {
	t       testing.TB
	ctx     context.Context
	st      storage.Store
	srv     *Server
	acme    *acme.Server
	ts      *httptest.Server
	localCA *local.CA
	// tokens holds one token string per role, names their names.
	tokens map[storage.Role]string
	names  map[storage.Role]string
	// clock is the protocol side's clock (acme.Server, its approvals and
	// EAB keys, the local CA): demo data moves it back to make history.
	// The dashboard itself keeps the real clock.
	clock *offsetClock
}

// offsetClock is the system clock moved by an offset.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time { return time.Now().UTC().Add(time.Duration(c.off.Load())) }

// set moves the clock to d from the real time (negative: the past).
func (c *offsetClock) set(d time.Duration) { c.off.Store(int64(d)) }

// dashEnvOptions changes a dashEnv.
type dashEnvOptions struct {
	// dirs are the configuration-file directories; default "default" and
	// "team-a" (which requires approval).
	dirs []acme.DirectoryDefinition
	// profiles are the local CA's profiles; default one, "default".
	profiles []ca.Profile
	// history is how far back the local CA's certificates start, so that
	// demo data can issue certificates in the past.
	history time.Duration
}

func newDashEnv(t testing.TB, opts dashEnvOptions) *dashEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "acmegate.db"))
	if err != nil {
		t.Fatalf("open SQLite: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &dashEnv{t: t, ctx: ctx, st: st, tokens: map[storage.Role]string{}, names: map[storage.Role]string{}, clock: &offsetClock{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	e.clock.set(-opts.history)
	e.localCA, err = local.New(ctx, local.Config{Dir: filepath.Join(dir, "ca"), Profiles: opts.profiles, Clock: e.clock.Now})
	e.clock.set(0)
	if err != nil {
		t.Fatalf("local CA: %v", err)
	}
	catalog, err := acme.CatalogOf(ctx, e.localCA)
	if err != nil {
		t.Fatal(err)
	}
	dirs := opts.dirs
	if dirs == nil {
		dirs = []acme.DirectoryDefinition{{Name: "default"}, {Name: "team-a", Settings: acme.DirectorySettings{RequireApproval: true}}}
	}
	if err := acme.PutConfigDirectories(ctx, st, catalog, dirs, time.Now().UTC()); err != nil {
		t.Fatalf("config directories: %v", err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := acme.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing in these tests validates a challenge, but acme.New needs the
	// real validator; it is built as `acmegate serve` builds it.
	validator, err := validation.New(validation.Config{Resolvers: []string{"127.0.0.1:53"}, Timeout: 2 * time.Second, Logger: log})
	if err != nil {
		t.Fatalf("validator: %v", err)
	}
	e.acme, err = acme.New(ctx, acme.Config{BaseURL: "https://127.0.0.1:1", Store: st, Backend: e.localCA,
		Validator: validator, Sealer: sealer, Logger: log, Clock: e.clock})
	if err != nil {
		t.Fatalf("acme server: %v", err)
	}
	runCtx, stopRunner := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := e.acme.Run(runCtx); err != nil && runCtx.Err() == nil {
			t.Errorf("job runner: %v", err)
		}
	}()
	t.Cleanup(func() { stopRunner(); <-done })
	e.srv, err = New(ctx, Config{
		Store:     st,
		Approvals: &acme.Approvals{Store: st, Clock: e.clock},
		EABKeys:   &acme.EABKeys{Store: st, Sealer: sealer, Clock: e.clock},
		Catalog:   catalog,
		Revoker:   e.acme,
		Sealer:    sealer,
		Logger:    log,
		Version:   "test",
	})
	if err != nil {
		t.Fatalf("admin server: %v", err)
	}
	e.ts = httptest.NewTLSServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	for _, role := range []storage.Role{storage.RoleAdmin, storage.RoleOperator, storage.RoleAuditor} {
		name := "dash-" + string(role)
		e.tokens[role], e.names[role] = e.newToken(name, role), name
	}
	return e
}

// tWriter sends logs to the test log.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newToken stores a token of role and returns its string.
func (e *dashEnv) newToken(name string, role storage.Role) string {
	e.t.Helper()
	raw, rec, err := NewToken(name, role, "test", 0, time.Now().UTC())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.CreateAdminToken(e.ctx, rec); err != nil {
		e.t.Fatalf("CreateAdminToken: %v", err)
	}
	return raw
}

// id returns a fresh id, as the protocol makes them.
func (e *dashEnv) id() string { return uuid.NewString() }

// account stores an account of dir created at created.
func (e *dashEnv) account(dir string, created time.Time, contact ...string) *storage.Account {
	e.t.Helper()
	a := &storage.Account{ID: e.id(), Directory: dir, Status: storage.StatusValid, Contact: contact, TermsAgreed: true,
		KeyThumbprint: e.id(), KeyJWK: []byte(`{"kty":"EC","crv":"P-256"}`), CreatedAt: created, UpdatedAt: created}
	if err := e.st.CreateAccount(e.ctx, a); err != nil {
		e.t.Fatalf("CreateAccount: %v", err)
	}
	return a
}

// orderSpec describes an order to store.
type orderSpec struct {
	names   []string
	profile string
	created time.Time
	// preValidated records the authorizations as pre-validated rather
	// than validated by http-01.
	preValidated bool
	// pending leaves the authorizations pending, their challenges not
	// answered yet.
	pending bool
	// invalid, when set, is the problem detail of a failed http-01
	// validation of the first name.
	invalid string
}

// validOrder stores a pending order of acct over names whose
// authorizations are already valid (as a pre-validated domain or a reused
// authorization makes them) unless spec says otherwise, with the events
// the protocol records for it.
func (e *dashEnv) validOrder(acct *storage.Account, spec orderSpec) *storage.Order {
	e.t.Helper()
	if spec.created.IsZero() {
		spec.created = e.clock.Now().Add(-time.Minute)
	}
	o := &storage.Order{ID: e.id(), Directory: acct.Directory, AccountID: acct.ID, Status: storage.StatusPending,
		Expires: spec.created.Add(7 * 24 * time.Hour), Profile: spec.profile, CreatedAt: spec.created, UpdatedAt: spec.created}
	var authzs []*storage.Authorization
	events := []*storage.OrderEvent{{OrderID: o.ID, At: spec.created, Kind: acme.EventCreated, Actor: "account:" + acct.ID,
		Detail: strings.Join(spec.names, ", ")}}
	for i, n := range spec.names {
		a := &storage.Authorization{ID: e.id(), Directory: acct.Directory, AccountID: acct.ID,
			Identifier: storage.Identifier{Type: storage.IdentifierDNS, Value: n}, Status: storage.StatusValid,
			Expires: spec.created.Add(30 * 24 * time.Hour), CreatedAt: spec.created, UpdatedAt: spec.created}
		at := spec.created.Add(time.Duration(i+1) * 2 * time.Second)
		switch {
		case spec.pending:
			a.Status = storage.StatusPending
			for _, typ := range []storage.ChallengeType{storage.ChallengeHTTP01, storage.ChallengeDNS01} {
				a.Challenges = append(a.Challenges, storage.Challenge{ID: e.id(), AuthzID: a.ID, Type: typ,
					Status: storage.StatusPending, Token: e.id(), UpdatedAt: spec.created})
			}
		case spec.invalid != "" && i == 0:
			a.Status = storage.StatusInvalid
			p, _ := json.Marshal(map[string]any{"type": "urn:ietf:params:acme:error:connection", "detail": spec.invalid, "status": 400})
			a.Challenges = []storage.Challenge{{ID: e.id(), AuthzID: a.ID, Type: storage.ChallengeHTTP01, Status: storage.StatusInvalid,
				Token: e.id(), Error: p, UpdatedAt: at}}
			events = append(events, &storage.OrderEvent{AuthzID: a.ID, At: at, Kind: acme.EventValidationFailed, Actor: "system",
				Identifier: n, Detail: "http-01: " + spec.invalid})
		case spec.preValidated:
			events = append(events, &storage.OrderEvent{OrderID: o.ID, AuthzID: a.ID, At: spec.created, Kind: acme.EventPreValidated,
				Actor: "system", Identifier: n, Detail: "pre-validated domain"})
		default:
			a.Challenges = []storage.Challenge{{ID: e.id(), AuthzID: a.ID, Type: storage.ChallengeHTTP01, Status: storage.StatusValid,
				Token: e.id(), Validated: at, UpdatedAt: at}}
			events = append(events, &storage.OrderEvent{AuthzID: a.ID, At: at, Kind: acme.EventValidated, Actor: "system",
				Identifier: n, Detail: "http-01"})
		}
		authzs = append(authzs, a)
		o.Identifiers = append(o.Identifiers, a.Identifier)
		o.AuthzIDs = append(o.AuthzIDs, a.ID)
	}
	if err := e.st.CreateOrder(e.ctx, o, authzs, nil); err != nil {
		e.t.Fatalf("CreateOrder: %v", err)
	}
	if err := e.st.AppendOrderEvents(e.ctx, events...); err != nil {
		e.t.Fatalf("AppendOrderEvents: %v", err)
	}
	return o
}

// csr makes a real CSR for names.
func (e *dashEnv) csr(names []string) []byte {
	e.t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, k)
	if err != nil {
		e.t.Fatalf("CSR: %v", err)
	}
	return der
}

// awaitingApproval stores an order of acct over names, finalized with a
// real CSR and awaiting an operator's approval until deadline.
func (e *dashEnv) awaitingApproval(acct *storage.Account, spec orderSpec, deadline time.Time) *storage.Order {
	e.t.Helper()
	o := e.validOrder(acct, spec)
	now := e.clock.Now()
	if err := e.st.BeginApproval(e.ctx, o.ID, []storage.Status{storage.StatusPending}, e.csr(spec.names), deadline, now); err != nil {
		e.t.Fatalf("BeginApproval: %v", err)
	}
	if err := e.st.AppendOrderEvents(e.ctx,
		&storage.OrderEvent{OrderID: o.ID, At: now, Kind: acme.EventFinalizeRequested, Actor: "account:" + acct.ID},
		&storage.OrderEvent{OrderID: o.ID, At: now, Kind: acme.EventAwaitingApproval, Actor: "system", Detail: "until " + deadline.Format(time.RFC3339)},
	); err != nil {
		e.t.Fatalf("AppendOrderEvents: %v", err)
	}
	return e.order(o.ID)
}

// finalized stores an order of acct over names and finalizes it with a
// real CSR and an issue job, as finalize does without approval; the job
// runner issues it.
func (e *dashEnv) finalized(acct *storage.Account, spec orderSpec) *storage.Order {
	e.t.Helper()
	o := e.validOrder(acct, spec)
	now := e.clock.Now()
	job := &storage.Job{ID: e.id(), Kind: storage.JobIssue, Ref: o.ID, RunAt: now, Deadline: now.Add(time.Hour), CreatedAt: now}
	if err := e.st.BeginFinalize(e.ctx, o.ID, []storage.Status{storage.StatusPending}, e.csr(spec.names), job, now, nil); err != nil {
		e.t.Fatalf("BeginFinalize: %v", err)
	}
	if err := e.st.AppendOrderEvents(e.ctx, &storage.OrderEvent{OrderID: o.ID, At: now, Kind: acme.EventFinalizeRequested, Actor: "account:" + acct.ID}); err != nil {
		e.t.Fatalf("AppendOrderEvents: %v", err)
	}
	return o
}

// failed stores an order of acct over names that the CA turned down with
// detail, as the issue job records it.
func (e *dashEnv) failed(acct *storage.Account, spec orderSpec, detail string) *storage.Order {
	e.t.Helper()
	o := e.validOrder(acct, spec)
	now := e.clock.Now()
	// The job is due later than the test lasts: the runner leaves it alone.
	job := &storage.Job{ID: e.id(), Kind: storage.JobIssue, Ref: o.ID, RunAt: now.Add(time.Hour), Deadline: now.Add(2 * time.Hour), CreatedAt: now}
	if err := e.st.BeginFinalize(e.ctx, o.ID, []storage.Status{storage.StatusPending}, e.csr(spec.names), job, now, nil); err != nil {
		e.t.Fatalf("BeginFinalize: %v", err)
	}
	p, err := json.Marshal(map[string]any{"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": detail, "status": 400})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.FailOrder(e.ctx, o.ID, p, now.Add(time.Second), nil); err != nil {
		e.t.Fatalf("FailOrder: %v", err)
	}
	if err := e.st.AppendOrderEvents(e.ctx,
		&storage.OrderEvent{OrderID: o.ID, At: now, Kind: acme.EventFinalizeRequested, Actor: "account:" + acct.ID},
		&storage.OrderEvent{OrderID: o.ID, At: now.Add(time.Second), Kind: acme.EventFailed, Actor: "system", Detail: detail},
	); err != nil {
		e.t.Fatalf("AppendOrderEvents: %v", err)
	}
	return e.order(o.ID)
}

// order reads an order.
func (e *dashEnv) order(id string) *storage.Order {
	e.t.Helper()
	o, err := e.st.GetOrder(e.ctx, id)
	if err != nil {
		e.t.Fatalf("GetOrder %s: %v", id, err)
	}
	return o
}

// waitOrder waits until order id is no longer processing and returns it.
func (e *dashEnv) waitOrder(id string) *storage.Order {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		o := e.order(id)
		if o.Status != storage.StatusProcessing {
			return o
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("order %s still processing after 30s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// issued stores an order of acct over names and waits until the job
// runner issued its certificate, which it returns.
func (e *dashEnv) issued(acct *storage.Account, spec orderSpec) *storage.Certificate {
	e.t.Helper()
	o := e.waitOrder(e.finalized(acct, spec).ID)
	if o.Status != storage.StatusValid {
		e.t.Fatalf("order %s is %s, not valid: %s", o.ID, o.Status, o.Error)
	}
	c, err := e.st.GetCertificate(e.ctx, o.CertificateID)
	if err != nil {
		e.t.Fatalf("GetCertificate: %v", err)
	}
	return c
}

// audits returns the audit entries matching f, newest first.
func (e *dashEnv) audits(f storage.AuditFilter) []*storage.AuditEntry {
	e.t.Helper()
	entries, _, err := e.st.ListAudit(e.ctx, f, storage.Page{Limit: 1000})
	if err != nil {
		e.t.Fatalf("ListAudit: %v", err)
	}
	return entries
}
