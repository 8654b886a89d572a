package notify_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/notify"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/postgres"
	"github.com/acmegate/acmegate/storage/sqlite"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// opener opens a store; every call on the same opener shares one database,
// as instances of a cluster do.
type opener func(t *testing.T) storage.Store

// eachStore runs f on SQLite and on PostgreSQL.
func eachStore(t *testing.T, f func(t *testing.T, open opener)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "acmegate.db")
		f(t, func(t *testing.T) storage.Store { return openSQLiteAt(t, path) })
	})
	t.Run("postgres", func(t *testing.T) {
		u := postgresURL(t)
		schema := "notify_test_" + strings.ToLower(rand.Text()[:12])
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
		f(t, func(t *testing.T) storage.Store {
			st, err := postgres.Open(context.Background(), u, postgres.WithSchema(schema))
			if err != nil {
				t.Fatalf("open PostgreSQL store: %v", err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
}

// openSQLite opens a fresh SQLite store, for tests about a channel rather
// than about storage.
func openSQLite(t *testing.T) storage.Store {
	t.Helper()
	return openSQLiteAt(t, filepath.Join(t.TempDir(), "acmegate.db"))
}

func openSQLiteAt(t *testing.T, path string) storage.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open SQLite store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func postgresURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("ACMEGATE_TEST_POSTGRES_URL")
	if u == "" {
		u = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is not reachable but CI must run this test: %v", err)
		}
		t.Skipf("PostgreSQL is not reachable (%v); start it or set ACMEGATE_TEST_POSTGRES_URL", err)
	}
	c.Close(ctx)
	return u
}

// testSealer is AES-256-GCM with the context as additional data, as
// acme.Sealer is (notify cannot import acme).
type testSealer struct{ aead cipher.AEAD }

func newTestSealer(t *testing.T) *testSealer {
	t.Helper()
	block, err := aes.NewCipher(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return &testSealer{aead: aead}
}

func (s *testSealer) Seal(plaintext []byte, context string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plaintext, []byte(context))
}

func (s *testSealer) Open(sealed []byte, context string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("short")
	}
	return s.aead.Open(nil, sealed[:n], sealed[n:], []byte(context))
}

// testClock is a clock tests move.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *testClock {
	return &testClock{now: time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logBuffer collects log output.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is a notifier on a store with a test clock and a captured log.
type env struct {
	st     storage.Store
	n      *notify.Notifier
	clock  *testClock
	sealer *testSealer
	log    *logBuffer
}

func newEnv(t *testing.T, st storage.Store, cfg notify.Config) *env {
	t.Helper()
	e := &env{st: st, clock: newClock(), sealer: newTestSealer(t), log: &logBuffer{}}
	cfg.Store = st
	if cfg.Clock == nil {
		cfg.Clock = e.clock
	}
	cfg.Sealer = e.sealer
	cfg.Logger = slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := notify.New(cfg)
	if err != nil {
		t.Fatalf("notify.New: %v", err)
	}
	e.n = n
	return e
}

// addWebhook registers a webhook and returns it with its secret.
func (e *env) addWebhook(t *testing.T, dir, url string, events ...string) (*storage.Webhook, []byte) {
	t.Helper()
	secret := []byte("whsec-" + rand.Text())
	w := &storage.Webhook{ID: uuid.NewString(), Directory: dir, URL: url, Events: events, CreatedAt: e.clock.Now()}
	w.SealedSecret = e.sealer.Seal(secret, notify.WebhookSecretContext(w.ID))
	if err := e.st.CreateWebhook(testCtx(t), w); err != nil {
		t.Fatalf("create webhook: %v", err)
	}
	// Webhooks list oldest first: keep creation times apart.
	e.clock.Add(time.Second)
	return w, secret
}

// runDue runs the delivery jobs due now as the acme job runner does, and
// returns Deliver's result per delivery id.
func (e *env) runDue(t *testing.T) map[string]error {
	t.Helper()
	ctx := testCtx(t)
	now := e.clock.Now()
	jobs, err := e.st.LeaseJobs(ctx, "test", 100, now, time.Minute)
	if err != nil {
		t.Fatalf("lease jobs: %v", err)
	}
	out := map[string]error{}
	for _, j := range jobs {
		if j.Kind != storage.JobDeliver {
			t.Fatalf("job of kind %q", j.Kind)
		}
		err := e.n.Deliver(ctx, j)
		out[j.Ref] = err
		var retry *notify.RetryError
		switch {
		case err == nil:
			if err := e.st.CompleteJob(ctx, j.ID, "test"); err != nil {
				t.Fatalf("complete job: %v", err)
			}
		case errors.As(err, &retry):
			if err := e.st.RetryJob(ctx, j.ID, "test", now.Add(retry.RetryAfter()), err.Error()); err != nil {
				t.Fatalf("retry job: %v", err)
			}
		default:
			t.Fatalf("Deliver returned %v, want nil or a *RetryError", err)
		}
	}
	return out
}

// deliveries lists every delivery, oldest first.
func (e *env) deliveries(t *testing.T) []*storage.Delivery {
	t.Helper()
	var all []*storage.Delivery
	p := storage.Page{Limit: 100}
	for {
		ds, next, err := e.st.ListDeliveries(testCtx(t), "", p)
		if err != nil {
			t.Fatalf("list deliveries: %v", err)
		}
		all = append(all, ds...)
		if next == "" {
			break
		}
		p.Cursor = next
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
}

func (e *env) delivery(t *testing.T, id string) *storage.Delivery {
	t.Helper()
	d, err := e.st.GetDelivery(testCtx(t), id)
	if err != nil {
		t.Fatalf("get delivery %s: %v", id, err)
	}
	return d
}

func decodeEvent(t *testing.T, b []byte) notify.Event {
	t.Helper()
	var ev notify.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("decode event %s: %v", b, err)
	}
	return ev
}

// testCA is a root and a server certificate for 127.0.0.1 it issued.
type testCA struct {
	pool *x509.CertPool
	cert tls.Certificate
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "notify test root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return &testCA{pool: pool, cert: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}}
}
