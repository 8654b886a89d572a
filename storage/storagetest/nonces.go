package storagetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

func testRedeemNonce(t *testing.T, e *env) {
	expires := base().Add(time.Hour)
	must(t, "RedeemNonce", e.s.RedeemNonce(e.ctx, "nonce-1", expires))
	wantErr(t, "RedeemNonce twice", e.s.RedeemNonce(e.ctx, "nonce-1", expires), storage.ErrConflict)
	must(t, "RedeemNonce another", e.s.RedeemNonce(e.ctx, "nonce-2", expires))
}

// testRedeemNonceConcurrent replays one nonce from many goroutines at once,
// as instances sharing a database would: exactly one redemption succeeds.
func testRedeemNonceConcurrent(t *testing.T, e *env) {
	const n = 10
	errs := concurrently(n, func(int) error {
		return e.s.RedeemNonce(e.ctx, "replayed", base().Add(time.Hour))
	})
	ok, conflicts := countOutcomes(t, errs)
	if ok != 1 || conflicts != n-1 {
		t.Errorf("%d redemptions succeeded and %d conflicted, want 1 and %d", ok, conflicts, n-1)
	}
}

func testPurgeNonces(t *testing.T, e *env) {
	now := base()
	expiries := map[string]time.Time{
		"old":       now.Add(-2 * time.Hour),
		"older":     now.Add(-time.Hour),
		"just-gone": now.Add(-time.Microsecond),
		"at-now":    now, // expires at now, not before: kept
		"alive":     now.Add(time.Hour),
	}
	for id, exp := range expiries {
		must(t, "RedeemNonce", e.s.RedeemNonce(e.ctx, id, exp))
	}
	n, err := e.s.PurgeNonces(e.ctx, now)
	must(t, "PurgeNonces", err)
	if n != 3 {
		t.Errorf("PurgeNonces deleted %d, want 3", n)
	}
	n, err = e.s.PurgeNonces(e.ctx, now)
	must(t, "PurgeNonces again", err)
	if n != 0 {
		t.Errorf("second PurgeNonces deleted %d, want 0", n)
	}
	// Kept records still refuse a replay; purged ones are gone (rejecting an
	// expired nonce is the protocol layer's job, not storage's).
	for _, tc := range []struct {
		id   string
		want error
	}{
		{"at-now", storage.ErrConflict},
		{"alive", storage.ErrConflict},
		{"old", nil},
		{"just-gone", nil},
	} {
		wantErr(t, fmt.Sprintf("RedeemNonce(%q) after purge", tc.id), e.s.RedeemNonce(e.ctx, tc.id, now), tc.want)
	}
}

func testGetOrCreateSecret(t *testing.T, e *env) {
	got, err := e.s.GetOrCreateSecret(e.ctx, "nonce-key", []byte("first"))
	must(t, "GetOrCreateSecret", err)
	if string(got) != "first" {
		t.Errorf("new secret = %q, want %q", got, "first")
	}
	got, err = e.s.GetOrCreateSecret(e.ctx, "nonce-key", []byte("second"))
	must(t, "GetOrCreateSecret existing", err)
	if string(got) != "first" {
		t.Errorf("existing secret = %q, want the stored %q", got, "first")
	}
	got, err = e.s.GetOrCreateSecret(e.ctx, "other-key", []byte("other"))
	must(t, "GetOrCreateSecret other", err)
	if string(got) != "other" {
		t.Errorf("other secret = %q, want %q", got, "other")
	}
}

func testGetOrCreateSecretConcurrent(t *testing.T, e *env) {
	const n = 10
	got := make([][]byte, n)
	errs := concurrently(n, func(i int) error {
		var err error
		got[i], err = e.s.GetOrCreateSecret(e.ctx, "shared", []byte(fmt.Sprint("value-", i)))
		return err
	})
	for _, err := range errs {
		must(t, "GetOrCreateSecret", err)
	}
	if !bytes.HasPrefix(got[0], []byte("value-")) {
		t.Fatalf("secret %q is none of the offered values", got[0])
	}
	for i, v := range got {
		if !bytes.Equal(v, got[0]) {
			t.Errorf("caller %d got %q, caller 0 got %q", i, v, got[0])
		}
	}
}
