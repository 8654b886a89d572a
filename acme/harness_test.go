package acme_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/local"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/sqlite"
	"github.com/acmegate/acmegate/validation"
	"github.com/acmegate/acmegate/validation/validationtest"
)

// env is a whole acmegate on loopback: the real handler on a real TLS
// listener, SQLite in a temp dir, the local CA, and real http-01, dns-01
// and tls-alpn-01 responders the validator is pointed at.
type env struct {
	t       testing.TB
	url     string
	client  *http.Client
	ca      *local.CA
	dbPath  string
	dns     *validationtest.DNSServer
	http01  *http01Responder
	alpn    *alpnResponder
	handler http.Handler
	store   storage.Store
	sealer  *acme.Sealer
	// stopJobs stops the job runner as a shutdown would and waits for it.
	stopJobs func()
	// cfg is the server's configuration, to start more instances on the
	// same store.
	cfg acme.Config
	// srv is the server, for its operator entry points.
	srv *acme.Server
}

type envOptions struct {
	// open opens the store; default SQLite in a temp dir.
	open        func() storage.Store
	retryWindow time.Duration
	pageSize    int
	// settings are those of the "default" directory; dirs adds more.
	settings acme.DirectorySettings
	dirs     []acme.DirectoryDefinition
	sealer   *acme.Sealer
	// backends are CA backends besides the local CA.
	backends []ca.Backend
	// The server's observability hooks (acme.Config fields of the same
	// names); nil: none.
	notifier    acme.Notifier
	metrics     *acme.Metrics
	jobHandlers map[storage.JobKind]func(context.Context, *storage.Job) error
	sweeps      []func(context.Context, time.Time)
	// clock is the server's clock; default the system clock.
	clock acme.Clock
	// logger replaces the test log (warnings and errors only).
	logger *slog.Logger
	// localNonces sets acme.Config.LocalNonces.
	localNonces bool
	// processingHold sets acme.Config.ProcessingHold (default 2s);
	// negative makes every validation a job.
	processingHold time.Duration
}

func newEnv(t testing.TB, opts envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	e := &env{t: t, dbPath: filepath.Join(dir, "acmegate.db")}

	var st storage.Store
	if opts.open != nil {
		st = opts.open()
	} else {
		var err error
		if st, err = sqlite.Open(ctx, e.dbPath); err != nil {
			t.Fatalf("open store: %v", err)
		}
	}
	e.store = st
	var err error
	e.ca, err = local.New(ctx, local.Config{Dir: dir})
	if err != nil {
		t.Fatalf("local CA: %v", err)
	}
	e.dns, err = validationtest.NewDNSServer()
	if err != nil {
		t.Fatalf("dns server: %v", err)
	}
	t.Cleanup(func() { e.dns.Close() })
	e.http01 = startHTTP01(t)
	e.alpn = startALPN(t)
	v, err := validation.New(validation.Config{
		Resolvers:       []string{e.dns.Addr()},
		HTTPPort:        e.http01.port,
		TLSALPNPort:     e.alpn.port,
		Timeout:         3 * time.Second,
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	})
	if err != nil {
		t.Fatalf("validator: %v", err)
	}
	defs := append([]acme.DirectoryDefinition{{Name: "default", Settings: opts.settings}}, opts.dirs...)
	catalog, err := acme.CatalogOf(ctx, append([]ca.Backend{e.ca}, opts.backends...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := acme.PutConfigDirectories(ctx, st, catalog, defs, time.Now().UTC()); err != nil {
		t.Fatalf("directories: %v", err)
	}
	e.sealer = opts.sealer
	if e.sealer == nil {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		if e.sealer, err = acme.NewSealer(key); err != nil {
			t.Fatal(err)
		}
	}
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	e.url = ts.URL
	e.client = ts.Client()
	retry := opts.retryWindow
	if retry == 0 {
		retry = -1
	}
	e.cfg = acme.Config{
		BaseURL:               ts.URL,
		Store:                 st,
		Backend:               e.ca,
		Backends:              opts.backends,
		Validator:             v,
		Sealer:                e.sealer,
		Logger:                slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		ValidationRetryWindow: retry,
		OrdersPageSize:        opts.pageSize,
		Notifier:              opts.notifier,
		Metrics:               opts.metrics,
		JobHandlers:           opts.jobHandlers,
		Sweeps:                opts.sweeps,
		Clock:                 opts.clock,
		LocalNonces:           opts.localNonces,
		ProcessingHold:        opts.processingHold,
	}
	if opts.logger != nil {
		e.cfg.Logger = opts.logger
	}
	srv, err := acme.New(ctx, e.cfg)
	if err != nil {
		t.Fatalf("acme.New: %v", err)
	}
	e.srv = srv
	e.handler = srv.Handler()
	ts.Config.Handler = e.handler
	done := make(chan struct{})
	runCtx, stopRun := context.WithCancel(ctx)
	go func() {
		defer close(done)
		if err := srv.Run(runCtx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	e.stopJobs = func() {
		stopRun()
		<-done
	}
	t.Cleanup(func() {
		ts.Close()
		cancel()
		<-done
		st.Close()
	})
	return e
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newClient registers a fresh account with key k (a new P-256 key if nil).
func (e *env) newClient(ctx context.Context, k crypto.Signer) *xacme.Client {
	e.t.Helper()
	if k == nil {
		k = newECKey(e.t)
	}
	c := &xacme.Client{Key: k, DirectoryURL: e.url + "/directory", HTTPClient: e.client}
	if _, err := c.Register(ctx, &xacme.Account{Contact: []string{"mailto:ops@example.com"}}, xacme.AcceptTOS); err != nil {
		e.t.Fatalf("register: %v", err)
	}
	return c
}

func newECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// countRows returns the number of rows of each domain table, to prove a
// refused request changed nothing.
func (e *env) countRows() map[string]int {
	e.t.Helper()
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	out := map[string]int{}
	for _, table := range []string{"accounts", "orders", "authorizations", "challenges", "certificates", "jobs"} {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			e.t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

// accept answers every challenge of the order with method typ and waits
// for the order to be ready.
func (e *env) solve(ctx context.Context, c *xacme.Client, o *xacme.Order, typ string) {
	e.t.Helper()
	for _, u := range o.AuthzURLs {
		z, err := c.GetAuthorization(ctx, u)
		if err != nil {
			e.t.Fatalf("get authz: %v", err)
		}
		if z.Status == xacme.StatusValid {
			continue
		}
		ch := challengeOf(e.t, z, typ)
		e.provision(c, z.Identifier, z.Wildcard, ch)
		if _, err := c.Accept(ctx, ch); err != nil {
			e.t.Fatalf("accept %s: %v", typ, err)
		}
		if _, err := c.WaitAuthorization(ctx, u); err != nil {
			e.t.Fatalf("authorization %s: %v", z.Identifier.Value, err)
		}
	}
	if _, err := c.WaitOrder(ctx, o.URI); err != nil {
		e.t.Fatalf("wait order: %v", err)
	}
}

// provision makes the challenge answerable.
func (e *env) provision(c *xacme.Client, id xacme.AuthzID, wildcard bool, ch *xacme.Challenge) {
	e.t.Helper()
	name := id.Value
	if id.Type == "dns" {
		e.dns.SetA(name, netip.MustParseAddr("127.0.0.1"))
	}
	switch ch.Type {
	case "http-01":
		ka, err := c.HTTP01ChallengeResponse(ch.Token)
		if err != nil {
			e.t.Fatal(err)
		}
		e.http01.set(ch.Token, ka)
	case "dns-01":
		v, err := c.DNS01ChallengeRecord(ch.Token)
		if err != nil {
			e.t.Fatal(err)
		}
		e.dns.SetTXT("_acme-challenge."+name, v)
	case "tls-alpn-01":
		cert, err := c.TLSALPN01ChallengeCert(ch.Token, name)
		if err != nil {
			e.t.Fatal(err)
		}
		e.alpn.set(name, &cert)
	}
}

// issue runs a full issuance of names with challenge typ and returns the
// chain.
func (e *env) issue(ctx context.Context, c *xacme.Client, typ string, certKey crypto.Signer, names ...string) []*x509.Certificate {
	e.t.Helper()
	ids := make([]xacme.AuthzID, len(names))
	for i, n := range names {
		ids[i] = xacme.AuthzID{Type: "dns", Value: n}
		if _, err := netip.ParseAddr(n); err == nil {
			ids[i].Type = "ip"
		}
	}
	o, err := c.AuthorizeOrder(ctx, ids)
	if err != nil {
		e.t.Fatalf("new order: %v", err)
	}
	e.solve(ctx, c, o, typ)
	der, err := x509.CreateCertificateRequest(rand.Reader, csrTemplate(names), certKey)
	if err != nil {
		e.t.Fatal(err)
	}
	chain, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, der, true)
	if err != nil {
		e.t.Fatalf("finalize: %v", err)
	}
	certs := make([]*x509.Certificate, len(chain))
	for i, b := range chain {
		if certs[i], err = x509.ParseCertificate(b); err != nil {
			e.t.Fatal(err)
		}
	}
	return certs
}

func csrTemplate(names []string) *x509.CertificateRequest {
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			continue
		}
		tmpl.DNSNames = append(tmpl.DNSNames, n)
	}
	if net.ParseIP(names[0]) != nil {
		tmpl.Subject = pkix.Name{}
	}
	return tmpl
}

// verifyChain checks the chain leads to the local root for every name.
func (e *env) verifyChain(chain []*x509.Certificate, names ...string) {
	e.t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(e.ca.Root())
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	for _, n := range names {
		dn := n
		if strings.HasPrefix(n, "*.") {
			dn = "x" + n[1:]
		}
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: dn, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			e.t.Errorf("chain does not verify for %s: %v", n, err)
		}
	}
}

// http01Responder serves key authorizations for any host.
type http01Responder struct {
	mu    sync.Mutex
	m     map[string]string
	port  int
	delay time.Duration // before answering, to keep a validation in flight
}

func startHTTP01(t testing.TB) *http01Responder {
	r := &http01Responder{m: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		token := strings.TrimPrefix(req.URL.Path, "/.well-known/acme-challenge/")
		r.mu.Lock()
		v, ok := r.m[token]
		delay := r.delay
		r.mu.Unlock()
		time.Sleep(delay)
		if !ok {
			http.NotFound(w, req)
			return
		}
		fmt.Fprint(w, v)
	}))
	t.Cleanup(srv.Close)
	_, p, _ := net.SplitHostPort(srv.Listener.Addr().String())
	r.port, _ = strconv.Atoi(p)
	return r
}

func (r *http01Responder) set(token, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[token] = value
}

// alpnResponder answers tls-alpn-01 with the certificate set for the SNI.
type alpnResponder struct {
	mu    sync.Mutex
	certs map[string]*tls.Certificate
	port  int
}

func startALPN(t testing.TB) *alpnResponder {
	r := &alpnResponder{certs: map[string]*tls.Certificate{}}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		NextProtos: []string{"acme-tls/1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if c, ok := r.certs[hello.ServerName]; ok {
				return c, nil
			}
			return nil, errors.New("no certificate for " + hello.ServerName)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				_ = conn.(*tls.Conn).Handshake()
			}()
		}
	}()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	r.port, _ = strconv.Atoi(p)
	return r
}

func (r *alpnResponder) set(name string, c *tls.Certificate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.certs[name] = c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func idsOf(names ...string) []xacme.AuthzID {
	ids := make([]xacme.AuthzID, len(names))
	for i, n := range names {
		ids[i] = xacme.AuthzID{Type: "dns", Value: n}
	}
	return ids
}

// assertProblem checks err is an ACME problem of type typ and status.
func assertProblem(t *testing.T, err error, typ string, status int) {
	t.Helper()
	var pe *xacme.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v, want problem %s", err, typ)
	}
	if pe.ProblemType != typ || pe.StatusCode != status {
		t.Errorf("problem = %d %s (%s), want %d %s", pe.StatusCode, pe.ProblemType, pe.Detail, status, typ)
	}
}

// challengeOf returns the authorization's challenge of type typ.
func challengeOf(t testing.TB, z *xacme.Authorization, typ string) *xacme.Challenge {
	t.Helper()
	for _, c := range z.Challenges {
		if c.Type == typ {
			return c
		}
	}
	t.Fatalf("authorization for %s has no %s challenge", z.Identifier.Value, typ)
	return nil
}

// orderChallenge orders name and returns the order, its authorization and
// the challenge of type typ.
func (e *env) orderChallenge(ctx context.Context, c *xacme.Client, name, typ string) (*xacme.Order, *xacme.Authorization, *xacme.Challenge) {
	e.t.Helper()
	o, err := c.AuthorizeOrder(ctx, idsOf(name))
	if err != nil {
		e.t.Fatal(err)
	}
	z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		e.t.Fatal(err)
	}
	return o, z, challengeOf(e.t, z, typ)
}
