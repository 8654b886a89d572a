package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/admin"
	"github.com/acmegate/acmegate/ca/local"
)

// AdminConfig configures the operators' surfaces: the admin REST API
// under /admin/api/v1, the dashboard under /admin/, and /metrics,
// /healthz and /readyz (docs/admin-api.md).
type AdminConfig struct {
	// Listen is the address of the admin listener, served over TLS like
	// the ACME listener (or plain HTTP when tls.disabled is set), or "off"
	// for none. Default: 127.0.0.1:14001, reachable from this host only.
	Listen string `yaml:"listen"`
	// OnACMEListener mounts /admin/ and /admin/api/v1 on the ACME
	// listener instead, and opens no admin listener. Default: false.
	OnACMEListener bool `yaml:"on_acme_listener"`
	// SessionLifetime bounds a dashboard session. Default: 8h.
	SessionLifetime time.Duration `yaml:"session_lifetime"`
	// PProf mounts Go's runtime profiles (net/http/pprof) under
	// /debug/pprof/ on the admin listener, for admin-role bearer tokens
	// only (docs/performance.md). Needs the admin listener: it is refused
	// with listen "off" or on_acme_listener. Default: false.
	PProf bool `yaml:"pprof"`
}

// adminOff disables the admin listener.
const adminOff = "off"

func (c *AdminConfig) setDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:14001"
	}
	if c.SessionLifetime == 0 {
		c.SessionLifetime = 8 * time.Hour
	}
}

func (c *AdminConfig) validate() error {
	if c.Listen != adminOff {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return fmt.Errorf("config: admin.listen %q must be host:port or %q", c.Listen, adminOff)
		}
	}
	if c.PProf && (c.Listen == adminOff || c.OnACMEListener) {
		// Profiles reveal memory contents and cost CPU: never on the
		// listener the subscribers reach.
		return errors.New("config: admin.pprof needs the admin listener (admin.listen not \"off\", admin.on_acme_listener false)")
	}
	if c.SessionLifetime < time.Minute || c.SessionLifetime > 30*24*time.Hour {
		return fmt.Errorf("config: admin.session_lifetime %v must be between 1m and 720h", c.SessionLifetime)
	}
	return nil
}

// newAdminServer builds the operators' surfaces over the components and
// the ACME server, whose revocation they use.
func newAdminServer(ctx context.Context, cfg *Config, c *components, revoker admin.Revoker, metrics http.Handler, log *slog.Logger) (*admin.Server, error) {
	srv, err := admin.New(ctx, admin.Config{
		Store:           c.store,
		Approvals:       &acme.Approvals{Store: c.store},
		EABKeys:         &acme.EABKeys{Store: c.store, Sealer: c.sealer},
		Catalog:         c.catalog,
		Revoker:         revoker,
		Sealer:          c.sealer,
		Metrics:         metrics,
		Ready:           c.store.Ping,
		Logger:          log,
		SessionLifetime: cfg.Admin.SessionLifetime,
		Version:         version,
	})
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	return srv, nil
}

// withAdmin serves /admin and everything under /admin/ with adminH and
// every other path with acmeH (admin.on_acme_listener).
func withAdmin(acmeH, adminH http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/admin" || strings.HasPrefix(r.URL.Path, "/admin/") {
			adminH.ServeHTTP(w, r)
			return
		}
		acmeH.ServeHTTP(w, r)
	})
}

// adminListener is the admin surfaces' own listener.
type adminListener struct {
	srv *http.Server
	ln  net.Listener
	// url is the dashboard's URL, for the start banner.
	url string
}

// listenAdmin opens the admin listener: TLS with the ACME listener's
// certificate setup (configured files, or a certificate the local CA
// issues for this address), unless tls.disabled.
func listenAdmin(cfg *Config, localCA *local.CA, h http.Handler, log *slog.Logger) (*adminListener, error) {
	ln, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (admin.listen; \"off\" disables it): %w", cfg.Admin.Listen, err)
	}
	a := &adminListener{ln: ln, srv: newHTTPServer(h, adminListenerLimits(), log)}
	scheme := "http"
	if !cfg.TLS.Disabled {
		tlsCfg, err := serverTLS(cfg, localCA, ln.Addr())
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("admin listener: %w", err)
		}
		a.srv.TLSConfig = tlsCfg
		a.ln = tls.NewListener(ln, tlsCfg)
		scheme = "https"
	}
	a.url = scheme + "://" + ln.Addr().String() + "/admin/"
	return a, nil
}

// serve serves until shutdown; it reports anything else on errc.
func (a *adminListener) serve(errc chan<- error) {
	if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		errc <- fmt.Errorf("admin listener: %w", err)
	}
}

// shutdown stops accepting and waits for requests in flight, bounded by
// ctx.
func (a *adminListener) shutdown(ctx context.Context) error {
	if err := a.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin listener shutdown: %w", err)
	}
	return nil
}
