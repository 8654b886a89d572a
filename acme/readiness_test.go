package acme_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/digicert"
	"github.com/acmegate/acmegate/ca/local"
	"github.com/acmegate/acmegate/ca/sectigo"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/postgres"
	"github.com/acmegate/acmegate/storage/sqlite"
)

// The upstream backends can be checked by the readiness probe.
var (
	_ ca.Checker = (*sectigo.Backend)(nil)
	_ ca.Checker = (*digicert.Backend)(nil)
)

// checkableCA is a local CA under another name whose Check fails on demand
// and counts its calls.
type checkableCA struct {
	*local.CA
	name  string
	fail  atomic.Bool
	calls atomic.Int32
}

func (c *checkableCA) Name() string { return c.name }

func (c *checkableCA) Check(context.Context) error {
	c.calls.Add(1)
	if c.fail.Load() {
		return errors.New("login refused for api-key s3cr3t-t0ken at https://upstream.internal")
	}
	return nil
}

func (e *env) probe(path string) (int, string) {
	e.t.Helper()
	resp, err := e.client.Get(e.url + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReadinessChecksBackends: /readyz asks each checkable CA backend, at
// most once per 30 s however often it is polled, and answers 503 naming a
// failing backend without the error's text.
func TestReadinessChecksBackends(t *testing.T) {
	inner, err := local.New(context.Background(), local.Config{Dir: t.TempDir(), CommonName: "checkable upstream"})
	if err != nil {
		t.Fatal(err)
	}
	up := &checkableCA{CA: inner, name: "upstream-a"}
	clock := &offsetClock{}
	e := newEnv(t, envOptions{backends: []ca.Backend{up}, clock: clock})

	if code, body := e.probe("/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz = %d %q, want 200 ready", code, body)
	}
	for range 5 {
		e.probe("/readyz")
	}
	if n := up.calls.Load(); n != 1 {
		t.Errorf("%d backend checks for 6 probes within 30 s, want 1", n)
	}

	up.fail.Store(true)
	if code, _ := e.probe("/readyz"); code != 200 {
		t.Errorf("/readyz = %d within the cached 30 s, want 200", code)
	}
	clock.advance(31 * time.Second)
	code, body := e.probe("/readyz")
	if code != 503 || !strings.Contains(body, "CA backend upstream-a unreachable") {
		t.Errorf("/readyz with a failing backend = %d %q, want 503 naming it", code, body)
	}
	if strings.Contains(body, "s3cr3t") || strings.Contains(body, "upstream.internal") {
		t.Errorf("/readyz body %q carries the error's text", body)
	}

	// Concurrent probes after the cache lapsed: one check for all.
	clock.advance(31 * time.Second)
	before := up.calls.Load()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if code, _ := e.probe("/readyz"); code != 503 {
				t.Errorf("concurrent /readyz = %d, want 503", code)
			}
		})
	}
	wg.Wait()
	if n := up.calls.Load() - before; n != 1 {
		t.Errorf("%d backend checks for 10 concurrent probes, want 1", n)
	}

	up.fail.Store(false)
	clock.advance(31 * time.Second)
	if code, body := e.probe("/readyz"); code != 200 {
		t.Errorf("/readyz after the backend recovered = %d %q, want 200", code, body)
	}
}

// schemaStore is a store whose schema check fails.
type schemaStore struct {
	storage.Store
}

func (schemaStore) CheckSchema(context.Context) error {
	return errors.New("schema version 3, this binary needs 5")
}

// TestReadinessChecksTheSchema: a store that can tell its schema is not
// current makes /readyz 503.
func TestReadinessChecksTheSchema(t *testing.T) {
	e := newEnv(t, envOptions{open: func() storage.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "schema.db"))
		if err != nil {
			t.Fatal(err)
		}
		return schemaStore{st}
	}})
	code, body := e.probe("/readyz")
	if code != 503 || !strings.Contains(body, "schema") || strings.Contains(body, "version 3") {
		t.Errorf("/readyz = %d %q, want 503 saying the schema is not current, without the detail", code, body)
	}
}

// Both stores tell /readyz whether their schema is current.
var (
	_ acme.SchemaChecker = (*sqlite.Store)(nil)
	_ acme.SchemaChecker = (*postgres.Store)(nil)
)
