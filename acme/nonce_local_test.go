package acme

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newLocalTestNonces(t *testing.T) (*nonceService, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	n, err := newLocalNonceService(clock, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return n, clock
}

func TestLocalNonceRedeemedOnce(t *testing.T) {
	n, _ := newLocalTestNonces(t)
	ctx := context.Background()
	a, b := n.New(), n.New()
	if a == b {
		t.Fatalf("two nonces are equal: %q", a)
	}
	for _, nonce := range []string{a, b} {
		if err := n.Redeem(ctx, nonce); err != nil {
			t.Fatalf("first redemption: %v", err)
		}
		if err := n.Redeem(ctx, nonce); !errors.Is(err, errBadNonce) {
			t.Fatalf("second redemption: %v, want errBadNonce", err)
		}
	}
}

func TestLocalNonceConcurrentRedemption(t *testing.T) {
	n, _ := newLocalTestNonces(t)
	ctx := context.Background()
	nonces := make([]string, 50)
	for i := range nonces {
		nonces[i] = n.New()
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, nonce := range nonces {
				if n.Redeem(ctx, nonce) == nil {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got := ok.Load(); got != int32(len(nonces)) {
		t.Errorf("%d redemptions succeeded for %d nonces, want exactly one each", got, len(nonces))
	}
}

// TestLocalNonceOtherProcess: a local nonce is good only at the process
// that minted it. Another instance (or this one after a restart) has its
// own key and refuses it, even on the same database, and a shared nonce is
// refused too: no nonce is accepted twice however instances are mixed.
func TestLocalNonceOtherProcess(t *testing.T) {
	ctx := context.Background()
	a, _ := newLocalTestNonces(t)
	b, _ := newLocalTestNonces(t)
	nonce := a.New()
	if err := b.Redeem(ctx, nonce); !errors.Is(err, errBadNonce) {
		t.Fatalf("another process accepted a local nonce: %v", err)
	}
	shared, _ := newTestNonces(t)
	if err := shared.Redeem(ctx, nonce); !errors.Is(err, errBadNonce) {
		t.Fatalf("a shared-nonce instance accepted a local nonce: %v", err)
	}
	if err := a.Redeem(ctx, shared.New()); !errors.Is(err, errBadNonce) {
		t.Fatalf("a local-nonce instance accepted a shared nonce: %v", err)
	}
	if err := a.Redeem(ctx, nonce); err != nil {
		t.Fatalf("the minting process refused its nonce: %v", err)
	}
}

func TestLocalNonceRejections(t *testing.T) {
	n, clock := newLocalTestNonces(t)
	ctx := context.Background()
	expired := n.New()
	clock.Add(time.Hour)
	if err := n.Redeem(ctx, expired); !errors.Is(err, errBadNonce) {
		t.Errorf("expired nonce: %v, want errBadNonce", err)
	}
	good := []byte(n.New())
	forged := append([]byte(nil), good...)
	// Change the counter (byte 8 onwards is characters 11 onwards): the
	// MAC no longer matches.
	if forged[12] == 'A' {
		forged[12] = 'B'
	} else {
		forged[12] = 'A'
	}
	if err := n.Redeem(ctx, string(forged)); !errors.Is(err, errBadNonce) {
		t.Errorf("forged counter: %v, want errBadNonce", err)
	}
	if err := n.Redeem(ctx, string(good)); err != nil {
		t.Errorf("good nonce refused: %v", err)
	}
}

// TestLocalNonceChunks: expired chunks of the bitmap are dropped, so memory
// follows the nonces minted within one lifetime, and a flood of nonces is
// capped; nonces of a dropped chunk are refused, never accepted twice.
func TestLocalNonceChunks(t *testing.T) {
	l := &localNonces{maxChunks: 4}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := l.mint(now, now.Add(time.Hour))
	for range localNonceChunkBits {
		l.mint(now, now.Add(time.Hour))
	}
	if len(l.chunks) != 2 {
		t.Fatalf("%d chunks after %d nonces, want 2", len(l.chunks), localNonceChunkBits+1)
	}
	if !l.redeem(first) || l.redeem(first) {
		t.Fatal("the first nonce was not good exactly once")
	}
	second := first + 1
	// Past the first chunk's expiry, the next chunk opened drops it.
	later := now.Add(2 * time.Hour)
	for range localNonceChunkBits {
		l.mint(later, later.Add(time.Hour))
	}
	if l.base != localNonceChunkBits {
		t.Fatalf("base %d, want the expired first chunk dropped (%d)", l.base, localNonceChunkBits)
	}
	if l.redeem(second) {
		t.Fatal("a nonce of a dropped chunk was accepted")
	}
	// A flood within one lifetime stops at the cap.
	for range (l.maxChunks + 3) * localNonceChunkBits {
		l.mint(later, later.Add(time.Hour))
	}
	if len(l.chunks) > l.maxChunks {
		t.Fatalf("%d chunks, want at most %d", len(l.chunks), l.maxChunks)
	}
	if last := l.next - 1; !l.redeem(last) || l.redeem(last) {
		t.Fatal("the newest nonce was not good exactly once")
	}
	if l.redeem(l.next) {
		t.Fatal("a counter never minted was accepted")
	}
}
