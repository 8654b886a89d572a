package storagetest

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// adminToken builds, without storing, a token called name created at
// created.
func adminToken(name string, role storage.Role, created time.Time) *storage.AdminToken {
	h := sha256.Sum256([]byte("secret of " + name))
	return &storage.AdminToken{
		ID:        newID("tok"),
		Name:      name,
		Role:      role,
		Hash:      h[:],
		CreatedBy: "operator:root",
		CreatedAt: created,
	}
}

func testAdminTokenRoundTrip(t *testing.T, e *env) {
	paris := time.FixedZone("UTC+2", 2*60*60)
	full := adminToken("ci", storage.RoleOperator, base().In(paris))
	full.ExpiresAt = base().Add(30 * 24 * time.Hour)
	full.LastUsedAt = base().Add(time.Minute)
	bare := adminToken("auditor", storage.RoleAuditor, base().Add(time.Hour)) // every optional time zero
	first := adminToken("admin", storage.RoleAdmin, base().Add(-time.Hour))
	for _, tok := range []*storage.AdminToken{full, bare, first} {
		must(t, "CreateAdminToken", e.s.CreateAdminToken(e.ctx, tok))
	}
	for _, want := range []*storage.AdminToken{full, bare} {
		got, err := e.s.GetAdminToken(e.ctx, want.ID)
		must(t, "GetAdminToken", err)
		if d := diff(want, got); d != "" {
			t.Errorf("GetAdminToken(%q) (-want +got):\n%s", want.Name, d)
		}
		checkUTC(t, got)
	}
	got, err := e.s.GetAdminToken(e.ctx, bare.ID)
	must(t, "GetAdminToken", err)
	if !got.ExpiresAt.IsZero() || !got.RevokedAt.IsZero() || !got.LastUsedAt.IsZero() {
		t.Errorf("zero times read back as expires %v, revoked %v, last used %v", got.ExpiresAt, got.RevokedAt, got.LastUsedAt)
	}
	list, err := e.s.ListAdminTokens(e.ctx)
	must(t, "ListAdminTokens", err)
	if d := diff([]*storage.AdminToken{bare, full, first}, list); d != "" {
		t.Errorf("ListAdminTokens, newest first (-want +got):\n%s", d)
	}
	checkUTC(t, list)
	_, err = e.s.GetAdminToken(e.ctx, "no-such-token")
	wantErr(t, "GetAdminToken of an unknown id", err, storage.ErrNotFound)
}

func testAdminTokenConflicts(t *testing.T, e *env) {
	tok := adminToken("deploy", storage.RoleAdmin, base())
	must(t, "CreateAdminToken", e.s.CreateAdminToken(e.ctx, tok))

	sameID := adminToken("other-name", storage.RoleAuditor, base())
	sameID.ID = tok.ID
	wantErr(t, "CreateAdminToken with a taken id", e.s.CreateAdminToken(e.ctx, sameID), storage.ErrConflict)
	sameName := adminToken("deploy", storage.RoleAuditor, base())
	wantErr(t, "CreateAdminToken with a taken name", e.s.CreateAdminToken(e.ctx, sameName), storage.ErrConflict)

	must(t, "RevokeAdminToken", e.s.RevokeAdminToken(e.ctx, tok.ID, base().Add(time.Minute)))
	again := adminToken("deploy", storage.RoleAdmin, base().Add(time.Hour))
	wantErr(t, "CreateAdminToken with the name of a revoked token", e.s.CreateAdminToken(e.ctx, again), storage.ErrConflict)

	list, err := e.s.ListAdminTokens(e.ctx)
	must(t, "ListAdminTokens", err)
	if len(list) != 1 || list[0].ID != tok.ID || list[0].Role != storage.RoleAdmin {
		t.Errorf("refused creations wrote something: tokens %+v", list)
	}
	_, err = e.s.GetAdminToken(e.ctx, sameName.ID)
	wantErr(t, "GetAdminToken of a refused token", err, storage.ErrNotFound)
}

func testAdminTokenRevoke(t *testing.T, e *env) {
	tok := adminToken("ops", storage.RoleOperator, base())
	must(t, "CreateAdminToken", e.s.CreateAdminToken(e.ctx, tok))
	wantErr(t, "RevokeAdminToken of an unknown id",
		e.s.RevokeAdminToken(e.ctx, "no-such-token", base()), storage.ErrNotFound)

	revoked := base().Add(time.Hour)
	must(t, "RevokeAdminToken", e.s.RevokeAdminToken(e.ctx, tok.ID, revoked))
	wantErr(t, "RevokeAdminToken twice",
		e.s.RevokeAdminToken(e.ctx, tok.ID, revoked.Add(time.Hour)), storage.ErrConflict)
	got, err := e.s.GetAdminToken(e.ctx, tok.ID)
	must(t, "GetAdminToken", err)
	if !got.RevokedAt.Equal(revoked) {
		t.Errorf("RevokedAt = %v, want the first revocation's %v", got.RevokedAt, revoked)
	}
	checkUTC(t, got)
}

func testAdminTokenTouch(t *testing.T, e *env) {
	tok := adminToken("dashboard", storage.RoleAuditor, base())
	must(t, "CreateAdminToken", e.s.CreateAdminToken(e.ctx, tok))
	wantErr(t, "TouchAdminToken of an unknown id",
		e.s.TouchAdminToken(e.ctx, "no-such-token", base()), storage.ErrNotFound)
	for _, at := range []time.Time{base().Add(time.Minute), base().Add(time.Hour)} {
		must(t, "TouchAdminToken", e.s.TouchAdminToken(e.ctx, tok.ID, at))
		// Touching twice at one instant changes no value: still found.
		must(t, "TouchAdminToken again", e.s.TouchAdminToken(e.ctx, tok.ID, at))
		got, err := e.s.GetAdminToken(e.ctx, tok.ID)
		must(t, "GetAdminToken", err)
		if !got.LastUsedAt.Equal(at) {
			t.Errorf("LastUsedAt = %v, want %v", got.LastUsedAt, at)
		}
		want := *tok
		want.LastUsedAt = at
		if d := diff(&want, got); d != "" {
			t.Errorf("TouchAdminToken changed more than LastUsedAt (-want +got):\n%s", d)
		}
	}
}
