package main

import (
	"context"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/acmegate/acmegate/storage"
)

// pprofPrefix is where admin.pprof mounts the runtime profiles.
const pprofPrefix = "/debug/pprof/"

// authenticator resolves an admin bearer token (admin.Server.Authenticate).
type authenticator func(ctx context.Context, token string) (*storage.AdminToken, error)

// withPProf serves Go's runtime profiles under /debug/pprof/ and every
// other path with next. A profile holds stack traces and, for the heap,
// allocation sites, and a CPU profile costs CPU while it runs, so only a
// bearer token of the admin role gets one; anyone else gets 401 (no or a
// bad token) or 403 (a weaker role) and learns nothing else.
func withPProf(next http.Handler, auth authenticator) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(pprofPrefix, pprof.Index)
	mux.HandleFunc(pprofPrefix+"cmdline", pprof.Cmdline)
	mux.HandleFunc(pprofPrefix+"profile", pprof.Profile)
	mux.HandleFunc(pprofPrefix+"symbol", pprof.Symbol)
	mux.HandleFunc(pprofPrefix+"trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != strings.TrimSuffix(pprofPrefix, "/") && !strings.HasPrefix(r.URL.Path, pprofPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="acmegate admin"`)
			http.Error(w, "pprof needs an admin bearer token", http.StatusUnauthorized)
			return
		}
		t, err := auth(r.Context(), strings.TrimSpace(tok))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="acmegate admin", error="invalid_token"`)
			http.Error(w, "invalid, expired or revoked token", http.StatusUnauthorized)
			return
		}
		if t.Role != storage.RoleAdmin {
			http.Error(w, "pprof needs a token of the admin role", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}
