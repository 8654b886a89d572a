package admin

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/acmegate/acmegate/storage"
)

// route is one operation of the admin API: who may call it and, for a
// mutation, what its audit entries record.
type route struct {
	method string
	// path is relative to /admin/api/v1; {name} is always a directory's
	// name, so a route with one records that directory in the audit trail.
	path string
	// role is the least role that may call the route; "" means no
	// authentication at all (the OpenAPI document only).
	role storage.Role
	// action is the audit action of a mutation; "" for reads, which are
	// not audited.
	action string
	// object is the audited object, with {var} replaced by the path's
	// variables; handlers that create an object set it themselves.
	object string
	handle func(c *call) error
}

// Roles, short for the table.
const (
	auditor  = storage.RoleAuditor
	operator = storage.RoleOperator
	admin    = storage.RoleAdmin
)

// apiRouteTable lists every route of the admin REST API. Auditors may call
// every GET; operators also decide approvals, revoke certificates and
// deactivate accounts; admins manage directories, EAB keys, webhooks and
// tokens.
func (s *Server) apiRouteTable() []route {
	return []route{
		{"GET", "/openapi.json", "", "", "", s.getOpenAPI},
		{"GET", "/summary", auditor, "", "", s.getSummary},

		{"GET", "/directories", auditor, "", "", s.listDirectories},
		{"POST", "/directories", admin, "directory.create", "", s.createDirectory},
		{"GET", "/directories/{name}", auditor, "", "", s.getDirectory},
		{"PUT", "/directories/{name}", admin, "directory.update", "directory:{name}", s.updateDirectory},
		{"POST", "/directories/{name}/disable", admin, "directory.disable", "directory:{name}", s.disableDirectory},
		{"POST", "/directories/{name}/enable", admin, "directory.enable", "directory:{name}", s.enableDirectory},

		{"GET", "/directories/{name}/eab-keys", auditor, "", "", s.listEABKeys},
		{"POST", "/directories/{name}/eab-keys", admin, "eab.create", "", s.createEABKey},
		{"GET", "/eab-keys/{id}", auditor, "", "", s.getEABKey},
		{"POST", "/eab-keys/{id}/revoke", admin, "eab.revoke", "eab:{id}", s.revokeEABKey},

		{"GET", "/accounts", auditor, "", "", s.listAccounts},
		{"GET", "/accounts/{id}", auditor, "", "", s.getAccount},
		{"POST", "/accounts/{id}/deactivate", operator, "account.deactivate", "account:{id}", s.deactivateAccount},

		{"GET", "/orders", auditor, "", "", s.listOrders},
		{"GET", "/orders/{id}", auditor, "", "", s.getOrder},
		{"POST", "/orders/{id}/approve", operator, "order.approve", "order:{id}", s.approveOrder},
		{"POST", "/orders/{id}/reject", operator, "order.reject", "order:{id}", s.rejectOrder},

		{"GET", "/certificates", auditor, "", "", s.listCertificates},
		{"GET", "/certificates.csv", auditor, "", "", s.exportCertificates},
		{"GET", "/certificates/{id}", auditor, "", "", s.getCertificate},
		{"GET", "/certificates/{id}/pem", auditor, "", "", s.getCertificatePEM},
		{"POST", "/certificates/{id}/revoke", operator, "certificate.revoke.request", "certificate:{id}", s.revokeCertificate},

		{"GET", "/audit", auditor, "", "", s.listAudit},
		{"GET", "/audit/verify", auditor, "", "", s.verifyAudit},

		{"GET", "/webhooks", auditor, "", "", s.listWebhooks},
		{"POST", "/webhooks", admin, "webhook.create", "", s.createWebhook},
		{"GET", "/webhooks/{id}", auditor, "", "", s.getWebhook},
		{"DELETE", "/webhooks/{id}", admin, "webhook.delete", "webhook:{id}", s.deleteWebhook},
		{"GET", "/webhooks/{id}/deliveries", auditor, "", "", s.listDeliveries},

		{"GET", "/tokens", auditor, "", "", s.listTokens},
		{"POST", "/tokens", admin, "token.create", "", s.createToken},
		{"GET", "/tokens/{id}", auditor, "", "", s.getToken},
		{"POST", "/tokens/{id}/revoke", admin, "token.revoke", "token:{id}", s.revokeToken},
	}
}

// apiRoutes mounts the admin REST API on r, a router for apiPrefix.
func (s *Server) apiRoutes(r *mux.Router) {
	// byPath matches paths whatever the method, to tell a wrong method
	// (405 with Allow) from an unknown path (404): mux's own
	// MethodNotAllowedHandler misses the case when a later route shares
	// the path's prefix (/orders and /orders/{id}).
	byPath := mux.NewRouter()
	methods := map[string][]string{}
	for _, rt := range s.apiRouteTable() {
		r.Handle(rt.path, s.serveRoute(rt)).Methods(rt.method)
		if methods[rt.path] == nil {
			byPath.Handle(apiPrefix+rt.path, http.NotFoundHandler()).Name(rt.path)
		}
		methods[rt.path] = append(methods[rt.path], rt.method)
	}
	wrongMethod := func(w http.ResponseWriter, req *http.Request) bool {
		var m mux.RouteMatch
		if !byPath.Match(req, &m) || m.Route == nil {
			return false
		}
		allowed := strings.Join(methods[m.Route.GetName()], ", ")
		w.Header().Set("Allow", allowed)
		s.writeProblem(w, req, newAPIError(kindMethodNotAllowed, http.StatusMethodNotAllowed, "%s is not allowed on %s; use %s", req.Method, req.URL.Path, allowed))
		return true
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !wrongMethod(w, req) {
			s.writeProblem(w, req, notFound("no admin API resource at %s (the routes are in %s/openapi.json)", req.URL.Path, apiPrefix))
		}
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !wrongMethod(w, req) {
			s.writeProblem(w, req, newAPIError(kindMethodNotAllowed, http.StatusMethodNotAllowed, "%s is not allowed on %s", req.Method, req.URL.Path))
		}
	})
}

// maxBodyBytes caps request bodies: the largest is a directory's settings.
const maxBodyBytes = 64 << 10

// call is one authenticated request to a route.
type call struct {
	s   *Server
	w   http.ResponseWriter
	r   *http.Request
	tok *storage.AdminToken
	// dir, object and detail are what the audit entry of a mutation
	// records; handlers refine them. detail never holds a secret.
	dir, object, detail string
	// status and body are the answer, written once the audit entry is.
	status int
	body   any
	// written is set by handlers that stream their answer themselves.
	written bool
}

// reply sets the answer: v as JSON with status.
func (c *call) reply(status int, v any) { c.status, c.body = status, v }

// actor is how the caller appears in the audit trail and timelines.
func (c *call) actor() string { return AuditActor(c.tok) }

// vars returns the path variable called name.
func (c *call) vars(name string) string { return mux.Vars(c.r)[name] }

// serveRoute wraps a route's handler with what every route shares:
// authentication, the role check (a refusal is audited), the body limit,
// the audit entry of a mutation (written before the answer, so an answer
// the caller sees is in the trail), and problem documents for errors.
func (s *Server) serveRoute(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		c := &call{s: s, w: w, r: r}
		vars := mux.Vars(r)
		c.dir = vars["name"]
		c.object = rt.object
		for k, v := range vars {
			c.object = strings.ReplaceAll(c.object, "{"+k+"}", v)
		}
		if rt.role != "" {
			tok, err := s.authenticateRequest(r)
			if err != nil {
				s.writeProblem(w, r, err)
				return
			}
			c.tok = tok
			if !allows(tok.Role, rt.role) {
				err := forbidden("a token with role %s may not %s %s: it needs role %s", tok.Role, rt.method, apiPrefix+rt.path, rt.role)
				if aerr := s.Audit(r.Context(), r, tok, c.dir, rt.action, c.object, storage.OutcomeDenied, publicDetail(err)); aerr != nil {
					err = aerr
				}
				s.writeProblem(w, r, err)
				return
			}
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		}
		var err error
		if r.ContentLength > maxBodyBytes {
			// Refused before any handler runs, so a route that would not
			// read its body refuses an announced oversized one too.
			err = errTooLarge()
		} else {
			err = rt.handle(c)
		}
		if rt.action != "" {
			outcome, detail := storage.OutcomeSuccess, c.detail
			if err != nil {
				outcome, detail = storage.OutcomeFailure, publicDetail(err)
			}
			if aerr := s.Audit(r.Context(), r, c.tok, c.dir, rt.action, c.object, outcome, detail); aerr != nil && err == nil {
				err = errAuditFailed
			}
		}
		switch {
		case err != nil:
			if c.written {
				// The answer has begun: the only honest thing left is to
				// cut the connection, so the client sees a truncated body
				// rather than a complete-looking one.
				s.log.Error("admin API answer failed midway", slog.String("path", r.URL.Path), slog.Any("error", err))
				panic(http.ErrAbortHandler)
			}
			s.writeProblem(w, r, err)
		case c.written:
		case c.body == nil:
			if c.status == 0 {
				c.status = http.StatusNoContent
			}
			w.WriteHeader(c.status)
		default:
			writeJSON(w, c.status, "application/json", c.body)
		}
	})
}

// authenticateRequest returns the token of the request's bearer header.
func (s *Server) authenticateRequest(r *http.Request) (*storage.AdminToken, error) {
	raw, ok := bearer(r)
	if !ok || raw == "" {
		return nil, errUnauthenticated
	}
	tok, err := s.Authenticate(r.Context(), raw)
	if errors.Is(err, errBadToken) {
		return nil, errBadCredentials
	}
	if err != nil {
		return nil, err
	}
	return tok, nil
}
