package acme

import (
	"context"
	"testing"
	"time"
)

// BenchmarkHotPathJWSCached is BenchmarkHotPathJWS/kid with the account
// cache's feed running, as under Server.Run: the account and its parsed
// key come from the cache.
func BenchmarkHotPathJWSCached(b *testing.B) {
	for _, st := range benchStores {
		b.Run(st.name, func(b *testing.B) {
			bs := newBenchServer(b, st.open(b))
			if bs.s.accounts == nil {
				b.Fatal("no account cache: the store has no account feed")
			}
			ctx, cancel := context.WithCancel(context.Background())
			wait := bs.s.startAccountFeed(ctx)
			defer func() { cancel(); wait() }()
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
				bs.s.accounts.mu.Lock()
				live := bs.s.accounts.live
				bs.s.accounts.mu.Unlock()
				if live {
					break
				}
				if time.Now().After(deadline) {
					b.Fatal("the account feed is not live after 5 s")
				}
			}
			benchKID(b, bs)
		})
	}
}
