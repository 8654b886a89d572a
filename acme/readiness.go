package acme

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/acmegate/acmegate/ca"
)

// Readiness (/readyz) tells a load balancer whether this instance can serve
// ACME: its database answers, its schema is current (when the store can
// tell) and the CA backends it can check answer. Backend checks reach an
// upstream over the network, so their results are kept for readinessTTL:
// a load balancer polling every second costs the upstream one request per
// backend and per instance every 30 s.

const (
	// readinessTTL is how long a backend check's result is reused.
	readinessTTL = 30 * time.Second
	// backendCheckTimeout bounds one backend check.
	backendCheckTimeout = 3 * time.Second
	// databaseCheckTimeout bounds the database ping.
	databaseCheckTimeout = 2 * time.Second
)

// SchemaChecker is implemented by stores that can tell cheaply whether
// their database schema is the one this binary expects (every migration it
// knows applied, none it does not know). /readyz then reports an instance
// whose database is behind or ahead as not ready.
type SchemaChecker interface {
	CheckSchema(ctx context.Context) error
}

// readiness holds the cached health of the checkable CA backends.
type readiness struct {
	clock  Clock
	log    *slog.Logger
	checks []*backendCheck
}

type backendCheck struct {
	name    string
	checker ca.Checker

	mu  sync.Mutex
	at  time.Time // zero: never checked
	err error
}

func newReadiness(backends []ca.Backend, clock Clock, log *slog.Logger) *readiness {
	r := &readiness{clock: clock, log: log}
	seen := map[string]bool{}
	for _, b := range backends {
		c, ok := b.(ca.Checker)
		if !ok || seen[b.Name()] {
			continue
		}
		seen[b.Name()] = true
		r.checks = append(r.checks, &backendCheck{name: b.Name(), checker: c})
	}
	return r
}

// result returns the backend's health, checking it again when the last
// result is older than readinessTTL. Concurrent callers wait for the one
// check in flight instead of starting their own. A failed check is logged
// when it runs, not at every probe.
func (c *backendCheck) result(ctx context.Context, now time.Time, log *slog.Logger) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && now.Sub(c.at) < readinessTTL {
		return c.err
	}
	// Not the probe's context: a load balancer giving up early must not
	// leave a "context canceled" cached as the backend's health.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backendCheckTimeout)
	defer cancel()
	c.err, c.at = c.checker.Check(cctx), now
	if c.err != nil {
		log.Warn("readiness: CA backend check failed", slog.String("backend", c.name), slog.Any("error", c.err))
	}
	return c.err
}

// failing returns the names of the backends that are not healthy, checking
// those due in parallel, with their errors.
func (r *readiness) failing(ctx context.Context) map[string]error {
	now := r.clock.Now()
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		bad = map[string]error{}
	)
	for _, c := range r.checks {
		wg.Go(func() {
			if err := c.result(ctx, now, r.log); err != nil {
				mu.Lock()
				bad[c.name] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return bad
}

// handleReady answers 200 when the instance can serve and 503, with one
// line per failing dependency, when not. The body names what fails but
// never an error's text, which may carry upstream URLs or account names;
// the log has the errors.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	ctx, cancel := context.WithTimeout(r.Context(), databaseCheckTimeout)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readiness: database unreachable", slog.Any("error", err))
		notReady(w, "database unreachable")
		return
	}
	if sc, ok := s.store.(SchemaChecker); ok {
		if err := sc.CheckSchema(ctx); err != nil {
			s.log.Warn("readiness: database schema is not current", slog.Any("error", err))
			notReady(w, "database schema is not current (run acmegate migrate)")
			return
		}
	}
	if bad := s.ready.failing(r.Context()); len(bad) > 0 {
		lines := make([]string, 0, len(bad))
		for _, c := range s.ready.checks { // in configuration order
			if _, ok := bad[c.name]; ok {
				lines = append(lines, "CA backend "+c.name+" unreachable")
			}
		}
		notReady(w, strings.Join(lines, "\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

func notReady(w http.ResponseWriter, msg string) {
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(msg + "\n"))
}
