package acme

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// Nonces are stateless to issue and stateful to redeem (RFC 8555 §6.5).
//
// A nonce is base64url(expiry(8) ‖ random(12) ‖ HMAC-SHA256(key, expiry ‖
// random)[:12]). Issuing one writes nothing: any instance holding the shared
// key (kept in storage) can mint and check it, so newNonce costs no database
// round trip. Redemption inserts the nonce into storage's redemption table,
// whose uniqueness makes each nonce good exactly once across every instance;
// records older than the nonce lifetime are purged because an expired nonce
// fails the expiry check before storage is asked.
//
// With Config.LocalNonces nonces are good at the minting process only and
// redemption is an in-memory bitmap (nonce_local.go).
const (
	nonceTimeLen = 8
	nonceRandLen = 12
	nonceMACLen  = 12
	nonceLen     = nonceTimeLen + nonceRandLen + nonceMACLen
)

// nonceClockSkew is how far ahead of this instance's clock another
// instance's clock may run before the nonces it mints are refused.
const nonceClockSkew = 5 * time.Minute

// errBadNonce carries the reason a nonce was refused.
var errBadNonce = errors.New("bad nonce")

type nonceService struct {
	key      []byte
	lifetime time.Duration
	store    storage.NonceStore
	clock    Clock
	// local, when set, makes nonces local to this process (see
	// nonce_local.go): key is then this process's own and store unused.
	local *localNonces
}

// newLocalNonceService returns a service of local nonces (Config.LocalNonces).
func newLocalNonceService(clock Clock, lifetime time.Duration) (*nonceService, error) {
	key, err := newLocalNonceKey()
	if err != nil {
		return nil, err
	}
	return &nonceService{key: key, lifetime: lifetime, clock: clock, local: &localNonces{}}, nil
}

func newNonceService(ctx context.Context, st storage.Store, clock Clock, lifetime time.Duration) (*nonceService, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("nonce key: %w", err)
	}
	key, err := st.GetOrCreateSecret(ctx, "nonce-hmac-key", fresh)
	if err != nil {
		return nil, fmt.Errorf("nonce key: %w", err)
	}
	return &nonceService{key: key, lifetime: lifetime, store: st, clock: clock}, nil
}

func (n *nonceService) mac(b []byte) []byte {
	h := hmac.New(sha256.New, n.key)
	h.Write(b)
	return h.Sum(nil)[:nonceMACLen]
}

// New mints a nonce. It does no I/O.
func (n *nonceService) New() string {
	var b [nonceLen]byte
	now := n.clock.Now()
	expires := now.Add(n.lifetime).Unix()
	binary.BigEndian.PutUint64(b[:nonceTimeLen], uint64(expires))
	// crypto/rand.Read never returns an error (Go 1.24+ panics instead).
	_, _ = rand.Read(b[nonceTimeLen : nonceTimeLen+nonceRandLen])
	if n.local != nil {
		// A local nonce's counter takes the first 8 random bytes.
		binary.BigEndian.PutUint64(b[nonceTimeLen:], n.local.mint(now, time.Unix(expires, 0)))
	}
	copy(b[nonceTimeLen+nonceRandLen:], n.mac(b[:nonceTimeLen+nonceRandLen]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Redeem accepts a nonce once. It returns an error wrapping errBadNonce for
// a nonce that is malformed, forged, expired or already used; any other error
// is a storage fault.
func (n *nonceService) Redeem(ctx context.Context, nonce string) error {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != nonceLen {
		return fmt.Errorf("%w: %q is not a nonce this server issued", errBadNonce, truncate(nonce, 64))
	}
	body, tag := b[:nonceTimeLen+nonceRandLen], b[nonceTimeLen+nonceRandLen:]
	if !hmac.Equal(tag, n.mac(body)) {
		return fmt.Errorf("%w: %q is not a nonce this server issued", errBadNonce, truncate(nonce, 64))
	}
	expires := time.Unix(int64(binary.BigEndian.Uint64(b[:nonceTimeLen])), 0).UTC()
	now := n.clock.Now()
	if !now.Before(expires) {
		return fmt.Errorf("%w: the nonce expired at %s", errBadNonce, expires.Format(time.RFC3339))
	}
	// No instance mints a nonce that outlives one lifetime from now: a
	// later expiry comes from an instance whose clock runs ahead, or from
	// a stolen key. Refusing it also keeps redemption records from
	// outliving the purge that assumes nonce lifetimes.
	if expires.After(now.Add(n.lifetime + nonceClockSkew)) {
		return fmt.Errorf("%w: the nonce expires at %s, further in the future than this server issues nonces for; is a server clock wrong?", errBadNonce, expires.Format(time.RFC3339))
	}
	if n.local != nil {
		if !n.local.redeem(binary.BigEndian.Uint64(body[nonceTimeLen:])) {
			return fmt.Errorf("%w: the nonce was already used or is no longer tracked", errBadNonce)
		}
		return nil
	}
	err = n.store.RedeemNonce(ctx, base64.RawURLEncoding.EncodeToString(body[nonceTimeLen:]), expires)
	if errors.Is(err, storage.ErrConflict) {
		return fmt.Errorf("%w: the nonce was already used", errBadNonce)
	}
	if err != nil {
		return fmt.Errorf("redeem nonce: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
