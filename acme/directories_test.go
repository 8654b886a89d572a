package acme_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/local"
	"github.com/acmegate/acmegate/validation/validationtest"
)

// teamDirs is a two-team setup: "public" requires EAB, "internal" has
// pre-validated domains and two profiles.
func teamDirs() []acme.DirectoryDefinition {
	return []acme.DirectoryDefinition{
		{Name: "public", Settings: acme.DirectorySettings{
			ExternalAccountRequired: true,
			TermsOfService:          "https://example.com/tos",
			Policy:                  acme.PolicySettings{AllowedDomains: []string{"example.com"}},
		}},
		{Name: "internal", Settings: acme.DirectorySettings{
			Profiles: []acme.ProfileSettings{
				{Name: "server", Description: "TLS server, 90 days", Product: "default"},
				{Name: "short", Description: "TLS server, short-lived", Product: "default"},
			},
			DefaultProfile: "server",
			Policy:         acme.PolicySettings{PreValidatedDomains: []string{"corp.example"}, DenyWildcard: true},
		}},
	}
}

func (e *env) dirClient(ctx context.Context, dir string, eab *xacme.ExternalAccountBinding) (*xacme.Client, error) {
	c := &xacme.Client{Key: newECKey(e.t), DirectoryURL: e.url + "/acme/" + dir + "/directory", HTTPClient: e.client}
	_, err := c.Register(ctx, &xacme.Account{ExternalAccountBinding: eab}, xacme.AcceptTOS)
	return c, err
}

func (e *env) eabKey(ctx context.Context, dir string, reusable bool, ttl time.Duration) *xacme.ExternalAccountBinding {
	e.t.Helper()
	keys := &acme.EABKeys{Store: e.store, Sealer: e.sealer}
	k, err := keys.Create(ctx, dir, "test", reusable, ttl)
	if err != nil {
		e.t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(k.HMACKey)
	if err != nil {
		e.t.Fatal(err)
	}
	return &xacme.ExternalAccountBinding{KID: k.KeyID, Key: raw}
}

func TestExternalAccountBinding(t *testing.T) {
	e := newEnv(t, envOptions{dirs: teamDirs()})
	ctx := testCtx(t)

	// Without a binding: externalAccountRequired.
	_, err := e.dirClient(ctx, "public", nil)
	assertProblem(t, err, "urn:ietf:params:acme:error:externalAccountRequired", 401)

	// A single-use key binds one account, then never again.
	eab := e.eabKey(ctx, "public", false, 0)
	c, err := e.dirClient(ctx, "public", eab)
	if err != nil {
		t.Fatalf("register with EAB: %v", err)
	}
	e.issue(ctx, c, "http-01", newECKey(t), "team.example.com")
	_, err = e.dirClient(ctx, "public", eab)
	assertProblem(t, err, "urn:ietf:params:acme:error:unauthorized", 403)

	// A wrong HMAC key.
	bad := e.eabKey(ctx, "public", true, 0)
	bad.Key = []byte("0123456789abcdef0123456789abcdef")
	_, err = e.dirClient(ctx, "public", bad)
	assertProblem(t, err, "urn:ietf:params:acme:error:unauthorized", 403)

	// A key of another directory.
	other := e.eabKey(ctx, "internal", true, 0)
	_, err = e.dirClient(ctx, "public", other)
	assertProblem(t, err, "urn:ietf:params:acme:error:unauthorized", 403)

	// An expired key.
	expired := e.eabKey(ctx, "public", true, time.Nanosecond)
	time.Sleep(time.Millisecond)
	_, err = e.dirClient(ctx, "public", expired)
	assertProblem(t, err, "urn:ietf:params:acme:error:unauthorized", 403)

	// A reusable key binds several accounts.
	reusable := e.eabKey(ctx, "public", true, 0)
	for range 3 {
		if _, err := e.dirClient(ctx, "public", reusable); err != nil {
			t.Fatalf("reusable key: %v", err)
		}
	}
	// Revoking a key, with its accounts.
	n, err := e.store.RevokeEABKey(ctx, reusable.KID, true, time.Now().UTC())
	if err != nil || n != 3 {
		t.Fatalf("revoke: %d accounts, %v; want 3", n, err)
	}
	_, err = e.dirClient(ctx, "public", reusable)
	assertProblem(t, err, "urn:ietf:params:acme:error:unauthorized", 403)
}

// TestSingleUseEABKeyUnderConcurrency has 8 clients race to bind the same
// single-use key: exactly one gets an account.
func TestSingleUseEABKeyUnderConcurrency(t *testing.T) {
	e := newEnv(t, envOptions{dirs: teamDirs()})
	ctx := testCtx(t)
	eab := e.eabKey(ctx, "public", false, 0)
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &xacme.Client{Key: newECKey(t), DirectoryURL: e.url + "/acme/public/directory", HTTPClient: e.client}
			_, err := c.Register(ctx, &xacme.Account{ExternalAccountBinding: eab}, xacme.AcceptTOS)
			var pe *xacme.Error
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &pe) && pe.ProblemType == "urn:ietf:params:acme:error:unauthorized":
				refused.Add(1)
			default:
				t.Errorf("register: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || refused.Load() != 7 {
		t.Errorf("%d accounts created and %d refused, want 1 and 7", ok.Load(), refused.Load())
	}
	if n := e.countRows()["accounts"]; n != 1 {
		t.Errorf("%d accounts stored, want 1", n)
	}
}

func TestDirectoriesAreSeparate(t *testing.T) {
	e := newEnv(t, envOptions{dirs: teamDirs()})
	ctx := testCtx(t)
	key := newECKey(t)
	internal := &xacme.Client{Key: key, DirectoryURL: e.url + "/acme/internal/directory", HTTPClient: e.client}
	acct, err := internal.Register(ctx, &xacme.Account{}, xacme.AcceptTOS)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(acct.URI, e.url+"/acme/internal/account/") {
		t.Errorf("account URL %s is not under its directory", acct.URI)
	}
	// The internal account's kid sent to the default directory.
	raw := &rawClient{e: e, key: key, kid: acct.URI}
	u := e.url + "/acme/default/new-order"
	before := e.countRows()
	r := raw.post(u, raw.jws(raw.header(u), []byte(`{"identifiers":[{"type":"dns","value":"x.corp.example"}]}`)))
	if r.status != 403 || r.problem.Type != "urn:ietf:params:acme:error:unauthorized" {
		t.Errorf("kid of another directory: %d %s", r.status, r.body)
	}
	// The same key has no account in the default directory.
	d := &xacme.Client{Key: key, DirectoryURL: e.url + "/directory", HTTPClient: e.client}
	if _, err := d.GetReg(ctx, ""); err == nil {
		t.Error("an account of the internal directory was found in the default one")
	}
	// An unknown directory is 404 with a problem document.
	resp, err := e.client.Get(e.url + "/acme/nope/directory")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown directory: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if after := e.countRows(); !maps.Equal(before, after) {
		t.Errorf("storage changed: %v -> %v", before, after)
	}
}

func TestProfiles(t *testing.T) {
	e := newEnv(t, envOptions{dirs: teamDirs()})
	ctx := testCtx(t)
	resp, err := e.client.Get(e.url + "/acme/internal/directory")
	if err != nil {
		t.Fatal(err)
	}
	var dir struct {
		Meta struct {
			Profiles map[string]string `json:"profiles"`
		} `json:"meta"`
	}
	err = json.NewDecoder(resp.Body).Decode(&dir)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"server": "TLS server, 90 days", "short": "TLS server, short-lived"}
	if !maps.Equal(dir.Meta.Profiles, want) {
		t.Errorf("meta.profiles = %v, want %v", dir.Meta.Profiles, want)
	}
	raw := e.rawClient()
	u := e.url + "/acme/internal/new-account"
	r := raw.post(u, raw.jws(raw.header(u), []byte(`{}`)))
	raw.kid = r.header.Get("Location")
	u = e.url + "/acme/internal/new-order"
	for _, tc := range []struct{ ask, want string }{{"", "server"}, {"short", "short"}} {
		body := `{"identifiers":[{"type":"dns","value":"p.corp.example"}]`
		if tc.ask != "" {
			body += `,"profile":"` + tc.ask + `"`
		}
		r := raw.post(u, raw.jws(raw.header(u), []byte(body+"}")))
		var o struct{ Profile string }
		_ = json.Unmarshal(r.body, &o)
		if r.status != 201 || o.Profile != tc.want {
			t.Errorf("profile %q: %d profile %q, want %q", tc.ask, r.status, o.Profile, tc.want)
		}
	}
	r = raw.post(u, raw.jws(raw.header(u), []byte(`{"identifiers":[{"type":"dns","value":"p.corp.example"}],"profile":"classic"}`)))
	if r.status != 400 || r.problem.Type != "urn:ietf:params:acme:error:invalidProfile" || !strings.Contains(r.problem.Detail, "server, short") {
		t.Errorf("unknown profile: %d %s", r.status, r.body)
	}
	// A certificate can be issued under the chosen profile.
	c, err := e.dirClient(ctx, "internal", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.issue(ctx, c, "http-01", newECKey(t), "issued.corp.example")
}

func TestPreValidatedDomains(t *testing.T) {
	e := newEnv(t, envOptions{dirs: teamDirs()})
	ctx := testCtx(t)
	c, err := e.dirClient(ctx, "internal", nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.AuthorizeOrder(ctx, idsOf("db.corp.example"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != xacme.StatusReady {
		t.Errorf("order for a pre-validated name is %q, want ready", o.Status)
	}
	z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	if z.Status != xacme.StatusValid || len(z.Challenges) != 0 {
		t.Errorf("authorization = %s with %d challenges, want valid without challenges", z.Status, len(z.Challenges))
	}
	// Finalize straight away.
	chain := e.issue(ctx, c, "http-01", newECKey(t), "db.corp.example")
	e.verifyChain(chain, "db.corp.example")
	// A name outside the pre-validated domains still needs a challenge.
	o, err = c.AuthorizeOrder(ctx, idsOf("other.example.net"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != xacme.StatusPending {
		t.Errorf("order outside the pre-validated domains is %q, want pending", o.Status)
	}
	// The directory's policy refuses wildcards.
	_, err = c.AuthorizeOrder(ctx, idsOf("*.corp.example"))
	assertProblem(t, err, "urn:ietf:params:acme:error:rejectedIdentifier", 400)
}

func TestDirectoryPolicyAllowedDomains(t *testing.T) {
	e := newEnv(t, envOptions{dirs: teamDirs()})
	ctx := testCtx(t)
	c, err := e.dirClient(ctx, "public", e.eabKey(ctx, "public", false, 0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AuthorizeOrder(ctx, idsOf("www.example.com", "www.example.org"))
	assertProblem(t, err, "urn:ietf:params:acme:error:rejectedIdentifier", 400)
	var pe *xacme.Error
	if errors.As(err, &pe) {
		if len(pe.Subproblems) != 1 || pe.Subproblems[0].Identifier == nil || pe.Subproblems[0].Identifier.Value != "www.example.org" {
			t.Errorf("subproblems = %+v, want one for www.example.org", pe.Subproblems)
		}
	}
}

func TestDisabledDirectory(t *testing.T) {
	e := newEnv(t, envOptions{dirs: teamDirs()})
	ctx := testCtx(t)
	c, err := e.dirClient(ctx, "internal", nil)
	if err != nil {
		t.Fatal(err)
	}
	chain := e.issue(ctx, c, "http-01", newECKey(t), "before.corp.example")
	d, err := e.store.GetDirectory(ctx, "internal")
	if err != nil {
		t.Fatal(err)
	}
	d.Disabled = true
	if err := e.store.PutDirectory(ctx, d); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond) // the directory cache's lifetime
	_, err = c.AuthorizeOrder(ctx, idsOf("after.corp.example"))
	assertProblem(t, err, "urn:ietf:params:acme:error:unauthorized", 403)
	if err != nil && !strings.Contains(err.Error(), "disabled") {
		t.Errorf("detail does not say the directory is disabled: %v", err)
	}
	// Existing certificates can still be revoked.
	if err := c.RevokeCert(ctx, nil, chain[0].Raw, xacme.CRLReasonSuperseded); err != nil {
		t.Errorf("revocation in a disabled directory: %v", err)
	}
	var resp *http.Response
	resp, err = e.client.Get(e.url + "/acme/internal/directory")
	if err == nil {
		resp.Body.Close()
	}
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("a disabled directory's directory object: %v %v", resp, err)
	}
}

func TestCAA(t *testing.T) {
	dirs := []acme.DirectoryDefinition{{Name: "caa", Settings: acme.DirectorySettings{
		CheckCAA: true, CAAIdentities: []string{"acme.example.com"},
	}}}
	e := newEnv(t, envOptions{dirs: dirs})
	ctx := testCtx(t)
	c, err := e.dirClient(ctx, "caa", nil)
	if err != nil {
		t.Fatal(err)
	}
	// No CAA record: allowed.
	e.issue(ctx, c, "http-01", newECKey(t), "nocaa.example.net")
	// A CAA record for this CA: allowed; for another CA: caa problem.
	e.dns.SetCAA("ours.example.net", validationtest.CAARecord{Tag: "issue", Value: "acme.example.com"})
	e.issue(ctx, c, "http-01", newECKey(t), "ours.example.net")
	e.dns.SetCAA("theirs.example.net", validationtest.CAARecord{Tag: "issue", Value: "letsencrypt.org"})
	o, err := c.AuthorizeOrder(ctx, idsOf("theirs.example.net"))
	if err != nil {
		t.Fatal(err)
	}
	z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range z.Challenges {
		if ch.Type == "http-01" {
			e.provision(c, z.Identifier, false, ch)
			if _, err := c.Accept(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, err = c.WaitAuthorization(ctx, z.URI)
	var ae *xacme.AuthorizationError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "caa") || !strings.Contains(err.Error(), "letsencrypt.org") {
		t.Errorf("authorization under a foreign CAA record: %v, want a caa error naming letsencrypt.org", err)
	}
}

// renamed gives a backend another name, to run two local CAs side by side.
type renamed struct {
	ca.Backend
	name string
}

func (r renamed) Name() string { return r.name }

// TestProfileSelectsBackend: a directory's profile names the backend that
// issues its certificates; revocation goes back to that backend.
func TestProfileSelectsBackend(t *testing.T) {
	other, err := local.New(context.Background(), local.Config{Dir: t.TempDir(), CommonName: "second CA"})
	if err != nil {
		t.Fatal(err)
	}
	dirs := []acme.DirectoryDefinition{{Name: "split", Settings: acme.DirectorySettings{Profiles: []acme.ProfileSettings{
		{Name: "first", Product: "default"},
		{Name: "second", Backend: "second", Product: "default"},
	}}}}
	e := newEnv(t, envOptions{dirs: dirs, backends: []ca.Backend{renamed{other, "second"}}})
	ctx := testCtx(t)
	key := newECKey(t)
	c := &xacme.Client{Key: key, DirectoryURL: e.url + "/acme/split/directory", HTTPClient: e.client}
	acct, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS)
	if err != nil {
		t.Fatal(err)
	}
	// x/crypto/acme cannot ask for a profile: order by hand, then use it.
	raw := &rawClient{e: e, key: key, kid: acct.URI}
	for profile, issuer := range map[string]string{"first": e.ca.Intermediate().Subject.CommonName, "second": other.Intermediate().Subject.CommonName} {
		name := profile + ".example.com"
		u, _, r := raw.order("split", `{"identifiers":[{"type":"dns","value":"`+name+`"}],"profile":"`+profile+`"}`)
		if r.status != 201 {
			t.Fatalf("order with profile %s: %d %s", profile, r.status, r.body)
		}
		o, err := c.GetOrder(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		e.solve(ctx, c, o, "http-01")
		der, _ := x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{name}), newECKey(t))
		chain, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, der, true)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(chain[0])
		if leaf.Issuer.CommonName != issuer {
			t.Errorf("profile %s: issued by %q, want %q", profile, leaf.Issuer.CommonName, issuer)
		}
		cert, err := e.store.GetCertificateBySerial(ctx, leaf.SerialNumber.Text(16))
		if err != nil {
			t.Fatal(err)
		}
		wantBackend := map[string]string{"first": "local", "second": "second"}[profile]
		if cert.Backend != wantBackend {
			t.Errorf("profile %s: inventory says backend %q, want %q", profile, cert.Backend, wantBackend)
		}
	}
	// A profile pointing at a backend that does not exist is refused when
	// the directory is defined.
	bad := acme.DirectoryDefinition{Name: "bad", Settings: acme.DirectorySettings{Profiles: []acme.ProfileSettings{{Name: "x", Backend: "nope"}}}}
	cat, _ := acme.CatalogOf(ctx, e.ca)
	if err := acme.PutConfigDirectories(ctx, e.store, cat, []acme.DirectoryDefinition{bad}, time.Now()); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("profile with an unknown backend: %v", err)
	}
}
