package admin

// The admin API tests start admin.Server's handler on a TLS loopback
// server over a real store (SQLite in a temporary directory, or
// PostgreSQL in a schema of its own), with a real acme.Server as the
// revoker and the built-in CA issuing the certificates it revokes, and
// drive it with a real http.Client and real tokens of each role.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/local"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/postgres"
	"github.com/acmegate/acmegate/storage/sqlite"
	"github.com/acmegate/acmegate/validation"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// apiEnv is a running admin API over a real store.
type apiEnv struct {
	t       *testing.T
	ctx     context.Context
	st      storage.Store
	srv     *Server
	ts      *httptest.Server
	hc      *http.Client
	logs    *syncBuffer
	localCA *local.CA
	// tokens and tokenNames are the token strings and names of one token
	// per role.
	tokens     map[storage.Role]string
	tokenNames map[storage.Role]string
	// secrets are every secret the test was handed (token strings, HMAC
	// keys, webhook secrets), for the leak checks.
	secrets []string
}

func openSQLite(t *testing.T) storage.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "admin.db"))
	if err != nil {
		t.Fatalf("open SQLite: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// openPostgres opens a store on a fresh schema of the test server,
// dropped when the test ends. Without a server the test is skipped, but
// under CI (CI=true) it fails.
func openPostgres(t *testing.T) storage.Store {
	t.Helper()
	u := os.Getenv("ACMEGATE_TEST_POSTGRES_URL")
	if u == "" {
		u = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is not reachable but CI must run this test: %v", err)
		}
		t.Skipf("PostgreSQL is not reachable (%v); start it or set ACMEGATE_TEST_POSTGRES_URL", err)
	}
	_ = conn.Close(ctx)
	schema := "admin_test_" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	st, err := postgres.Open(context.Background(), u, postgres.WithSchema(schema))
	if err != nil {
		t.Fatalf("open PostgreSQL store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// newAPIEnv starts the admin API over the store open returns, with the
// configuration-file directories "default" and "team-a" and one token per
// role.
func newAPIEnv(t *testing.T, open func(t *testing.T) storage.Store) *apiEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	e := &apiEnv{t: t, ctx: ctx, st: open(t), logs: &syncBuffer{},
		tokens: map[storage.Role]string{}, tokenNames: map[storage.Role]string{}}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	var err error
	if e.localCA, err = local.New(ctx, local.Config{Dir: t.TempDir()}); err != nil {
		t.Fatalf("local CA: %v", err)
	}
	catalog, err := acme.CatalogOf(ctx, e.localCA)
	if err != nil {
		t.Fatal(err)
	}
	if err := acme.PutConfigDirectories(ctx, e.st, catalog, []acme.DirectoryDefinition{{Name: "default"}, {Name: "team-a"}}, time.Now().UTC()); err != nil {
		t.Fatalf("config directories: %v", err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := acme.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	validator, err := validation.New(validation.Config{Resolvers: []string{"127.0.0.1:53"}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	acmeSrv, err := acme.New(ctx, acme.Config{BaseURL: "https://127.0.0.1:1", Store: e.st, Backend: e.localCA,
		Validator: validator, Sealer: sealer, Logger: log})
	if err != nil {
		t.Fatalf("acme server: %v", err)
	}
	e.srv, err = New(ctx, Config{
		Store:     e.st,
		Approvals: &acme.Approvals{Store: e.st},
		EABKeys:   &acme.EABKeys{Store: e.st, Sealer: sealer},
		Catalog:   catalog,
		Revoker:   acmeSrv,
		Sealer:    sealer,
		Logger:    log,
	})
	if err != nil {
		t.Fatalf("admin server: %v", err)
	}
	e.ts = httptest.NewTLSServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	e.hc = e.ts.Client()
	e.hc.Timeout = 30 * time.Second
	for _, role := range []storage.Role{storage.RoleAdmin, storage.RoleOperator, storage.RoleAuditor} {
		name := "test-" + string(role)
		e.tokens[role] = e.newToken(name, role)
		e.tokenNames[role] = name
	}
	return e
}

// newToken stores a token and returns its string.
func (e *apiEnv) newToken(name string, role storage.Role) string {
	e.t.Helper()
	raw, rec, err := NewToken(name, role, "test", 0, time.Now().UTC())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.CreateAdminToken(e.ctx, rec); err != nil {
		e.t.Fatalf("CreateAdminToken: %v", err)
	}
	e.secrets = append(e.secrets, raw)
	return raw
}

// apiResp is one answer of the API.
type apiResp struct {
	status int
	header http.Header
	body   []byte
}

// decode decodes the body into v, failing the test if it is not JSON.
func (r *apiResp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d is not the JSON expected (%v): %s", r.status, err, r.body)
	}
}

// problem decodes a problem answer, checking its media type.
func (r *apiResp) problem(t *testing.T) Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("error answer %d has Content-Type %q, want application/problem+json: %s", r.status, ct, r.body)
	}
	var p Problem
	r.decode(t, &p)
	if p.Status != r.status || !strings.HasPrefix(p.Type, problemTypePrefix) || p.Title == "" {
		t.Fatalf("problem %+v does not match status %d", p, r.status)
	}
	return p
}

// call sends method path (relative to /admin/api/v1) with token tok ("" for
// none) and body (nil, a string sent as is, or a value sent as JSON).
func (e *apiEnv) call(tok, method, path string, body any) *apiResp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, e.ts.URL+apiPrefix+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return &apiResp{status: resp.StatusCode, header: resp.Header, body: raw}
}

// as calls with the token of role.
func (e *apiEnv) as(role storage.Role, method, path string, body any) *apiResp {
	e.t.Helper()
	return e.call(e.tokens[role], method, path, body)
}

// must calls as role and fails the test unless the status is want.
func (e *apiEnv) must(role storage.Role, method, path string, body any, want int) *apiResp {
	e.t.Helper()
	r := e.as(role, method, path, body)
	if r.status != want {
		e.t.Fatalf("%s %s as %s: status %d, want %d: %s", method, path, role, r.status, want, r.body)
	}
	return r
}

// Fixtures, stored through the store as the protocol would.

var fixtureSeq struct {
	mu sync.Mutex
	n  int
}

func fixtureID(prefix string) string {
	fixtureSeq.mu.Lock()
	defer fixtureSeq.mu.Unlock()
	fixtureSeq.n++
	return fmt.Sprintf("%s-%04d-%s", prefix, fixtureSeq.n, strings.ToLower(rand.Text()[:6]))
}

func (e *apiEnv) account(dir string) *storage.Account {
	e.t.Helper()
	now := time.Now().UTC()
	a := &storage.Account{ID: fixtureID("acct"), Directory: dir, Status: storage.StatusValid, Contact: []string{"mailto:ops@example.com"},
		TermsAgreed: true, KeyThumbprint: fixtureID("tp"), KeyJWK: []byte(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}`), CreatedAt: now, UpdatedAt: now}
	if err := e.st.CreateAccount(e.ctx, a); err != nil {
		e.t.Fatalf("CreateAccount: %v", err)
	}
	return a
}

// order stores a pending order of acct for name, created at created, with
// one pending authorization and its http-01 challenge.
func (e *apiEnv) order(acct *storage.Account, name string, created time.Time) *storage.Order {
	e.t.Helper()
	az := &storage.Authorization{ID: fixtureID("authz"), Directory: acct.Directory, AccountID: acct.ID,
		Identifier: storage.Identifier{Type: storage.IdentifierDNS, Value: name}, Status: storage.StatusPending,
		Expires: created.Add(7 * 24 * time.Hour), CreatedAt: created, UpdatedAt: created,
		Challenges: []storage.Challenge{{ID: fixtureID("chall"), Type: storage.ChallengeHTTP01, Status: storage.StatusPending, Token: fixtureID("tok"), UpdatedAt: created}}}
	az.Challenges[0].AuthzID = az.ID
	o := &storage.Order{ID: fixtureID("order"), Directory: acct.Directory, AccountID: acct.ID, Status: storage.StatusPending,
		Expires: created.Add(7 * 24 * time.Hour), Identifiers: []storage.Identifier{az.Identifier}, AuthzIDs: []string{az.ID},
		CreatedAt: created, UpdatedAt: created}
	if err := e.st.CreateOrder(e.ctx, o, []*storage.Authorization{az}, nil); err != nil {
		e.t.Fatalf("CreateOrder: %v", err)
	}
	if err := e.st.AppendOrderEvents(e.ctx, &storage.OrderEvent{OrderID: o.ID, At: created, Kind: acme.EventCreated, Actor: "account:" + acct.ID}); err != nil {
		e.t.Fatalf("AppendOrderEvents: %v", err)
	}
	return o
}

// awaitingApproval stores an order whose finalization waits for an
// operator until deadline.
func (e *apiEnv) awaitingApproval(acct *storage.Account, name string, deadline time.Time) *storage.Order {
	e.t.Helper()
	now := time.Now().UTC()
	o := e.order(acct, name, now)
	if err := e.st.BeginApproval(e.ctx, o.ID, []storage.Status{storage.StatusPending}, []byte{0x30}, deadline, now); err != nil {
		e.t.Fatalf("BeginApproval: %v", err)
	}
	return o
}

// cert imports a certificate of dir that the built-in CA really issued for
// names, with its inventory dates set to notAfter-30d … notAfter (the
// inventory's dates, not the DER's, are what listings filter on).
func (e *apiEnv) cert(dir string, names []string, notAfter time.Time) *storage.Certificate {
	e.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, key)
	if err != nil {
		e.t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []ca.Identifier
	for _, n := range names {
		ids = append(ids, ca.Identifier{Type: "dns", Value: n})
	}
	res, err := e.localCA.Issue(e.ctx, ca.IssueRequest{OrderID: fixtureID("import"), CSR: csr, Identifiers: ids})
	if err != nil {
		e.t.Fatalf("issue: %v", err)
	}
	var chain []byte
	for _, c := range res.Chain {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	leaf := res.Chain[0]
	c := &storage.Certificate{ID: fixtureID("cert"), Directory: dir, Serial: leaf.SerialNumber.Text(16), Issuer: leaf.Issuer.String(),
		Names: names, NotBefore: notAfter.Add(-30 * 24 * time.Hour), NotAfter: notAfter, ChainPEM: chain, Backend: e.localCA.Name(),
		Profile: "default", Status: storage.StatusValid, CreatedAt: time.Now().UTC()}
	if err := e.st.ImportCertificate(e.ctx, c); err != nil {
		e.t.Fatalf("ImportCertificate: %v", err)
	}
	return c
}

// auditEntries returns the audit entries matching f, newest first.
func (e *apiEnv) auditEntries(f storage.AuditFilter) []*storage.AuditEntry {
	e.t.Helper()
	var all []*storage.AuditEntry
	p := storage.Page{Limit: 1000}
	for {
		page, next, err := e.st.ListAudit(e.ctx, f, p)
		if err != nil {
			e.t.Fatalf("ListAudit: %v", err)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		p.Cursor = next
	}
}

// lastAudit returns the newest audit entry of action, failing if none.
func (e *apiEnv) lastAudit(action string) *storage.AuditEntry {
	e.t.Helper()
	entries := e.auditEntries(storage.AuditFilter{Action: action})
	if len(entries) == 0 {
		e.t.Fatalf("no audit entry for %s", action)
	}
	return entries[0]
}
