package digicert_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/digicert"
	"github.com/acmegate/acmegate/ca/digicert/digicerttest"
)

// fixture is a backend wired to a fresh fake.
type fixture struct {
	b    *digicert.Backend
	fake *digicerttest.Server
	logs *syncBuffer
	// errs collects every error the test saw, for the API-key check.
	errs []error
}

// newFixture starts a fake with fcfg and a backend for it; edit adjusts the
// backend's Config (nil for none).
func newFixture(t *testing.T, fcfg digicerttest.Config, edit func(*digicert.Config)) *fixture {
	t.Helper()
	fake := digicerttest.Start(t, fcfg)
	logs := &syncBuffer{}
	cfg := digicert.Config{
		BaseURL: fake.URL(),
		APIKey:  fake.APIKey(),
		OrgID:   digicerttest.DefaultOrganizationID,
		Profiles: []digicert.ProfileMap{
			{Name: "ov", Product: "ssl_basic", ValidityDays: 199, Description: "OV server certificate"},
			{Name: "private", Product: "private_ssl_plus", ValidityDays: 365},
		},
		HTTPClient: fake.Client(),
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	b, err := digicert.New(cfg)
	if err != nil {
		t.Fatalf("digicert.New: %v", err)
	}
	return &fixture{b: b, fake: fake, logs: logs}
}

// note records err for later checks and returns it.
func (f *fixture) note(err error) error {
	if err != nil {
		f.errs = append(f.errs, err)
	}
	return err
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newCSR returns a CSR whose own names differ from what tests request:
// DigiCert must be told every name explicitly.
func newCSR(t *testing.T) *x509.CertificateRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"csr-only.invalid"}}, key)
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
	out := make([]ca.Identifier, len(names))
	for i, n := range names {
		out[i] = ca.Identifier{Type: ca.IdentifierDNS, Value: n}
	}
	return out
}

// issueRequest is a request for example.com and www.example.com.
func issueRequest(t *testing.T, orderID string) ca.IssueRequest {
	return ca.IssueRequest{OrderID: orderID, CSR: newCSR(t), Identifiers: dnsIDs("example.com", "www.example.com")}
}

// wantKind fails t unless err is a *ca.Error of kind k.
func wantKind(t *testing.T, err error, k ca.Kind) *ca.Error {
	t.Helper()
	var e *ca.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *ca.Error", err, err)
	}
	if e.Kind != k {
		t.Fatalf("kind = %v, want %v; error: %v", e.Kind, k, err)
	}
	return e
}

// checkChain verifies chain is leaf, intermediate (no root) from fake and
// that the leaf certifies exactly names.
func checkChain(t *testing.T, fake *digicerttest.Server, chain []*x509.Certificate, names ...string) {
	t.Helper()
	if len(chain) != 2 {
		t.Fatalf("chain has %d certificates, want leaf and intermediate", len(chain))
	}
	if !chain[1].Equal(fake.Intermediate()) {
		t.Errorf("chain[1] is %q, want the intermediate", chain[1].Subject.CommonName)
	}
	for _, c := range chain {
		if c.Equal(fake.Root()) {
			t.Error("chain contains the root")
		}
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(fake.Root())
	inters.AddCert(chain[1])
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: names[0]}); err != nil {
		t.Errorf("leaf does not verify: %v", err)
	}
	if got := strings.Join(chain[0].DNSNames, ","); got != strings.Join(names, ",") {
		t.Errorf("leaf names = %s, want %s", got, strings.Join(names, ","))
	}
}
