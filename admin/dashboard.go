package admin

import (
	"io/fs"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/acmegate/acmegate/storage"
)

// dashboardRoutes lists every page and form of the dashboard. Every page
// needs a session; every form also needs the session's CSRF token, and the
// role written next to it (refusals are audited as denied). Auditors see
// everything and change nothing; operators decide approvals and revoke;
// admins also create EAB keys.
func (s *Server) dashboardRoutes(r *mux.Router) {
	const (
		anyRole  = storage.RoleAuditor
		operates = storage.RoleOperator
		admins   = storage.RoleAdmin
	)
	static, err := fs.Sub(dashStaticFS, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix(dashboardPrefix+"static/", http.FileServerFS(static))
	r.PathPrefix("/static/").Handler(withSecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/") {
			http.NotFound(w, req) // files only, no listings
			return
		}
		files.ServeHTTP(w, req)
	}))).Methods("GET", "HEAD")

	r.HandleFunc("/login", s.loginPage).Methods("GET", "HEAD")
	r.HandleFunc("/login", s.login).Methods("POST")
	r.Handle("/logout", s.dashPost(anyRole, actionLogout, "", s.logout)).Methods("POST")

	r.Handle("/", s.dashGet(s.homePage)).Methods("GET", "HEAD")

	r.Handle("/orders", s.dashGet(s.ordersPage)).Methods("GET", "HEAD")
	r.Handle("/orders/{id}", s.dashGet(s.orderPage)).Methods("GET", "HEAD")
	r.Handle("/orders/{id}/approve", s.dashPost(operates, "order.approve", "order:{id}", s.approveForm)).Methods("POST")
	r.Handle("/orders/{id}/reject", s.dashPost(operates, "order.reject", "order:{id}", s.rejectForm)).Methods("POST")

	r.Handle("/certificates", s.dashGet(s.certificatesPage)).Methods("GET", "HEAD")
	r.Handle("/certificates.csv", s.dashGet(s.certificatesCSV)).Methods("GET", "HEAD")
	r.Handle("/certificates/{id}", s.dashGet(s.certificatePage)).Methods("GET", "HEAD")
	r.Handle("/certificates/{id}/revoke", s.dashPost(operates, "certificate.revoke.request", "certificate:{id}", s.revokeForm)).Methods("POST")

	r.Handle("/directories", s.dashGet(s.directoriesPage)).Methods("GET", "HEAD")
	r.Handle("/directories/{name}/eab-keys", s.dashPost(admins, "eab.create", "directory:{name}", s.createEABForm)).Methods("POST")

	r.Handle("/accounts", s.dashGet(s.accountsPage)).Methods("GET", "HEAD")
	r.Handle("/audit", s.dashGet(s.auditPage)).Methods("GET", "HEAD")

	r.NotFoundHandler = s.dashGet(func(d *dashReq) error {
		return dashErrorf(http.StatusNotFound, "There is no dashboard page at %s.", d.r.URL.Path)
	})
	r.MethodNotAllowedHandler = withSecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}))
}

// withSecurityHeaders sets the dashboard's security headers before h runs.
func withSecurityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		h.ServeHTTP(w, r)
	})
}
