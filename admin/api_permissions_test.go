package admin

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/storage"
)

// routeCase is how to call one route: setup makes what the call acts on
// (a fresh object for a mutation, so that every allowed call can succeed)
// and returns the concrete path and body.
type routeCase struct {
	method, template string
	setup            func(e *apiEnv) (path string, body any)
}

// fixed is a setup for a route that needs nothing made first.
func fixed(path string, body any) func(*apiEnv) (string, any) {
	return func(*apiEnv) (string, any) { return path, body }
}

// routeCases covers every route of apiRoutes (TestPermissionMatrix checks
// that none is missing).
func routeCases() []routeCase {
	runtimeDir := func(e *apiEnv) string {
		e.t.Helper()
		name := strings.ReplaceAll(strings.ToLower(fixtureID("rt")), "_", "-")
		if err := acme.PutRuntimeDirectory(e.ctx, e.st, e.srv.cfg.Catalog, acme.DirectoryDefinition{Name: name}, true, time.Now().UTC()); err != nil {
			e.t.Fatal(err)
		}
		return name
	}
	eabKey := func(e *apiEnv) string {
		e.t.Helper()
		k, err := e.srv.cfg.EABKeys.Create(e.ctx, "default", "fixture", false, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		e.secrets = append(e.secrets, k.HMACKey)
		return k.KeyID
	}
	webhook := func(e *apiEnv) string {
		e.t.Helper()
		r := e.must(storage.RoleAdmin, "POST", "/webhooks", map[string]any{"url": "https://hooks.example.test/acmegate"}, http.StatusCreated)
		var w newWebhookAnswer
		r.decode(e.t, &w)
		e.secrets = append(e.secrets, w.Secret)
		return w.ID
	}
	token := func(e *apiEnv) string {
		e.t.Helper()
		_, rec, err := CreateToken(e.ctx, e.st, fixtureID("victim"), storage.RoleAuditor, 0, "test", time.Now().UTC())
		if err != nil {
			e.t.Fatal(err)
		}
		return rec.ID
	}
	order := func(e *apiEnv) *storage.Order {
		return e.awaitingApproval(e.account("default"), "approve.example.test", time.Now().Add(time.Hour))
	}
	cert := func(e *apiEnv) *storage.Certificate {
		return e.cert("default", []string{"revoke.example.test"}, time.Now().Add(60*24*time.Hour))
	}
	return []routeCase{
		{"GET", "/summary", fixed("/summary", nil)},
		{"GET", "/directories", fixed("/directories", nil)},
		{"POST", "/directories", func(e *apiEnv) (string, any) {
			return "/directories", map[string]any{"name": strings.ToLower(fixtureID("new"))}
		}},
		{"GET", "/directories/{name}", fixed("/directories/default", nil)},
		{"PUT", "/directories/{name}", func(e *apiEnv) (string, any) {
			return "/directories/" + runtimeDir(e), map[string]any{"settings": map[string]any{"website": "https://example.test"}}
		}},
		{"POST", "/directories/{name}/disable", func(e *apiEnv) (string, any) { return "/directories/" + runtimeDir(e) + "/disable", nil }},
		{"POST", "/directories/{name}/enable", func(e *apiEnv) (string, any) { return "/directories/" + runtimeDir(e) + "/enable", nil }},
		{"GET", "/directories/{name}/eab-keys", fixed("/directories/default/eab-keys", nil)},
		{"POST", "/directories/{name}/eab-keys", fixed("/directories/default/eab-keys", map[string]any{"label": "matrix"})},
		{"GET", "/eab-keys/{id}", func(e *apiEnv) (string, any) { return "/eab-keys/" + eabKey(e), nil }},
		{"POST", "/eab-keys/{id}/revoke", func(e *apiEnv) (string, any) { return "/eab-keys/" + eabKey(e) + "/revoke", nil }},
		{"GET", "/accounts", fixed("/accounts", nil)},
		{"GET", "/accounts/{id}", func(e *apiEnv) (string, any) { return "/accounts/" + e.account("default").ID, nil }},
		{"POST", "/accounts/{id}/deactivate", func(e *apiEnv) (string, any) {
			return "/accounts/" + e.account("default").ID + "/deactivate", nil
		}},
		{"GET", "/orders", fixed("/orders", nil)},
		{"GET", "/orders/{id}", func(e *apiEnv) (string, any) { return "/orders/" + order(e).ID, nil }},
		{"POST", "/orders/{id}/approve", func(e *apiEnv) (string, any) {
			return "/orders/" + order(e).ID + "/approve", map[string]any{"reason": "ticket 1"}
		}},
		{"POST", "/orders/{id}/reject", func(e *apiEnv) (string, any) {
			return "/orders/" + order(e).ID + "/reject", map[string]any{"reason": "not ours"}
		}},
		{"GET", "/certificates", fixed("/certificates", nil)},
		{"GET", "/certificates.csv", fixed("/certificates.csv", nil)},
		{"GET", "/certificates/{id}", func(e *apiEnv) (string, any) { return "/certificates/" + cert(e).ID, nil }},
		{"GET", "/certificates/{id}/pem", func(e *apiEnv) (string, any) { return "/certificates/" + cert(e).ID + "/pem", nil }},
		{"POST", "/certificates/{id}/revoke", func(e *apiEnv) (string, any) {
			return "/certificates/" + cert(e).ID + "/revoke", map[string]any{"reason": "superseded"}
		}},
		{"GET", "/audit", fixed("/audit", nil)},
		{"GET", "/audit/verify", fixed("/audit/verify", nil)},
		{"GET", "/webhooks", fixed("/webhooks", nil)},
		{"POST", "/webhooks", fixed("/webhooks", map[string]any{"url": "https://hooks.example.test/x", "events": []string{"certificate.issued"}})},
		{"GET", "/webhooks/{id}", func(e *apiEnv) (string, any) { return "/webhooks/" + webhook(e), nil }},
		{"DELETE", "/webhooks/{id}", func(e *apiEnv) (string, any) { return "/webhooks/" + webhook(e), nil }},
		{"GET", "/webhooks/{id}/deliveries", func(e *apiEnv) (string, any) { return "/webhooks/" + webhook(e) + "/deliveries", nil }},
		{"GET", "/tokens", fixed("/tokens", nil)},
		{"POST", "/tokens", func(e *apiEnv) (string, any) {
			return "/tokens", map[string]any{"name": fixtureID("made"), "role": "auditor", "ttl": "1h"}
		}},
		{"GET", "/tokens/{id}", func(e *apiEnv) (string, any) { return "/tokens/" + token(e), nil }},
		{"POST", "/tokens/{id}/revoke", func(e *apiEnv) (string, any) { return "/tokens/" + token(e) + "/revoke", nil }},
	}
}

// routeTable returns the route table, by "METHOD path".
func (e *apiEnv) routeTable() map[string]route {
	out := map[string]route{}
	for _, rt := range e.srv.apiRouteTable() {
		out[rt.method+" "+rt.path] = rt
	}
	return out
}

// TestPermissionMatrix calls every route with a token of every role:
// allowed calls succeed (2xx), refused ones are 403 problems with an audit
// entry of outcome denied naming the token.
func TestPermissionMatrix(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	table := e.routeTable()
	cases := routeCases()
	seen := map[string]bool{}
	for _, rc := range cases {
		seen[rc.method+" "+rc.template] = true
	}
	for key, rt := range table {
		if !seen[key] && rt.role != "" {
			t.Errorf("route %s has no case in the permission matrix", key)
		}
	}
	for _, rc := range cases {
		rt, ok := table[rc.method+" "+rc.template]
		if !ok {
			t.Errorf("matrix case %s %s is not a route", rc.method, rc.template)
			continue
		}
		for _, role := range []storage.Role{storage.RoleAuditor, storage.RoleOperator, storage.RoleAdmin} {
			t.Run(rc.method+" "+rc.template+" as "+string(role), func(t *testing.T) {
				e := e.with(t)
				path, body := rc.setup(e)
				r := e.as(role, rc.method, path, body)
				if allows(role, rt.role) {
					if r.status < 200 || r.status > 299 {
						t.Fatalf("%s %s as %s: status %d, want 2xx: %s", rc.method, path, role, r.status, r.body)
					}
					return
				}
				if r.status != http.StatusForbidden {
					t.Fatalf("%s %s as %s: status %d, want 403: %s", rc.method, path, role, r.status, r.body)
				}
				p := r.problem(t)
				if p.Type != problemTypePrefix+kindForbidden || !strings.Contains(p.Detail, string(rt.role)) {
					t.Errorf("403 problem %+v should be forbidden and name the role needed (%s)", p, rt.role)
				}
				a := e.lastAudit(rt.action)
				if a.Outcome != storage.OutcomeDenied || a.Actor != "token:"+e.tokenNames[role] || a.ClientIP != "127.0.0.1" {
					t.Errorf("newest %s audit entry = %+v, want denied to token:%s from 127.0.0.1", rt.action, a, e.tokenNames[role])
				}
			})
		}
	}
}

// with returns e reporting to subtest t.
func (e *apiEnv) with(t *testing.T) *apiEnv {
	c := *e
	c.t = t
	return &c
}
