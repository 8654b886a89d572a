package acme

import (
	"crypto/rand"
	"fmt"
	"sync"
	"time"
)

// Local nonces (Config.LocalNonces): minting and redemption touch no
// storage at all.
//
// The HMAC key is drawn at random when the process starts and never leaves
// it, so only this process can mint or check its nonces: another instance
// refuses them (badNonce, and the client retries with the nonce that
// answer carries), and a restarted process refuses every nonce of its
// previous life, which it could no longer tell used from unused. The bytes
// that are random in a shared nonce hold a counter instead, and redemption
// sets the counter's bit in an in-memory bitmap: test-and-set under a
// mutex is what makes a nonce good exactly once, also between concurrent
// requests. The MAC still makes nonces unpredictable (RFC 8555 §6.5).
//
// Memory: the bitmap holds one bit per nonce minted within the last nonce
// lifetime, in chunks of localNonceChunkBits; a chunk whose every nonce has
// expired is dropped. Past localNonceMaxChunks (a flood of newNonce
// requests), the oldest chunk is dropped early and its nonces are refused
// as if expired: never accepted twice, at worst retried by the client.
const (
	localNonceChunkBits = 1 << 16 // 8 KiB a chunk
	localNonceMaxChunks = 512     // 4 MiB, 33 million nonces
)

// localNonces is the redemption bitmap of local nonces.
type localNonces struct {
	mu sync.Mutex
	// next is the counter of the next nonce minted.
	next uint64
	// base is the counter of the first bit of chunks[0]; every nonce below
	// it is refused.
	base   uint64
	chunks []*nonceChunk
	// maxChunks caps len(chunks); 0 means localNonceMaxChunks.
	maxChunks int
}

type nonceChunk struct {
	bits [localNonceChunkBits / 64]uint64
	// lastExpiry is the latest expiry of a nonce minted into the chunk.
	lastExpiry time.Time
}

// newLocalNonceKey is a fresh HMAC key for this process's nonces.
func newLocalNonceKey() ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("nonce key: %w", err)
	}
	return key, nil
}

// mint returns the counter of a new nonce that expires at expires.
func (l *localNonces) mint(now, expires time.Time) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.next
	l.next++
	i := (c - l.base) / localNonceChunkBits
	if i == uint64(len(l.chunks)) {
		l.chunks = append(l.chunks, &nonceChunk{})
		l.trim(now)
		i = (c - l.base) / localNonceChunkBits
	}
	l.chunks[i].lastExpiry = expires
	return c
}

// trim drops the leading chunks whose nonces have all expired, then the
// oldest ones beyond the cap. The newest chunk is always kept.
func (l *localNonces) trim(now time.Time) {
	limit := l.maxChunks
	if limit <= 0 {
		limit = localNonceMaxChunks
	}
	drop := 0
	for drop < len(l.chunks)-1 && (!now.Before(l.chunks[drop].lastExpiry) || len(l.chunks)-drop > limit) {
		drop++
	}
	if drop == 0 {
		return
	}
	l.base += uint64(drop) * localNonceChunkBits
	l.chunks = append(l.chunks[:0:0], l.chunks[drop:]...)
}

// redeem marks counter c used. It reports false for a nonce used before or
// dropped with its chunk.
func (l *localNonces) redeem(c uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c < l.base || c >= l.next {
		return false
	}
	off := c - l.base
	ch := l.chunks[off/localNonceChunkBits]
	w, bit := (off%localNonceChunkBits)/64, uint64(1)<<(off%64)
	if ch.bits[w]&bit != 0 {
		return false
	}
	ch.bits[w] |= bit
	return true
}
