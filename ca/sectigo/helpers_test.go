package sectigo_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/sectigo"
	"github.com/acmegate/acmegate/ca/sectigo/sectigotest"
)

// testPollInterval and testApprovalInterval are the hints the tests'
// backends give, distinct so that a test can tell which one it got.
const (
	testPollInterval     = 7 * time.Second
	testApprovalInterval = 11 * time.Minute
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testConfig is a backend configuration that works against srv.
func testConfig(srv *sectigotest.Server) sectigo.Config {
	return sectigo.Config{
		BaseURL:     srv.URL(),
		CustomerURI: sectigotest.DefaultCustomerURI,
		Login:       sectigotest.DefaultLogin,
		Password:    sectigotest.DefaultPassword,
		OrgID:       sectigotest.DefaultOrgID,
		Profiles: []sectigo.ProfileMap{
			{Name: "ov", CertTypeID: sectigotest.DefaultCertTypeID, Term: 365, Description: "OV server certificate"},
			{Name: "multi", CertTypeID: 1019, Term: 365, Description: "OV multi-domain"},
		},
		PollInterval:         testPollInterval,
		ApprovalPollInterval: testApprovalInterval,
		Timeout:              5 * time.Second,
		HTTPClient:           srv.Client(),
	}
}

// newBackend returns a backend for srv, after mod changes its configuration.
func newBackend(t *testing.T, srv *sectigotest.Server, mod func(*sectigo.Config)) *sectigo.Backend {
	t.Helper()
	cfg := testConfig(srv)
	if mod != nil {
		mod(&cfg)
	}
	b, err := sectigo.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newCSR returns a CSR for a fresh key with subject CN cn (may be "") and
// DNS names names.
func newCSR(t *testing.T, cn string, names ...string) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: cn},
		DNSNames: names,
	}, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func dnsIDs(names ...string) []ca.Identifier {
	ids := make([]ca.Identifier, len(names))
	for i, n := range names {
		ids[i] = ca.Identifier{Type: ca.IdentifierDNS, Value: n}
	}
	return ids
}

// issueRequest is a request for names with a CSR naming them too.
func issueRequest(t *testing.T, orderID string, names ...string) ca.IssueRequest {
	t.Helper()
	return ca.IssueRequest{OrderID: orderID, CSR: newCSR(t, "", names...), Identifiers: dnsIDs(names...)}
}

// pollUntilDone polls ref until the result is not pending, at most max
// times, and returns the result and how many polls said pending.
func pollUntilDone(t *testing.T, b *sectigo.Backend, ref string, max int) (ca.IssueResult, int, error) {
	t.Helper()
	for i := range max {
		res, err := b.Poll(testContext(t), ref)
		if err != nil || !res.Pending {
			return res, i, err
		}
		if res.Ref != ref {
			t.Fatalf("Poll returned Ref %q, want %q", res.Ref, ref)
		}
	}
	t.Fatalf("still pending after %d polls", max)
	return ca.IssueResult{}, max, nil
}

// mustIssuePending issues req and fails unless the result is pending.
func mustIssuePending(t *testing.T, b *sectigo.Backend, req ca.IssueRequest) ca.IssueResult {
	t.Helper()
	res, err := b.Issue(testContext(t), req)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if !res.Pending || res.Ref == "" || len(res.Chain) != 0 {
		t.Fatalf("Issue = %+v, want pending with a Ref", res)
	}
	return res
}

// caError returns err's *ca.Error, failing the test if there is none or its
// kind is not want.
func caError(t *testing.T, err error, want ca.Kind) *ca.Error {
	t.Helper()
	var e *ca.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) carries no *ca.Error", err, err)
	}
	if e.Kind != want {
		t.Fatalf("kind = %v, want %v (error: %v)", e.Kind, want, err)
	}
	return e
}

// countRequests counts the fake's requests whose path contains part.
func countRequests(srv *sectigotest.Server, method, part string) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Method == method && strings.Contains(r.Path, part) {
			n++
		}
	}
	return n
}

// enrollmentsFor returns the enrollments whose comments carry orderID.
func enrollmentsFor(srv *sectigotest.Server, orderID string) []sectigotest.Enrollment {
	var out []sectigotest.Enrollment
	for _, e := range srv.Enrollments() {
		for _, f := range strings.Fields(e.Comments) {
			if f == "acmegate-order:"+orderID {
				out = append(out, e)
			}
		}
	}
	return out
}

// verifyChain checks that chain is leaf first, then the fake's
// intermediates, without the root, and that it verifies to the fake's root.
func verifyChain(t *testing.T, srv *sectigotest.Server, chain []*x509.Certificate) {
	t.Helper()
	inters := srv.Intermediates()
	if len(chain) != 1+len(inters) {
		t.Fatalf("chain has %d certificates, want leaf + %d intermediates", len(chain), len(inters))
	}
	for i, want := range inters {
		if !chain[i+1].Equal(want) {
			t.Errorf("chain[%d] = %q, want intermediate %q", i+1, chain[i+1].Subject, want.Subject)
		}
	}
	if chain[0].IsCA {
		t.Errorf("chain[0] %q is a CA certificate", chain[0].Subject)
	}
	roots := x509.NewCertPool()
	roots.AddCert(srv.Root())
	pool := x509.NewCertPool()
	for _, c := range chain[1:] {
		pool.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool}); err != nil {
		t.Errorf("chain does not verify: %v", err)
	}
}
