package storage

import "sync"

// AccountFeed is the in-process half of an AccountWatcher, for
// implementations to embed: the functions of the WatchAccounts running on
// a store, and the synchronous call of each when this process changes an
// account. The zero value is ready to use.
type AccountFeed struct {
	// mu is held for reading while the functions run, so that the removal
	// of one waits for its calls in flight: fn is never called after its
	// WatchAccounts returned.
	mu   sync.RWMutex
	subs map[*func(string)]struct{}
}

// Subscribe adds fn to the functions Changed calls and returns what
// removes it, which returns once no call of fn is in flight.
func (f *AccountFeed) Subscribe(fn func(accountID string)) (unsubscribe func()) {
	key := &fn
	f.mu.Lock()
	if f.subs == nil {
		f.subs = make(map[*func(string)]struct{})
	}
	f.subs[key] = struct{}{}
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		delete(f.subs, key)
		f.mu.Unlock()
	}
}

// Changed calls every subscribed function with each of ids (an empty id
// meaning "anything may have changed"). The store calls it after the
// method that changed the accounts ended, before that method returns.
func (f *AccountFeed) Changed(ids ...string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for fn := range f.subs {
		for _, id := range ids {
			(*fn)(id)
		}
	}
}
