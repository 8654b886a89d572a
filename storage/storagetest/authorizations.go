package storagetest

import (
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

func testAuthzRoundTrip(t *testing.T, e *env) {
	acct := e.account("default")
	a := e.authz(acct, "example.org", storage.StatusPending, base().Add(24*time.Hour), 3)
	a.Wildcard = true
	a.Challenges[1].Error = []byte(`{"type":"urn:ietf:params:acme:error:dns"}`)
	a.Challenges[1].Status = storage.StatusInvalid
	a.Challenges[2].Validated = base().Add(time.Minute)
	a.Challenges[2].Status = storage.StatusValid
	none := e.authz(acct, "ip.example", storage.StatusValid, base().Add(time.Hour), 0)
	none.Identifier = storage.Identifier{Type: storage.IdentifierIP, Value: "2001:db8::1"}

	for _, want := range []*storage.Authorization{a, none} {
		must(t, "CreateAuthorization", e.s.CreateAuthorization(e.ctx, want))
		got, err := e.s.GetAuthorization(e.ctx, want.ID)
		must(t, "GetAuthorization", err)
		if d := diff(want, got); d != "" {
			t.Errorf("GetAuthorization (-want +got):\n%s", d)
		}
		checkUTC(t, got)
		for _, c := range want.Challenges {
			got, err := e.s.GetChallenge(e.ctx, c.ID)
			must(t, "GetChallenge", err)
			if d := diff(&c, got); d != "" {
				t.Errorf("GetChallenge (-want +got):\n%s", d)
			}
			checkUTC(t, got)
		}
	}

	wantErr(t, "CreateAuthorization twice", e.s.CreateAuthorization(e.ctx, a), storage.ErrConflict)
	_, err := e.s.GetAuthorization(e.ctx, "no-such-authz")
	wantErr(t, "GetAuthorization unknown", err, storage.ErrNotFound)
	_, err = e.s.GetChallenge(e.ctx, "no-such-challenge")
	wantErr(t, "GetChallenge unknown", err, storage.ErrNotFound)
}

func testGetAuthorizations(t *testing.T, e *env) {
	acct := e.account("default")
	a := e.storedAuthz(acct, storage.StatusPending, 3)
	b := e.storedAuthz(acct, storage.StatusValid, 1)
	c := e.storedAuthz(acct, storage.StatusPending, 2)

	tests := []struct {
		name    string
		ids     []string
		want    []*storage.Authorization
		wantErr error
	}{
		{"order of ids kept", []string{c.ID, a.ID, b.ID}, []*storage.Authorization{c, a, b}, nil},
		{"one", []string{b.ID}, []*storage.Authorization{b}, nil},
		{"none", nil, nil, nil},
		{"one missing", []string{a.ID, "no-such-authz", b.ID}, nil, storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.s.GetAuthorizations(e.ctx, tc.ids)
			wantErr(t, "GetAuthorizations", err, tc.wantErr)
			if d := diff(tc.want, got); d != "" {
				t.Errorf("GetAuthorizations (-want +got):\n%s", d)
			}
		})
	}
}

func testFindReusableAuthorization(t *testing.T, e *env) {
	acct := e.account("default")
	other := e.account("default")
	h := func(n int) time.Time { return base().Add(time.Duration(n) * time.Hour) }
	store := func(owner *storage.Account, typ storage.IdentifierType, name string, wildcard bool, status storage.Status, expires time.Time) *storage.Authorization {
		a := e.authz(owner, name, status, expires, 2)
		a.Identifier.Type = typ
		a.Wildcard = wildcard
		must(t, "CreateAuthorization", e.s.CreateAuthorization(e.ctx, a))
		return a
	}
	dns := storage.IdentifierDNS
	store(acct, dns, "example.com", false, storage.StatusValid, h(10))
	valid20 := store(acct, dns, "example.com", false, storage.StatusValid, h(20))
	store(acct, dns, "example.com", false, storage.StatusPending, h(30))
	store(acct, dns, "example.com", false, storage.StatusDeactivated, h(31))
	store(acct, dns, "example.com", false, storage.StatusInvalid, h(32))
	expiresSoon := store(acct, dns, "soon.example.com", false, storage.StatusValid, h(1))
	otherAccount := store(other, dns, "example.com", false, storage.StatusValid, h(40))
	wildcard := store(acct, dns, "example.com", true, storage.StatusValid, h(50))
	ip := store(acct, storage.IdentifierIP, "example.com", false, storage.StatusValid, h(60))

	tests := []struct {
		name      string
		account   string
		id        storage.Identifier
		wildcard  bool
		notBefore time.Time
		want      *storage.Authorization // nil: ErrNotFound
	}{
		{"latest expiry wins", acct.ID, storage.Identifier{Type: dns, Value: "example.com"}, false, h(2), valid20},
		{"expiring exactly at notBefore", acct.ID, storage.Identifier{Type: dns, Value: "example.com"}, false, h(20), valid20},
		{"all expire before notBefore", acct.ID, storage.Identifier{Type: dns, Value: "example.com"}, false, h(21), nil},
		{"the only candidate expires before", acct.ID, storage.Identifier{Type: dns, Value: "soon.example.com"}, false, h(2), nil},
		{"it is still usable earlier", acct.ID, storage.Identifier{Type: dns, Value: "soon.example.com"}, false, base(), expiresSoon},
		{"wildcard flag", acct.ID, storage.Identifier{Type: dns, Value: "example.com"}, true, h(2), wildcard},
		{"identifier type", acct.ID, storage.Identifier{Type: storage.IdentifierIP, Value: "example.com"}, false, h(2), ip},
		{"other account", other.ID, storage.Identifier{Type: dns, Value: "example.com"}, false, h(2), otherAccount},
		{"other account has no wildcard", other.ID, storage.Identifier{Type: dns, Value: "example.com"}, true, h(2), nil},
		{"unknown name", acct.ID, storage.Identifier{Type: dns, Value: "nothing.example.com"}, false, h(2), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.s.FindReusableAuthorization(e.ctx, tc.account, tc.id, tc.wildcard, tc.notBefore)
			if tc.want == nil {
				wantErr(t, "FindReusableAuthorization", err, storage.ErrNotFound)
				return
			}
			must(t, "FindReusableAuthorization", err)
			if d := diff(tc.want, got); d != "" {
				t.Errorf("FindReusableAuthorization (-want +got):\n%s", d)
			}
		})
	}
}

func testDeactivateAuthorization(t *testing.T, e *env) {
	acct := e.account("default")
	now := base().Add(time.Hour)
	tests := []struct {
		from storage.Status
		want error
	}{
		{storage.StatusPending, nil},
		{storage.StatusValid, nil},
		{storage.StatusInvalid, storage.ErrConflict},
		{storage.StatusDeactivated, storage.ErrConflict},
		{storage.StatusExpired, storage.ErrConflict},
	}
	for _, tc := range tests {
		t.Run(string(tc.from), func(t *testing.T) {
			e := e.with(t)
			a := e.storedAuthz(acct, tc.from, 1)
			wantErr(t, "DeactivateAuthorization", e.s.DeactivateAuthorization(e.ctx, a.ID, now), tc.want)
			want := *a
			if tc.want == nil {
				want.Status, want.UpdatedAt = storage.StatusDeactivated, now
			}
			got, err := e.s.GetAuthorization(e.ctx, a.ID)
			must(t, "GetAuthorization", err)
			if d := diff(&want, got); d != "" {
				t.Errorf("after DeactivateAuthorization (-want +got):\n%s", d)
			}
		})
	}
	err := e.s.DeactivateAuthorization(e.ctx, "no-such-authz", now)
	wantErr(t, "DeactivateAuthorization unknown", err, storage.ErrNotFound)
}
