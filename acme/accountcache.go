package acme

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmegate/acmegate/storage"
)

// The account cache. Every kid-signed request (five per issuance) needs
// its account and the account's parsed key; reading the row is a database
// round trip, parsing the JWK a few microseconds more. The cache keeps
// both, and is correct only because the store tells it about every change
// (storage.AccountWatcher): a deactivation, a key rollover or an EAB
// revocation made in this process drops the entry before the method that
// made it returns, one made elsewhere as soon as the store's feed reports
// it (PostgreSQL: NOTIFY, milliseconds). SQLite's feed polls, once a
// second, too late for the acmegate CLI revoking an EAB key and its
// accounts while the server runs; on a store with an account epoch
// (storage.AccountEpochReader) every lookup reads it, a few microseconds
// next to a row read and a key parse, and a change anywhere counts at
// once. Without a running feed the cache keeps nothing.

// accountCacheSize bounds the number of cached accounts (about 1 KiB
// each, so about 10 MiB when full): the accounts active within one TTL.
// Past it an arbitrary entry makes room, and an evicted account costs one
// read when it is next used.
const accountCacheSize = 10_000

// Restarts of a failed feed back off from accountFeedRetryMin to
// accountFeedRetryMax; the cache stays off meanwhile.
const (
	accountFeedRetryMin = 100 * time.Millisecond
	accountFeedRetryMax = 5 * time.Second
)

// accountCache maps account ids to their row and parsed key. A nil
// *accountCache caches nothing.
type accountCache struct {
	ttl     time.Duration
	size    int
	clock   Clock
	metrics *Metrics

	mu sync.Mutex
	// live is set while a feed runs that has called fn(""), the point
	// from which it reports every change: only then is anything cached.
	live bool
	// gen grows at every invalidation. A lookup that missed notes it
	// before reading the store, and its row is cached only if gen has not
	// moved since: a row read before an invalidation it raced with would
	// otherwise be cached after it, stale.
	gen     uint64
	entries map[string]cachedAccount
	// epoch is the store's account epoch at the last lookup that read it
	// (storage.AccountEpochReader).
	epoch int64
}

type cachedAccount struct {
	// acct is never handed out: callers get copies, which handlers
	// modify (account update).
	acct    *storage.Account
	key     *jose.JSONWebKey
	expires time.Time
}

func newAccountCache(ttl time.Duration, size int, clock Clock, metrics *Metrics) *accountCache {
	return &accountCache{ttl: ttl, size: size, clock: clock, metrics: metrics, entries: make(map[string]cachedAccount)}
}

// get returns a copy of the cached account id and its key. On a miss it
// returns ok false and the generation to hand to put.
func (c *accountCache) get(id string) (acct *storage.Account, key *jose.JSONWebKey, gen uint64, ok bool) {
	if c == nil {
		return nil, nil, 0, false
	}
	c.mu.Lock()
	e, found := c.entries[id]
	gen, live := c.gen, c.live
	if found && !c.clock.Now().Before(e.expires) {
		delete(c.entries, id)
		found = false
	}
	c.mu.Unlock()
	switch {
	case !live:
		c.metrics.accountLookup("off")
		return nil, nil, gen, false
	case !found:
		c.metrics.accountLookup("miss")
		return nil, nil, gen, false
	}
	c.metrics.accountLookup("hit")
	a := *e.acct
	return &a, e.key, gen, true
}

// put caches a copy of acct and key under id, read by a lookup that
// missed at generation gen, unless an invalidation came since or no feed
// is live.
func (c *accountCache) put(id string, gen uint64, acct *storage.Account, key *jose.JSONWebKey) {
	if c == nil {
		return
	}
	a := *acct
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.gen != gen {
		return
	}
	if _, found := c.entries[id]; !found && len(c.entries) >= c.size {
		// Full: make room by evicting an arbitrary entry (map order).
		// An account evicted while in use costs one read.
		for other := range c.entries {
			delete(c.entries, other)
			break
		}
	}
	c.entries[id] = cachedAccount{acct: &a, key: key, expires: c.clock.Now().Add(c.ttl)}
}

// changed is the storage.AccountWatcher callback: id changed, or with ""
// anything may have, which is also how a feed says it is live.
func (c *accountCache) changed(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if id == "" {
		c.live = true
		clear(c.entries)
		return
	}
	delete(c.entries, id)
}

// observe takes in the store's account epoch n, read before a lookup:
// when it moved since the last one, an account changed somewhere, and
// everything is dropped. Epochs read concurrently may be observed out of
// order; that only drops more.
func (c *accountCache) observe(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n != c.epoch {
		c.epoch = n
		c.gen++
		clear(c.entries)
	}
}

// drop drops everything, leaving the cache live.
func (c *accountCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

// isLive reports whether the cache keeps accounts now.
func (c *accountCache) isLive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// off drops everything and caches nothing until a feed is live again.
func (c *accountCache) off() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live = false
	clear(c.entries)
}

// run keeps a feed of account changes from w running until ctx ends,
// restarting it with a backoff when it fails; the cache is off whenever
// none runs.
func (c *accountCache) run(ctx context.Context, w storage.AccountWatcher, log *slog.Logger) {
	if c == nil {
		return
	}
	retry := accountFeedRetryMin
	for {
		started := time.Now()
		err := w.WatchAccounts(ctx, c.changed)
		c.off()
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > accountFeedRetryMax {
			// It ran for a while: a new failure, not the same one again.
			retry = accountFeedRetryMin
		}
		log.WarnContext(ctx, "account change feed stopped; account cache off until it is back",
			slog.Any("error", err), slog.Duration("retry_in", retry))
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		retry = min(2*retry, accountFeedRetryMax)
	}
}

// startAccountFeed runs the account cache's feed until ctx ends; the
// returned function waits for it to stop. Without a cache it does nothing.
func (s *Server) startAccountFeed(ctx context.Context) (wait func()) {
	if s.accounts == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.accounts.run(ctx, s.accountFeed, s.log)
	}()
	return func() { <-done }
}

// lookupAccount returns account id with its parsed key, from the cache
// or from the store, or the store's error (storage.ErrNotFound). The
// account is the caller's to modify; the key is shared and read-only.
func (s *Server) lookupAccount(ctx context.Context, id string) (*storage.Account, *jose.JSONWebKey, error) {
	if s.accountEpoch != nil && s.accounts.isLive() {
		// Before get, so that a row read after it is cached only if no
		// epoch observed meanwhile moved (the generation).
		n, err := s.accountEpoch.AccountEpoch(ctx)
		if err != nil {
			// Whether an account changed is unknown: read it, cache nothing.
			s.accounts.drop()
			return s.readAccount(ctx, id)
		}
		s.accounts.observe(n)
	}
	acct, key, gen, ok := s.accounts.get(id)
	if ok {
		return acct, key, nil
	}
	acct, key, err := s.readAccount(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	s.accounts.put(id, gen, acct, key)
	return acct, key, nil
}

// readAccount reads account id from the store and parses its key.
func (s *Server) readAccount(ctx context.Context, id string) (*storage.Account, *jose.JSONWebKey, error) {
	acct, err := s.store.GetAccount(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	key := new(jose.JSONWebKey)
	if err := key.UnmarshalJSON(acct.KeyJWK); err != nil {
		return nil, nil, fmt.Errorf("stored key of account %s: %w", acct.ID, err)
	}
	return acct, key, nil
}
