package acme_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/notify"
	"github.com/acmegate/acmegate/storage"
)

// recordingNotifier keeps the events the server hands it.
type recordingNotifier struct {
	mu     sync.Mutex
	events []notify.Event
}

func (r *recordingNotifier) Notify(_ context.Context, ev notify.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

// of returns the events of type typ so far.
func (r *recordingNotifier) of(typ string) []notify.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []notify.Event
	for _, ev := range r.events {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// wait returns the events of type typ once there are at least n.
func (r *recordingNotifier) wait(t testing.TB, typ string, n int) []notify.Event {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if evs := r.of(typ); len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s events after 15s, want %d (all: %+v)", len(r.of(typ)), typ, n, r.all())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *recordingNotifier) all() []notify.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// offsetClock is the system clock moved forward by what the test asks.
type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().UTC().Add(c.off)
}

func (c *offsetClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// auditTrail returns the audit entries matching f, oldest first, and checks
// the whole chain verifies.
func (e *env) auditTrail(ctx context.Context, f storage.AuditFilter) []*storage.AuditEntry {
	e.t.Helper()
	var all []*storage.AuditEntry
	cursor := ""
	for {
		page, next, err := e.store.ListAudit(ctx, f, storage.Page{Cursor: cursor, Limit: 100})
		if err != nil {
			e.t.Fatalf("list audit: %v", err)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	slices.Reverse(all)
	n, brk, err := storage.VerifyAudit(ctx, e.store)
	if err != nil || brk != nil {
		e.t.Fatalf("audit chain after %d entries: %+v %v", n, brk, err)
	}
	return all
}

func actions(entries []*storage.AuditEntry) []string {
	out := make([]string, len(entries))
	for i, a := range entries {
		out[i] = a.Action
	}
	return out
}

func lastSegment(u string) string { return u[strings.LastIndex(u, "/")+1:] }

// TestAuditTrailOfAnAccountsLife: every protocol step an operator must be
// able to trace is in the audit trail, with who did it, from where and to
// what, and the chain verifies; the issued and revoked certificates are
// notified with what a receiver needs.
func TestAuditTrailOfAnAccountsLife(t *testing.T) {
	testAuditTrailOfAnAccountsLife(t, nil)
}

// TestAuditTrailOfAnAccountsLifeOnPostgreSQL: the same on PostgreSQL, whose
// appends serialize differently.
func TestAuditTrailOfAnAccountsLifeOnPostgreSQL(t *testing.T) {
	testAuditTrailOfAnAccountsLife(t, postgresSchema(t, "acme-audit-test"))
}

func testAuditTrailOfAnAccountsLife(t *testing.T, open func() storage.Store) {
	rec := &recordingNotifier{}
	e := newEnv(t, envOptions{notifier: rec, open: open})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	acct, err := c.GetReg(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	acctID := lastSegment(acct.URI)
	chain := e.issue(ctx, c, "http-01", newECKey(t), "audit.example.com")
	leaf := chain[0]
	serial := leaf.SerialNumber.Text(16)
	if err := c.AccountKeyRollover(ctx, newECKey(t)); err != nil {
		t.Fatalf("key change: %v", err)
	}
	if err := c.RevokeCert(ctx, nil, leaf.Raw, xacme.CRLReasonSuperseded); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if err := c.DeactivateReg(ctx); err != nil {
		t.Fatalf("deactivate: %v", err)
	}

	trail := e.auditTrail(ctx, storage.AuditFilter{})
	want := []string{acme.AuditDirectoryConfig, acme.AuditAccountCreate, acme.AuditOrderCreate, acme.AuditChallengeValidate,
		acme.AuditCertificateIssue, acme.AuditAccountKeyChange, acme.AuditCertificateRevoke, acme.AuditAccountDeactivate}
	if got := actions(trail); !slices.Equal(got, want) {
		t.Fatalf("audit actions = %v, want %v", got, want)
	}
	cert, err := e.store.GetCertificateBySerial(ctx, serial)
	if err != nil {
		t.Fatal(err)
	}
	acctActor := "account:" + acctID
	type expect struct{ actor, object, ip string }
	wantFields := map[string]expect{
		acme.AuditDirectoryConfig:   {"system", "directory:default", ""},
		acme.AuditAccountCreate:     {acctActor, "account:" + acctID, "127.0.0.1"},
		acme.AuditOrderCreate:       {acctActor, "order:" + cert.OrderID, "127.0.0.1"},
		acme.AuditCertificateIssue:  {"system", "certificate:" + serial, "127.0.0.1"}, // issued inside the finalize request
		acme.AuditAccountKeyChange:  {acctActor, "account:" + acctID, "127.0.0.1"},
		acme.AuditCertificateRevoke: {acctActor, "certificate:" + serial, "127.0.0.1"},
		acme.AuditAccountDeactivate: {acctActor, "account:" + acctID, "127.0.0.1"},
	}
	for _, a := range trail {
		if a.Directory != "default" || a.Outcome != storage.OutcomeSuccess || a.At.IsZero() {
			t.Errorf("%s: directory %q outcome %q at %v, want default, success and a time", a.Action, a.Directory, a.Outcome, a.At)
		}
		if a.Action == acme.AuditChallengeValidate {
			// Validation runs within the client's challenge request
			// (it settles in time here): the system acts, from the
			// address of the client that asked.
			if a.Actor != "system" || !strings.HasPrefix(a.Object, "challenge:") || a.ClientIP != "127.0.0.1" ||
				!strings.Contains(a.Detail, "http-01") || !strings.Contains(a.Detail, "audit.example.com") {
				t.Errorf("challenge.validate entry = %+v", a)
			}
			continue
		}
		w := wantFields[a.Action]
		if a.Actor != w.actor || a.Object != w.object || a.ClientIP != w.ip {
			t.Errorf("%s: actor %q object %q client %q, want %q %q %q", a.Action, a.Actor, a.Object, a.ClientIP, w.actor, w.object, w.ip)
		}
	}
	if d := trail[len(trail)-2].Detail; !strings.Contains(d, "superseded") {
		t.Errorf("revocation detail %q does not give the reason", d)
	}

	issued := rec.of(notify.CertificateIssued)
	if len(issued) != 1 {
		t.Fatalf("certificate.issued events = %+v, want 1", issued)
	}
	ev := issued[0]
	if ev.Serial != serial || ev.CertificateID != cert.ID || ev.OrderID != cert.OrderID || ev.AccountID != acctID ||
		ev.Directory != "default" || ev.Backend != "local" || !slices.Equal(ev.Names, []string{"audit.example.com"}) ||
		ev.NotAfter == nil || !ev.NotAfter.Equal(leaf.NotAfter) || ev.At.IsZero() {
		t.Errorf("certificate.issued = %+v", ev)
	}
	revoked := rec.of(notify.CertificateRevoked)
	if len(revoked) != 1 || revoked[0].Serial != serial || !strings.Contains(revoked[0].Detail, "superseded") {
		t.Errorf("certificate.revoked = %+v", revoked)
	}
	if n := len(rec.all()); n != 2 {
		t.Errorf("%d events, want only issued and revoked: %+v", n, rec.all())
	}

	// Restarting with the same configuration audits nothing more.
	before := len(trail)
	cat, err := acme.CatalogOf(ctx, e.ca)
	if err != nil {
		t.Fatal(err)
	}
	defs := []acme.DirectoryDefinition{{Name: "default"}}
	if err := acme.PutConfigDirectories(ctx, e.store, cat, defs, time.Now()); err != nil {
		t.Fatal(err)
	}
	defs[0].Settings.Website = "https://pki.example.com"
	if err := acme.PutConfigDirectories(ctx, e.store, cat, defs, time.Now()); err != nil {
		t.Fatal(err)
	}
	trail = e.auditTrail(ctx, storage.AuditFilter{Action: acme.AuditDirectoryConfig})
	if len(trail) != 2 || trail[0].Detail != "created by the configuration file" || trail[1].Detail != "changed by the configuration file" {
		t.Errorf("directory.config entries = %v (%d entries before), want created then changed", details(trail), before)
	}
}

func details(entries []*storage.AuditEntry) []string {
	out := make([]string, len(entries))
	for i, a := range entries {
		out[i] = a.Action + " " + a.Object + ": " + a.Detail
	}
	return out
}

// TestEABUseIsAudited: binding an account with an EAB key is audited
// against the key, and the HMAC key itself appears nowhere in the trail.
func TestEABUseIsAudited(t *testing.T) {
	e := newEnv(t, envOptions{dirs: []acme.DirectoryDefinition{{Name: "eab", Settings: acme.DirectorySettings{ExternalAccountRequired: true}}}})
	ctx := testCtx(t)
	eab := e.eabKey(ctx, "eab", false, 0)
	c, err := e.dirClient(ctx, "eab", eab)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := c.GetReg(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	trail := e.auditTrail(ctx, storage.AuditFilter{Directory: "eab"})
	if got := actions(trail); !slices.Equal(got, []string{acme.AuditDirectoryConfig, acme.AuditAccountCreate, acme.AuditEABUse}) {
		t.Fatalf("audit actions = %v", got)
	}
	use := trail[2]
	if use.Object != "eab:"+eab.KID || use.Actor != "account:"+lastSegment(acct.URI) || use.ClientIP != "127.0.0.1" {
		t.Errorf("eab.use = %+v", use)
	}
	secret := b64(eab.Key)
	for _, a := range e.auditTrail(ctx, storage.AuditFilter{}) {
		if strings.Contains(a.Detail+a.Object+a.Actor, secret) {
			t.Errorf("audit entry %s carries the EAB HMAC key", a.Action)
		}
	}
}

// TestFailedValidationIsAuditedAndNotified: a validation that fails is a
// failure in the audit trail and an order.failed notification naming the
// identifier and the problem.
func TestFailedValidationIsAuditedAndNotified(t *testing.T) {
	rec := &recordingNotifier{}
	e := newEnv(t, envOptions{notifier: rec})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	acct, err := c.GetReg(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	_, z, ch := e.orderChallenge(ctx, c, "unproven.example.com", "http-01")
	e.dns.SetA("unproven.example.com", netip.MustParseAddr("127.0.0.1"))
	e.http01.set(ch.Token, "not-the-key-authorization")
	if _, err := c.Accept(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitAuthorization(ctx, z.URI); err == nil {
		t.Fatal("the authorization became valid")
	}
	evs := rec.wait(t, notify.OrderFailed, 1)
	ev := evs[0]
	if ev.AccountID != lastSegment(acct.URI) || ev.Directory != "default" || !slices.Equal(ev.Names, []string{"unproven.example.com"}) ||
		!strings.Contains(ev.Detail, "http-01") || !strings.Contains(ev.Detail, "key authorization") {
		t.Errorf("order.failed = %+v", ev)
	}
	trail := e.auditTrail(ctx, storage.AuditFilter{Action: acme.AuditChallengeValidate})
	if len(trail) != 1 {
		t.Fatalf("challenge.validate entries = %v", details(trail))
	}
	if a := trail[0]; a.Outcome != storage.OutcomeFailure || a.Object != "challenge:"+lastSegment(ch.URI) || !strings.Contains(a.Detail, "key authorization") {
		t.Errorf("challenge.validate = %+v, want a failure with the problem", a)
	}
}

// TestApprovalNotificationsAndSweeps: finalizing an order that needs
// approval notifies approval.required; when it lapses, the sweep makes it
// invalid, audits it and notifies order.failed; configured sweeps run on
// the same tick.
func TestApprovalNotificationsAndSweeps(t *testing.T) {
	rec := &recordingNotifier{}
	clock := &offsetClock{}
	swept := make(chan time.Time, 16)
	e := newEnv(t, envOptions{notifier: rec, clock: clock, dirs: approvalDirs(),
		sweeps: []func(context.Context, time.Time){func(_ context.Context, now time.Time) {
			select {
			case swept <- now:
			default:
			}
		}}})
	ctx := testCtx(t)
	raw := e.rawAccount("gated")
	u, o, _ := raw.order("gated", `{"identifiers":[{"type":"dns","value":"late.corp.example"}]}`)
	if r := raw.finalize(o, "late.corp.example"); r.status != 200 {
		t.Fatalf("finalize: %d %s", r.status, r.body)
	}
	orderID := lastSegment(u)
	ev := rec.wait(t, notify.ApprovalRequired, 1)[0]
	if ev.OrderID != orderID || ev.Directory != "gated" || ev.AccountID != lastSegment(raw.kid) || !slices.Equal(ev.Names, []string{"late.corp.example"}) {
		t.Errorf("approval.required = %+v", ev)
	}

	clock.advance(73 * time.Hour) // past the default 72 h approval timeout
	later := time.Now().Add(72 * time.Hour)
	failed := rec.wait(t, notify.OrderFailed, 1)[0]
	if failed.OrderID != orderID || failed.Directory != "gated" || !strings.Contains(failed.Detail, "not approved in time") {
		t.Errorf("order.failed = %+v", failed)
	}
	trail := e.auditTrail(ctx, storage.AuditFilter{Action: acme.AuditApprovalExpire})
	if len(trail) != 1 || trail[0].Object != "order:"+orderID || trail[0].Actor != "system" || trail[0].Directory != "gated" {
		t.Errorf("approval expiry audit = %v", details(trail))
	}
	deadline := time.After(15 * time.Second)
	for {
		select {
		case now := <-swept:
			if now.After(later) {
				return // the configured sweep ran with the server's clock
			}
		case <-deadline:
			t.Fatal("the configured sweep never ran after the clock moved")
		}
	}
}

// TestUpstreamErrorAndOrderFailedNotifications: an upstream CA refusing a
// submission is an upstream.error (its text, its backend) and makes the
// order fail, which is notified with the order.
func TestUpstreamErrorAndOrderFailedNotifications(t *testing.T) {
	rec := &recordingNotifier{}
	slow := newSlowCA(t, 0, "the upstream does not like this name")
	e := newEnv(t, envOptions{notifier: rec, dirs: slowDirs(), backends: []ca.Backend{slow}})
	ctx := testCtx(t)
	c, err := e.dirClient(ctx, "slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.AuthorizeOrder(ctx, idsOf("refused.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	e.solve(ctx, c, o, "http-01")
	der, err := x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{"refused.example.com"}), newECKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, der, true); err == nil {
		t.Fatal("the refused order was issued")
	}
	orderID := lastSegment(o.URI)
	up := rec.wait(t, notify.UpstreamError, 1)[0]
	if up.Backend != "slow" || up.OrderID != orderID || !strings.Contains(up.Detail, "the upstream does not like this name") {
		t.Errorf("upstream.error = %+v", up)
	}
	failed := rec.wait(t, notify.OrderFailed, 1)[0]
	if failed.OrderID != orderID || failed.Directory != "slow" || !slices.Equal(failed.Names, []string{"refused.example.com"}) ||
		!strings.Contains(failed.Detail, "the upstream does not like this name") {
		t.Errorf("order.failed = %+v", failed)
	}
	if n := len(rec.of(notify.UpstreamError)); n != 1 {
		t.Errorf("%d upstream.error events for one failed attempt, want 1", n)
	}
}
