package acmeproxy_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/acmeproxy"
	"github.com/acmegate/acmegate/ca/local"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/sqlite"
	"github.com/acmegate/acmegate/validation"
	"github.com/acmegate/acmegate/validation/validationtest"
)

// Directories of the upstream acmegate.
const (
	dirDNS    = "default" // validates dns-01 for real
	dirSkip   = "skip"    // SkipValidation: every authorization valid at once
	dirNarrow = "narrow"  // only allowed.test
)

// upstream is a whole acmegate on loopback acting as the upstream ACME CA:
// the real handler on TLS, SQLite in a temp dir, the local CA, and a DNS
// server its validator resolves against.
type upstream struct {
	url    string
	client *http.Client
	ca     *local.CA
	store  storage.Store
	dns    *validationtest.DNSServer
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	u := &upstream{}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "acmegate.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	u.store = st
	if u.ca, err = local.New(ctx, local.Config{Dir: dir}); err != nil {
		t.Fatalf("local CA: %v", err)
	}
	if u.dns, err = validationtest.NewDNSServer(); err != nil {
		t.Fatalf("dns server: %v", err)
	}
	t.Cleanup(func() { u.dns.Close() })
	v, err := validation.New(validation.Config{
		Resolvers:       []string{u.dns.Addr()},
		Timeout:         3 * time.Second,
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	})
	if err != nil {
		t.Fatalf("validator: %v", err)
	}
	defs := []acme.DirectoryDefinition{
		{Name: dirDNS},
		{Name: dirSkip, Settings: acme.DirectorySettings{Policy: acme.PolicySettings{SkipValidation: true}}},
		{Name: dirNarrow, Settings: acme.DirectorySettings{Policy: acme.PolicySettings{SkipValidation: true, AllowedDomains: []string{"allowed.test"}}}},
	}
	catalog, err := acme.CatalogOf(ctx, u.ca)
	if err != nil {
		t.Fatal(err)
	}
	if err := acme.PutConfigDirectories(ctx, st, catalog, defs, time.Now().UTC()); err != nil {
		t.Fatalf("directories: %v", err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := acme.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	u.url, u.client = ts.URL, ts.Client()
	srv, err := acme.New(ctx, acme.Config{
		BaseURL:   ts.URL,
		Store:     st,
		Backend:   u.ca,
		Validator: v,
		Sealer:    sealer,
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("acme.New: %v", err)
	}
	ts.Config.Handler = srv.Handler()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		ts.Close()
		cancel()
		<-done
		st.Close()
	})
	return u
}

// directoryURL is the directory URL of the upstream's directory name.
func (u *upstream) directoryURL(name string) string {
	if name == "default" {
		return u.url + "/directory"
	}
	return u.url + "/acme/" + name + "/directory"
}

// backend returns an acmeproxy backend on directory dir with a fresh account
// key unless cfg has one; cfg's DirectoryURL and HTTPClient are filled in.
func (u *upstream) backend(t *testing.T, dir string, cfg acmeproxy.Config) *acmeproxy.Backend {
	t.Helper()
	cfg.DirectoryURL = u.directoryURL(dir)
	if cfg.AccountKey == nil {
		cfg.AccountKey = newKey(t)
	}
	cfg.HTTPClient = u.client
	cfg.Contact = []string{"mailto:ops@example.com"}
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := acmeproxy.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

// txtZone publishes dns-01 records into the upstream's DNS server, keeping
// every value present for a name so that concurrent presents do not clobber
// one another.
type txtZone struct {
	dns *validationtest.DNSServer
	mu  sync.Mutex
	m   map[string][]string
	// presented counts present calls, to prove the hook ran.
	presented int
}

func newTXTZone(dns *validationtest.DNSServer) *txtZone {
	return &txtZone{dns: dns, m: map[string][]string{}}
}

func (z *txtZone) apply(action, fqdn, value string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	name := strings.TrimSuffix(fqdn, ".")
	switch action {
	case acmeproxy.ActionPresent:
		z.presented++
		z.m[name] = append(z.m[name], value)
	case acmeproxy.ActionCleanup:
		z.m[name] = slices.DeleteFunc(z.m[name], func(v string) bool { return v == value })
	}
	z.dns.SetTXT(name, z.m[name]...)
}

func (z *txtZone) counts() (presented int, left int) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, v := range z.m {
		left += len(v)
	}
	return z.presented, left
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// request builds an IssueRequest for names with a fresh key's CSR whose
// subject deliberately differs from the identifiers.
func request(t testing.TB, orderID string, names ...string) ca.IssueRequest {
	t.Helper()
	var key crypto.Signer = newKey(t)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: names[0]},
		DNSNames: names,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]ca.Identifier, len(names))
	for i, n := range names {
		ids[i] = ca.Identifier{Type: ca.IdentifierDNS, Value: n}
	}
	return ca.IssueRequest{OrderID: orderID, CSR: csr, Identifiers: ids}
}

// issue runs Issue and polls until a chain arrives.
func issue(ctx context.Context, t *testing.T, b *acmeproxy.Backend, req ca.IssueRequest) ca.IssueResult {
	t.Helper()
	res, err := b.Issue(ctx, req)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	for res.Pending {
		if res.Ref == "" {
			t.Fatal("Pending without a Ref")
		}
		select {
		case <-ctx.Done():
			t.Fatalf("still pending: %v", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if res, err = b.Poll(ctx, res.Ref); err != nil {
			t.Fatalf("Poll: %v", err)
		}
	}
	return res
}

// checkChain verifies the leaf carries exactly names and chains to the
// upstream's root, which is not in the chain.
func (u *upstream) checkChain(t *testing.T, res ca.IssueResult, names ...string) {
	t.Helper()
	if len(res.Chain) == 0 {
		t.Fatal("no chain")
	}
	if !strings.HasPrefix(res.Ref, u.url+"/") {
		t.Errorf("Ref = %q, want an upstream order URL", res.Ref)
	}
	leaf := res.Chain[0]
	got := slices.Sorted(slices.Values(leaf.DNSNames))
	want := slices.Sorted(slices.Values(names))
	if !slices.Equal(got, want) {
		t.Errorf("leaf names = %v, want %v", got, want)
	}
	root := u.ca.Root()
	inter := x509.NewCertPool()
	for _, c := range res.Chain[1:] {
		if c.Equal(root) {
			t.Error("chain includes the root")
		}
		inter.AddCert(c)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	for _, n := range names {
		dn := n
		if strings.HasPrefix(n, "*.") {
			dn = "x" + n[1:]
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: dn}); err != nil {
			t.Errorf("chain does not verify for %s: %v", n, err)
		}
	}
}
