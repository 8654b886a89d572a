package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/storagetest"
)

// TestWatchAccounts runs the AccountWatcher suite with the second store
// on the same schema standing for another instance.
func TestWatchAccounts(t *testing.T) {
	url := serverURL(t)
	storagetest.RunWatch(t, storagetest.WatchOptions{Within: 2 * time.Second, NamesIDs: true},
		func(t *testing.T) (storage.Store, storage.Store) {
			schema := freshSchema(t, url)
			return openStore(t, url, schema), openStore(t, url, schema)
		})
}

// watchCalls runs s.WatchAccounts, sending what fn receives on the
// returned channel, and what it returns on the other.
func watchCalls(t *testing.T, ctx context.Context, s *Store) (<-chan string, <-chan error) {
	t.Helper()
	calls := make(chan string, 64)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	go func() { done <- s.WatchAccounts(ctx, func(id string) { calls <- id }) }()
	t.Cleanup(cancel)
	return calls, done
}

// awaitCall fails the test unless fn(want) comes within d; other calls
// are skipped.
func awaitCall(t *testing.T, calls <-chan string, want string, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case id := <-calls:
			if id == want {
				return
			}
		case <-timeout:
			t.Fatalf("no fn(%q) within %v", want, d)
		}
	}
}

// TestWatchAccountsInterrupted: when the listening connection is killed
// (pg_terminate_backend, as a failover or an operator would), WatchAccounts
// returns an error at once, and a new WatchAccounts hears changes again.
func TestWatchAccountsInterrupted(t *testing.T) {
	url := serverURL(t)
	schema := freshSchema(t, url)
	app := randomName("acmegate_watch_")
	s := openStore(t, url, schema, WithApplicationName(app))
	other := openStore(t, url, schema)
	ctx := testCtx(t)
	now := time.Now()
	a := &storage.Account{ID: randomName("acct-"), Directory: "default", Status: storage.StatusValid,
		KeyThumbprint: randomName("tp-"), KeyJWK: []byte(`{}`), CreatedAt: now, UpdatedAt: now}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}

	calls, done := watchCalls(t, ctx, s)
	awaitCall(t, calls, "", 5*time.Second)
	// Only the listening connection: the pool's keep the application name
	// without the suffix.
	adminExec(t, url, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, app+" accounts")
	select {
	case err := <-done:
		if err == nil || errors.Is(err, context.Canceled) {
			t.Fatalf("WatchAccounts after its connection was killed = %v, want the connection's error", err)
		}
		t.Logf("WatchAccounts returned %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("WatchAccounts still running 10 s after its connection was killed")
	}

	calls, _ = watchCalls(t, ctx, s)
	awaitCall(t, calls, "", 5*time.Second)
	a.Contact, a.UpdatedAt = []string{"mailto:new@example.com"}, now.Add(time.Second)
	if err := other.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	awaitCall(t, calls, a.ID, 2*time.Second)
}

// TestWatchAccountsAnyStatement: a change of an account row by a
// statement that is none of the store's (an operator's psql session, an
// instance of the previous release) reaches the watcher by its id: the
// trigger notifies, not the methods.
func TestWatchAccountsAnyStatement(t *testing.T) {
	url := serverURL(t)
	schema := freshSchema(t, url)
	s := openStore(t, url, schema)
	ctx := testCtx(t)
	now := time.Now()
	a := &storage.Account{ID: randomName("acct-"), Directory: "default", Status: storage.StatusValid,
		KeyThumbprint: randomName("tp-"), KeyJWK: []byte(`{}`), CreatedAt: now, UpdatedAt: now}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	calls, _ := watchCalls(t, ctx, s)
	awaitCall(t, calls, "", 5*time.Second)
	table := pgx.Identifier{schema, "accounts"}.Sanitize()
	for _, stmt := range []string{
		`UPDATE ` + table + ` SET contact = '{mailto:x@example.com}' WHERE id = $1`,
		`DELETE FROM ` + table + ` WHERE id = $1`,
	} {
		adminExec(t, url, stmt, a.ID)
		awaitCall(t, calls, a.ID, 2*time.Second)
	}
}

// TestWatchAccountsIdle: a feed silent for longer than watchIdlePing pings
// its connection and keeps listening on it.
func TestWatchAccountsIdle(t *testing.T) {
	url := serverURL(t)
	schema := freshSchema(t, url)
	s, other := openStore(t, url, schema), openStore(t, url, schema)
	ctx := testCtx(t)
	now := time.Now()
	a := &storage.Account{ID: randomName("acct-"), Directory: "default", Status: storage.StatusValid,
		KeyThumbprint: randomName("tp-"), KeyJWK: []byte(`{}`), CreatedAt: now, UpdatedAt: now}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	calls, done := watchCalls(t, ctx, s)
	awaitCall(t, calls, "", 5*time.Second)
	select {
	case err := <-done:
		t.Fatalf("WatchAccounts returned %v while idle", err)
	case id := <-calls:
		t.Fatalf("fn(%q) with nothing changed", id)
	case <-time.After(watchIdlePing + watchPingTimeout):
	}
	a.Contact, a.UpdatedAt = []string{"mailto:new@example.com"}, now.Add(time.Second)
	if err := other.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	awaitCall(t, calls, a.ID, 2*time.Second)
}
