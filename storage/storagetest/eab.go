package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// eabKey builds, without storing, an unused single-use key of dir created
// at base.
func eabKey(dir string) *storage.EABKey {
	return &storage.EABKey{
		ID:        newID("kid"),
		Directory: dir,
		Label:     "team " + dir,
		SealedKey: []byte{0x00, 0x01, 0xfe, 0xff, 's', 'e', 'a', 'l', 'e', 'd'},
		CreatedAt: base(),
	}
}

// storedEABKey stores k and returns it.
func (e *env) storedEABKey(k *storage.EABKey) *storage.EABKey {
	e.t.Helper()
	must(e.t, "CreateEABKey", e.s.CreateEABKey(e.ctx, k))
	return k
}

// eabAccount builds, without storing, a valid account of dir bound by the
// EAB key kid, created at created.
func eabAccount(dir, kid string, created time.Time) *storage.Account {
	return &storage.Account{
		ID:            newID("acct"),
		Directory:     dir,
		Status:        storage.StatusValid,
		Contact:       []string{"mailto:ops@example.com"},
		TermsAgreed:   true,
		KeyThumbprint: newID("tp"),
		KeyJWK:        []byte(`{"kty":"EC","crv":"P-256"}`),
		EABKeyID:      kid,
		CreatedAt:     created,
		UpdatedAt:     created,
	}
}

// getEABKey returns the stored key id.
func (e *env) getEABKey(id string) *storage.EABKey {
	e.t.Helper()
	k, err := e.s.GetEABKey(e.ctx, id)
	must(e.t, "GetEABKey", err)
	return k
}

// wantNoAccount fails the test if a refused account was stored, by id or
// by thumbprint.
func (e *env) wantNoAccount(a *storage.Account) {
	e.t.Helper()
	if got, err := e.s.GetAccount(e.ctx, a.ID); !errors.Is(err, storage.ErrNotFound) {
		e.t.Errorf("GetAccount of a refused account = %+v, %v; want ErrNotFound", got, err)
	}
	if got, err := e.s.GetAccountByThumbprint(e.ctx, a.Directory, a.KeyThumbprint); !errors.Is(err, storage.ErrNotFound) {
		e.t.Errorf("GetAccountByThumbprint of a refused account = %+v, %v; want ErrNotFound", got, err)
	}
}

func testEABKeyRoundTrip(t *testing.T, e *env) {
	paris := time.FixedZone("UTC+2", 2*60*60)
	every := eabKey("team-a")
	every.Reusable = true
	// Not UTC on the way in; MUST be UTC on the way out.
	every.ExpiresAt = base().Add(30 * 24 * time.Hour).In(paris)
	every.RevokedAt = base().Add(time.Hour).In(paris)
	every.Bound = 3
	every.CreatedAt = base().In(paris)
	every.LastUsedAt = base().Add(time.Minute).In(paris)
	tests := []struct {
		name string
		k    *storage.EABKey
	}{
		{"every field", every},
		{"empty optionals", &storage.EABKey{
			ID: newID("kid"), Directory: "default", SealedKey: []byte{0x42}, CreatedAt: base(),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "CreateEABKey", e.s.CreateEABKey(e.ctx, tc.k))
			got, err := e.s.GetEABKey(e.ctx, tc.k.ID)
			must(t, "GetEABKey", err)
			if d := diff(tc.k, got); d != "" {
				t.Errorf("GetEABKey (-want +got):\n%s", d)
			}
			checkUTC(t, got)
		})
	}
}

func testEABKeyNotFoundAndDuplicate(t *testing.T, e *env) {
	k := e.storedEABKey(eabKey("default"))

	got, err := e.s.GetEABKey(e.ctx, "no-such-kid")
	wantErr(t, "GetEABKey unknown", err, storage.ErrNotFound)
	if got != nil {
		t.Errorf("got %+v with ErrNotFound, want nil", got)
	}

	// Key ids are global: the same id in another directory is taken too.
	dup := eabKey("team-a")
	dup.ID = k.ID
	dup.SealedKey = []byte("another key")
	wantErr(t, "CreateEABKey duplicate id", e.s.CreateEABKey(e.ctx, dup), storage.ErrConflict)
	if d := diff(k, e.getEABKey(k.ID)); d != "" {
		t.Errorf("refused CreateEABKey wrote (-want +got):\n%s", d)
	}
}

func testListEABKeys(t *testing.T, e *env) {
	at := func(dir string, d time.Duration) *storage.EABKey {
		k := eabKey(dir)
		k.CreatedAt = base().Add(d)
		return k
	}
	oldest, middle, newest := at("default", 0), at("default", time.Hour), at("default", 2*time.Hour)
	other := at("team-a", 3*time.Hour)
	// Stored out of creation order.
	for _, k := range []*storage.EABKey{middle, other, oldest, newest} {
		e.storedEABKey(k)
	}
	tests := []struct {
		dir  string
		want []*storage.EABKey
	}{
		{"default", []*storage.EABKey{newest, middle, oldest}},
		{"team-a", []*storage.EABKey{other}},
		{"no-such-directory", nil},
	}
	for _, tc := range tests {
		t.Run(tc.dir, func(t *testing.T) {
			got, err := e.s.ListEABKeys(e.ctx, tc.dir)
			must(t, "ListEABKeys", err)
			if d := diff(tc.want, got); d != "" {
				t.Errorf("ListEABKeys(%q) (-want +got):\n%s", tc.dir, d)
			}
			checkUTC(t, got)
		})
	}
}

func testBindSingleUseKey(t *testing.T, e *env) {
	k := e.storedEABKey(eabKey("default"))
	first := eabAccount("default", k.ID, base().Add(time.Minute))
	must(t, "CreateAccount binding the key", e.s.CreateAccount(e.ctx, first))
	got, err := e.s.GetAccount(e.ctx, first.ID)
	must(t, "GetAccount", err)
	if d := diff(first, got); d != "" {
		t.Errorf("bound account (-want +got):\n%s", d)
	}
	want := *k
	want.Bound, want.LastUsedAt = 1, first.CreatedAt
	if d := diff(&want, e.getEABKey(k.ID)); d != "" {
		t.Errorf("key after binding (-want +got):\n%s", d)
	}

	second := eabAccount("default", k.ID, base().Add(time.Hour))
	wantErr(t, "CreateAccount reusing a single-use key", e.s.CreateAccount(e.ctx, second), storage.ErrKeyUnusable)
	e.wantNoAccount(second)
	if d := diff(&want, e.getEABKey(k.ID)); d != "" {
		t.Errorf("refused binding changed the key (-want +got):\n%s", d)
	}
}

// testBindSingleUseKeyConcurrent races several new accounts for one
// single-use key: exactly one binds it.
func testBindSingleUseKeyConcurrent(t *testing.T, e *env) {
	const n = 8
	k := e.storedEABKey(eabKey("default"))
	accts := make([]*storage.Account, n)
	for i := range accts {
		accts[i] = eabAccount("default", k.ID, base().Add(time.Minute))
	}
	errs := concurrently(n, func(i int) error { return e.s.CreateAccount(e.ctx, accts[i]) })
	var winners, refused int
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
			if _, err := e.s.GetAccount(e.ctx, accts[i].ID); err != nil {
				t.Errorf("GetAccount of the account that bound the key: %v", err)
			}
		case errors.Is(err, storage.ErrKeyUnusable):
			refused++
			e.with(t).wantNoAccount(accts[i])
		default:
			t.Errorf("CreateAccount: unexpected error %v", err)
		}
	}
	if winners != 1 || refused != n-1 {
		t.Errorf("%d accounts bound the key and %d were refused, want 1 and %d", winners, refused, n-1)
	}
	if got := e.getEABKey(k.ID); got.Bound != 1 {
		t.Errorf("Bound = %d after concurrent bindings, want 1", got.Bound)
	}
}

func testBindReusableKey(t *testing.T, e *env) {
	k := eabKey("default")
	k.Reusable = true
	e.storedEABKey(k)
	const n = 3
	var last time.Time
	for i := range n {
		last = base().Add(time.Duration(i+1) * time.Minute)
		a := eabAccount("default", k.ID, last)
		must(t, "CreateAccount with a reusable key", e.s.CreateAccount(e.ctx, a))
	}
	want := *k
	want.Bound, want.LastUsedAt = n, last
	if d := diff(&want, e.getEABKey(k.ID)); d != "" {
		t.Errorf("reusable key after %d bindings (-want +got):\n%s", n, d)
	}
}

// testBindRefused covers every reason a key may not bind, each against an
// otherwise valid account, and checks a refusal writes nothing.
func testBindRefused(t *testing.T, e *env) {
	created := base().Add(time.Hour)
	tests := []struct {
		name string
		key  func(k *storage.EABKey)
		dir  string // the account's directory; "default" when empty
		kid  string // the key id the account names; the key's when empty
		want error
	}{
		{name: "unexpired key binds", key: func(k *storage.EABKey) { k.ExpiresAt = created.Add(time.Microsecond) }},
		{name: "expired before the account", key: func(k *storage.EABKey) { k.ExpiresAt = created.Add(-time.Second) }, want: storage.ErrKeyUnusable},
		{name: "expires as the account is created", key: func(k *storage.EABKey) { k.ExpiresAt = created }, want: storage.ErrKeyUnusable},
		{name: "revoked", key: func(k *storage.EABKey) { k.RevokedAt = base() }, want: storage.ErrKeyUnusable},
		{name: "revoked reusable", key: func(k *storage.EABKey) { k.Reusable, k.RevokedAt = true, base() }, want: storage.ErrKeyUnusable},
		{name: "single-use already bound", key: func(k *storage.EABKey) { k.Bound = 1 }, want: storage.ErrKeyUnusable},
		{name: "key of another directory", dir: "team-a", want: storage.ErrKeyUnusable},
		{name: "unknown key id", kid: "no-such-kid", want: storage.ErrKeyUnusable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			k := eabKey("default")
			if tc.key != nil {
				tc.key(k)
			}
			e.storedEABKey(k)
			dir, kid := "default", k.ID
			if tc.dir != "" {
				dir = tc.dir
			}
			if tc.kid != "" {
				kid = tc.kid
			}
			a := eabAccount(dir, kid, created)
			wantErr(t, "CreateAccount", e.s.CreateAccount(e.ctx, a), tc.want)
			want := *k
			if tc.want == nil {
				want.Bound, want.LastUsedAt = k.Bound+1, created
			} else {
				e.wantNoAccount(a)
			}
			if d := diff(&want, e.getEABKey(k.ID)); d != "" {
				t.Errorf("key after CreateAccount (-want +got):\n%s", d)
			}
		})
	}
}

// testBindDuplicateThumbprint checks that an account refused for its key
// thumbprint does not consume the key it names.
func testBindDuplicateThumbprint(t *testing.T, e *env) {
	existing := e.account("default")
	k := e.storedEABKey(eabKey("default"))

	dup := eabAccount("default", k.ID, base().Add(time.Minute))
	dup.KeyThumbprint = existing.KeyThumbprint
	wantErr(t, "CreateAccount with a taken thumbprint", e.s.CreateAccount(e.ctx, dup), storage.ErrConflict)
	if _, err := e.s.GetAccount(e.ctx, dup.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetAccount of the refused account: %v, want ErrNotFound", err)
	}
	if d := diff(k, e.getEABKey(k.ID)); d != "" {
		t.Errorf("refused account consumed the key (-want +got):\n%s", d)
	}

	// The single-use key is still there for the next account.
	must(t, "CreateAccount with the unconsumed key",
		e.s.CreateAccount(e.ctx, eabAccount("default", k.ID, base().Add(time.Hour))))
	if got := e.getEABKey(k.ID); got.Bound != 1 {
		t.Errorf("Bound = %d, want 1", got.Bound)
	}
}

func testRevokeEABKey(t *testing.T, e *env) {
	now := base().Add(48 * time.Hour)
	type setup struct {
		key                *storage.EABKey
		valid, deactivated []*storage.Account // bound by key
		bystander          *storage.Account   // bound by another key
	}
	// prepare stores a reusable key that bound two valid accounts and one
	// its owner deactivated, and another key's account.
	prepare := func(t *testing.T) setup {
		e := e.with(t)
		k := eabKey("default")
		k.Reusable = true
		e.storedEABKey(k)
		other := eabKey("default")
		e.storedEABKey(other)
		var s setup
		s.key = k
		for i := range 3 {
			a := eabAccount("default", k.ID, base().Add(time.Duration(i+1)*time.Minute))
			must(t, "CreateAccount", e.s.CreateAccount(e.ctx, a))
			s.valid = append(s.valid, a)
		}
		gone := *s.valid[2]
		s.valid = s.valid[:2]
		gone.Status, gone.UpdatedAt = storage.StatusDeactivated, base().Add(time.Hour)
		must(t, "UpdateAccount deactivate", e.s.UpdateAccount(e.ctx, &gone))
		s.deactivated = []*storage.Account{&gone}
		s.bystander = eabAccount("default", other.ID, base().Add(time.Minute))
		must(t, "CreateAccount bystander", e.s.CreateAccount(e.ctx, s.bystander))
		return s
	}

	tests := []struct {
		name       string
		deactivate bool
		wantCount  int
	}{
		{"deactivating accounts", true, 2},
		{"keeping accounts", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			s := prepare(t)
			n, err := e.s.RevokeEABKey(e.ctx, s.key.ID, tc.deactivate, now)
			must(t, "RevokeEABKey", err)
			if n != tc.wantCount {
				t.Errorf("RevokeEABKey deactivated %d accounts, want %d", n, tc.wantCount)
			}
			wantKey := *s.key
			wantKey.Bound, wantKey.LastUsedAt, wantKey.RevokedAt = 3, s.deactivated[0].CreatedAt, now
			if d := diff(&wantKey, e.getEABKey(s.key.ID)); d != "" {
				t.Errorf("key after RevokeEABKey (-want +got):\n%s", d)
			}

			var want []*storage.Account
			for _, a := range s.valid {
				w := *a
				if tc.deactivate {
					w.Status, w.UpdatedAt = storage.StatusDeactivated, now
				}
				want = append(want, &w)
			}
			want = append(want, s.deactivated...)
			want = append(want, s.bystander)
			for _, w := range want {
				got, err := e.s.GetAccount(e.ctx, w.ID)
				must(t, "GetAccount", err)
				if d := diff(w, got); d != "" {
					t.Errorf("account %s after RevokeEABKey (-want +got):\n%s", w.ID, d)
				}
			}

			// A revoked key binds no more accounts.
			late := eabAccount("default", s.key.ID, now.Add(time.Minute))
			wantErr(t, "CreateAccount with a revoked key", e.s.CreateAccount(e.ctx, late), storage.ErrKeyUnusable)

			n, err = e.s.RevokeEABKey(e.ctx, s.key.ID, true, now.Add(time.Hour))
			wantErr(t, "RevokeEABKey twice", err, storage.ErrConflict)
			if n != 0 {
				t.Errorf("refused RevokeEABKey reports %d accounts deactivated", n)
			}
			if d := diff(&wantKey, e.getEABKey(s.key.ID)); d != "" {
				t.Errorf("second RevokeEABKey wrote (-want +got):\n%s", d)
			}
			for _, w := range want {
				got, err := e.s.GetAccount(e.ctx, w.ID)
				must(t, "GetAccount", err)
				if d := diff(w, got); d != "" {
					t.Errorf("second RevokeEABKey changed account %s (-want +got):\n%s", w.ID, d)
				}
			}
		})
	}

	n, err := e.s.RevokeEABKey(e.ctx, "no-such-kid", true, now)
	wantErr(t, "RevokeEABKey unknown", err, storage.ErrNotFound)
	if n != 0 {
		t.Errorf("RevokeEABKey of an unknown key reports %d accounts", n)
	}
}
