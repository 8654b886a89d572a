package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmegate/acmegate/ca/local"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/validation"
)

// feedStore is a store of accounts with a change feed, as
// storage.AccountWatcher describes it, whose reads a test can hold up.
// Only GetAccount and WatchAccounts are implemented.
type feedStore struct {
	storage.Store

	mu       sync.Mutex
	accounts map[string]*storage.Account
	fns      map[*func(string)]struct{}
	// hold, when set, holds GetAccount back after it read the row, once
	// it sent on read, until hold is closed.
	hold  chan struct{}
	read  chan struct{}
	reads atomic.Int32
	// fail, when set, ends the next WatchAccounts with an error once it
	// is closed.
	fail chan struct{}
}

func newFeedStore() *feedStore {
	return &feedStore{accounts: map[string]*storage.Account{}, fns: map[*func(string)]struct{}{}}
}

func (f *feedStore) GetAccount(_ context.Context, id string) (*storage.Account, error) {
	f.reads.Add(1)
	f.mu.Lock()
	a, ok := f.accounts[id]
	hold, read := f.hold, f.read
	f.mu.Unlock()
	if !ok {
		return nil, storage.ErrNotFound
	}
	c := *a
	if hold != nil {
		read <- struct{}{}
		<-hold
	}
	return &c, nil
}

func (f *feedStore) WatchAccounts(ctx context.Context, fn func(string)) error {
	f.mu.Lock()
	f.fns[&fn] = struct{}{}
	fail := f.fail
	f.fail = nil
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.fns, &fn)
		f.mu.Unlock()
	}()
	fn("")
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-fail:
		return errors.New("feed lost")
	}
}

// put stores a copy of a and, as a store must, tells the running feeds
// before returning.
func (f *feedStore) put(a *storage.Account) {
	c := *a
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[a.ID] = &c
	for fn := range f.fns {
		(*fn)(a.ID)
	}
}

// watchers returns how many feeds run.
func (f *feedStore) watchers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.fns)
}

// testAccount returns a valid account of directory "default" with a new
// ES256 key.
func testAccount(t *testing.T, id string) *storage.Account {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := (&jose.JSONWebKey{Key: k.Public()}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return &storage.Account{ID: id, Directory: "default", Status: storage.StatusValid, KeyJWK: jwk}
}

// manualClock is a Clock tests move by hand.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newCacheServer builds a Server on st with cfg's AccountCacheTTL and
// Clock. The feed runs until the test ends once startFeed is called.
func newCacheServer(t *testing.T, st storage.Store, cfg Config) *Server {
	t.Helper()
	ctx := t.Context()
	backend, err := local.New(ctx, local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	v, err := validation.New(validation.Config{Resolvers: []string{"127.0.0.1:53"}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg.BaseURL, cfg.Store, cfg.Backend, cfg.Validator = "https://acme.test", st, backend, v
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.LocalNonces = true // no nonce key in the store
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startFeed runs the account feed of s until the test ends and waits for
// the cache to be live.
func startFeed(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	wait := s.startAccountFeed(ctx)
	t.Cleanup(func() { cancel(); wait() })
	waitLive(t, s, true)
}

// waitLive waits up to 5 s for the cache to be live (or not).
func waitLive(t *testing.T, s *Server, want bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		s.accounts.mu.Lock()
		live := s.accounts.live
		s.accounts.mu.Unlock()
		if live == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("account cache live = %v after 5 s, want %v", live, want)
		}
	}
}

// lookup looks account id up through s and fails the test on an error
// (panics without a test: from another goroutine).
func lookup(t *testing.T, s *Server, id string) (*storage.Account, *jose.JSONWebKey) {
	if t == nil {
		a, k, err := s.lookupAccount(context.Background(), id)
		if err != nil {
			panic(err)
		}
		return a, k
	}
	t.Helper()
	a, k, err := s.lookupAccount(t.Context(), id)
	if err != nil {
		t.Fatalf("lookupAccount(%s): %v", id, err)
	}
	return a, k
}

// epochStore is a feedStore with an account epoch
// (storage.AccountEpochReader), as SQLite has.
type epochStore struct {
	*feedStore
	epoch  atomic.Int64
	failed atomic.Bool
}

func (e *epochStore) AccountEpoch(context.Context) (int64, error) {
	if e.failed.Load() {
		return 0, errors.New("epoch unreadable")
	}
	return e.epoch.Load(), nil
}

// wantReads fails the test unless the store was read want times in all.
func wantReads(t *testing.T, st *feedStore, want int32, when string) {
	t.Helper()
	if got := st.reads.Load(); got != want {
		t.Fatalf("%s: %d reads of the store, want %d", when, got, want)
	}
}

func TestAccountCacheHitsAndInvalidation(t *testing.T) {
	st := newFeedStore()
	a := testAccount(t, "acct-1")
	st.put(a)
	s := newCacheServer(t, st, Config{})
	startFeed(t, s)

	got, key := lookup(t, s, a.ID)
	again, key2 := lookup(t, s, a.ID)
	wantReads(t, st, 1, "two lookups")
	if got.Status != storage.StatusValid || again.Status != storage.StatusValid || key2 != key {
		t.Fatalf("lookups = %+v %+v, keys %p %p", got, again, key, key2)
	}
	// The caller's copy is its own: a handler changing it changes nothing
	// cached.
	again.Status, again.Contact = storage.StatusDeactivated, []string{"mailto:x@example.com"}
	if third, _ := lookup(t, s, a.ID); third.Status != storage.StatusValid || third.Contact != nil {
		t.Fatalf("a caller's change leaked into the cache: %+v", third)
	}

	d := *a
	d.Status = storage.StatusDeactivated
	st.put(&d)
	if got, _ := lookup(t, s, a.ID); got.Status != storage.StatusDeactivated {
		t.Fatalf("after a change the store reported: %q, want deactivated", got.Status)
	}
	wantReads(t, st, 2, "lookup after a change")

	// fn("") drops everything.
	lookup(t, s, a.ID)
	s.accounts.changed("")
	lookup(t, s, a.ID)
	wantReads(t, st, 3, "lookup after fn(\"\")")

	// Unknown accounts are not cached.
	for range 2 {
		if _, _, err := s.lookupAccount(t.Context(), "nobody"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("unknown account: %v", err)
		}
	}
	wantReads(t, st, 5, "two lookups of an unknown account")
}

// TestAccountCacheFillRace: a lookup reads the row, an invalidation comes,
// then the lookup goes on to cache what it read. The stale row must not
// stay cached.
func TestAccountCacheFillRace(t *testing.T) {
	for _, tc := range []struct {
		name       string
		invalidate func(st *feedStore, s *Server, changed *storage.Account)
	}{
		{"by id", func(st *feedStore, _ *Server, c *storage.Account) { st.put(c) }},
		{"everything", func(st *feedStore, s *Server, c *storage.Account) {
			st.mu.Lock()
			st.accounts[c.ID] = c
			st.mu.Unlock()
			s.accounts.changed("")
		}},
		{"epoch moved", func(st *feedStore, s *Server, c *storage.Account) {
			// Another process changed it: no fn, the epoch moved, and a
			// lookup saw it move before the held one caches.
			st.mu.Lock()
			st.accounts[c.ID] = c
			st.mu.Unlock()
			s.accountEpoch.(*epochStore).epoch.Add(1)
			lookup(nil, s, c.ID)
		}},
		{"feed restarted", func(st *feedStore, s *Server, c *storage.Account) {
			st.mu.Lock()
			st.accounts[c.ID] = c
			st.mu.Unlock()
			s.accounts.off()
			s.accounts.changed("")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newFeedStore()
			a := testAccount(t, "acct-1")
			st.put(a)
			s := newCacheServer(t, &epochStore{feedStore: st}, Config{})
			startFeed(t, s)

			hold, read := make(chan struct{}), make(chan struct{})
			st.mu.Lock()
			st.hold, st.read = hold, read
			st.mu.Unlock()
			type result struct {
				a   *storage.Account
				err error
			}
			res := make(chan result, 1)
			go func() {
				a, _, err := s.lookupAccount(context.Background(), a.ID)
				res <- result{a, err}
			}()
			<-read // the lookup holds the valid row
			st.mu.Lock()
			st.hold, st.read = nil, nil
			st.mu.Unlock()
			d := *a
			d.Status = storage.StatusDeactivated
			tc.invalidate(st, s, &d)
			// Only now does the held lookup go on to cache what it read.
			close(hold)
			r := <-res
			if r.err != nil || r.a.Status != storage.StatusValid {
				t.Fatalf("held lookup = %+v, %v; want the valid row it read", r.a, r.err)
			}
			if got, _ := lookup(t, s, a.ID); got.Status != storage.StatusDeactivated {
				t.Fatalf("lookup after the invalidation = %q: the stale row was cached", got.Status)
			}
		})
	}
}

func TestAccountCacheTTL(t *testing.T) {
	st := newFeedStore()
	a := testAccount(t, "acct-1")
	st.put(a)
	clock := &manualClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := newCacheServer(t, st, Config{Clock: clock, AccountCacheTTL: 10 * time.Second})
	startFeed(t, s)
	lookup(t, s, a.ID)
	clock.advance(10*time.Second - time.Nanosecond)
	lookup(t, s, a.ID)
	wantReads(t, st, 1, "within the TTL")
	clock.advance(time.Nanosecond)
	lookup(t, s, a.ID)
	wantReads(t, st, 2, "at the TTL")
	lookup(t, s, a.ID)
	wantReads(t, st, 2, "after the refill")
}

// TestAccountCacheOff: nothing is cached with a negative TTL, with a store
// that has no feed, before the feed runs, nor once it stopped.
func TestAccountCacheOff(t *testing.T) {
	reads := func(t *testing.T, st *feedStore, s *Server) {
		t.Helper()
		before := st.reads.Load()
		for range 3 {
			lookup(t, s, "acct-1")
		}
		if got := st.reads.Load() - before; got != 3 {
			t.Fatalf("3 lookups read the store %d times, want 3", got)
		}
	}
	t.Run("negative TTL", func(t *testing.T) {
		st := newFeedStore()
		st.put(testAccount(t, "acct-1"))
		s := newCacheServer(t, st, Config{AccountCacheTTL: -1})
		if s.accounts != nil {
			t.Fatal("a cache with a negative AccountCacheTTL")
		}
		ctx, cancel := context.WithCancel(t.Context())
		wait := s.startAccountFeed(ctx)
		defer func() { cancel(); wait() }()
		reads(t, st, s)
		if n := st.watchers(); n != 0 {
			t.Errorf("%d feeds run for a disabled cache", n)
		}
	})
	t.Run("default TTL", func(t *testing.T) {
		s := newCacheServer(t, newFeedStore(), Config{})
		if s.accounts == nil || s.accounts.ttl != time.Minute {
			t.Fatalf("cache with the zero AccountCacheTTL: %+v, want a TTL of 1m", s.accounts)
		}
	})
	t.Run("store without a feed", func(t *testing.T) {
		st := newFeedStore()
		st.put(testAccount(t, "acct-1"))
		// Embedding only storage.Store hides WatchAccounts.
		s := newCacheServer(t, struct{ storage.Store }{st}, Config{})
		if s.accounts != nil {
			t.Fatal("a cache on a store without a feed")
		}
		reads(t, st, s)
	})
	t.Run("feed not started", func(t *testing.T) {
		st := newFeedStore()
		st.put(testAccount(t, "acct-1"))
		s := newCacheServer(t, st, Config{})
		reads(t, st, s)
	})
	t.Run("feed stopped", func(t *testing.T) {
		st := newFeedStore()
		st.put(testAccount(t, "acct-1"))
		s := newCacheServer(t, st, Config{})
		ctx, cancel := context.WithCancel(t.Context())
		wait := s.startAccountFeed(ctx)
		waitLive(t, s, true)
		lookup(t, s, "acct-1")
		cancel()
		wait()
		reads(t, st, s)
	})
}

// TestAccountCacheFeedRestarts: when the feed fails the cache is off until
// a new feed is live.
func TestAccountCacheFeedRestarts(t *testing.T) {
	st := newFeedStore()
	st.put(testAccount(t, "acct-1"))
	fail := make(chan struct{})
	st.fail = fail
	s := newCacheServer(t, st, Config{})
	startFeed(t, s)
	lookup(t, s, "acct-1")
	lookup(t, s, "acct-1")
	wantReads(t, st, 1, "feed live")
	close(fail)
	waitLive(t, s, false)
	s.accounts.mu.Lock()
	n := len(s.accounts.entries)
	s.accounts.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d accounts cached once the feed failed", n)
	}
	waitLive(t, s, true)
	lookup(t, s, "acct-1")
	lookup(t, s, "acct-1")
	wantReads(t, st, 2, "feed restarted")
}

func TestAccountCacheBounded(t *testing.T) {
	c := newAccountCache(time.Minute, 2, systemClock{}, nil)
	c.changed("")
	key := &jose.JSONWebKey{}
	for _, id := range []string{"a", "b", "c", "d"} {
		_, _, gen, _ := c.get(id)
		c.put(id, gen, &storage.Account{ID: id}, key)
		if n := len(c.entries); n > 2 {
			t.Fatalf("%d entries after caching %s, want at most 2", n, id)
		}
		if _, _, _, ok := c.get(id); !ok {
			t.Fatalf("%s not cached right after put", id)
		}
	}
}

// TestAccountCacheEpoch: with an account epoch, a change no feed reported
// (another process's, on SQLite) counts at the next lookup, and an epoch
// that cannot be read turns the cache off for the lookup.
func TestAccountCacheEpoch(t *testing.T) {
	st := newFeedStore()
	a := testAccount(t, "acct-1")
	st.put(a)
	es := &epochStore{feedStore: st}
	s := newCacheServer(t, es, Config{})
	startFeed(t, s)
	lookup(t, s, a.ID)
	lookup(t, s, a.ID)
	wantReads(t, st, 1, "epoch unchanged")

	// Another process deactivates it: nothing tells the feed.
	d := *a
	d.Status = storage.StatusDeactivated
	st.mu.Lock()
	st.accounts[a.ID] = &d
	st.mu.Unlock()
	if got, _ := lookup(t, s, a.ID); got.Status != storage.StatusValid {
		t.Fatalf("without the epoch moving: %q; the test no longer shows what the epoch does", got.Status)
	}
	es.epoch.Add(1)
	if got, _ := lookup(t, s, a.ID); got.Status != storage.StatusDeactivated {
		t.Fatalf("after the epoch moved: %q, want deactivated", got.Status)
	}
	wantReads(t, st, 2, "epoch moved")
	lookup(t, s, a.ID)
	wantReads(t, st, 2, "epoch unchanged again")

	es.failed.Store(true)
	lookup(t, s, a.ID)
	lookup(t, s, a.ID)
	wantReads(t, st, 4, "epoch unreadable")
	es.failed.Store(false)
	lookup(t, s, a.ID)
	lookup(t, s, a.ID)
	wantReads(t, st, 5, "epoch readable again")
}
