package admin

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// wantProblem fails the test unless r is a problem of status and kind
// whose detail holds every one of want.
func wantProblem(t *testing.T, what string, r *apiResp, status int, kind string, want ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	p := r.problem(t)
	if p.Type != problemTypePrefix+kind {
		t.Errorf("%s: problem type %q, want %s", what, p.Type, problemTypePrefix+kind)
	}
	for _, w := range want {
		if !strings.Contains(p.Detail, w) {
			t.Errorf("%s: detail %q does not hold %q", what, p.Detail, w)
		}
	}
}

// wantAudit fails the test unless the newest entry of action has outcome,
// directory and object, the admin token as its actor and the loopback
// client address, and a detail holding want.
func (e *apiEnv) wantAudit(action, outcome, dir, object, want string) *storage.AuditEntry {
	e.t.Helper()
	a := e.lastAudit(action)
	if a.Outcome != outcome || a.Directory != dir || a.Object != object || a.Actor != "token:"+e.tokenNames[storage.RoleAdmin] ||
		a.ClientIP != "127.0.0.1" || !strings.Contains(a.Detail, want) {
		e.t.Errorf("newest %s audit entry = %+v; want outcome %s, directory %q, object %q, actor token:%s, client 127.0.0.1, detail holding %q",
			action, a, outcome, dir, object, e.tokenNames[storage.RoleAdmin], want)
	}
	return a
}

// settingsOf decodes a directory's settings.
func settingsOf(t *testing.T, d directoryView) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(d.Settings, &m); err != nil {
		t.Fatalf("settings of %s: %v", d.Name, err)
	}
	return m
}

// TestDirectories creates, updates, disables and enables a runtime
// directory, and checks that the configuration file's are read-only and
// that bad settings are refused naming what is wrong.
func TestDirectories(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	const admin = storage.RoleAdmin

	var list pageBody[directoryView]
	e.must("auditor", "GET", "/directories", nil, http.StatusOK).decode(t, &list)
	if len(list.Items) != 2 || list.Items[0].Name != "default" || list.Items[1].Source != "config" {
		t.Fatalf("directories = %+v, want default and team-a from the config", list.Items)
	}

	body := map[string]any{"name": "team-b", "settings": map[string]any{
		"external_account_required": true, "website": "https://team-b.example.test",
		"policy": map[string]any{"allowed_domains": []string{"team-b.example.test"}}}}
	r := e.must(admin, "POST", "/directories", body, http.StatusCreated)
	var d directoryView
	r.decode(t, &d)
	if d.Name != "team-b" || d.Source != "runtime" || d.Disabled || settingsOf(t, d)["external_account_required"] != true ||
		r.header.Get("Location") != apiPrefix+"/directories/team-b" {
		t.Errorf("created %+v, Location %q", d, r.header.Get("Location"))
	}
	e.wantAudit("directory.create", storage.OutcomeSuccess, "team-b", "directory:team-b", "created runtime directory team-b")
	if stored, err := e.st.GetDirectory(e.ctx, "team-b"); err != nil || stored.Source != "runtime" {
		t.Fatalf("stored team-b: %+v, %v", stored, err)
	}

	wantProblem(t, "duplicate", e.as(admin, "POST", "/directories", map[string]any{"name": "team-b"}), http.StatusConflict, kindConflict, "team-b", "already exists")
	e.wantAudit("directory.create", storage.OutcomeFailure, "team-b", "directory:team-b", "already exists")
	wantProblem(t, "bad name", e.as(admin, "POST", "/directories", map[string]any{"name": "Team_B"}), http.StatusBadRequest, kindInvalid, "name:", "Team_B")
	wantProblem(t, "no name", e.as(admin, "POST", "/directories", map[string]any{}), http.StatusBadRequest, kindInvalid, "name:")
	wantProblem(t, "unknown settings field", e.as(admin, "POST", "/directories", map[string]any{"name": "team-c", "settings": map[string]any{"websit": "x"}}),
		http.StatusBadRequest, kindMalformed, `"websit"`)
	wantProblem(t, "wrong type", e.as(admin, "POST", "/directories", map[string]any{"name": "team-c", "settings": map[string]any{"policy": map[string]any{"max_names": "ten"}}}),
		http.StatusBadRequest, kindInvalid, "settings.policy.max_names")
	wantProblem(t, "unknown backend", e.as(admin, "POST", "/directories", map[string]any{"name": "team-c",
		"settings": map[string]any{"profiles": []map[string]any{{"name": "tls", "backend": "sectigo"}}}}),
		http.StatusBadRequest, kindInvalid, "settings:", `backend "sectigo"`)
	wantProblem(t, "bad CIDR", e.as(admin, "POST", "/directories", map[string]any{"name": "team-c",
		"settings": map[string]any{"policy": map[string]any{"allowed_cidrs": []string{"10.0.0.0/33"}}}}),
		http.StatusBadRequest, kindInvalid, "settings:", "10.0.0.0/33")
	if _, err := e.st.GetDirectory(e.ctx, "team-c"); err == nil {
		t.Error("a refused create stored team-c")
	}

	// Update replaces the settings and keeps the state.
	r = e.must(admin, "PUT", "/directories/team-b", map[string]any{"settings": map[string]any{"terms_of_service": "https://example.test/tos"}}, http.StatusOK)
	r.decode(t, &d)
	if s := settingsOf(t, d); s["external_account_required"] != nil || s["terms_of_service"] != "https://example.test/tos" {
		t.Errorf("updated settings = %s", d.Settings)
	}
	wantProblem(t, "rename", e.as(admin, "PUT", "/directories/team-b", map[string]any{"name": "team-z"}), http.StatusBadRequest, kindInvalid, "name:", "renamed")

	// Disable and enable.
	e.must(admin, "POST", "/directories/team-b/disable", nil, http.StatusOK).decode(t, &d)
	if !d.Disabled {
		t.Error("disable answered an enabled directory")
	}
	e.wantAudit("directory.disable", storage.OutcomeSuccess, "team-b", "directory:team-b", "directory team-b disabled")
	e.must(admin, "PUT", "/directories/team-b", map[string]any{"settings": map[string]any{}}, http.StatusOK).decode(t, &d)
	if !d.Disabled {
		t.Error("an update without disabled enabled the directory")
	}
	e.must(admin, "POST", "/directories/team-b/enable", nil, http.StatusOK).decode(t, &d)
	if stored, _ := e.st.GetDirectory(e.ctx, "team-b"); d.Disabled || stored.Disabled {
		t.Error("enable left the directory disabled")
	}

	// The configuration file's directories are read-only.
	for _, tc := range []struct{ method, path string }{
		{"PUT", "/directories/default"}, {"POST", "/directories/default/disable"}, {"POST", "/directories/team-a/enable"},
	} {
		var body any
		if tc.method == "PUT" {
			body = map[string]any{"settings": map[string]any{}}
		}
		wantProblem(t, tc.method+" "+tc.path, e.as(admin, tc.method, tc.path, body), http.StatusConflict, kindConflict, "configuration file")
	}
	e.wantAudit("directory.enable", storage.OutcomeFailure, "team-a", "directory:team-a", "configuration file")
	wantProblem(t, "unknown", e.as("auditor", "GET", "/directories/nosuch", nil), http.StatusNotFound, kindNotFound, `"nosuch"`)
	wantProblem(t, "update unknown", e.as(admin, "PUT", "/directories/nosuch", map[string]any{}), http.StatusNotFound, kindNotFound, `"nosuch"`)

	// Pagination of a listing the store returns whole.
	var p1, p2 pageBody[directoryView]
	r = e.must("auditor", "GET", "/directories?limit=2", nil, http.StatusOK)
	r.decode(t, &p1)
	if len(p1.Items) != 2 || p1.NextCursor == "" || !strings.Contains(r.header.Get("Link"), `rel="next"`) {
		t.Fatalf("page 1: %+v, Link %q", p1, r.header.Get("Link"))
	}
	e.must("auditor", "GET", "/directories?limit=2&cursor="+p1.NextCursor, nil, http.StatusOK).decode(t, &p2)
	if len(p2.Items) != 1 || p2.Items[0].Name != "team-b" || p2.NextCursor != "" {
		t.Errorf("page 2: %+v", p2)
	}
	wantProblem(t, "bad cursor", e.as("auditor", "GET", "/directories?cursor=zzz", nil), http.StatusBadRequest, kindInvalid, "cursor")
	wantProblem(t, "bad limit", e.as("auditor", "GET", "/directories?limit=0", nil), http.StatusBadRequest, kindInvalid, "limit")
	wantProblem(t, "unknown filter", e.as("auditor", "GET", "/directories?dir=x", nil), http.StatusBadRequest, kindInvalid, "dir")
}

// TestEABKeys: a new key's HMAC key is in its creation answer only;
// revoking it with deactivate_accounts deactivates the accounts it bound.
func TestEABKeys(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	const admin = storage.RoleAdmin

	r := e.must(admin, "POST", "/directories/team-a/eab-keys", map[string]any{"label": "ci", "ttl": "720h"}, http.StatusCreated)
	var k newEABKeyAnswer
	r.decode(t, &k)
	e.secrets = append(e.secrets, k.HMACKey)
	raw, err := base64.RawURLEncoding.DecodeString(k.HMACKey)
	if err != nil || len(raw) < 32 {
		t.Fatalf("hmac_key %d characters is not unpadded base64url of >= 32 bytes: %v", len(k.HMACKey), err)
	}
	if k.Directory != "team-a" || k.State != "active" || k.ExpiresAt == nil || time.Until(*k.ExpiresAt) < 719*time.Hour || k.Label != "ci" {
		t.Errorf("created key %+v", k.eabKeyView)
	}
	e.wantAudit("eab.create", storage.OutcomeSuccess, "team-a", "eab:"+k.KeyID, "created EAB key "+k.KeyID)

	var list pageBody[map[string]any]
	r = e.must("auditor", "GET", "/directories/team-a/eab-keys", nil, http.StatusOK)
	r.decode(t, &list)
	if len(list.Items) != 1 || list.Items[0]["key_id"] != k.KeyID || strings.Contains(string(r.body), k.HMACKey) || strings.Contains(string(r.body), "hmac") {
		t.Errorf("key list %s shows the HMAC key or misses the key", r.body)
	}
	r = e.must("auditor", "GET", "/eab-keys/"+k.KeyID, nil, http.StatusOK)
	if strings.Contains(string(r.body), k.HMACKey) || strings.Contains(string(r.body), "hmac") {
		t.Errorf("key show %s shows the HMAC key", r.body)
	}
	wantProblem(t, "bad ttl", e.as(admin, "POST", "/directories/team-a/eab-keys", map[string]any{"ttl": "soon"}), http.StatusBadRequest, kindInvalid, "ttl:", "soon")
	wantProblem(t, "unknown directory", e.as(admin, "POST", "/directories/nosuch/eab-keys", nil), http.StatusNotFound, kindNotFound, "nosuch")

	// Bind an account to the key, then revoke it with its accounts.
	a := &storage.Account{ID: fixtureID("acct"), Directory: "team-a", Status: storage.StatusValid, KeyThumbprint: fixtureID("tp"),
		KeyJWK: []byte(`{}`), EABKeyID: k.KeyID, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	if err := e.st.CreateAccount(e.ctx, a); err != nil {
		t.Fatal(err)
	}
	var revoked struct {
		eabKeyView
		DeactivatedAccounts int `json:"deactivated_accounts"`
	}
	e.must(admin, "POST", "/eab-keys/"+k.KeyID+"/revoke", map[string]any{"deactivate_accounts": true}, http.StatusOK).decode(t, &revoked)
	if revoked.State != "revoked" || revoked.DeactivatedAccounts != 1 || revoked.Bound != 1 {
		t.Errorf("revoked key %+v", revoked)
	}
	if got, _ := e.st.GetAccount(e.ctx, a.ID); got.Status != storage.StatusDeactivated {
		t.Errorf("the bound account is %s, want deactivated", got.Status)
	}
	e.wantAudit("eab.revoke", storage.OutcomeSuccess, "team-a", "eab:"+k.KeyID, "deactivated 1 accounts")
	wantProblem(t, "revoke twice", e.as(admin, "POST", "/eab-keys/"+k.KeyID+"/revoke", nil), http.StatusConflict, kindConflict, "already revoked")
	wantProblem(t, "revoke unknown", e.as(admin, "POST", "/eab-keys/kid-nosuch/revoke", nil), http.StatusNotFound, kindNotFound, "kid-nosuch")
}
