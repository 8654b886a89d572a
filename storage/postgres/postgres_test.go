package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/storagetest"
)

// defaultTestURL is the loopback server the tests use unless
// ACMEGATE_TEST_POSTGRES_URL names another.
const defaultTestURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// serverURL returns the test server's URL once it has checked the server
// answers. Without a server the tests cannot run: under CI (CI=true) that is
// a failure, never a skip; on a developer's machine the tests are skipped
// with a hint.
func serverURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("ACMEGATE_TEST_POSTGRES_URL")
	if url == "" {
		url = defaultTestURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err == nil {
		err = conn.Close(ctx)
	}
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL test server unreachable (%v); start one or set ACMEGATE_TEST_POSTGRES_URL", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return url
}

// adminExec runs sql on a connection of its own, outside any store.
func adminExec(t testing.TB, url, sql string, args ...any) {
	t.Helper()
	ctx := testCtx(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("admin connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("admin %.40q: %v", sql, err)
	}
}

// randomName returns prefix followed by random lower-case characters.
func randomName(prefix string) string { return prefix + strings.ToLower(rand.Text()[:16]) }

// freshSchema returns the name of a schema no other test uses, dropped with
// everything in it when t ends (after the stores opened later are closed:
// cleanups run last-registered first).
func freshSchema(t testing.TB, url string) string {
	t.Helper()
	schema := randomName("acmegate_test_")
	t.Cleanup(func() {
		adminExec(t, url, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	})
	return schema
}

// quiet is a logger that drops everything: every test store migrates.
func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// openStore opens a store on schema and closes it when t ends.
func openStore(t testing.TB, url, schema string, opts ...Option) *Store {
	t.Helper()
	opts = append([]Option{WithSchema(schema), WithLogger(quiet())}, opts...)
	s, err := Open(testCtx(t), url, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	url := serverURL(t)
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return openStore(t, url, freshSchema(t, url))
	})
}

type migrationRow struct {
	Version int
	Name    string
}

func appliedMigrations(t *testing.T, s *Store) []migrationRow {
	t.Helper()
	rows, err := s.pool.Query(testCtx(t), `SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[migrationRow])
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return out
}

func wantMigrations(t *testing.T) []migrationRow {
	t.Helper()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}
	var out []migrationRow
	for _, m := range ms {
		out = append(out, migrationRow{m.Version, m.Name})
	}
	return out
}

func TestReopenKeepsDataAndMigrations(t *testing.T) {
	url := serverURL(t)
	schema := freshSchema(t, url)
	ctx := testCtx(t)
	s, err := Open(ctx, url, WithSchema(schema), WithLogger(quiet()))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	acct := &storage.Account{
		ID: "acct-1", Directory: "default", Status: storage.StatusValid,
		KeyThumbprint: "tp", KeyJWK: []byte(`{}`), CreatedAt: now, UpdatedAt: now,
	}
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	before := appliedMigrations(t, s)
	if d := cmp.Diff(wantMigrations(t), before); d != "" {
		t.Fatalf("recorded migrations (-want +got):\n%s", d)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openStore(t, url, schema)
	got, err := s.GetAccount(ctx, acct.ID)
	if err != nil {
		t.Fatalf("GetAccount after reopen: %v", err)
	}
	if got.KeyThumbprint != acct.KeyThumbprint || !got.CreatedAt.Equal(now) {
		t.Errorf("account after reopen = %+v", got)
	}
	if d := cmp.Diff(before, appliedMigrations(t, s)); d != "" {
		t.Errorf("reopen re-ran migrations (-before +after):\n%s", d)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate on a current schema: %v", err)
	}
	if d := cmp.Diff(before, appliedMigrations(t, s)); d != "" {
		t.Errorf("Migrate re-ran migrations (-before +after):\n%s", d)
	}
}

// TestOpenConcurrently starts three instances at once on a schema that does
// not exist yet: the advisory lock must serialise creating the schema and
// migrating it, so all three open without error and each migration is
// recorded once.
func TestOpenConcurrently(t *testing.T) {
	url := serverURL(t)
	schema := freshSchema(t, url)
	const n = 3
	stores := make([]*Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	done := make(chan int)
	for i := range n {
		go func() {
			<-start
			stores[i], errs[i] = Open(testCtx(t), url, WithSchema(schema), WithLogger(quiet()))
			done <- i
		}()
	}
	close(start)
	for range n {
		<-done
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if t.Failed() {
		return
	}
	if d := cmp.Diff(wantMigrations(t), appliedMigrations(t, stores[0])); d != "" {
		t.Errorf("recorded migrations (-want +got):\n%s", d)
	}
	// Every instance sees the one schema.
	ctx := testCtx(t)
	if err := stores[1].RedeemNonce(ctx, "n", time.Now()); err != nil {
		t.Fatalf("RedeemNonce: %v", err)
	}
	if err := stores[2].RedeemNonce(ctx, "n", time.Now()); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("RedeemNonce on another instance = %v, want ErrConflict", err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	url := serverURL(t)
	schema := freshSchema(t, url)
	s := openStore(t, url, schema)
	if _, err := s.pool.Exec(testCtx(t),
		`INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future.sql')`); err != nil {
		t.Fatalf("insert future migration: %v", err)
	}
	s2, err := Open(testCtx(t), url, WithSchema(schema), WithLogger(quiet()))
	if err == nil {
		s2.Close()
		t.Fatalf("Open of a database with a newer schema succeeded")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %q does not say the schema is newer", err)
	}
}

// TestSchemaIsolation checks WithSchema: two stores on two schemas of one
// database share nothing, and the tables live in the schema asked for.
func TestSchemaIsolation(t *testing.T) {
	url := serverURL(t)
	schemaA, schemaB := freshSchema(t, url), freshSchema(t, url)
	a, b := openStore(t, url, schemaA), openStore(t, url, schemaB)
	ctx := testCtx(t)
	if err := a.RedeemNonce(ctx, "shared-name", time.Now()); err != nil {
		t.Fatalf("RedeemNonce in A: %v", err)
	}
	if err := b.RedeemNonce(ctx, "shared-name", time.Now()); err != nil {
		t.Errorf("RedeemNonce in B after A: %v, want success (separate schemas)", err)
	}
	var n int
	err := a.pool.QueryRow(ctx,
		`SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'nonces'`, schemaA).Scan(&n)
	if err != nil || n != 1 {
		t.Errorf("nonces table in schema %s: count %d, %v; want 1", schemaA, n, err)
	}
}

func TestOpenErrors(t *testing.T) {
	url := serverURL(t)
	tests := []struct {
		name    string
		url     string
		opts    []Option
		wantNot string // must not appear in the error
	}{
		{"malformed url", "postgres://user:s3cret@127.0.0.1:5432/test?sslmode=bogus%zz", nil, "s3cret"},
		{"closed port", "postgres://user:s3cret@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", nil, "s3cret"},
		{"reserved schema name", url, []Option{WithSchema("pg_acmegate")}, ""},
		{"schema name too long", url, []Option{WithSchema(strings.Repeat("s", 64))}, ""},
		{"negative max conns", url, []Option{WithMaxConns(-1)}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s, err := Open(testCtx(t), tc.url, tc.opts...)
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded")
			}
			if tc.wantNot != "" && strings.Contains(err.Error(), tc.wantNot) {
				t.Errorf("error %q reveals %q", err, tc.wantNot)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Open took %v to fail", d)
			}
		})
	}
}

func TestPoolConfig(t *testing.T) {
	const base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	tests := []struct {
		name         string
		url          string
		opts         []Option
		wantMax      int32
		wantHealth   time.Duration
		wantTimeout  time.Duration
		wantApp      string
		wantPath     string
		wantHasPath  bool
		wantIdleTime time.Duration
	}{
		{
			name: "defaults", url: base,
			wantMax: DefaultMaxConns, wantHealth: defaultHealthCheckPeriod, wantTimeout: defaultConnectTimeout,
			wantApp: defaultApplicationName, wantIdleTime: defaultMaxConnIdleTime,
		},
		{
			name:    "connection string settings",
			url:     base + "&pool_max_conns=7&pool_health_check_period=1m&connect_timeout=9&application_name=ops&pool_max_conn_idle_time=2m&search_path=custom",
			wantMax: 7, wantHealth: time.Minute, wantTimeout: 9 * time.Second,
			wantApp: "ops", wantPath: "custom", wantHasPath: true, wantIdleTime: 2 * time.Minute,
		},
		{
			name:    "options win over the connection string",
			url:     base + "&pool_max_conns=7&application_name=ops&search_path=custom",
			opts:    []Option{WithMaxConns(3), WithApplicationName("instance-2"), WithSchema("Team A")},
			wantMax: 3, wantHealth: defaultHealthCheckPeriod, wantTimeout: defaultConnectTimeout,
			wantApp: "instance-2", wantPath: `"Team A"`, wantHasPath: true, wantIdleTime: defaultMaxConnIdleTime,
		},
		{
			name:    "keyword/value string",
			url:     "host=127.0.0.1 user=postgres dbname=test pool_max_conns=5",
			wantMax: 5, wantHealth: defaultHealthCheckPeriod, wantTimeout: defaultConnectTimeout,
			wantApp: defaultApplicationName, wantIdleTime: defaultMaxConnIdleTime,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o options
			for _, opt := range tc.opts {
				opt(&o)
			}
			cfg, err := poolConfig(tc.url, o)
			if err != nil {
				t.Fatalf("poolConfig: %v", err)
			}
			params := cfg.ConnConfig.RuntimeParams
			path, hasPath := params["search_path"]
			got := []any{cfg.MaxConns, cfg.HealthCheckPeriod, cfg.ConnConfig.ConnectTimeout,
				params["application_name"], path, hasPath, cfg.MaxConnIdleTime}
			want := []any{tc.wantMax, tc.wantHealth, tc.wantTimeout, tc.wantApp, tc.wantPath, tc.wantHasPath, tc.wantIdleTime}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("max conns, health check, connect timeout, application_name, search_path, set, idle time (-want +got):\n%s", d)
			}
			for k := range params {
				if strings.HasPrefix(k, "pool_") {
					t.Errorf("pool setting %q sent to the server as a runtime parameter", k)
				}
			}
		})
	}
}

// TestTimePrecision pins down what PostgreSQL keeps of a time: the instant
// to the microsecond, in UTC; NULL-able times come back zero.
func TestTimePrecision(t *testing.T) {
	url := serverURL(t)
	s := openStore(t, url, freshSchema(t, url))
	ctx := testCtx(t)
	paris := time.FixedZone("UTC+2", 2*60*60)
	created := time.Date(2031, 1, 2, 3, 4, 5, 123456789, paris)
	tests := []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{"nanoseconds truncated", created, time.Date(2031, 1, 2, 1, 4, 5, 123456000, time.UTC)},
		{"zero", time.Time{}, time.Time{}},
		{"far past", time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &storage.Account{
				ID: randomName("acct-"), Directory: "default", Status: storage.StatusValid,
				KeyThumbprint: randomName("tp-"), KeyJWK: []byte(`{}`), CreatedAt: tc.in, UpdatedAt: tc.in,
			}
			if err := s.CreateAccount(ctx, a); err != nil {
				t.Fatalf("CreateAccount: %v", err)
			}
			got, err := s.GetAccount(ctx, a.ID)
			if err != nil {
				t.Fatalf("GetAccount: %v", err)
			}
			if !got.CreatedAt.Equal(tc.want) || got.CreatedAt.Location() != time.UTC || got.CreatedAt.IsZero() != tc.want.IsZero() {
				t.Errorf("CreatedAt %v came back as %v, want %v in UTC", tc.in, got.CreatedAt, tc.want)
			}
		})
	}
}

func TestMalformedCursor(t *testing.T) {
	url := serverURL(t)
	s := openStore(t, url, freshSchema(t, url))
	b64 := base64.RawURLEncoding.EncodeToString
	for _, c := range []string{"!!!", b64([]byte("no-separator")), b64([]byte("yesterday order-1"))} {
		t.Run(c, func(t *testing.T) {
			_, _, err := s.ListOrderIDs(testCtx(t), "acct", storage.Page{Cursor: c, Limit: 10})
			if err == nil {
				t.Errorf("ListOrderIDs accepted cursor %q", c)
			}
			if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
				t.Errorf("malformed cursor reported as %v", err)
			}
		})
	}
}

// TestForeignKeys checks the schema refuses rows pointing nowhere.
func TestForeignKeys(t *testing.T) {
	url := serverURL(t)
	s := openStore(t, url, freshSchema(t, url))
	o := &storage.Order{ID: "o1", AccountID: "no-such-account", Status: storage.StatusPending}
	err := s.CreateOrder(testCtx(t), o, nil, nil)
	if err == nil || errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreateOrder for an unknown account = %v, want a foreign key error", err)
	}
}

// TestOpenWithoutDDLPrivilege opens an up-to-date schema as a role that may
// only read and write rows, as an operator running `acmegate migrate` under
// a DDL role and `acmegate serve` under a DML-only one would: Open must not
// attempt any DDL (CREATE … IF NOT EXISTS checks privileges before
// existence, so it would fail).
func TestOpenWithoutDDLPrivilege(t *testing.T) {
	url := serverURL(t)
	role := randomName("acmegate_dml_")
	adminExec(t, url, `CREATE ROLE `+pgx.Identifier{role}.Sanitize()+` NOLOGIN`)
	t.Cleanup(func() { adminExec(t, url, `DROP ROLE IF EXISTS `+pgx.Identifier{role}.Sanitize()) })
	schema := freshSchema(t, url)
	openStore(t, url, schema) // migrates, as the test's own role
	sch, rl := pgx.Identifier{schema}.Sanitize(), pgx.Identifier{role}.Sanitize()
	adminExec(t, url, `GRANT USAGE ON SCHEMA `+sch+` TO `+rl+`;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA `+sch+` TO `+rl)

	// The role is taken at connection start, so every pooled connection
	// runs as it whatever the authentication.
	dmlURL, err := neturl.Parse(url)
	if err != nil {
		t.Fatalf("ACMEGATE_TEST_POSTGRES_URL must be a URL for this test: %v", err)
	}
	q := dmlURL.Query()
	q.Set("options", "-c role="+role)
	// libpq's URL syntax, which pgx follows, does not read '+' as a space.
	dmlURL.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")

	s := openStore(t, dmlURL.String(), schema)
	ctx := testCtx(t)
	if err := s.RedeemNonce(ctx, "n", time.Now()); err != nil {
		t.Errorf("RedeemNonce as the DML role: %v", err)
	}
	// order_events takes its seq from an identity column, whose sequence
	// the grant above does not cover: inserting must not need it.
	ev := &storage.OrderEvent{OrderID: "o1", At: time.Now(), Kind: "created", Actor: "system"}
	if err := s.AppendOrderEvents(ctx, ev); err != nil {
		t.Errorf("AppendOrderEvents as the DML role: %v", err)
	}
	if _, err := s.pool.Exec(ctx, `CREATE TABLE ddl_probe (i integer)`); err == nil {
		t.Errorf("the DML role could create a table: the test proves nothing")
	}
}
