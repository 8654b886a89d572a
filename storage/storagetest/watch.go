package storagetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// WatchOptions describe what an implementation of storage.AccountWatcher
// documents.
type WatchOptions struct {
	// Within is the longest delay between a change committed by another
	// process and the fn call that reports it.
	Within time.Duration
	// NamesIDs is set when changes of another process are reported by
	// their account ids; otherwise fn("") reporting them is enough.
	NamesIDs bool
}

// RunWatch runs the conformance suite of storage.AccountWatcher. open must
// return two stores on one new, empty, migrated database that no other
// test shares, as two processes would open it, the first of which
// implements storage.AccountWatcher, and close them when t ends; it is
// called from parallel subtests.
func RunWatch(t *testing.T, o WatchOptions, open func(t *testing.T) (watched, other storage.Store)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env, w storage.AccountWatcher, other storage.Store, o WatchOptions)
	}{
		{"Starts", testWatchStarts},
		{"InProcess", testWatchInProcess},
		{"InProcessFailed", testWatchInProcessFailed},
		{"OtherProcess", testWatchOtherProcess},
		{"Several", testWatchSeveral},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			s, other := open(t)
			w, ok := s.(storage.AccountWatcher)
			if !ok {
				t.Fatalf("%T does not implement storage.AccountWatcher", s)
			}
			tc.fn(t, &env{t: t, s: s, ctx: ctx}, w, other, o)
		})
	}
}

// watchRecorder records the calls of a WatchAccounts' fn.
type watchRecorder struct {
	mu    sync.Mutex
	calls []string
	// stopped is set once WatchAccounts returned: fn MUST NOT be called
	// after that.
	stopped bool
	late    []string
	// called is signalled, without blocking, at every call.
	called chan struct{}
}

func (r *watchRecorder) fn(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		r.late = append(r.late, id)
	}
	r.calls = append(r.calls, id)
	select {
	case r.called <- struct{}{}:
	default:
	}
}

// seen returns the calls so far and forgets them.
func (r *watchRecorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// await waits up to within until fn has been called with every one of ids,
// or with "" when orAll is set, since the calls were last forgotten, and
// then forgets them; it reports whether that happened.
func (r *watchRecorder) await(ctx context.Context, within time.Duration, orAll bool, ids ...string) bool {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := (orAll && slices.Contains(r.calls, "")) ||
			!slices.ContainsFunc(ids, func(id string) bool { return !slices.Contains(r.calls, id) })
		if ok {
			r.calls = nil
		}
		r.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-r.called:
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// watching is one running WatchAccounts.
type watching struct {
	*watchRecorder
	cancel context.CancelFunc
	done   chan error
	// returned and err are set by the first stop.
	returned bool
	err      error
}

// stop ends WatchAccounts and returns what it returned.
func (wa *watching) stop(t *testing.T) error {
	t.Helper()
	if wa.returned {
		return wa.err
	}
	wa.cancel()
	select {
	case wa.err = <-wa.done:
		wa.returned = true
		wa.mu.Lock()
		wa.stopped = true
		wa.mu.Unlock()
		return wa.err
	case <-time.After(10 * time.Second):
		t.Fatal("WatchAccounts did not return 10 s after its context ended")
		return nil
	}
}

// watchAccounts starts WatchAccounts on w and waits for its first fn(""), which
// must come within o.Within; it is stopped when t ends.
func watchAccounts(t *testing.T, e *env, w storage.AccountWatcher, o WatchOptions) *watching {
	t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	wa := &watching{watchRecorder: &watchRecorder{called: make(chan struct{}, 1)}, cancel: cancel, done: make(chan error, 1)}
	go func() { wa.done <- w.WatchAccounts(ctx, wa.fn) }()
	t.Cleanup(func() { _ = wa.stop(t) })
	if !wa.await(e.ctx, o.Within+time.Second, false, "") {
		select {
		case err := <-wa.done:
			t.Fatalf("WatchAccounts returned %v before it called fn(\"\")", err)
		default:
		}
		t.Fatalf("WatchAccounts did not call fn(\"\") within %v of starting", o.Within+time.Second)
	}
	return wa
}

// deactivated returns a copy of a, deactivated later.
func deactivated(a *storage.Account) *storage.Account {
	d := *a
	d.Status, d.UpdatedAt = storage.StatusDeactivated, a.UpdatedAt.Add(time.Hour)
	return &d
}

// eabBound stores a reusable EAB key of dir and n valid accounts it bound.
func (e *env) eabBound(dir string, n int) (*storage.EABKey, []*storage.Account) {
	e.t.Helper()
	k := eabKey(dir)
	k.Reusable = true
	e.storedEABKey(k)
	var accts []*storage.Account
	for i := range n {
		a := eabAccount(dir, k.ID, base().Add(time.Duration(i+1)*time.Minute))
		must(e.t, "CreateAccount", e.s.CreateAccount(e.ctx, a))
		accts = append(accts, a)
	}
	return k, accts
}

// testWatchStarts: fn("") once listening; WatchAccounts returns ctx's
// error when ctx ends and calls fn no more.
func testWatchStarts(t *testing.T, e *env, w storage.AccountWatcher, _ storage.Store, o WatchOptions) {
	wa := watchAccounts(t, e, w, o)
	if err := wa.stop(t); !errors.Is(err, context.Canceled) {
		t.Errorf("WatchAccounts after its context ended = %v, want context.Canceled", err)
	}
	a := e.account("default")
	must(t, "UpdateAccount", e.s.UpdateAccount(e.ctx, deactivated(a)))
	wa.mu.Lock()
	defer wa.mu.Unlock()
	if len(wa.late) > 0 {
		t.Errorf("fn called with %q after WatchAccounts returned", wa.late)
	}
}

// testWatchInProcess: each change through the watched store calls fn
// with its id before the method returns.
func testWatchInProcess(t *testing.T, e *env, w storage.AccountWatcher, _ storage.Store, o WatchOptions) {
	wa := watchAccounts(t, e, w, o)
	// reported fails the test unless fn was called with every id of want
	// since the last check.
	reported := func(t *testing.T, what string, want ...string) {
		t.Helper()
		got := wa.seen()
		for _, id := range want {
			if !slices.Contains(got, id) {
				t.Errorf("%s returned before fn(%q) (calls: %q)", what, id, got)
			}
		}
	}
	t.Run("UpdateAccount", func(t *testing.T) {
		a := e.with(t).account("default")
		wa.seen()
		up := *a
		up.Contact, up.UpdatedAt = []string{"mailto:new@example.com"}, base().Add(time.Minute)
		must(t, "UpdateAccount", e.s.UpdateAccount(e.ctx, &up))
		reported(t, "UpdateAccount", a.ID)
		must(t, "UpdateAccount deactivate", e.s.UpdateAccount(e.ctx, deactivated(a)))
		reported(t, "UpdateAccount deactivate", a.ID)
	})
	t.Run("ChangeAccountKey", func(t *testing.T) {
		a := e.with(t).account("default")
		wa.seen()
		must(t, "ChangeAccountKey", e.s.ChangeAccountKey(e.ctx, a.ID, a.KeyThumbprint, newID("tp"), []byte(`{"kty":"EC"}`)))
		reported(t, "ChangeAccountKey", a.ID)
	})
	t.Run("RevokeEABKey", func(t *testing.T) {
		k, accts := e.with(t).eabBound("default", 2)
		wa.seen()
		n, err := e.s.RevokeEABKey(e.ctx, k.ID, true, base().Add(time.Hour))
		must(t, "RevokeEABKey", err)
		if n != len(accts) {
			t.Fatalf("RevokeEABKey deactivated %d accounts, want %d", n, len(accts))
		}
		reported(t, "RevokeEABKey", accts[0].ID, accts[1].ID)
	})
}

// testWatchInProcessFailed: a change refused (ErrConflict) also calls fn
// before returning; the contract asks for it whatever the outcome, since
// a commit that failed may have written.
func testWatchInProcessFailed(t *testing.T, e *env, w storage.AccountWatcher, _ storage.Store, o WatchOptions) {
	wa := watchAccounts(t, e, w, o)
	a := e.account("default")
	must(t, "UpdateAccount deactivate", e.s.UpdateAccount(e.ctx, deactivated(a)))
	wa.seen()
	wantErr(t, "UpdateAccount of a deactivated account", e.s.UpdateAccount(e.ctx, deactivated(a)), storage.ErrConflict)
	if got := wa.seen(); !slices.Contains(got, a.ID) {
		t.Errorf("a refused UpdateAccount returned before fn(%q) (calls: %q)", a.ID, got)
	}
	wantErr(t, "ChangeAccountKey with a stale key", e.s.ChangeAccountKey(e.ctx, a.ID, "not-the-key", newID("tp"), []byte(`{}`)), storage.ErrConflict)
	if got := wa.seen(); !slices.Contains(got, a.ID) {
		t.Errorf("a refused ChangeAccountKey returned before fn(%q) (calls: %q)", a.ID, got)
	}
}

// testWatchOtherProcess: each change through another store on the same
// database reaches fn within o.Within, by its id when o.NamesIDs.
func testWatchOtherProcess(t *testing.T, e *env, w storage.AccountWatcher, other storage.Store, o WatchOptions) {
	wa := watchAccounts(t, e, w, o)
	// reported fails the test unless fn is called within o.Within with
	// every one of ids (or with "" unless o.NamesIDs).
	reported := func(t *testing.T, what string, ids ...string) {
		t.Helper()
		start := time.Now()
		if !wa.await(e.ctx, o.Within, !o.NamesIDs, ids...) {
			t.Errorf("%s by another store: fn not called with %q within %v", what, ids, o.Within)
			return
		}
		t.Logf("%s by another store reported after %v", what, time.Since(start).Round(time.Millisecond))
	}
	t.Run("UpdateAccount", func(t *testing.T) {
		a := e.with(t).account("default")
		wa.seen()
		must(t, "UpdateAccount", other.UpdateAccount(e.ctx, deactivated(a)))
		reported(t, "UpdateAccount", a.ID)
	})
	t.Run("ChangeAccountKey", func(t *testing.T) {
		a := e.with(t).account("default")
		wa.seen()
		must(t, "ChangeAccountKey", other.ChangeAccountKey(e.ctx, a.ID, a.KeyThumbprint, newID("tp"), []byte(`{"kty":"EC"}`)))
		reported(t, "ChangeAccountKey", a.ID)
	})
	t.Run("RevokeEABKey", func(t *testing.T) {
		k, accts := e.with(t).eabBound("default", 2)
		wa.seen()
		_, err := other.RevokeEABKey(e.ctx, k.ID, true, base().Add(time.Hour))
		must(t, "RevokeEABKey", err)
		reported(t, "RevokeEABKey", accts[0].ID, accts[1].ID)
	})
}

// testWatchSeveral: two WatchAccounts on one store both hear this
// process's changes, and stopping one leaves the other working.
func testWatchSeveral(t *testing.T, e *env, w storage.AccountWatcher, _ storage.Store, o WatchOptions) {
	one, two := watchAccounts(t, e, w, o), watchAccounts(t, e, w, o)
	a := e.account("default")
	one.seen()
	two.seen()
	must(t, "UpdateAccount", e.s.UpdateAccount(e.ctx, deactivated(a)))
	for i, wa := range []*watching{one, two} {
		if got := wa.seen(); !slices.Contains(got, a.ID) {
			t.Errorf("watcher %d: UpdateAccount returned before fn(%q) (calls: %q)", i+1, a.ID, got)
		}
	}
	if err := one.stop(t); !errors.Is(err, context.Canceled) {
		t.Errorf("WatchAccounts after its context ended = %v, want context.Canceled", err)
	}
	b := e.account("default")
	two.seen()
	must(t, "ChangeAccountKey", e.s.ChangeAccountKey(e.ctx, b.ID, b.KeyThumbprint, newID("tp"), []byte(`{}`)))
	if got := two.seen(); !slices.Contains(got, b.ID) {
		t.Errorf("after the other watcher stopped: ChangeAccountKey returned before fn(%q) (calls: %q)", b.ID, got)
	}
	one.mu.Lock()
	defer one.mu.Unlock()
	if len(one.late) > 0 {
		t.Errorf("fn of the stopped watcher called with %q", one.late)
	}
}
