package sectigotest

import (
	"bytes"
	"io"
	"net/http"
	"strings"
)

// routes is the fake's API, every path relative to /api (or /private/api).
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	// upstream-apis.md §1.3–§1.7.
	mux.HandleFunc("GET /api/ssl/v1/types", s.handleTypes)
	mux.HandleFunc("GET /api/ssl/v1/customFields", s.handleCustomFields)
	mux.HandleFunc("POST /api/ssl/v1/enroll", s.handleEnroll)
	mux.HandleFunc("GET /api/ssl/v1", s.handleList)
	mux.HandleFunc("GET /api/ssl/v1/{sslId}", s.handleDetails)
	mux.HandleFunc("GET /api/ssl/v1/collect/{sslId}", s.handleCollect)
	mux.HandleFunc("GET /api/ssl/v1/collect/{sslId}/{format}", s.handleCollect)
	mux.HandleFunc("POST /api/ssl/v1/approve/{sslId}", s.handleApprove)
	mux.HandleFunc("POST /api/ssl/v1/decline/{sslId}", s.handleDecline)
	mux.HandleFunc("POST /api/ssl/v1/revoke/{sslId}", s.handleRevoke)
	mux.HandleFunc("POST /api/ssl/v1/revoke/serial/{serial}", s.handleRevoke)
	mux.HandleFunc("GET /api/organization/v1", s.handleOrganizations)
	mux.HandleFunc("GET /api/organization/v1/{id}", s.handleOrganization)
	mux.HandleFunc("GET /api/domain/v1", s.handleDomains)
	mux.HandleFunc("/", notFound)
	return mux
}

// serve records the request, applies a queued fault, then authenticates and
// routes.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.record(r, body)
	if f := s.takeFault(r.URL.Path); f != nil && s.applyFault(w, r, f) {
		return
	}
	s.authAndRoute(w, r)
}

// authAndRoute checks the credentials (upstream-apis.md §1.1) and hands the
// request to the API.
func (s *Server) authAndRoute(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	private := strings.HasPrefix(path, "/private/")
	path = strings.TrimPrefix(path, "/private")
	if !strings.HasPrefix(path, "/api/") && path != "/api" {
		notFound(w, r)
		return
	}
	// Header names are case-insensitive; Get canonicalises "customerUri".
	switch {
	case private != s.cfg.ClientCertAuth:
		// The password API under /private, or the client-certificate API
		// without it: SCM cannot tell who is calling.
		writeError(w, http.StatusUnauthorized, codeUnknownUser, "Unknown user")
		return
	case r.Header.Get("customerUri") != s.cfg.CustomerURI || r.Header.Get("login") != s.cfg.Login:
		writeError(w, http.StatusUnauthorized, codeUnknownUser, "Unknown user")
		return
	case s.cfg.ClientCertAuth && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0):
		writeError(w, http.StatusUnauthorized, codeUnknownUser, "Unknown user")
		return
	case !s.cfg.ClientCertAuth && r.Header.Get("password") != s.cfg.Password:
		writeError(w, http.StatusUnauthorized, codeBadCredentials, "Incorrect login credentials")
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = path
	r2.URL.RawPath = ""
	s.handler.ServeHTTP(w, r2)
}

// record keeps r for Requests, without the password.
func (s *Server) record(r *http.Request, body []byte) {
	h := r.Header.Clone()
	_, sent := h["Password"]
	h.Del("password")
	req := Request{
		Method:       r.Method,
		Path:         r.URL.Path,
		RawQuery:     r.URL.RawQuery,
		Header:       h,
		PasswordSent: sent,
		ClientCert:   r.TLS != nil && len(r.TLS.VerifiedChains) > 0,
		Body:         body,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
}
