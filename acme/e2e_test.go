package acme_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"
)

// These tests drive the real handler on a real TLS listener with
// golang.org/x/crypto/acme, and the real validator against loopback
// responders.

func TestIssueHTTP01ThreeNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	names := []string{"a.example.com", "b.example.com", "c.example.org"}
	chain := e.issue(ctx, c, "http-01", newECKey(t), names...)
	e.verifyChain(chain, names...)
	if got := chain[0].DNSNames; !slices.Equal(got, names) {
		t.Errorf("SANs = %v, want %v", got, names)
	}
	if chain[0].Subject.CommonName != names[0] {
		t.Errorf("CN = %q, want %q", chain[0].Subject.CommonName, names[0])
	}
}

func TestIssueDNS01Wildcard(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	names := []string{"*.wild.example.com", "wild.example.com"}
	chain := e.issue(ctx, c, "dns-01", newECKey(t), names...)
	e.verifyChain(chain, names...)
}

func TestWildcardOffersOnlyDNS01(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	o, err := c.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "dns", Value: "*.only.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !z.Wildcard || z.Identifier.Value != "only.example.com" {
		t.Errorf("authz identifier = %+v wildcard=%v, want only.example.com wildcard", z.Identifier, z.Wildcard)
	}
	if len(z.Challenges) != 1 || z.Challenges[0].Type != "dns-01" {
		t.Errorf("wildcard challenges = %v, want only dns-01", challengeTypes(z))
	}
}

func challengeTypes(z *xacme.Authorization) []string {
	var out []string
	for _, c := range z.Challenges {
		out = append(out, c.Type)
	}
	return out
}

func TestIssueTLSALPN01(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	chain := e.issue(ctx, c, "tls-alpn-01", newECKey(t), "alpn.example.net")
	e.verifyChain(chain, "alpn.example.net")
}

func TestIssueIPAddressHTTP01(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	chain := e.issue(ctx, c, "http-01", newECKey(t), "127.0.0.1")
	if len(chain[0].IPAddresses) != 1 || chain[0].IPAddresses[0].String() != "127.0.0.1" || len(chain[0].DNSNames) != 0 {
		t.Errorf("SANs = %v %v, want only IP 127.0.0.1", chain[0].DNSNames, chain[0].IPAddresses)
	}
}

var (
	rsaOnce sync.Once
	rsaKeys [2]*rsa.PrivateKey
)

func rsaKey(t *testing.T, i int) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		for j := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[j] = k
		}
	})
	return rsaKeys[i]
}

func TestIssueRSAAccountAndCertificateKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, rsaKey(t, 0))
	chain := e.issue(ctx, c, "http-01", rsaKey(t, 1), "rsa.example.com")
	e.verifyChain(chain, "rsa.example.com")
	if _, ok := chain[0].PublicKey.(*rsa.PublicKey); !ok {
		t.Errorf("leaf key is %T, want RSA", chain[0].PublicKey)
	}
	if chain[0].KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		t.Error("RSA leaf lacks keyEncipherment")
	}
}

func TestAuthorizationReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	e.issue(ctx, c, "http-01", newECKey(t), "reuse.example.com")
	o, err := c.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "dns", Value: "reuse.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != xacme.StatusReady {
		t.Errorf("second order status = %q, want ready (authorization reused)", o.Status)
	}
	// Another account does not get the first account's authorization.
	other := e.newClient(ctx, nil)
	o2, err := other.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "dns", Value: "reuse.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if o2.Status != xacme.StatusPending {
		t.Errorf("other account's order status = %q, want pending", o2.Status)
	}
}

func TestPreAuthorization(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	z, err := c.Authorize(ctx, "pre.example.com")
	if err != nil {
		t.Fatalf("newAuthz: %v", err)
	}
	if z.Status != xacme.StatusPending {
		t.Fatalf("pre-authorization status = %q", z.Status)
	}
	for _, ch := range z.Challenges {
		if ch.Type == "dns-01" {
			e.provision(c, z.Identifier, false, ch)
			if _, err := c.Accept(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := c.WaitAuthorization(ctx, z.URI); err != nil {
		t.Fatalf("pre-authorization: %v", err)
	}
	o, err := c.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "dns", Value: "pre.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != xacme.StatusReady || o.AuthzURLs[0] != z.URI {
		t.Errorf("order after pre-authorization: status %q authz %v, want ready with %s", o.Status, o.AuthzURLs, z.URI)
	}
}

func TestFailedValidationIsInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	o, err := c.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "dns", Value: "wrong.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	ch := challengeOf(t, z, "http-01")
	e.dns.SetA("wrong.example.com", netip.MustParseAddr("127.0.0.1"))
	e.http01.set(ch.Token, "not-the-key-authorization")
	if _, err := c.Accept(ctx, ch); err != nil {
		t.Fatal(err)
	}
	_, err = c.WaitAuthorization(ctx, z.URI)
	var ae *xacme.AuthorizationError
	if !errors.As(err, &ae) {
		t.Fatalf("WaitAuthorization error = %v, want an AuthorizationError", err)
	}
	got, err := c.GetChallenge(ctx, ch.URI)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != xacme.StatusInvalid || got.Error == nil {
		t.Fatalf("challenge = %+v, want invalid with an error", got)
	}
	var pe *xacme.Error
	if !errors.As(got.Error, &pe) || pe.ProblemType != "urn:ietf:params:acme:error:incorrectResponse" {
		t.Errorf("challenge error = %v, want incorrectResponse", got.Error)
	}
	if !strings.Contains(pe.Detail, "not-the-key-authorization") && !strings.Contains(pe.Detail, "key authorization") {
		t.Errorf("detail %q does not explain the mismatch", pe.Detail)
	}
	ord, err := c.GetOrder(ctx, o.URI)
	if err != nil {
		t.Fatal(err)
	}
	if ord.Status != xacme.StatusInvalid {
		t.Errorf("order status = %q, want invalid", ord.Status)
	}
}

func TestKeyChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	acct, err := c.GetReg(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	oldKey := c.Key
	newKey := newECKey(t)
	if err := c.AccountKeyRollover(ctx, newKey); err != nil {
		t.Fatalf("key change: %v", err)
	}
	// The client now signs with the new key and still finds its account.
	got, err := c.GetReg(ctx, "")
	if err != nil || got.URI != acct.URI {
		t.Fatalf("after rollover GetReg = %v, %v; want %s", got, err, acct.URI)
	}
	// The old key has no account any more.
	old := &xacme.Client{Key: oldKey, DirectoryURL: e.url + "/directory", HTTPClient: e.client}
	_, err = old.GetReg(ctx, "")
	if !errors.Is(err, xacme.ErrNoAccount) {
		var pe *xacme.Error
		if !errors.As(err, &pe) || pe.ProblemType != "urn:ietf:params:acme:error:accountDoesNotExist" {
			t.Errorf("old key after rollover: %v, want accountDoesNotExist", err)
		}
	}
	// A second account cannot take the key now in use: 409 conflict.
	other := e.newClient(ctx, nil)
	err = other.AccountKeyRollover(ctx, newKey)
	var pe *xacme.Error
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusConflict {
		t.Errorf("rollover to a taken key: %v, want 409", err)
	}
}

func TestDeactivatedAccountIsUnauthorized(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	if err := c.DeactivateReg(ctx); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	_, err := c.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "dns", Value: "x.example.com"}})
	var pe *xacme.Error
	if !errors.As(err, &pe) || pe.ProblemType != "urn:ietf:params:acme:error:unauthorized" || pe.StatusCode != http.StatusForbidden {
		t.Errorf("new order from a deactivated account: %v, want 403 unauthorized", err)
	}
}

func TestRevokeByAccountAndByCertificateKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	k1 := newECKey(t)
	chain := e.issue(ctx, c, "http-01", k1, "rev1.example.com")
	if err := c.RevokeCert(ctx, nil, chain[0].Raw, xacme.CRLReasonSuperseded); err != nil {
		t.Fatalf("revoke by account: %v", err)
	}
	// x/crypto/acme hides alreadyRevoked, so ask by hand: signed with the
	// certificate key this time.
	raw := &rawClient{e: e, key: k1}
	u := e.url + "/acme/default/revoke-cert"
	r := raw.post(u, raw.jws(raw.header(u), []byte(`{"certificate":"`+b64(chain[0].Raw)+`"}`)))
	if r.status != 400 || r.problem.Type != "urn:ietf:params:acme:error:alreadyRevoked" {
		t.Errorf("second revocation: %d %s, want alreadyRevoked", r.status, r.body)
	}
	var pe *xacme.Error

	k2 := newECKey(t)
	chain2 := e.issue(ctx, c, "http-01", k2, "rev2.example.com")
	// Signed with the certificate's own key (jwk), no account needed.
	if err := c.RevokeCert(ctx, k2, chain2[0].Raw, xacme.CRLReasonKeyCompromise); err != nil {
		t.Fatalf("revoke by certificate key: %v", err)
	}
	// Another account without authorizations may not revoke.
	chain3 := e.issue(ctx, c, "http-01", newECKey(t), "rev3.example.com")
	stranger := e.newClient(ctx, nil)
	err := stranger.RevokeCert(ctx, nil, chain3[0].Raw, xacme.CRLReasonUnspecified)
	if !errors.As(err, &pe) || pe.ProblemType != "urn:ietf:params:acme:error:unauthorized" {
		t.Errorf("revocation by a stranger: %v, want unauthorized", err)
	}
	// A CA-only reason code is refused.
	err = c.RevokeCert(ctx, nil, chain3[0].Raw, xacme.CRLReasonCACompromise)
	if !errors.As(err, &pe) || pe.ProblemType != "urn:ietf:params:acme:error:badRevocationReason" {
		t.Errorf("revocation with cACompromise: %v, want badRevocationReason", err)
	}
}

func TestRequestedValidityIsHonoured(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	notAfter := time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
	o, err := c.AuthorizeOrder(ctx, idsOf("short.example.com"), xacme.WithOrderNotAfter(notAfter))
	if err != nil {
		t.Fatal(err)
	}
	if !o.NotAfter.Equal(notAfter) {
		t.Errorf("order notAfter = %s, want %s", o.NotAfter, notAfter)
	}
	e.solve(ctx, c, o, "http-01")
	der, _ := x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{"short.example.com"}), newECKey(t))
	chain, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, der, true)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(chain[0])
	if !leaf.NotAfter.Equal(notAfter) {
		t.Errorf("certificate notAfter = %s, want %s", leaf.NotAfter, notAfter)
	}
	// A validity beyond the maximum is refused clearly, before any order exists.
	_, err = c.AuthorizeOrder(ctx, idsOf("long.example.com"), xacme.WithOrderNotAfter(time.Now().Add(400*24*time.Hour)))
	assertProblem(t, err, "urn:ietf:params:acme:error:malformed", 400)
	if err != nil && !strings.Contains(err.Error(), "exceeds the maximum") {
		t.Errorf("detail does not explain the limit: %v", err)
	}
}

func TestDeactivateAuthorizationInvalidatesOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	o, err := c.AuthorizeOrder(ctx, idsOf("deact.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RevokeAuthorization(ctx, o.AuthzURLs[0]); err != nil {
		t.Fatalf("deactivate authorization: %v", err)
	}
	z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	if z.Status != xacme.StatusDeactivated {
		t.Errorf("authorization status = %q, want deactivated", z.Status)
	}
	got, err := c.GetOrder(ctx, o.URI)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != xacme.StatusInvalid {
		t.Errorf("order status = %q, want invalid", got.Status)
	}
	// Deactivating twice is refused.
	err = c.RevokeAuthorization(ctx, o.AuthzURLs[0])
	assertProblem(t, err, "urn:ietf:params:acme:error:malformed", 400)
}
