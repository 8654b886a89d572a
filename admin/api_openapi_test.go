package admin

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/acmegate/acmegate/storage"
)

// TestOpenAPIMatchesRoutes walks the mounted router and the OpenAPI
// document: every route is documented with its method, every documented
// operation is routed, and every operation but the document itself needs
// the bearer scheme.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	r := e.call("", "GET", "/openapi.json", nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET openapi.json without a token: %d %s", r.status, r.header.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Servers    []struct{ URL string }                `json:"servers"`
		Security   []map[string][]string                 `json:"security"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct{ Type, Scheme string } `json:"securitySchemes"`
			Schemas         map[string]json.RawMessage               `json:"schemas"`
		} `json:"components"`
	}
	r.decode(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") || len(doc.Servers) != 1 || doc.Servers[0].URL != apiPrefix {
		t.Fatalf("openapi %q, servers %v; want 3.0.x and %s", doc.OpenAPI, doc.Servers, apiPrefix)
	}
	if b := doc.Components.SecuritySchemes["bearer"]; b.Type != "http" || b.Scheme != "bearer" || len(doc.Security) != 1 {
		t.Errorf("security: %v, schemes %v; want a global http bearer scheme", doc.Security, doc.Components.SecuritySchemes)
	}
	for _, s := range []string{"Problem", "Order", "OrderDetail", "Certificate", "Directory", "Token", "Webhook", "AuditEntry", "Summary"} {
		if _, ok := doc.Components.Schemas[s]; !ok {
			t.Errorf("components.schemas has no %s", s)
		}
	}

	routed := map[string]bool{}
	router := mux.NewRouter()
	e.srv.apiRoutes(router.PathPrefix(apiPrefix).Subrouter())
	err := router.Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := rt.GetPathTemplate()
		if err != nil {
			return nil // the subrouter's prefix route
		}
		methods, err := rt.GetMethods()
		if err != nil {
			return nil
		}
		path, ok := strings.CutPrefix(tpl, apiPrefix)
		if !ok || path == "" {
			return nil
		}
		for _, m := range methods {
			routed[strings.ToLower(m)+" "+path] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(routed) < 30 {
		t.Fatalf("walked only %d routes: %v", len(routed), routed)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			documented[method+" "+path] = true
			var op struct {
				Security  *[]map[string][]string     `json:"security"`
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			public := op.Security != nil && len(*op.Security) == 0
			if public != (path == "/openapi.json") {
				t.Errorf("%s %s: public=%v; only /openapi.json is served without a token", method, path, public)
			}
			if _, ok := op.Responses["500"]; !ok && !public {
				t.Errorf("%s %s documents no 500 problem", method, path)
			}
		}
	}
	for k := range routed {
		if !documented[k] {
			t.Errorf("route %s is not in openapi.json", k)
		}
	}
	for k := range documented {
		if !routed[k] {
			t.Errorf("openapi.json documents %s, which is not routed", k)
		}
	}
}

// TestAuthentication: every route but the document refuses a request
// without a token, or with a bad, unknown or revoked one, with a 401
// problem carrying WWW-Authenticate; unknown paths and methods are
// problems too.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	valid := e.tokens["auditor"]
	id := strings.SplitN(strings.TrimPrefix(valid, tokenPrefix), "_", 2)[0]
	for _, rt := range e.srv.apiRouteTable() {
		if rt.role == "" {
			continue
		}
		path := strings.NewReplacer("{name}", "default", "{id}", "x").Replace(rt.path)
		for _, tc := range []struct {
			name, header string
			invalid      bool
		}{
			{"no header", "", false},
			{"basic scheme", "Basic YWRtaW46YWRtaW4=", false},
			{"not a token", "Bearer hello", true},
			{"wrong secret", "Bearer " + tokenPrefix + id + "_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true},
			{"unknown id", "Bearer " + tokenPrefix + "nosuchid_" + strings.Repeat("A", 43), true},
		} {
			req, err := http.NewRequestWithContext(e.ctx, rt.method, e.ts.URL+apiPrefix+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := e.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			www := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(www, "Bearer ") ||
				strings.Contains(www, "invalid_token") != tc.invalid {
				t.Errorf("%s %s with %s: %d, WWW-Authenticate %q", rt.method, path, tc.name, resp.StatusCode, www)
			}
		}
	}
	r := e.call("", "GET", "/orders", nil)
	if p := r.problem(t); p.Type != "urn:acmegate:admin:unauthorized" {
		t.Errorf("401 problem type %q", p.Type)
	}
	// Nothing about an unauthenticated request reaches the audit trail.
	for _, a := range e.auditEntries(storage.AuditFilter{}) {
		if a.Actor != "system" {
			t.Errorf("an unauthenticated request wrote audit entry %+v", a)
		}
	}

	r = e.as("auditor", "GET", "/nothing/here", nil)
	if r.status != http.StatusNotFound || r.problem(t).Type != problemTypePrefix+kindNotFound {
		t.Errorf("unknown path: %d %s", r.status, r.body)
	}
	r = e.as("admin", "PATCH", "/orders", nil)
	if r.status != http.StatusMethodNotAllowed || r.problem(t).Type != problemTypePrefix+kindMethodNotAllowed || r.header.Get("Allow") != "GET" {
		t.Errorf("PATCH /orders: %d, Allow %q: %s", r.status, r.header.Get("Allow"), r.body)
	}
	r = e.as("admin", "DELETE", "/certificates/some-id", nil)
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET" {
		t.Errorf("DELETE /certificates/{id}: %d, Allow %q: %s", r.status, r.header.Get("Allow"), r.body)
	}
	if r := e.as("auditor", "GET", "/summary", nil); r.status != http.StatusOK || !slices.Contains(r.header.Values("Cache-Control"), "no-store") {
		t.Errorf("GET /summary: %d, Cache-Control %q", r.status, r.header.Values("Cache-Control"))
	}
}
