package acme_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/postgres"
)

func postgresURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("ACMEGATE_TEST_POSTGRES_URL")
	if u == "" {
		u = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is not reachable but CI must run this test: %v", err)
		}
		tb.Skipf("PostgreSQL is not reachable (%v); start it or set ACMEGATE_TEST_POSTGRES_URL", err)
	}
	c.Close(ctx)
	return u
}

// postgresSchema returns a function opening stores (one pool each, as
// separate instances would have) on a fresh schema dropped at cleanup.
func postgresSchema(tb testing.TB, appName string) func() storage.Store {
	tb.Helper()
	u := postgresURL(tb)
	schema := "acme_test_" + strings.ToLower(rand.Text()[:12])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, u)
		if err != nil {
			tb.Errorf("drop schema: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return func() storage.Store {
		st, err := postgres.Open(context.Background(), u, postgres.WithSchema(schema), postgres.WithApplicationName(appName))
		if err != nil {
			tb.Fatalf("open PostgreSQL store: %v", err)
		}
		return st
	}
}

// TestDatabaseConnectionsTerminated terminates the server's database
// connections (as a PostgreSQL failover does): requests fail fast with
// serverInternal and Retry-After, or succeed, and the server recovers on its
// own.
func TestDatabaseConnectionsTerminated(t *testing.T) {
	app := "acmegate_failover_" + strings.ToLower(rand.Text()[:8])
	e := newEnv(t, envOptions{open: postgresSchema(t, app)})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	e.issue(ctx, c, "http-01", newECKey(t), "before.example.com")

	admin, err := pgx.Connect(ctx, postgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatal("no backend of the server was found to terminate")
	}
	// Raw requests, so that no client retry hides what the server answers.
	raw := e.rawClient()
	failures := 0
	for i := range 5 {
		start := time.Now()
		u := e.url + "/acme/default/new-account"
		r := raw.post(u, raw.jws(raw.header(u), []byte(`{"termsOfServiceAgreed":true}`)))
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("request %d took %v after the connections were terminated", i, took)
		}
		switch {
		case r.status == http.StatusInternalServerError:
			failures++
			if r.problem.Type != "urn:ietf:params:acme:error:serverInternal" || r.header.Get("Retry-After") == "" {
				t.Errorf("failure %d: %s with Retry-After %q", i, r.problem.Type, r.header.Get("Retry-After"))
			}
		case r.status == http.StatusCreated || r.status == http.StatusOK:
		default:
			t.Errorf("request %d: %d %s", i, r.status, r.body)
		}
	}
	t.Logf("terminated %d backends; %d of 5 requests after it failed with serverInternal", killed, failures)
	// Without a restart, full issuance works again.
	e.issue(ctx, c, "http-01", newECKey(t), "after.example.com")
}
