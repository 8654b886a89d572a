package acme

// Micro-benchmarks of the request hot paths (go test -bench HotPath):
// JWS verification, nonces, newOrder and finalize through the real handler
// on SQLite and PostgreSQL with the local CA. Requests are signed before
// the timer starts, so ns/op and allocs/op are the server's alone.
// docs/performance.md explains how to compare runs with benchstat.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/ca/local"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/postgres"
	"github.com/acmegate/acmegate/storage/sqlite"
	"github.com/acmegate/acmegate/storage/storagetest"
	"github.com/acmegate/acmegate/validation"
)

const benchBaseURL = "https://acme.bench"

// benchStores are the stores every store-dependent benchmark runs on.
var benchStores = []struct {
	name string
	open func(b *testing.B) storage.Store
}{
	{"sqlite", openBenchSQLite},
	{"postgres", openBenchPostgres},
}

func openBenchSQLite(b *testing.B) storage.Store {
	b.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "acmegate.db"))
	if err != nil {
		b.Fatalf("open SQLite: %v", err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// openBenchPostgres opens a store on a fresh schema of the test server
// (ACMEGATE_TEST_POSTGRES_URL), dropped when b ends. Without a server the
// benchmark is skipped, except under CI=true where that is a failure.
func openBenchPostgres(b *testing.B) storage.Store {
	b.Helper()
	u := os.Getenv("ACMEGATE_TEST_POSTGRES_URL")
	if u == "" {
		u = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, u)
	if err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatalf("PostgreSQL is not reachable but CI must run this benchmark: %v", err)
		}
		b.Skipf("PostgreSQL is not reachable (%v); start it or set ACMEGATE_TEST_POSTGRES_URL", err)
	}
	admin.Close(ctx)
	schema := "acme_bench_" + strings.ToLower(rand.Text()[:12])
	st, err := postgres.Open(ctx, u, postgres.WithSchema(schema), postgres.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatalf("open PostgreSQL: %v", err)
	}
	b.Cleanup(func() {
		st.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, u)
		if err != nil {
			b.Errorf("drop schema: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			b.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return st
}

// benchServer is a Server on st with the local CA, its handler, and one
// ES256 account. Its directory skips validation (as pre-validated names
// do), so a new order is ready to finalize at once; nothing runs the jobs.
type benchServer struct {
	s    *Server
	h    http.Handler
	key  *ecdsa.PrivateKey
	jwk  *jose.JSONWebKey
	kid  string
	seq  atomic.Int64
	dirs string
}

func newBenchServer(b *testing.B, st storage.Store) *benchServer {
	b.Helper()
	ctx := context.Background()
	backend, err := local.New(ctx, local.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatalf("local CA: %v", err)
	}
	v, err := validation.New(validation.Config{Resolvers: []string{"127.0.0.1:53"}, Timeout: time.Second})
	if err != nil {
		b.Fatalf("validator: %v", err)
	}
	cat, err := CatalogOf(ctx, backend)
	if err != nil {
		b.Fatal(err)
	}
	settings := DirectorySettings{Policy: PolicySettings{SkipValidation: true}}
	if err := PutConfigDirectories(ctx, st, cat, []DirectoryDefinition{{Name: "default", Settings: settings}}, time.Now().UTC()); err != nil {
		b.Fatalf("directories: %v", err)
	}
	s, err := New(ctx, Config{
		BaseURL: benchBaseURL, Store: st, Backend: backend, Validator: v,
		Logger:         slog.New(slog.DiscardHandler),
		ProcessingHold: -1,
	})
	if err != nil {
		b.Fatalf("acme.New: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	bs := &benchServer{s: s, h: s.Handler(), key: key, jwk: &jose.JSONWebKey{Key: key.Public(), Algorithm: "ES256"}, dirs: "default"}
	resp := bs.do(b, bs.signed(b, "", bs.url("/new-account"), []byte(`{"termsOfServiceAgreed":true}`)))
	if resp.Code != http.StatusCreated {
		b.Fatalf("newAccount: %d %s", resp.Code, resp.Body)
	}
	bs.kid = resp.Header().Get("Location")
	return bs
}

func (bs *benchServer) url(path string) string { return bs.s.dirURL(bs.dirs) + path }

// signed is a flattened ES256 JWS of payload for url with a fresh nonce,
// by kid when kid is set and with the jwk otherwise.
func (bs *benchServer) signed(b *testing.B, kid, url string, payload []byte) []byte {
	b.Helper()
	h := map[string]any{"alg": "ES256", "url": url, "nonce": bs.s.nonces.New()}
	if kid != "" {
		h["kid"] = kid
	} else {
		h["jwk"] = bs.jwk
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		b.Fatal(err)
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hdr) + "." + enc.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	r, sv, err := ecdsa.Sign(rand.Reader, bs.key, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sv.FillBytes(sig[32:])
	body, err := json.Marshal(flattenedJWS{Protected: enc.EncodeToString(hdr), Payload: enc.EncodeToString(payload), Signature: enc.EncodeToString(sig)})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// request is a POST of a signed body to its url, as a client sends it.
type request struct {
	url  string
	body []byte
}

func (bs *benchServer) do(b *testing.B, body []byte) *httptest.ResponseRecorder {
	b.Helper()
	var hdr struct {
		Protected string `json:"protected"`
	}
	if err := json.Unmarshal(body, &hdr); err != nil {
		b.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(hdr.Protected)
	var p struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		b.Fatal(err)
	}
	return bs.serve(request{url: p.URL, body: body})
}

func (bs *benchServer) serve(req request) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, req.url, bytes.NewReader(req.body))
	r.Header.Set("Content-Type", "application/jose+json")
	rec := httptest.NewRecorder()
	bs.h.ServeHTTP(rec, r)
	return rec
}

// newOrderRequest signs a newOrder for a name of its own.
func (bs *benchServer) newOrderRequest(b *testing.B) request {
	name := fmt.Sprintf("b%d.bench.test", bs.seq.Add(1))
	payload := []byte(`{"identifiers":[{"type":"dns","value":"` + name + `"}]}`)
	return request{url: bs.url("/new-order"), body: bs.signed(b, bs.kid, bs.url("/new-order"), payload)}
}

// BenchmarkHotPathJWS measures JWS verification of an ES256 request
// without its nonce: the parse, the account lookup (kid) or the key checks
// (jwk), and the signature.
func BenchmarkHotPathJWS(b *testing.B) {
	bs := newBenchServer(b, openBenchSQLite(b))
	d, err := bs.s.dirs.get(context.Background(), bs.dirs)
	if err != nil {
		b.Fatal(err)
	}
	// kid: nothing runs the account cache's feed (Server.Run), so every
	// request reads its account; BenchmarkHotPathJWSCached runs it.
	b.Run("kid", func(b *testing.B) { benchKID(b, bs) })
	b.Run("kid-postgres", func(b *testing.B) { benchKID(b, newBenchServer(b, openBenchPostgres(b))) })
	b.Run("jwk", func(b *testing.B) {
		body := bs.signed(b, "", bs.url("/new-account"), []byte(`{"termsOfServiceAgreed":true}`))
		b.ReportAllocs()
		defer storagetest.MeasureCPU(b)()
		for b.Loop() {
			p, err := parseFlattened(body)
			if err != nil {
				b.Fatal(err)
			}
			if err := d.policy.GoodAccountKey(p.jwk.Key); err != nil {
				b.Fatal(err)
			}
			if _, err := p.verifyWith(p.jwk); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchKID measures the verification of a kid-signed ES256 request of
// bs's account: the parse, the account lookup and the signature.
func benchKID(b *testing.B, bs *benchServer) {
	ctx := context.Background()
	d, err := bs.s.dirs.get(ctx, bs.dirs)
	if err != nil {
		b.Fatal(err)
	}
	body := bs.signed(b, bs.kid, bs.url("/new-order"), []byte(`{"identifiers":[{"type":"dns","value":"a.bench.test"}]}`))
	b.ReportAllocs()
	defer storagetest.MeasureCPU(b)()
	for b.Loop() {
		p, err := parseFlattened(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, _, err := bs.s.verifyAccountSignature(ctx, d.name, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHotPathNonce measures minting a nonce and redeeming one: a local
// nonce (Config.LocalNonces) and a shared one on each store.
func BenchmarkHotPathNonce(b *testing.B) {
	b.Run("new", func(b *testing.B) {
		n := &nonceService{key: make([]byte, 32), lifetime: time.Hour, clock: systemClock{}}
		b.ReportAllocs()
		defer storagetest.MeasureCPU(b)()
		for b.Loop() {
			_ = n.New()
		}
	})
	redeem := []struct {
		name string
		open func(b *testing.B) (*nonceService, error)
	}{{"local", func(*testing.B) (*nonceService, error) { return newLocalNonceService(systemClock{}, time.Hour) }}}
	for _, st := range benchStores {
		redeem = append(redeem, struct {
			name string
			open func(b *testing.B) (*nonceService, error)
		}{st.name, func(b *testing.B) (*nonceService, error) {
			return newNonceService(context.Background(), st.open(b), systemClock{}, time.Hour)
		}})
	}
	for _, r := range redeem {
		b.Run("redeem/"+r.name, func(b *testing.B) {
			n, err := r.open(b)
			if err != nil {
				b.Fatal(err)
			}
			nonces := make([]string, b.N)
			for i := range nonces {
				nonces[i] = n.New()
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			defer storagetest.MeasureCPU(b)()
			for i := range b.N {
				if err := n.Redeem(ctx, nonces[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHotPathNewOrder measures a newOrder request of one name through
// the whole handler: verification, nonce, policy, the order with its fresh
// authorization, timeline and audit, the response.
func BenchmarkHotPathNewOrder(b *testing.B) {
	for _, st := range benchStores {
		b.Run(st.name, func(b *testing.B) {
			bs := newBenchServer(b, st.open(b))
			reqs := make([]request, b.N)
			for i := range reqs {
				reqs[i] = bs.newOrderRequest(b)
			}
			b.ReportAllocs()
			b.ResetTimer()
			defer storagetest.MeasureCPU(b)()
			for i := range b.N {
				if rec := bs.serve(reqs[i]); rec.Code != http.StatusCreated {
					b.Fatalf("newOrder: %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkHotPathFinalize measures a finalize request through the whole
// handler with the local CA: verification, nonce, the order, the CSR
// checks, the P-256 signature, the certificate stored, timeline and audit.
func BenchmarkHotPathFinalize(b *testing.B) {
	for _, st := range benchStores {
		b.Run(st.name, func(b *testing.B) {
			bs := newBenchServer(b, st.open(b))
			certKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			reqs := make([]request, b.N)
			for i := range reqs {
				rec := bs.serve(bs.newOrderRequest(b))
				if rec.Code != http.StatusCreated {
					b.Fatalf("newOrder: %d %s", rec.Code, rec.Body)
				}
				var o struct {
					Status      string       `json:"status"`
					Identifiers []Identifier `json:"identifiers"`
					Finalize    string       `json:"finalize"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &o); err != nil || o.Status != "ready" {
					b.Fatalf("new order %s (%v), want status ready", rec.Body, err)
				}
				der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
					Subject: pkix.Name{CommonName: o.Identifiers[0].Value}, DNSNames: []string{o.Identifiers[0].Value},
				}, certKey)
				if err != nil {
					b.Fatal(err)
				}
				payload := []byte(`{"csr":"` + base64.RawURLEncoding.EncodeToString(der) + `"}`)
				reqs[i] = request{url: o.Finalize, body: bs.signed(b, bs.kid, o.Finalize, payload)}
			}
			b.ReportAllocs()
			b.ResetTimer()
			defer storagetest.MeasureCPU(b)()
			for i := range b.N {
				rec := bs.serve(reqs[i])
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"valid"`) {
					b.Fatalf("finalize: %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
