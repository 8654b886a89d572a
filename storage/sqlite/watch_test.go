package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/storagetest"
)

// TestWatchAccounts runs the AccountWatcher suite with the second store
// on the same file standing for another process (the acmegate CLI).
func TestWatchAccounts(t *testing.T) {
	storagetest.RunWatch(t, storagetest.WatchOptions{Within: 2 * accountPoll},
		func(t *testing.T) (storage.Store, storage.Store) {
			path := filepath.Join(t.TempDir(), "acmegate.db")
			return openAt(t, path), openAt(t, path)
		})
}

// TestWatchAccountsAnyStatement: a change of an account row by a
// statement that is none of the store's (an operator's sqlite3 session, a
// method added later) reaches the watcher too: the triggers bump the
// epoch, not the methods.
func TestWatchAccountsAnyStatement(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acmegate.db")
	s, other := openAt(t, path), openAt(t, path)
	ctx := testCtx(t)
	a := &storage.Account{ID: "acct-1", Directory: "default", Status: storage.StatusValid,
		KeyThumbprint: "tp-1", KeyJWK: []byte(`{}`), CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	calls := make(chan string, 16)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.WatchAccounts(wctx, func(id string) { calls <- id }) }()
	t.Cleanup(func() { cancel(); <-done })
	want := func(what string) {
		t.Helper()
		select {
		case id := <-calls:
			if id != "" {
				t.Fatalf("%s: fn(%q), want fn(\"\")", what, id)
			}
		case <-time.After(2 * accountPoll):
			t.Fatalf("%s: no fn(\"\") within %v", what, 2*accountPoll)
		}
	}
	want("start")
	epoch := func() int64 {
		t.Helper()
		n, err := s.AccountEpoch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := epoch()
	for _, stmt := range []string{
		`UPDATE accounts SET contact = '["mailto:x@example.com"]' WHERE id = 'acct-1'`,
		`DELETE FROM accounts WHERE id = 'acct-1'`,
	} {
		if _, err := other.write.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		// The epoch moved at once, the feed within its poll.
		if after := epoch(); after == before {
			t.Errorf("%s: the account epoch stayed %d", stmt, after)
		} else {
			before = after
		}
		want(stmt)
	}
	b := *a
	b.ID, b.KeyThumbprint = "acct-2", "tp-2"
	if err := other.CreateAccount(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if after := epoch(); after != before {
		t.Errorf("CreateAccount moved the account epoch from %d to %d: no one can have cached a new account", before, after)
	}
	select {
	case id := <-calls:
		t.Errorf("fn(%q) with nothing changed", id)
	case <-time.After(2 * accountPoll):
	}
}
