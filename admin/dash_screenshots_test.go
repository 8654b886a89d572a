//go:build screenshots

package admin

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/storage"
)

// TestScreenshots seeds a realistic installation and saves full-page
// screenshots of the dashboard, 1280 pixels wide, to docs/screenshots
// (make screenshots).
func TestScreenshots(t *testing.T) {
	tab := newBrowser(t, 3*time.Minute)
	day := 24 * time.Hour
	e := newDashEnv(t, dashEnvOptions{
		history: 150 * day,
		profiles: []ca.Profile{
			{Name: "tlsserver", Description: "TLS server, 90 days", Validity: 90 * day},
			{Name: "shortlived", Description: "TLS server, 6 days", Validity: 6 * day},
			{Name: "internal", Description: "internal TLS server, 30 days", Validity: 30 * day},
			{Name: "client", Description: "TLS client, 60 days", Validity: 60 * day, ClientAuth: true},
		},
		dirs: []acme.DirectoryDefinition{
			{Name: "default"},
			{Name: "web", Settings: acme.DirectorySettings{
				ExternalAccountRequired: true,
				Profiles:                []acme.ProfileSettings{{Name: "tlsserver"}, {Name: "shortlived"}},
				DefaultProfile:          "tlsserver",
				Policy:                  acme.PolicySettings{AllowedDomains: []string{"example.com", "example.org"}},
			}},
			{Name: "internal", Settings: acme.DirectorySettings{
				RequireApproval: true,
				Profiles:        []acme.ProfileSettings{{Name: "internal"}},
				Policy:          acme.PolicySettings{AllowedDomains: []string{"corp.example.net"}, PreValidatedDomains: []string{"corp.example.net"}},
			}},
			{Name: "partners", Settings: acme.DirectorySettings{
				ExternalAccountRequired: true,
				Profiles:                []acme.ProfileSettings{{Name: "client", RequireApproval: true}, {Name: "tlsserver"}},
				Policy:                  acme.PolicySettings{AllowedDomains: []string{"partner.example"}},
			}},
		},
	})
	e.srv.cfg.Version = "dev"
	seedDemo(t, e)

	out := filepath.Join("..", "docs", "screenshots")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	shoot := func(name, path string) {
		t.Helper()
		tabDo(t, tab, "open "+path, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(e.ts.URL+path),
			chromedp.WaitVisible(chromedp.CSS("footer")))
		png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot of %s: %v", path, err)
		}
		if err := os.WriteFile(filepath.Join(out, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shoot("login", "/admin/login")
	alice := e.tokens[storage.RoleOperator]
	browserLogin(t, tab, e.ts.URL, alice)
	shoot("home", "/admin/")
	shoot("orders", "/admin/orders")
	shoot("order", "/admin/orders/"+demoOrderID)
	shoot("certificates", "/admin/certificates?sort=expiry")
	shoot("directories", "/admin/directories")
	shoot("audit", "/admin/audit")
}

// demoOrderID is the order whose page the screenshots show.
var demoOrderID string

// seedDemo fills the store as a few months of use would: directories for
// teams, EAB keys, accounts, orders in every state, certificates expiring
// soon, a revocation, and the audit trail all of this leaves. Steps run in
// the order they happened, with the protocol side's clock set back to
// their time, so that the audit trail reads in order.
func seedDemo(t *testing.T, e *dashEnv) {
	t.Helper()
	ctx := e.ctx
	day := 24 * time.Hour
	at := func(ago time.Duration) { e.clock.set(-ago) }
	defer e.clock.set(0)
	now := func() time.Time { return e.clock.Now() }

	// Named tokens: the operators' actors.
	alice := e.newToken("alice", storage.RoleOperator)
	bob := e.newToken("bob", storage.RoleAdmin)
	e.tokens[storage.RoleOperator], e.names[storage.RoleOperator] = alice, "alice"
	e.tokens[storage.RoleAdmin], e.names[storage.RoleAdmin] = bob, "bob"

	keys := e.srv.cfg.EABKeys
	newKey := func(dir, label string, reusable bool, ttl time.Duration) *acme.NewEABKey {
		t.Helper()
		k, err := keys.Create(ctx, dir, label, reusable, ttl)
		if err != nil {
			t.Fatal(err)
		}
		e.audit(now(), "token:bob", dir, "eab.create", "eab:"+k.KeyID, "10.20.0.9", "created EAB key "+k.KeyID)
		return k
	}
	account := func(dir, eab, contact string) *storage.Account {
		t.Helper()
		a := &storage.Account{ID: e.id(), Directory: dir, Status: storage.StatusValid, Contact: []string{"mailto:" + contact},
			TermsAgreed: true, KeyThumbprint: e.id(), KeyJWK: []byte(`{"kty":"EC","crv":"P-256"}`), EABKeyID: eab,
			CreatedAt: now(), UpdatedAt: now()}
		if err := e.st.CreateAccount(ctx, a); err != nil {
			t.Fatalf("CreateAccount: %v", err)
		}
		e.audit(now(), "account:"+a.ID, dir, acme.AuditAccountCreate, "account:"+a.ID, "198.51.100.23", "contact "+contact)
		if eab != "" {
			e.audit(now(), "account:"+a.ID, dir, acme.AuditEABUse, "eab:"+eab, "198.51.100.23", "bound with EAB key "+eab)
		}
		return a
	}
	issue := func(acct *storage.Account, profile string, names ...string) *storage.Certificate {
		t.Helper()
		return e.issued(acct, orderSpec{names: names, profile: profile, created: now().Add(-3 * time.Minute)})
	}

	at(120 * day)
	webShared := newKey("web", "web platform (shared)", true, 0)
	webShop := newKey("web", "shop team", false, 0)
	oldKey := newKey("web", "legacy CMS", false, 0)
	shop := account("web", webShop.KeyID, "shop-team@example.com")
	platform := account("web", webShared.KeyID, "platform@example.com")
	at(87 * day)
	issue(shop, "tlsserver", "shop.example.com", "www.shop.example.com")
	at(78 * day)
	issue(platform, "tlsserver", "api.example.com")
	at(66 * day)
	issue(platform, "tlsserver", "blog.example.org", "www.blog.example.org")
	at(50 * day)
	mail := issue(platform, "tlsserver", "mail.example.com")
	at(35 * day)
	corp := account("internal", "", "infra@corp.example.net")
	at(30 * day)
	newKey("partners", "ACME Corp B2B", false, 3*day)
	partnerKey := newKey("partners", "Globex integration", false, 180*day)
	at(25 * day)
	globex := account("partners", partnerKey.KeyID, "pki@globex.example")

	// Internal: an order alice approved, issued and fetched by the
	// client: the order page of the screenshots.
	at(20 * day)
	vault := e.awaitingApproval(corp, orderSpec{names: []string{"vault.corp.example.net", "vault-1.corp.example.net"}, profile: "internal",
		preValidated: true, created: now().Add(-2 * time.Minute)}, now().Add(72*time.Hour))
	at(20*day - 47*time.Minute)
	if err := e.srv.cfg.Approvals.Approve(ctx, vault.ID, "alice", "change CHG-2291, owner infra"); err != nil {
		t.Fatal(err)
	}
	e.audit(now(), "token:alice", "internal", "order.approve", "order:"+vault.ID, "10.20.0.14", "approved order "+vault.ID+": change CHG-2291, owner infra")
	vault = e.waitOrder(vault.ID)
	for _, ago := range []time.Duration{20*day - 48*time.Minute, 20*day - 49*time.Minute, 13 * day} {
		at(ago)
		if err := e.st.AppendOrderEvents(ctx, &storage.OrderEvent{OrderID: vault.ID, At: now(), Kind: acme.EventDownloaded,
			Actor: "account:" + corp.ID}); err != nil {
			t.Fatal(err)
		}
	}
	demoOrderID = vault.ID

	at(19 * day)
	edge := account("web", webShared.KeyID, "edge-oncall@example.com")
	at(15 * day)
	issue(globex, "tlsserver", "gw.partner.example")
	at(12 * day)
	if _, err := e.st.RevokeEABKey(ctx, oldKey.KeyID, false, now()); err != nil {
		t.Fatal(err)
	}
	e.audit(now(), "token:bob", "web", "eab.revoke", "eab:"+oldKey.KeyID, "10.20.0.9", "revoked EAB key "+oldKey.KeyID+" (accounts kept)")
	at(10 * day)
	issue(platform, "tlsserver", "cdn.example.com", "static.example.com")
	at(9 * day)
	wiki := account("internal", "", "wiki-admins@corp.example.net")
	at(5 * day)
	dflt := account("default", "", "dev@example.com")
	issue(dflt, "", "dev.example.com")
	at(4 * day)
	issue(edge, "shortlived", "edge-02.example.com")
	newKey("web", "marketing microsites", false, 30*day)

	at(3 * day)
	rejected := e.awaitingApproval(wiki, orderSpec{names: []string{"wiki.corp.example.net", "*.wiki.corp.example.net"}, profile: "internal",
		preValidated: true, created: now().Add(-time.Minute)}, now().Add(72*time.Hour))
	at(3*day - 2*time.Hour)
	if err := e.srv.cfg.Approvals.Reject(ctx, rejected.ID, "bob", "wildcards are not issued internally; request the host names"); err != nil {
		t.Fatal(err)
	}
	e.audit(now(), "token:bob", "internal", "order.reject", "order:"+rejected.ID, "10.20.0.9", "rejected order "+rejected.ID+": wildcards are not issued internally; request the host names")

	at(1 * day)
	issue(edge, "shortlived", "edge-01.example.com")
	if err := e.acme.RevokeCertificate(ctx, mail.ID, 4, "token:bob"); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	at(26 * time.Hour)
	e.awaitingApproval(wiki, orderSpec{names: []string{"ldap.corp.example.net"}, profile: "internal", preValidated: true,
		created: now().Add(-time.Minute)}, now().Add(72*time.Hour))
	at(7 * time.Hour)
	e.failed(platform, orderSpec{names: []string{"status.example.com"}, profile: "tlsserver"},
		"the certificate authority did not issue the certificate before the deadline: backend sectigo: 503 Service Unavailable")
	at(5 * time.Hour)
	e.awaitingApproval(globex, orderSpec{names: []string{"billing.partner.example"}, profile: "client",
		created: now().Add(-4 * time.Minute)}, now().Add(72*time.Hour))
	at(3 * time.Hour)
	e.validOrder(shop, orderSpec{names: []string{"checkout.example.com"}, profile: "tlsserver",
		invalid: "203.0.113.40: fetching http://checkout.example.com/.well-known/acme-challenge/: connection refused"})
	e.audit(now().Add(4*time.Second), "system", "web", acme.AuditChallengeValidate, "challenge:"+e.id(), "", "http-01 for checkout.example.com failed: connection refused")
	at(2 * time.Hour)
	e.awaitingApproval(corp, orderSpec{names: []string{"git.corp.example.net"}, profile: "internal", preValidated: true,
		created: now().Add(-time.Minute)}, now().Add(72*time.Hour))
	at(90 * time.Minute)
	e.failed(edge, orderSpec{names: []string{"edge-03.example.com"}, profile: "shortlived"},
		"the CSR's RSA key of 1024 bits is below the directory's minimum of 2048")
	at(50 * time.Minute)
	e.audit(now(), "anonymous", "", actionLogin, "", "203.0.113.77", "dashboard login refused: invalid, expired or revoked token")
	at(40 * time.Minute)
	e.validOrder(globex, orderSpec{names: []string{"sftp.partner.example"}, profile: "tlsserver", pending: true})
	e.audit(now(), "token:audit-bot", "internal", "order.approve", "order:"+rejected.ID, "10.20.0.31", "role auditor may not do this: it needs role operator")

	// An issuance stuck at an upstream CA: its job keeps failing.
	at(35 * time.Minute)
	stuck := e.validOrder(platform, orderSpec{names: []string{"payments.example.com"}, profile: "tlsserver"})
	at(30 * time.Minute)
	real := time.Now().UTC()
	job := &storage.Job{ID: e.id(), Kind: storage.JobIssue, Ref: stuck.ID, RunAt: real.Add(time.Hour), Deadline: real.Add(24 * time.Hour), CreatedAt: now()}
	if err := e.st.BeginFinalize(ctx, stuck.ID, []storage.Status{storage.StatusPending}, e.csr([]string{"payments.example.com"}), job, now(), nil); err != nil {
		t.Fatal(err)
	}
	if err := e.st.AppendOrderEvents(ctx,
		&storage.OrderEvent{OrderID: stuck.ID, At: now(), Kind: acme.EventFinalizeRequested, Actor: "account:" + platform.ID},
		&storage.OrderEvent{OrderID: stuck.ID, At: now().Add(time.Second), Kind: acme.EventSubmitted, Actor: "backend:sectigo", Detail: "upstream reference 4417093"},
	); err != nil {
		t.Fatal(err)
	}
	leased, err := e.st.LeaseJobs(ctx, "demo", 100, real.Add(2*time.Hour), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range leased {
		if j.ID == job.ID {
			if err := e.st.RetryJob(ctx, j.ID, "demo", real.Add(4*time.Minute), "backend sectigo: poll 4417093: 503 Service Unavailable"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.st.ReleaseJobs(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	at(0)

	// The operators of today, through the dashboard itself.
	e.client().login(alice)
	c := e.client()
	c.login(bob)
	c.post("/admin/directories/web/eab-keys", url.Values{"csrf": {c.csrf()}, "label": {"ci runners"}, "ttl": {"30d"}}).want(t, http.StatusCreated)
}

// audit appends an audit entry at a given time, as the protocol and the
// admin surfaces write them.
func (e *dashEnv) audit(at time.Time, actor, dir, action, object, ip, detail string) {
	e.t.Helper()
	if err := e.st.AppendAudit(context.Background(), &storage.AuditEntry{At: at, Actor: actor, Directory: dir, Action: action,
		Object: object, Outcome: outcomeOf(detail), ClientIP: ip, Detail: detail}); err != nil {
		e.t.Fatal(err)
	}
}

// outcomeOf tells the outcome of a demo entry from its detail.
func outcomeOf(detail string) string {
	switch {
	case strings.HasPrefix(detail, "dashboard login refused"), strings.HasPrefix(detail, "role auditor may not"):
		return storage.OutcomeDenied
	case strings.Contains(detail, " failed: "):
		return storage.OutcomeFailure
	}
	return storage.OutcomeSuccess
}
