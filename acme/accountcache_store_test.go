package acme_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/sqlite"
)

// The account cache against real stores: whatever deactivates an account
// or changes its key, in this process or another, the cached account stops
// working (accountcache.go, storage.AccountWatcher).

// cacheStores are the stores the account cache is tested on.
var cacheStores = []struct {
	name string
	open func(t *testing.T) func() storage.Store
}{
	{"sqlite", func(*testing.T) func() storage.Store { return nil }},
	{"postgres", func(t *testing.T) func() storage.Store { return postgresSchema(t, "acmegate") }},
}

// cacheLookups returns the account cache lookups of outcome recorded in
// reg.
func cacheLookups(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "acmegate_account_cache_lookups_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// cachedEnv is an env whose server counts its account cache lookups in
// reg, with the account cache live.
func cachedEnv(t *testing.T, open func() storage.Store, opts envOptions) (*env, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.open, opts.metrics = open, acme.NewMetrics(reg)
	return newEnv(t, opts), reg
}

// warm sends kid-signed requests with raw until one is answered from the
// account cache (its feed goes live shortly after Run starts).
func warm(t *testing.T, raw *rawClient, reg *prometheus.Registry) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); cacheLookups(t, reg, "hit") == 0; {
		if r := raw.post(raw.kid, raw.jws(raw.header(raw.kid), nil)); r.status != http.StatusOK {
			t.Fatalf("account POST-as-GET: %d %s", r.status, r.body)
		}
		if time.Now().After(deadline) {
			t.Fatal("no account cache hit after 5 s of requests")
		}
	}
}

// wantRefused fails the test unless raw's next kid-signed request gets the
// problem typ.
func wantRefused(t *testing.T, raw *rawClient, status int, typ string) {
	t.Helper()
	r := raw.post(raw.kid, raw.jws(raw.header(raw.kid), nil))
	if r.status != status || r.problem.Type != typ {
		t.Fatalf("request after the change: %d %s, want %d %s", r.status, r.body, status, typ)
	}
}

const (
	probUnauthorized = "urn:ietf:params:acme:error:unauthorized"
	probMalformed    = "urn:ietf:params:acme:error:malformed"
)

// TestAccountCacheDeactivation: an account deactivated by its client or
// by an operator (the admin API calls the store directly) is refused by
// the very next request.
func TestAccountCacheDeactivation(t *testing.T) {
	for _, st := range cacheStores {
		t.Run(st.name, func(t *testing.T) {
			e, reg := cachedEnv(t, st.open(t), envOptions{})
			ctx := testCtx(t)
			t.Run("by the client", func(t *testing.T) {
				raw := e.rawAccount("default")
				warm(t, raw, reg)
				if r := raw.post(raw.kid, raw.jws(raw.header(raw.kid), []byte(`{"status":"deactivated"}`))); r.status != http.StatusOK {
					t.Fatalf("deactivate: %d %s", r.status, r.body)
				}
				wantRefused(t, raw, http.StatusForbidden, probUnauthorized)
			})
			t.Run("by an operator", func(t *testing.T) {
				raw := e.rawAccount("default")
				warm(t, raw, reg)
				a, err := e.store.GetAccount(ctx, path.Base(raw.kid))
				if err != nil {
					t.Fatal(err)
				}
				a.Status, a.UpdatedAt = storage.StatusDeactivated, time.Now().UTC()
				if err := e.store.UpdateAccount(ctx, a); err != nil {
					t.Fatal(err)
				}
				wantRefused(t, raw, http.StatusForbidden, probUnauthorized)
			})
		})
	}
}

// TestAccountCacheKeyChange: after a key rollover the old key is refused
// by the very next request, and the new one works.
func TestAccountCacheKeyChange(t *testing.T) {
	for _, st := range cacheStores {
		t.Run(st.name, func(t *testing.T) {
			e, reg := cachedEnv(t, st.open(t), envOptions{})
			ctx := testCtx(t)
			raw := e.rawAccount("default")
			warm(t, raw, reg)
			c := &xacme.Client{Key: raw.key, KID: xacme.KeyID(raw.kid), DirectoryURL: e.url + "/acme/default/directory", HTTPClient: e.client}
			newKey := newECKey(t)
			if err := c.AccountKeyRollover(ctx, newKey); err != nil {
				t.Fatalf("key rollover: %v", err)
			}
			wantRefused(t, raw, http.StatusBadRequest, probMalformed)
			rolled := &rawClient{e: e, key: newKey, kid: raw.kid}
			if r := rolled.post(rolled.kid, rolled.jws(rolled.header(rolled.kid), nil)); r.status != http.StatusOK {
				t.Fatalf("request with the new key: %d %s", r.status, r.body)
			}
		})
	}
}

// TestAccountCacheEABRevocation: revoking an EAB key with its accounts
// through the store, as the admin API does, refuses them at once.
func TestAccountCacheEABRevocation(t *testing.T) {
	for _, st := range cacheStores {
		t.Run(st.name, func(t *testing.T) {
			e, reg := cachedEnv(t, st.open(t), envOptions{dirs: teamDirs()})
			ctx := testCtx(t)
			eab := e.eabKey(ctx, "public", true, 0)
			c, err := e.dirClient(ctx, "public", eab)
			if err != nil {
				t.Fatalf("register with EAB: %v", err)
			}
			// The client's own key and account URL, for POST-as-GET
			// requests that change nothing.
			raw := &rawClient{e: e, key: c.Key.(*ecdsa.PrivateKey), kid: string(c.KID)}
			warm(t, raw, reg)
			if n, err := e.store.RevokeEABKey(ctx, eab.KID, true, time.Now().UTC()); err != nil || n != 1 {
				t.Fatalf("revoke: %d accounts, %v; want 1", n, err)
			}
			wantRefused(t, raw, http.StatusForbidden, probUnauthorized)
		})
	}
}

// otherInstance starts a second server on cfg with its own store and
// metrics, as another process would run, and returns its handler.
func otherInstance(t *testing.T, cfg acme.Config, st storage.Store, reg *prometheus.Registry) http.Handler {
	t.Helper()
	cfg.Store, cfg.InstanceID, cfg.Metrics = st, "other", acme.NewMetrics(reg)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := acme.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		st.Close()
	})
	return srv.Handler()
}

// postTo sends raw's kid-signed POST-as-GET of its account to h, signed
// for the URL the clients use.
func postTo(t *testing.T, h http.Handler, raw *rawClient) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, raw.kid, bytes.NewReader(raw.jws(raw.header(raw.kid), nil)))
	req.Header.Set("Content-Type", "application/jose+json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// refusedWithin polls h with raw's requests until one is refused as
// deactivated, for at most d, and returns how long that took.
func refusedWithin(t *testing.T, h http.Handler, raw *rawClient, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		rec := postTo(t, h, raw)
		switch rec.Code {
		case http.StatusOK:
		case http.StatusForbidden:
			var p struct{ Type string }
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Type != probUnauthorized {
				t.Fatalf("refusal: %s", rec.Body)
			}
			return time.Since(start)
		default:
			t.Fatalf("request to the other instance: %d %s", rec.Code, rec.Body)
		}
		if time.Since(start) > d {
			t.Fatalf("the other instance still accepts the deactivated account after %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAccountCacheOtherInstance: two instances on one PostgreSQL
// database; an account deactivated through one is refused by the other
// within the NOTIFY latency (polled for up to 5 s).
func TestAccountCacheOtherInstance(t *testing.T) {
	open := postgresSchema(t, "acmegate")
	e, _ := cachedEnv(t, open, envOptions{})
	regB := prometheus.NewRegistry()
	b := otherInstance(t, e.cfg, open(), regB)
	raw := e.rawAccount("default")
	for deadline := time.Now().Add(5 * time.Second); cacheLookups(t, regB, "hit") == 0; {
		if rec := postTo(t, b, raw); rec.Code != http.StatusOK {
			t.Fatalf("request to the other instance: %d %s", rec.Code, rec.Body)
		}
		if time.Now().After(deadline) {
			t.Fatal("no account cache hit at the other instance after 5 s of requests")
		}
	}
	if r := raw.post(raw.kid, raw.jws(raw.header(raw.kid), []byte(`{"status":"deactivated"}`))); r.status != http.StatusOK {
		t.Fatalf("deactivate through the first instance: %d %s", r.status, r.body)
	}
	t.Logf("the other instance refused the account %v after its deactivation", refusedWithin(t, b, raw, 5*time.Second))
}

// TestAccountCacheOtherProcessSQLite: an account deactivated by another
// process on the same SQLite file (the acmegate CLI) is refused by the
// very next request: every lookup reads the account epoch.
func TestAccountCacheOtherProcessSQLite(t *testing.T) {
	e, reg := cachedEnv(t, nil, envOptions{})
	ctx := testCtx(t)
	raw := e.rawAccount("default")
	warm(t, raw, reg)
	cli, err := sqlite.Open(ctx, e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	a, err := cli.GetAccount(ctx, path.Base(raw.kid))
	if err != nil {
		t.Fatal(err)
	}
	a.Status, a.UpdatedAt = storage.StatusDeactivated, time.Now().UTC()
	if err := cli.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if rec := postTo(t, e.handler, raw); rec.Code != http.StatusForbidden {
		t.Fatalf("request after another process deactivated the account: %d %s, want 403", rec.Code, rec.Body)
	}
}

// accountReads counts the account reads of a store whose feed it passes
// on, so the account cache stays on.
type accountReads struct {
	storage.Store
	storage.AccountWatcher
	n atomic.Int64
}

func (a *accountReads) GetAccount(ctx context.Context, id string) (*storage.Account, error) {
	a.n.Add(1)
	return a.Store.GetAccount(ctx, id)
}

// TestAccountReadsPerIssuance: once its account is cached, an issuance
// reads the account row only where validation computes the key
// authorization, instead of at every one of its kid-signed requests.
func TestAccountReadsPerIssuance(t *testing.T) {
	for _, st := range cacheStores {
		t.Run(st.name, func(t *testing.T) {
			open := st.open(t)
			var counted *accountReads
			e := newEnv(t, envOptions{open: func() storage.Store {
				var s storage.Store
				if open != nil {
					s = open()
				} else {
					var err error
					if s, err = sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "acmegate.db")); err != nil {
						t.Fatal(err)
					}
				}
				counted = &accountReads{Store: s, AccountWatcher: s.(storage.AccountWatcher)}
				return counted
			}})
			ctx := testCtx(t)
			c := e.newClient(ctx, nil)
			certKey := newECKey(t)
			e.issue(ctx, c, "http-01", certKey, "warm.example.com")
			const n = 3
			if warm := counted.n.Swap(0); warm == 0 {
				t.Fatal("the first issuance read no account: the count misses reads")
			}
			for i := range n {
				e.issue(ctx, c, "http-01", certKey, fmt.Sprintf("reads%d.example.com", i))
			}
			reads := counted.n.Load()
			t.Logf("%.1f account reads per issuance", float64(reads)/n)
			if reads > n {
				t.Errorf("%d account reads for %d issuances, want at most one each (validation)", reads, n)
			}
		})
	}
}
