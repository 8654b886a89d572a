package sqlite

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/storagetest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openAt opens the store at path and closes it when the test ends.
func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(testCtx(t), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return openAt(t, filepath.Join(t.TempDir(), "acmegate.db"))
	})
}

type migrationRow struct {
	Version   int
	Name      string
	AppliedAt string
}

func appliedMigrations(t *testing.T, s *Store) []migrationRow {
	t.Helper()
	rows, err := s.write.QueryContext(testCtx(t), `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var out []migrationRow
	for rows.Next() {
		var m migrationRow
		if err := rows.Scan(&m.Version, &m.Name, &m.AppliedAt); err != nil {
			t.Fatalf("scan schema_migrations: %v", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return out
}

func TestReopenKeepsDataAndMigrations(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "acmegate.db")
	s, err := Open(ctx, path)
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
	ms, err := loadMigrations()
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}
	if len(before) != len(ms) {
		t.Fatalf("%d migrations recorded, want %d", len(before), len(ms))
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openAt(t, path)
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

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acmegate.db")
	s := openAt(t, path)
	if _, err := s.write.ExecContext(testCtx(t),
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', '')`); err != nil {
		t.Fatalf("insert future migration: %v", err)
	}
	if _, err := Open(testCtx(t), path); err == nil {
		t.Fatalf("Open of a database with a newer schema succeeded")
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		path string
	}{
		{"empty path", ""},
		{"missing directory", filepath.Join(t.TempDir(), "no", "such", "dir", "acmegate.db")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(testCtx(t), tc.path)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tc.path)
			}
		})
	}
}

// TestOpenOddPath checks that characters meaningful in a URI stay part of
// the file name.
func TestOpenOddPath(t *testing.T) {
	dir := t.TempDir()
	name := "we?ird #name%20.db"
	s := openAt(t, filepath.Join(dir, name))
	if err := s.Ping(testCtx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
		t.Errorf("database file not created under its own name: %v", err)
	}
}

func TestPragmas(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "acmegate.db"))
	ctx := testCtx(t)
	tests := []struct {
		pool   string
		pragma string
		want   string
	}{
		{"write", "journal_mode", "wal"},
		{"write", "foreign_keys", "1"},
		{"write", "synchronous", "1"}, // NORMAL
		{"write", "busy_timeout", busyTimeoutMS},
		{"write", "wal_autocheckpoint", walCheckpointPages},
		{"write", "journal_size_limit", walSizeLimit},
		{"read", "query_only", "1"},
		{"read", "busy_timeout", busyTimeoutMS},
	}
	for _, tc := range tests {
		t.Run(tc.pool+"/"+tc.pragma, func(t *testing.T) {
			db := s.write
			if tc.pool == "read" {
				db = s.read
			}
			var got string
			if err := db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
			}
			if got != tc.want {
				t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
			}
		})
	}
	if _, err := s.read.ExecContext(ctx, `DELETE FROM nonces`); err == nil {
		t.Errorf("the read pool accepted a write")
	}
}

// TestForeignKeys checks the schema refuses rows pointing nowhere.
func TestForeignKeys(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "acmegate.db"))
	o := &storage.Order{ID: "o1", AccountID: "no-such-account", Status: storage.StatusPending}
	if err := s.CreateOrder(testCtx(t), o, nil, nil); err == nil {
		t.Errorf("CreateOrder for an unknown account succeeded")
	}
}

// TestTwoStoresOneFile has two Stores, standing for two processes, write to
// one file at once: busy_timeout and BEGIN IMMEDIATE must make both succeed.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acmegate.db")
	stores := []*Store{openAt(t, path), openAt(t, path)}
	ctx := testCtx(t)
	errs := make(chan error, len(stores))
	for i, s := range stores {
		go func() {
			for j := range 50 {
				if err := s.RedeemNonce(ctx, fmt.Sprint("n", i, "-", j), time.Now()); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range stores {
		if err := <-errs; err != nil {
			t.Errorf("concurrent writer: %v", err)
		}
	}
	n, err := stores[0].PurgeNonces(ctx, time.Now().Add(time.Hour))
	if err != nil || n != 100 {
		t.Errorf("PurgeNonces = %d, %v; want 100 redemptions recorded", n, err)
	}
}

func TestTimeCodec(t *testing.T) {
	plus2 := time.FixedZone("UTC+2", 2*60*60)
	tests := []struct {
		name    string
		in      time.Time
		want    string
		wantErr bool
	}{
		{"zero", time.Time{}, "0001-01-01T00:00:00.000000000Z", false},
		{"utc nanos", time.Date(2030, 5, 6, 7, 8, 9, 1, time.UTC), "2030-05-06T07:08:09.000000001Z", false},
		{"other zone", time.Date(2030, 5, 6, 9, 8, 9, 0, plus2), "2030-05-06T07:08:09.000000000Z", false},
		{"year 9999", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), "9999-12-31T23:59:59.999999999Z", false},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tval(tc.in).Value()
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Value() = %v, want an error", v)
				}
				return
			}
			if err != nil || v != tc.want {
				t.Fatalf("Value() = %v, %v; want %q", v, err, tc.want)
			}
			var back time.Time
			if err := tscan(&back).Scan(v); err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if !back.Equal(tc.in) || back.Location() != time.UTC || back.IsZero() != tc.in.IsZero() {
				t.Errorf("round trip %v -> %v", tc.in, back)
			}
		})
	}
}

// TestTimeOrder checks that stored text sorts as the times do, which every
// range condition and ORDER BY relies on.
func TestTimeOrder(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2030, 1, 1, 0, 0, 0, 9, time.UTC),
		time.Date(2030, 1, 1, 0, 0, 0, 10, time.UTC),
		time.Date(2030, 1, 1, 0, 0, 1, 0, time.UTC),
		time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	var texts []string
	for _, tm := range times {
		v, err := tval(tm).Value()
		if err != nil {
			t.Fatalf("Value(%v): %v", tm, err)
		}
		texts = append(texts, v.(string))
	}
	if !slices.IsSorted(texts) {
		t.Errorf("stored times do not sort in time order: %q", texts)
	}
}

func TestMalformedCursor(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "acmegate.db"))
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

func TestDatabaseFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "private.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), mode)
		}
	}
}
