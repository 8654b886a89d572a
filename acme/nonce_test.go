package acme

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage/sqlite"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestNonces(t *testing.T) (*nonceService, *fakeClock) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	n, err := newNonceService(ctx, st, clock, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return n, clock
}

func TestNonceRedeemedOnce(t *testing.T) {
	n, _ := newTestNonces(t)
	ctx := context.Background()
	nonce := n.New()
	if err := n.Redeem(ctx, nonce); err != nil {
		t.Fatalf("first redemption: %v", err)
	}
	if err := n.Redeem(ctx, nonce); !errors.Is(err, errBadNonce) {
		t.Fatalf("second redemption: %v, want errBadNonce", err)
	}
}

func TestNonceConcurrentRedemption(t *testing.T) {
	n, _ := newTestNonces(t)
	ctx := context.Background()
	nonce := n.New()
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n.Redeem(ctx, nonce) == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Errorf("%d concurrent redemptions succeeded, want exactly 1", ok.Load())
	}
}

func TestNonceRejections(t *testing.T) {
	n, clock := newTestNonces(t)
	ctx := context.Background()
	expired := n.New()
	clock.Add(time.Hour)
	good := n.New()
	forged := []byte(good)
	// Flip a character inside the MAC part (not the last one, whose low
	// bits are padding that decoding ignores).
	i := len(forged) - 5
	if forged[i] == 'A' {
		forged[i] = 'B'
	} else {
		forged[i] = 'A'
	}
	other, _ := newTestNonces(t) // a different server key
	cases := map[string]string{
		"expired":    expired,
		"forged":     string(forged),
		"not base64": "!!!!",
		"too short":  "AAAA",
		"other key":  other.New(),
		"empty":      "",
	}
	for name, nonce := range cases {
		t.Run(name, func(t *testing.T) {
			if err := n.Redeem(ctx, nonce); !errors.Is(err, errBadNonce) {
				t.Errorf("Redeem(%q) = %v, want errBadNonce", nonce, err)
			}
		})
	}
	if err := n.Redeem(ctx, good); err != nil {
		t.Errorf("good nonce refused: %v", err)
	}
}

func TestNonceKeySharedAcrossInstances(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := &fakeClock{now: time.Now()}
	a, err := newNonceService(ctx, st, clock, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newNonceService(ctx, st, clock, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	nonce := a.New()
	if err := b.Redeem(ctx, nonce); err != nil {
		t.Fatalf("instance b refused instance a's nonce: %v", err)
	}
	if err := a.Redeem(ctx, nonce); !errors.Is(err, errBadNonce) {
		t.Fatalf("instance a accepted a nonce b already redeemed: %v", err)
	}
}

func BenchmarkNonceNew(b *testing.B) {
	n := &nonceService{key: make([]byte, 32), lifetime: time.Hour, clock: systemClock{}}
	for b.Loop() {
		_ = n.New()
	}
}
