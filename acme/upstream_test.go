package acme_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/acmeproxy"
	"github.com/acmegate/acmegate/ca/digicert"
	"github.com/acmegate/acmegate/ca/digicert/digicerttest"
	"github.com/acmegate/acmegate/ca/sectigo"
	"github.com/acmegate/acmegate/ca/sectigo/sectigotest"
)

// upstream is a vendor backend with its fake and a way to count what the
// fake received for one acmegate order.
type upstream struct {
	backend     ca.Backend
	submissions func(orderID string) int
}

func sectigoUpstream(t *testing.T, pendingPolls int) upstream {
	fake := sectigotest.Start(t, sectigotest.Config{Behavior: sectigotest.Behavior{PendingPolls: pendingPolls}})
	b := sectigoBackend(t, fake)
	return upstream{backend: b, submissions: func(orderID string) int {
		n := 0
		for _, e := range fake.Enrollments() {
			if strings.Contains(e.Comments, orderID) {
				n++
			}
		}
		return n
	}}
}

func digicertUpstream(t *testing.T, pendingPolls int) upstream {
	fake := digicerttest.Start(t, digicerttest.Config{Mode: digicerttest.ModePending, PendingPolls: pendingPolls})
	b, err := digicert.New(digicert.Config{
		BaseURL: fake.URL(), APIKey: fake.APIKey(), OrgID: digicerttest.DefaultOrganizationID,
		Profiles:   []digicert.ProfileMap{{Name: "ov", Product: "ssl_basic", ValidityDays: 199}},
		HTTPClient: fake.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return upstream{backend: b, submissions: func(orderID string) int { return len(fake.OrdersWithComment(orderID)) }}
}

func vendorDirs(backend string) []acme.DirectoryDefinition {
	return []acme.DirectoryDefinition{{Name: "vendor", Settings: acme.DirectorySettings{
		Profiles: []acme.ProfileSettings{{Name: "ov", Backend: backend, Product: "ov"}},
	}}}
}

// TestUpstreamVendors issues through each vendor backend against its fake
// with x/crypto/acme: pending over several polls, then valid, with exactly
// one upstream order; and, after a simulated crash between submitting and
// recording the submission, still exactly one upstream order.
func TestUpstreamVendors(t *testing.T) {
	for name, mk := range map[string]func(*testing.T, int) upstream{"sectigo": sectigoUpstream, "digicert": digicertUpstream} {
		t.Run(name+"/pending", func(t *testing.T) {
			up := mk(t, 2)
			e := newEnv(t, envOptions{dirs: vendorDirs(up.backend.Name()), backends: []ca.Backend{up.backend}})
			ctx := testCtx(t)
			c, err := e.dirClient(ctx, "vendor", nil)
			if err != nil {
				t.Fatal(err)
			}
			o, err := c.AuthorizeOrder(ctx, idsOf(name+".example.com"))
			if err != nil {
				t.Fatal(err)
			}
			e.solve(ctx, c, o, "http-01")
			der, _ := x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{name + ".example.com"}), newECKey(t))
			chain, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, der, true)
			if err != nil {
				t.Fatalf("issue through %s: %v", name, err)
			}
			leaf, _ := x509.ParseCertificate(chain[0])
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != name+".example.com" {
				t.Errorf("certificate names %v", leaf.DNSNames)
			}
			id := o.URI[strings.LastIndex(o.URI, "/")+1:]
			if n := up.submissions(id); n != 1 {
				t.Errorf("%d upstream orders for one ACME order, want 1", n)
			}
			// Revocation reaches the vendor's backend.
			if err := c.RevokeCert(ctx, nil, leaf.Raw, xacme.CRLReasonSuperseded); err != nil {
				t.Errorf("revoke through %s: %v", name, err)
			}
		})
		t.Run(name+"/crash-after-submission", func(t *testing.T) {
			up := mk(t, 1)
			e := newEnv(t, envOptions{dirs: vendorDirs(up.backend.Name()), backends: []ca.Backend{up.backend}})
			ctx := testCtx(t)
			key := newECKey(t)
			c := &xacme.Client{Key: key, DirectoryURL: e.url + "/acme/vendor/directory", HTTPClient: e.client}
			acct, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS)
			if err != nil {
				t.Fatal(err)
			}
			o, err := c.AuthorizeOrder(ctx, idsOf("crash-"+name+".example.com"))
			if err != nil {
				t.Fatal(err)
			}
			e.solve(ctx, c, o, "http-01")
			// This instance dies before its job runs...
			e.stopJobs()
			raw := &rawClient{e: e, key: key, kid: acct.URI}
			ro, _ := raw.get(o.URI)
			if r := raw.finalize(ro, "crash-"+name+".example.com"); r.status != 200 {
				t.Fatalf("finalize: %d %s", r.status, r.body)
			}
			id := o.URI[strings.LastIndex(o.URI, "/")+1:]
			ord, err := e.store.GetOrder(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			csr, err := x509.ParseCertificateRequest(ord.CSR)
			if err != nil {
				t.Fatal(err)
			}
			// ...after submitting upstream but before recording it.
			if _, err := up.backend.Issue(ctx, ca.IssueRequest{OrderID: id, CSR: csr, Profile: "ov",
				Identifiers: []ca.Identifier{{Type: "dns", Value: "crash-" + name + ".example.com"}}}); err != nil {
				t.Fatalf("the dead instance's submission: %v", err)
			}
			// Another instance takes the job over.
			cfg := e.cfg
			cfg.InstanceID = "survivor"
			survivor, err := acme.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = survivor.Run(runCtx)
			}()
			defer func() { stop(); <-done }()
			got, err := c.WaitOrder(ctx, o.URI)
			if err != nil || got.Status != xacme.StatusValid {
				t.Fatalf("order after the takeover: %+v %v", got, err)
			}
			if n := up.submissions(id); n != 1 {
				t.Errorf("%d upstream orders after a crash between submitting and recording, want exactly 1", n)
			}
		})
	}
}

// vendorOrder makes an order ready in the vendor directory and finalizes
// it by hand, returning the client, the order URL and its id.
func vendorOrder(t *testing.T, e *env, name string) (*xacme.Client, string, string) {
	t.Helper()
	ctx := testCtx(t)
	key := newECKey(t)
	c := &xacme.Client{Key: key, DirectoryURL: e.url + "/acme/vendor/directory", HTTPClient: e.client}
	acct, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.AuthorizeOrder(ctx, idsOf(name))
	if err != nil {
		t.Fatal(err)
	}
	e.solve(ctx, c, o, "http-01")
	raw := &rawClient{e: e, key: key, kid: acct.URI}
	ro, _ := raw.get(o.URI)
	if r := raw.finalize(ro, name); r.status != 200 {
		t.Fatalf("finalize: %d %s", r.status, r.body)
	}
	return c, o.URI, o.URI[strings.LastIndex(o.URI, "/")+1:]
}

// TestSectigoRateLimitStormAndApproval: a burst of 429s delays issuance
// (the upstream's Retry-After is honoured) without a second enrollment;
// an enrollment that needs an SCM approver stays processing until the
// approver acts.
func TestSectigoRateLimitStormAndApproval(t *testing.T) {
	fake := sectigotest.Start(t, sectigotest.Config{})
	b := sectigoBackend(t, fake)
	e := newEnv(t, envOptions{dirs: vendorDirs(b.Name()), backends: []ca.Backend{b}})
	ctx := testCtx(t)

	fake.RateLimit(3, time.Second)
	c, u, id := vendorOrder(t, e, "storm.example.com")
	if got, err := c.WaitOrder(ctx, u); err != nil || got.Status != xacme.StatusValid {
		t.Fatalf("order after a 429 storm: %+v %v", got, err)
	}
	n := 0
	for _, en := range fake.Enrollments() {
		if strings.Contains(en.Comments, id) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d enrollments after the storm, want 1", n)
	}

	fake.SetBehavior("approve.example.com", sectigotest.Behavior{RequireApproval: true})
	c, u, id = vendorOrder(t, e, "approve.example.com")
	var sslID int
	deadline := time.Now().Add(10 * time.Second)
	for sslID == 0 && time.Now().Before(deadline) {
		for _, en := range fake.Enrollments() {
			if strings.Contains(en.Comments, id) {
				sslID = en.SSLID
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if sslID == 0 {
		t.Fatal("the order was never submitted")
	}
	time.Sleep(500 * time.Millisecond) // several polls while the approver is away
	if got, err := c.GetOrder(ctx, u); err != nil || got.Status != xacme.StatusProcessing {
		t.Fatalf("order awaiting the SCM approver: %+v %v, want processing", got, err)
	}
	if err := fake.Approve(sslID); err != nil {
		t.Fatal(err)
	}
	if got, err := c.WaitOrder(ctx, u); err != nil || got.Status != xacme.StatusValid {
		t.Fatalf("order after approval: %+v %v", got, err)
	}
}

// TestRevocationWhileTheCAIsDown: a revocation the CA cannot take is never
// recorded as done; the certificate is revocation-pending, the client is
// told to retry, and the job revokes it upstream once the CA is back.
func TestRevocationWhileTheCAIsDown(t *testing.T) {
	fake := sectigotest.Start(t, sectigotest.Config{})
	b := sectigoBackend(t, fake)
	e := newEnv(t, envOptions{dirs: vendorDirs(b.Name()), backends: []ca.Backend{b}})
	ctx := testCtx(t)
	c, u, _ := vendorOrder(t, e, "revoke-later.example.com")
	got, err := c.WaitOrder(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := c.FetchCert(ctx, got.CertURL, false)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(chain[0])

	fake.FailNext(2, 503)
	// By hand: x/crypto/acme retries server errors on its own.
	acct, err := c.GetReg(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	raw := &rawClient{e: e, key: c.Key.(*ecdsa.PrivateKey), kid: acct.URI}
	ru := e.url + "/acme/vendor/revoke-cert"
	r := raw.post(ru, raw.jws(raw.header(ru), []byte(`{"certificate":"`+b64(leaf.Raw)+`","reason":1}`)))
	if r.status != 500 || r.problem.Type != "urn:ietf:params:acme:error:serverInternal" || !strings.Contains(r.problem.Detail, "pending") || r.header.Get("Retry-After") == "" {
		t.Fatalf("revocation while the CA is down: %d %s, want a server error saying it is pending, with Retry-After", r.status, r.body)
	}
	cert, err := e.store.GetCertificateBySerial(ctx, leaf.SerialNumber.Text(16))
	if err != nil {
		t.Fatal(err)
	}
	if cert.Status != "revocation-pending" {
		t.Fatalf("certificate status = %s, want revocation-pending (not revoked before the CA confirms)", cert.Status)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		cert, err = e.store.GetCertificateBySerial(ctx, leaf.SerialNumber.Text(16))
		if err == nil && cert.Status == "revoked" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pending revocation was never confirmed: %+v %v", cert, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(fake.Revocations()); n != 1 {
		t.Errorf("%d revocations reached the CA, want 1", n)
	}
}

// TestSectigoDeclineReachesTheClient: SCM declines the enrollment; the ACME
// order becomes invalid with SCM's reason.
func TestSectigoDeclineReachesTheClient(t *testing.T) {
	fake := sectigotest.Start(t, sectigotest.Config{})
	fake.SetBehavior("declined.example.com", sectigotest.Behavior{Decline: "domain not approved for this organization"})
	b := sectigoBackend(t, fake)
	e := newEnv(t, envOptions{dirs: vendorDirs(b.Name()), backends: []ca.Backend{b}})
	ctx := testCtx(t)
	c, u, _ := vendorOrder(t, e, "declined.example.com")
	got, err := c.WaitOrder(ctx, u)
	var oe *xacme.OrderError
	if !errors.As(err, &oe) {
		t.Fatalf("order after a decline: %+v %v, want an order error", got, err)
	}
	got, err = c.GetOrder(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	var pe *xacme.Error
	if got.Status != xacme.StatusInvalid || !errors.As(got.Error, &pe) || !strings.Contains(pe.Detail, "domain not approved") {
		t.Errorf("order = %s %v, want invalid with SCM's reason", got.Status, got.Error)
	}
}

// TestACMEUpstreamThroughAcmegate: x/crypto/acme orders from acmegate,
// whose profile issues through another ACME CA (a second acmegate with a
// directory that never validates).
func TestACMEUpstreamThroughAcmegate(t *testing.T) {
	up := newEnv(t, envOptions{dirs: []acme.DirectoryDefinition{{Name: "private", Settings: acme.DirectorySettings{
		Policy: acme.PolicySettings{SkipValidation: true}}}}})
	proxy, err := acmeproxy.New(acmeproxy.Config{Name: "corp", DirectoryURL: up.url + "/acme/private/directory",
		AccountKey: newECKey(t), HTTPClient: up.client})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{dirs: []acme.DirectoryDefinition{{Name: "vendor", Settings: acme.DirectorySettings{
		Profiles: []acme.ProfileSettings{{Name: "ov", Backend: "corp", Product: "default"}},
	}}}, backends: []ca.Backend{proxy}})
	ctx := testCtx(t)
	c, u, _ := vendorOrder(t, e, "chained.example.com")
	got, err := c.WaitOrder(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := c.FetchCert(ctx, got.CertURL, true)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(chain[0])
	if leaf.Issuer.CommonName != up.ca.Intermediate().Subject.CommonName {
		t.Errorf("issued by %q, want the upstream acmegate's CA", leaf.Issuer.CommonName)
	}
	if err := c.RevokeCert(ctx, nil, leaf.Raw, xacme.CRLReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	upCert, err := up.store.GetCertificateBySerial(ctx, leaf.SerialNumber.Text(16))
	if err != nil || upCert.Status != "revoked" {
		t.Errorf("the upstream's record: %+v %v, want revoked", upCert, err)
	}
}

// sectigoBackend is a Sectigo backend for fake with short poll intervals.
func sectigoBackend(t *testing.T, fake *sectigotest.Server) *sectigo.Backend {
	t.Helper()
	b, err := sectigo.New(sectigo.Config{
		BaseURL: fake.URL(), CustomerURI: sectigotest.DefaultCustomerURI,
		Login: sectigotest.DefaultLogin, Password: sectigotest.DefaultPassword, OrgID: sectigotest.DefaultOrgID,
		Profiles:     []sectigo.ProfileMap{{Name: "ov", CertTypeID: sectigotest.DefaultCertTypeID, Term: 365}},
		PollInterval: 100 * time.Millisecond, ApprovalPollInterval: 100 * time.Millisecond,
		Timeout: 5 * time.Second, HTTPClient: fake.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
