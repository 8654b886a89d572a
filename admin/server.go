package admin

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/storage"
)

// Revoker revokes a certificate on an operator's behalf; *acme.Server is
// the implementation.
type Revoker interface {
	RevokeCertificate(ctx context.Context, certID string, reason int, actor string) error
}

// Config configures a Server. Store is required.
type Config struct {
	Store storage.Store
	// Approvals decides pending approvals.
	Approvals *acme.Approvals
	// EABKeys creates EAB keys.
	EABKeys *acme.EABKeys
	// Catalog is what the CA backends offer, to check directory settings.
	Catalog acme.Catalog
	// Revoker revokes certificates; without one revocation is refused.
	Revoker Revoker
	// Sealer seals webhook signing secrets.
	Sealer *acme.Sealer
	// Metrics, when set, is served at /metrics.
	Metrics http.Handler
	// Ready reports whether the server can take traffic (/readyz); nil
	// means always ready.
	Ready func(ctx context.Context) error
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Clock defaults to the system clock.
	Clock acme.Clock
	// SessionLifetime bounds a dashboard session. Default: 8h.
	SessionLifetime time.Duration
	// InsecureCookies drops the Secure attribute of the session cookie,
	// for a dashboard served over plain HTTP on loopback only. Default:
	// false (Secure).
	InsecureCookies bool
	// Version is shown in the dashboard footer.
	Version string
}

// Server serves the admin API and the dashboard.
type Server struct {
	cfg   Config
	store storage.Store
	log   *slog.Logger
	clock acme.Clock
	// sessionKey authenticates session cookies and CSRF tokens; shared by
	// every instance through the store.
	sessionKey []byte
}

// New builds a Server.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errMissingStore
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = acme.SystemClock()
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = 8 * time.Hour
	}
	key, err := loadSessionKey(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, store: cfg.Store, log: cfg.Logger, clock: cfg.Clock, sessionKey: key}, nil
}

// Handler routes /admin/api/v1/… to the API, /admin/… to the dashboard,
// and serves /metrics, /healthz and /readyz.
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter()
	r.Handle("/healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	}))
	r.Handle("/readyz", http.HandlerFunc(s.handleReady))
	if s.cfg.Metrics != nil {
		r.Handle("/metrics", s.cfg.Metrics)
	}
	s.apiRoutes(r.PathPrefix(apiPrefix).Subrouter())
	s.dashboardRoutes(r.PathPrefix(dashboardPrefix).Subrouter())
	r.Handle("/admin", http.RedirectHandler(dashboardPrefix, http.StatusFound))
	return r
}

// Paths of the two surfaces.
const (
	apiPrefix       = "/admin/api/v1"
	dashboardPrefix = "/admin/"
)

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(r.Context()); err != nil {
			s.log.Warn("not ready", slog.Any("error", err))
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
}
