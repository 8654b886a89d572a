package storagetest

import (
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

func testAccountRoundTrip(t *testing.T, e *env) {
	paris := time.FixedZone("UTC+2", 2*60*60)
	tests := []struct {
		name string
		a    *storage.Account
	}{
		{"every field", &storage.Account{
			ID:            newID("acct"),
			Directory:     "default",
			Status:        storage.StatusValid,
			Contact:       []string{"mailto:a@example.com", "mailto:b@example.com"},
			TermsAgreed:   true,
			KeyThumbprint: newID("tp"),
			KeyJWK:        []byte(`{"kty":"OKP","crv":"Ed25519","x":"abc"}`),
			EABKeyID:      "kid-1",
			// Not UTC on the way in; MUST be UTC on the way out.
			CreatedAt: base().In(paris),
			UpdatedAt: base().Add(time.Second).In(paris),
		}},
		{"empty optionals", &storage.Account{
			ID:            newID("acct"),
			Directory:     "team-a",
			Status:        storage.StatusValid,
			KeyThumbprint: newID("tp"),
			KeyJWK:        []byte(`{}`),
			CreatedAt:     base(),
			UpdatedAt:     base(),
		}},
	}
	// The account binds kid-1 (CreateAccount refuses an unknown key).
	kid := eabKey("default")
	kid.ID = "kid-1"
	e.storedEABKey(kid)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "CreateAccount", e.s.CreateAccount(e.ctx, tc.a))
			got, err := e.s.GetAccount(e.ctx, tc.a.ID)
			must(t, "GetAccount", err)
			if d := diff(tc.a, got); d != "" {
				t.Errorf("GetAccount (-want +got):\n%s", d)
			}
			checkUTC(t, got)
			got, err = e.s.GetAccountByThumbprint(e.ctx, tc.a.Directory, tc.a.KeyThumbprint)
			must(t, "GetAccountByThumbprint", err)
			if d := diff(tc.a, got); d != "" {
				t.Errorf("GetAccountByThumbprint (-want +got):\n%s", d)
			}
		})
	}
}

func testAccountNotFound(t *testing.T, e *env) {
	a := e.account("default")
	tests := []struct {
		name string
		get  func() (*storage.Account, error)
	}{
		{"unknown id", func() (*storage.Account, error) { return e.s.GetAccount(e.ctx, "no-such-account") }},
		{"unknown thumbprint", func() (*storage.Account, error) {
			return e.s.GetAccountByThumbprint(e.ctx, "default", "no-such-thumbprint")
		}},
		{"thumbprint of another directory", func() (*storage.Account, error) {
			return e.s.GetAccountByThumbprint(e.ctx, "team-a", a.KeyThumbprint)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.get()
			wantErr(t, "get", err, storage.ErrNotFound)
			if got != nil {
				t.Errorf("got %+v with ErrNotFound, want nil", got)
			}
		})
	}
}

func testAccountDuplicateKey(t *testing.T, e *env) {
	first := e.account("default")
	sameKey := func(dir string) *storage.Account {
		a := *first
		a.ID = newID("acct")
		a.Directory = dir
		return &a
	}
	dup := sameKey("default")
	wantErr(t, "CreateAccount same key same directory", e.s.CreateAccount(e.ctx, dup), storage.ErrConflict)
	_, err := e.s.GetAccount(e.ctx, dup.ID)
	wantErr(t, "GetAccount of refused account", err, storage.ErrNotFound)

	other := sameKey("team-a")
	must(t, "CreateAccount same key other directory", e.s.CreateAccount(e.ctx, other))
	for dir, want := range map[string]string{"default": first.ID, "team-a": other.ID} {
		got, err := e.s.GetAccountByThumbprint(e.ctx, dir, first.KeyThumbprint)
		must(t, "GetAccountByThumbprint", err)
		if got.ID != want {
			t.Errorf("GetAccountByThumbprint(%q) = %q, want %q", dir, got.ID, want)
		}
	}

	sameID := *first
	sameID.KeyThumbprint = newID("tp")
	wantErr(t, "CreateAccount same id", e.s.CreateAccount(e.ctx, &sameID), storage.ErrConflict)
}

func testAccountUpdate(t *testing.T, e *env) {
	a := e.account("default")
	want := *a

	upd := *a
	upd.Contact = []string{"mailto:new@example.com"}
	upd.UpdatedAt = base().Add(time.Hour)
	// Only Contact, Status and UpdatedAt are written.
	upd.KeyThumbprint = "ignored"
	upd.TermsAgreed = false
	upd.EABKeyID = "ignored"
	must(t, "UpdateAccount", e.s.UpdateAccount(e.ctx, &upd))
	want.Contact, want.UpdatedAt = upd.Contact, upd.UpdatedAt
	got, err := e.s.GetAccount(e.ctx, a.ID)
	must(t, "GetAccount", err)
	if d := diff(&want, got); d != "" {
		t.Errorf("after update (-want +got):\n%s", d)
	}

	deact := want
	deact.Status = storage.StatusDeactivated
	deact.UpdatedAt = base().Add(2 * time.Hour)
	must(t, "UpdateAccount deactivate", e.s.UpdateAccount(e.ctx, &deact))

	// RFC 8555 §7.3.6: deactivation is final.
	again := deact
	again.Status = storage.StatusValid
	again.Contact = []string{"mailto:late@example.com"}
	wantErr(t, "UpdateAccount of deactivated", e.s.UpdateAccount(e.ctx, &again), storage.ErrConflict)
	got, err = e.s.GetAccount(e.ctx, a.ID)
	must(t, "GetAccount", err)
	if d := diff(&deact, got); d != "" {
		t.Errorf("refused update wrote (-want +got):\n%s", d)
	}

	unknown := want
	unknown.ID = "no-such-account"
	wantErr(t, "UpdateAccount unknown", e.s.UpdateAccount(e.ctx, &unknown), storage.ErrNotFound)
}

func testAccountChangeKey(t *testing.T, e *env) {
	a := e.account("default")
	b := e.account("default")
	c := e.account("team-a")
	oldKey := a.KeyThumbprint

	// c's key is taken only in another directory, so a may move to it.
	tests := []struct {
		name     string
		id       string
		old, new string
		want     error
	}{
		{"new key taken in the directory", a.ID, oldKey, b.KeyThumbprint, storage.ErrConflict},
		{"unknown account", "no-such-account", oldKey, newID("tp"), storage.ErrNotFound},
		{"key taken in another directory", a.ID, oldKey, c.KeyThumbprint, nil},
		{"old key no longer current", a.ID, oldKey, newID("tp"), storage.ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.s.ChangeAccountKey(e.ctx, tc.id, tc.old, tc.new, []byte(`{"new":"`+tc.new+`"}`))
			wantErr(t, "ChangeAccountKey", err, tc.want)
		})
	}

	got, err := e.s.GetAccount(e.ctx, a.ID)
	must(t, "GetAccount", err)
	if got.KeyThumbprint != c.KeyThumbprint || string(got.KeyJWK) != `{"new":"`+c.KeyThumbprint+`"}` {
		t.Errorf("key after change = %q %s, want %q", got.KeyThumbprint, got.KeyJWK, c.KeyThumbprint)
	}
	if _, err := e.s.GetAccountByThumbprint(e.ctx, "default", oldKey); err == nil {
		t.Errorf("old thumbprint still finds an account")
	}
	byNew, err := e.s.GetAccountByThumbprint(e.ctx, "default", c.KeyThumbprint)
	must(t, "GetAccountByThumbprint new key", err)
	if byNew.ID != a.ID {
		t.Errorf("new thumbprint finds %q, want %q", byNew.ID, a.ID)
	}
	gotB, err := e.s.GetAccount(e.ctx, b.ID)
	must(t, "GetAccount b", err)
	if d := diff(b, gotB); d != "" {
		t.Errorf("refused key change touched b (-want +got):\n%s", d)
	}
}
