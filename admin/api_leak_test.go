package admin

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// operatorDay drives a day of operator work through the API: it creates a
// directory, an EAB key, a webhook and a token (each handing out a
// secret), pages orders, approves one, revokes a certificate and verifies
// the audit chain.
func operatorDay(t *testing.T, e *apiEnv) {
	const admin = storage.RoleAdmin
	e.must(admin, "POST", "/directories", map[string]any{"name": "team-z"}, http.StatusCreated)
	var k newEABKeyAnswer
	e.must(admin, "POST", "/directories/team-z/eab-keys", map[string]any{"label": "z"}, http.StatusCreated).decode(t, &k)
	var w newWebhookAnswer
	e.must(admin, "POST", "/webhooks", map[string]any{"url": "https://hooks.example.test/z"}, http.StatusCreated).decode(t, &w)
	var tok newTokenAnswer
	e.must(admin, "POST", "/tokens", map[string]any{"name": "night-shift", "role": "operator"}, http.StatusCreated).decode(t, &tok)
	e.secrets = append(e.secrets, k.HMACKey, w.Secret, tok.Token)

	acct := e.account("team-z")
	for i := range 7 {
		e.order(acct, "n"+string(rune('a'+i))+".team-z.test", time.Now().UTC().Add(-time.Duration(i)*time.Minute))
	}
	if ids, pages := e.allPages("/orders?directory=team-z&limit=3"); len(ids) != 7 || pages != 3 {
		t.Errorf("team-z orders: %d over %d pages, want 7 over 3", len(ids), pages)
	}
	o := e.awaitingApproval(acct, "approve.team-z.test", time.Now().Add(time.Hour))
	if r := e.call(tok.Token, "POST", "/orders/"+o.ID+"/approve", map[string]any{"reason": "night change"}); r.status != http.StatusOK {
		t.Fatalf("approve with the new operator token: %d %s", r.status, r.body)
	}
	c := e.cert("team-z", []string{"z.team-z.test"}, time.Now().Add(10*24*time.Hour))
	e.must(storage.RoleOperator, "POST", "/certificates/"+c.ID+"/revoke", map[string]any{"reason": 4}, http.StatusOK)
	e.must(admin, "POST", "/eab-keys/"+k.KeyID+"/revoke", nil, http.StatusOK)
	e.must(admin, "POST", "/tokens/"+tok.ID+"/revoke", nil, http.StatusOK)
	if r := e.call(tok.Token, "GET", "/summary", nil); r.status != http.StatusUnauthorized {
		t.Errorf("the revoked token still works: %d", r.status)
	}
	var v auditVerification
	e.must(storage.RoleAuditor, "GET", "/audit/verify", nil, http.StatusOK).decode(t, &v)
	if !v.OK || v.EntriesChecked < 8 {
		t.Errorf("audit verification %+v", v)
	}
	var page pageBody[map[string]any]
	e.must(storage.RoleAuditor, "GET", "/certificates.csv?directory=team-z", nil, http.StatusOK)
	e.must(storage.RoleAuditor, "GET", "/certificates?status=revoked&directory=team-z", nil, http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0]["id"] != c.ID {
		t.Errorf("revoked team-z certificates %+v", page.Items)
	}
}

// checkNoLeak reads every GET route as an admin and fails the test if an
// answer, an audit entry or the server's log holds a secret the test was
// handed.
func checkNoLeak(t *testing.T, e *apiEnv) {
	if len(e.secrets) < 6 {
		t.Fatalf("only %d secrets to look for", len(e.secrets))
	}
	found := func(where, text string) {
		for _, s := range e.secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds a secret (%.14s…)", where, s)
			}
			// The part after the token id is the token's own secret.
			if rest, ok := strings.CutPrefix(s, tokenPrefix); ok {
				if _, sec, _ := strings.Cut(rest, "_"); len(sec) < 40 || strings.Contains(text, sec) {
					t.Errorf("%s holds a token's secret part (or the token %.14s… is malformed)", where, s)
				}
			}
		}
	}
	ids := map[string]string{}
	first := func(path, key string) {
		var p pageBody[map[string]any]
		e.must(storage.RoleAdmin, "GET", path, nil, http.StatusOK).decode(t, &p)
		if len(p.Items) > 0 {
			ids[key], _ = p.Items[0][map[bool]string{true: "key_id", false: "id"}[key == "{eab}"]].(string)
		}
	}
	first("/tokens", "{token}")
	first("/webhooks", "{webhook}")
	first("/directories/team-z/eab-keys", "{eab}")
	first("/orders", "{order}")
	first("/certificates", "{cert}")
	first("/accounts", "{account}")
	for _, rt := range e.srv.apiRouteTable() {
		if rt.method != "GET" {
			continue
		}
		path := rt.path
		switch {
		case strings.HasPrefix(path, "/tokens/"):
			path = strings.Replace(path, "{id}", ids["{token}"], 1)
		case strings.HasPrefix(path, "/webhooks/"):
			path = strings.Replace(path, "{id}", ids["{webhook}"], 1)
		case strings.HasPrefix(path, "/eab-keys/"):
			path = strings.Replace(path, "{id}", ids["{eab}"], 1)
		case strings.HasPrefix(path, "/orders/"):
			path = strings.Replace(path, "{id}", ids["{order}"], 1)
		case strings.HasPrefix(path, "/certificates/"):
			path = strings.Replace(path, "{id}", ids["{cert}"], 1)
		case strings.HasPrefix(path, "/accounts/"):
			path = strings.Replace(path, "{id}", ids["{account}"], 1)
		}
		path = strings.Replace(path, "{name}", "team-z", 1)
		r := e.as(storage.RoleAdmin, "GET", path, nil)
		if r.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
		found("GET "+path, string(r.body))
	}
	for _, a := range e.auditEntries(storage.AuditFilter{}) {
		found("audit entry "+a.Action, strings.Join([]string{a.Actor, a.Directory, a.Action, a.Object, a.Outcome, a.ClientIP, a.Detail}, " "))
	}
	found("the server's log", e.logs.String())
}

// TestNoSecretLeaks: after a day of work, no list or show answer, no audit
// entry and no log line holds a token, an HMAC key or a webhook secret.
func TestNoSecretLeaks(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	operatorDay(t, e)
	checkNoLeak(t, e)
}

// TestAPIOnPostgres runs the same day on PostgreSQL.
func TestAPIOnPostgres(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openPostgres)
	operatorDay(t, e)
	checkNoLeak(t, e)
}
