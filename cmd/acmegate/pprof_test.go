package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestPProfConfig(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"admin:\n  pprof: true\n", ""},
		{"admin:\n  listen: off\n  pprof: true\n", "admin.pprof"},
		{"admin:\n  on_acme_listener: true\n  pprof: true\n", "admin.pprof"},
		{"storage:\n  nonces: shared\n", ""},
		{"storage:\n  nonces: sometimes\n", "storage.nonces"},
	} {
		_, err := loadConfig(writeConfig(t, tc.body))
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("config %q: %v, want an error holding %q", tc.body, err, tc.want)
		}
	}
	cfg, err := loadConfig(writeConfig(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Admin.PProf || cfg.Storage.Nonces != noncesLocal {
		t.Errorf("defaults: pprof %v, nonces %q; want false, local (SQLite)", cfg.Admin.PProf, cfg.Storage.Nonces)
	}
	cfg, err = loadConfig(writeConfig(t, "storage:\n  driver: postgres\n  url: postgres://db.example/acmegate\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.Nonces != noncesShared {
		t.Errorf("PostgreSQL default nonces %q, want shared", cfg.Storage.Nonces)
	}
}

// TestPProfOnAdminListener: through the real binary with admin.pprof, the
// profiles answer on the admin listener to an admin token only, never on
// the ACME listener; without the flag they are not there at all.
func TestPProfOnAdminListener(t *testing.T) {
	skipIfShort(t)
	s := startGate(t, &Config{Admin: AdminConfig{PProf: true}})
	plain := startGate(t, &Config{})
	// Bound the requests, not the build of the binary above.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	get := func(hc *http.Client, url, tok string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	hc := trustingClient(t, s.rootPEM)
	base := strings.TrimSuffix(s.adminURL(t), "/admin/")
	adminTok := s.createToken(t, "perf", "admin")
	opTok := s.createToken(t, "night-operator", "operator")
	for _, tc := range []struct {
		name, path, tok string
		want            int
	}{
		{"no token", "/debug/pprof/", "", http.StatusUnauthorized},
		{"bad token", "/debug/pprof/", "acmegate_nope_nope", http.StatusUnauthorized},
		{"operator", "/debug/pprof/", opTok, http.StatusForbidden},
		{"admin index", "/debug/pprof/", adminTok, http.StatusOK},
		{"admin heap", "/debug/pprof/heap?debug=1", adminTok, http.StatusOK},
		{"admin cmdline", "/debug/pprof/cmdline", adminTok, http.StatusOK},
	} {
		code, body := get(hc, base+tc.path, tc.tok)
		if code != tc.want {
			t.Errorf("%s: GET %s = %d, want %d: %.200s", tc.name, tc.path, code, tc.want, body)
		}
		if tc.want == http.StatusOK && tc.path == "/debug/pprof/heap?debug=1" && !strings.Contains(body, "heap profile") {
			t.Errorf("heap profile: %.200s", body)
		}
	}
	// The admin API itself still answers behind the pprof wrapper.
	if code := adminAPI(ctx, t, hc, s.adminURL(t), adminTok, "GET", "/summary", nil, nil); code != http.StatusOK {
		t.Errorf("admin API behind pprof: %d", code)
	}
	// Never on the ACME listener.
	if code, _ := get(hc, s.baseURL+"/debug/pprof/", adminTok); code != http.StatusNotFound {
		t.Errorf("ACME listener /debug/pprof/ = %d, want 404", code)
	}

	phc := trustingClient(t, plain.rootPEM)
	tok := plain.createToken(t, "perf", "admin")
	if code, _ := get(phc, strings.TrimSuffix(plain.adminURL(t), "/admin/")+"/debug/pprof/", tok); code == http.StatusOK {
		t.Error("/debug/pprof/ answers without admin.pprof")
	}
}
