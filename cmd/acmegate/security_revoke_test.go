package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
)

// TestSecurityRevocationIsImmediate: through the real binary, a revoked
// admin token fails its very next API call and its very next dashboard
// page (its session dies with it), and a revoked EAB key refuses the very
// next newAccount, whether it was revoked through the CLI or the API; with
// deactivate_accounts the account it bound is refused at once too. Nothing
// caches a token or a key: each use reads its state from the database.
// (Security review, issue 8 item 6. The CLI's `token revoke` is covered by
// TestCLITokens.)
func TestSecurityRevocationIsImmediate(t *testing.T) {
	skipIfShort(t)
	s := startGate(t, &Config{
		Directories: []DirectoryConfig{{Name: "team", DirectorySettings: acme.DirectorySettings{
			ExternalAccountRequired: true,
			Policy:                  acme.PolicySettings{SkipValidation: true, AllowedDomains: []string{"example.com"}},
		}}},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	hc := trustingClient(t, s.rootPEM)
	base := s.adminURL(t)
	adminTok := s.createToken(t, "rev-admin", "admin")

	t.Run("admin token", func(t *testing.T) {
		var op struct{ ID, Token string }
		if code := adminAPI(ctx, t, hc, base, adminTok, "POST", "/tokens", map[string]any{"name": "rev-operator", "role": "operator"}, &op); code != http.StatusCreated {
			t.Fatalf("create token: %d", code)
		}
		if code := adminAPI(ctx, t, hc, base, op.Token, "GET", "/orders", nil, nil); code != http.StatusOK {
			t.Fatalf("the new token answered %d", code)
		}
		dash := newJarClient(t, hc)
		csrf := csrfOf(t, dash.do(ctx, "GET", base+"login", nil))
		if home := dash.do(ctx, "POST", base+"login", url.Values{"csrf": {csrf}, "token": {op.Token}, "next": {"/admin/"}}); strings.Contains(home, `name="token"`) {
			t.Fatal("dashboard login failed")
		}
		if code := adminAPI(ctx, t, hc, base, adminTok, "POST", "/tokens/"+op.ID+"/revoke", nil, nil); code != http.StatusOK {
			t.Fatalf("revoke: %d", code)
		}
		if code := adminAPI(ctx, t, hc, base, op.Token, "GET", "/orders", nil, nil); code != http.StatusUnauthorized {
			t.Errorf("the call right after the revocation answered %d, want 401", code)
		}
		if page := dash.do(ctx, "GET", base+"orders", nil); !strings.Contains(page, `name="token"`) {
			t.Error("the dashboard session of the revoked token still shows pages")
		}
	})

	t.Run("EAB key revoked by the CLI", func(t *testing.T) {
		k := s.createEAB(t, "team")
		s.mustCLI(t, "eab", "revoke", k.kid)
		err := register(ctx, s.acmeClient(t, "team"), &k)
		wantProblem(t, "newAccount right after the CLI revoked the key", err, "unauthorized", "revoked")
	})

	t.Run("EAB key revoked by the API, with its accounts", func(t *testing.T) {
		k := s.createEAB(t, "team", "--reusable")
		bound := s.acmeClient(t, "team")
		if err := register(ctx, bound, &k); err != nil {
			t.Fatal(err)
		}
		if err := newOrder(ctx, bound, "a.example.com"); err != nil {
			t.Fatalf("order before the revocation: %v", err)
		}
		if code := adminAPI(ctx, t, hc, base, adminTok, "POST", "/eab-keys/"+k.kid+"/revoke", map[string]any{"deactivate_accounts": true}, nil); code != http.StatusOK {
			t.Fatalf("revoke: %d", code)
		}
		err := register(ctx, s.acmeClient(t, "team"), &k)
		wantProblem(t, "newAccount right after the API revoked the key", err, "unauthorized", "revoked")
		_, err = bound.AuthorizeOrder(ctx, xacme.DomainIDs("b.example.com"))
		wantProblem(t, "newOrder of the deactivated account", err, "unauthorized", "")
	})
}
