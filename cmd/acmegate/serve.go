package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca/local"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/postgres"
	"github.com/acmegate/acmegate/storage/sqlite"
	"github.com/acmegate/acmegate/validation"
)

// shutdownTimeout bounds how long in-flight requests may take after SIGTERM.
const shutdownTimeout = 20 * time.Second

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func openStore(ctx context.Context, cfg *Config, log *slog.Logger) (storage.Store, error) {
	if cfg.Storage.Driver == "postgres" {
		url := cfg.Storage.URL
		if cfg.Storage.URLFile != "" {
			b, err := os.ReadFile(cfg.Storage.URLFile)
			if err != nil {
				return nil, fmt.Errorf("read storage.url_file: %w", err)
			}
			url = strings.TrimSpace(string(b))
		}
		st, err := postgres.Open(ctx, url, postgres.WithLogger(log))
		if err != nil {
			// The URL may carry a password: never print it.
			return nil, fmt.Errorf("open PostgreSQL database: %w", err)
		}
		return st, nil
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Storage.Path), 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	st, err := sqlite.Open(ctx, cfg.Storage.Path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", cfg.Storage.Path, err)
	}
	return st, nil
}

func migrate(ctx context.Context, cfg *Config, stdout io.Writer) error {
	st, err := openStore(ctx, cfg, newLogger(cfg, os.Stderr)) // Open applies pending migrations.
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s database is up to date\n", cfg.Storage.Driver)
	return st.Close()
}

// serve runs the ACME server until ctx is cancelled, then shuts down
// gracefully: stop accepting, finish in-flight requests and jobs, release
// job leases.
func serve(ctx context.Context, cfg *Config, stdout, stderr io.Writer) error {
	log := newLogger(cfg, stderr)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	warnLooseSecretFiles(cfg, log)
	comp, err := openComponents(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer comp.close()
	st, localCA := comp.store, comp.localCA
	if err := putConfigDirectories(ctx, cfg, comp); err != nil {
		return err
	}
	problems, err := storedCatalogProblems(ctx, cfg, comp.store)
	if err != nil {
		return err
	}
	for _, p := range problems {
		log.Warn("profile not offered by the upstream account (acmegate backend sync)", slog.String("problem", p))
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}

	var allowed []netip.Prefix
	for _, n := range cfg.Validation.AllowedNetworks {
		allowed = append(allowed, netip.MustParsePrefix(n)) // checked by validate
	}
	validator, err := validation.New(validation.Config{
		Resolvers:       cfg.Validation.Resolvers,
		HTTPPort:        cfg.Validation.HTTPPort,
		TLSALPNPort:     cfg.Validation.TLSALPNPort,
		Timeout:         cfg.Validation.Timeout,
		AllowedNetworks: allowed,
		ServerAddresses: serverAddresses(cfg, ln.Addr()),
		Logger:          log,
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("validation: %w", err)
	}

	scheme := "https"
	if cfg.TLS.Disabled {
		scheme = "http"
	}
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = scheme + "://" + ln.Addr().String()
	}
	notifier, err := newNotifier(cfg, comp, log)
	if err != nil {
		ln.Close()
		return err
	}
	metrics, metricsHandler := newMetrics(st)
	srv, err := acme.New(ctx, acme.Config{
		Notifier:              notifier,
		JobHandlers:           map[storage.JobKind]func(context.Context, *storage.Job) error{storage.JobDeliver: notifier.Deliver},
		Sweeps:                []func(context.Context, time.Time){notifier.SweepExpiring},
		Metrics:               metrics,
		BaseURL:               publicURL,
		Store:                 st,
		Backend:               comp.backend,
		Backends:              comp.upstreams,
		Validator:             validator,
		Sealer:                comp.sealer,
		Logger:                log,
		NonceLifetime:         cfg.Limits.NonceLifetime,
		OrderLifetime:         cfg.Limits.OrderLifetime,
		PendingAuthzLifetime:  cfg.Limits.PendingAuthzLifetime,
		ValidAuthzLifetime:    cfg.Limits.ValidAuthzLifetime,
		ValidationRetryWindow: cfg.Validation.RetryWindow,
		ValidationTimeout:     cfg.Validation.Timeout + 5*time.Second,
		MaxValidity:           cfg.CA.Local.Validity,
		MaxBodyBytes:          cfg.Limits.MaxBodyBytes,
		Workers:               cfg.Limits.Workers,
		JobLease:              cfg.Limits.JobLease,
		IssuanceDeadline:      cfg.Limits.IssuanceDeadline,
		LocalNonces:           cfg.Storage.Nonces == noncesLocal,
		AccountCacheTTL:       cfg.Storage.accountCacheTTL(),
	})
	if err != nil {
		ln.Close()
		return err
	}

	adm, err := newAdminServer(ctx, cfg, comp, srv, metricsHandler, log)
	if err != nil {
		ln.Close()
		return err
	}
	handler := srv.Handler()
	if cfg.Admin.OnACMEListener {
		handler = withAdmin(handler, adm.Handler())
	}
	httpSrv := newHTTPServer(handler, acmeListenerLimits(), log)
	if !cfg.TLS.Disabled {
		tlsCfg, err := serverTLS(cfg, localCA, ln.Addr())
		if err != nil {
			ln.Close()
			return err
		}
		httpSrv.TLSConfig = tlsCfg
		ln = tls.NewListener(ln, tlsCfg)
	}
	var adminLn *adminListener
	adminURL := ""
	switch {
	case cfg.Admin.OnACMEListener:
		adminURL = publicURL + "/admin/"
	case cfg.Admin.Listen != adminOff:
		adminH := adm.Handler()
		if cfg.Admin.PProf {
			adminH = withPProf(adminH, adm.Authenticate)
		}
		if adminLn, err = listenAdmin(cfg, localCA, adminH, log); err != nil {
			ln.Close()
			return err
		}
		adminURL = adminLn.url
	}

	runCtx, stopJobs := context.WithCancel(ctx)
	defer stopJobs()
	var wg sync.WaitGroup
	var jobErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		jobErr = srv.Run(runCtx)
	}()

	banner := fmt.Sprintf("acmegate %s serving ACME\n  directory: %s/directory\n  root CA:   %s\n", version, publicURL, localCA.RootPEMPath())
	if adminURL != "" {
		banner += "  admin:     " + adminURL + "\n"
	}
	fmt.Fprint(stdout, banner)
	log.Info("serving", slog.String("directory", publicURL+"/directory"), slog.String("listen", ln.Addr().String()), slog.String("root", localCA.RootPEMPath()))

	serveErr := make(chan error, 2)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	if adminLn != nil {
		go adminLn.serve(serveErr)
	}
	select {
	case err := <-serveErr:
		stopJobs()
		wg.Wait()
		_ = httpSrv.Close()
		if adminLn != nil {
			_ = adminLn.srv.Close()
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err = httpSrv.Shutdown(shutCtx)
	if adminLn != nil {
		err = errors.Join(err, adminLn.shutdown(shutCtx))
	}
	stopJobs()
	wg.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	if jobErr != nil {
		return jobErr
	}
	log.Info("stopped")
	return nil
}

// serverTLS is the listener's TLS configuration: the configured files, or a
// certificate the local CA issues at every start.
func serverTLS(cfg *Config, localCA *local.CA, addr net.Addr) (*tls.Config, error) {
	tc := newTLSConfig()
	if cfg.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
		return tc, nil
	}
	hosts := cfg.TLS.Hosts
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "::1"}
		if h, _, err := net.SplitHostPort(addr.String()); err == nil && h != "127.0.0.1" && h != "::1" {
			hosts = append(hosts, h)
		}
		if cfg.PublicURL != "" {
			if h := hostOf(cfg.PublicURL); h != "" {
				hosts = append(hosts, h)
			}
		}
	}
	cert, err := localCA.ServerCertificate(hosts)
	if err != nil {
		return nil, fmt.Errorf("issue the server's TLS certificate: %w", err)
	}
	tc.Certificates = []tls.Certificate{*cert}
	return tc, nil
}

// serverAddresses are the addresses this process listens on, which
// validation must never connect to (a subscriber must not be able to make
// the server validate against itself): the ACME listener and, when it has
// a fixed port, the admin listener.
func serverAddresses(cfg *Config, acmeAddr net.Addr) []netip.AddrPort {
	var out []netip.AddrPort
	if ta, ok := acmeAddr.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		out = append(out, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	if !cfg.Admin.OnACMEListener && cfg.Admin.Listen != adminOff {
		if ap, err := netip.ParseAddrPort(cfg.Admin.Listen); err == nil && ap.Port() != 0 {
			out = append(out, ap)
		}
	}
	return out
}
