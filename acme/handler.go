package acme

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// handlerFunc is an ACME handler: it writes its response or returns an error
// that the wrapper turns into a problem document.
type handlerFunc func(w http.ResponseWriter, r *http.Request, d *directory) error

// Handler returns the ACME HTTP handler. Every route is listed here.
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter()
	r.UseEncodedPath()
	type route struct {
		path    string
		methods []string
		h       handlerFunc
	}
	routes := []route{
		{"/directory", []string{http.MethodGet}, s.handleDirectory},
		{"/new-nonce", []string{http.MethodGet, http.MethodHead}, s.handleNewNonce},
		{"/new-account", []string{http.MethodPost}, s.handleNewAccount},
		{"/account/{id}", []string{http.MethodPost}, s.handleAccount},
		{"/account/{id}/orders", []string{http.MethodPost}, s.handleAccountOrders},
		{"/key-change", []string{http.MethodPost}, s.handleKeyChange},
		{"/new-order", []string{http.MethodPost}, s.handleNewOrder},
		{"/new-authz", []string{http.MethodPost}, s.handleNewAuthz},
		{"/order/{id}", []string{http.MethodPost}, s.handleOrder},
		{"/order/{id}/finalize", []string{http.MethodPost}, s.handleFinalize},
		{"/authz/{id}", []string{http.MethodPost}, s.handleAuthz},
		{"/chall/{id}", []string{http.MethodPost}, s.handleChallenge},
		{"/cert/{id}", []string{http.MethodPost}, s.handleCertificate},
		{"/cert/{id}/{alt}", []string{http.MethodPost}, s.handleCertificate},
		{"/revoke-cert", []string{http.MethodPost}, s.handleRevoke},
		{"/renewal-info/{certID}", []string{http.MethodGet}, s.handleRenewalInfo},
	}
	for _, rt := range routes {
		r.Handle("/acme/{dir}"+rt.path, s.wrap(rt.methods, rt.h))
	}
	// RFC 8555 §7.1.1: the well-known entry point of the default directory.
	r.Handle("/directory", s.wrap([]string{http.MethodGet}, s.handleDirectory))
	// Probes for load balancers and orchestrators: liveness says the
	// process serves HTTP, readiness that its database answers.
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.HandleFunc("/readyz", s.handleReady)
	r.NotFoundHandler = s.wrap(nil, func(http.ResponseWriter, *http.Request, *directory) error {
		return notFound("resource")
	})
	return r
}

// responseRecorder remembers the status for the request log.
type responseRecorder struct {
	http.ResponseWriter
	status int
}

func (rr *responseRecorder) WriteHeader(code int) {
	rr.status = code
	rr.ResponseWriter.WriteHeader(code)
}

type requestEventKey struct{}

// requestEvent is the one wide log event of a request (Boulder's
// RequestEvent): handlers add to it, the wrapper writes it once.
type requestEvent struct {
	Account string
	Order   string
	Problem *Problem
}

func eventFrom(ctx context.Context) *requestEvent {
	if ev, ok := ctx.Value(requestEventKey{}).(*requestEvent); ok {
		return ev
	}
	return &requestEvent{}
}

// wrap applies the rules every ACME route shares: method check with 405 and
// Allow, HEAD for GET, body limit, request timeout, Replay-Nonce, Link
// rel="index", Cache-Control, problem documents and the request log.
func (s *Server) wrap(methods []string, h handlerFunc) http.Handler {
	allowed := map[string]bool{}
	for _, m := range methods {
		allowed[m] = true
	}
	if allowed[http.MethodGet] {
		allowed[http.MethodHead] = true
	}
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ev := &requestEvent{}
		ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), requestEventKey{}, ev), s.cfg.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		rec := &responseRecorder{ResponseWriter: w, status: http.StatusOK}
		w = rec
		name := mux.Vars(r)["dir"]
		if name == "" {
			name = "default"
		}
		hdr := w.Header()
		// RFC 8555 §6.5: every response carries a fresh nonce, also errors.
		hdr.Set("Replay-Nonce", s.nonces.New())
		hdr.Set("Cache-Control", "no-store")
		d, err := s.dirs.get(ctx, name)
		if err == nil {
			hdr.Add("Link", link(s.directoryURL(d.name), "index"))
		}
		switch {
		case errors.Is(err, errNoDirectory):
			err = notFound(fmt.Sprintf("directory %q", truncate(name, 64)))
		case err != nil:
		case methods != nil && !allowed[r.Method]:
			hdr.Set("Allow", allow)
			p := Malformed("method %s is not allowed here; use %s", r.Method, allow)
			p.Status = http.StatusMethodNotAllowed
			err = p
		default:
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
			err = h(w, r, d)
		}
		if err != nil {
			p := problemFor(err)
			ev.Problem = p
			s.writeProblem(w, p)
		}
		level := slog.LevelInfo
		if ev.Problem != nil && ev.Problem.Status >= 500 {
			level = slog.LevelError
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		}
		if ev.Account != "" {
			attrs = append(attrs, slog.String("account", ev.Account))
		}
		if ev.Order != "" {
			attrs = append(attrs, slog.String("order", ev.Order))
		}
		if ev.Problem != nil {
			attrs = append(attrs, slog.Any("problem", ev.Problem))
		}
		s.log.LogAttrs(context.Background(), level, "acme request", attrs...)
	})
}

func link(url, rel string) string { return fmt.Sprintf("<%s>;rel=%q", url, rel) }

func (s *Server) writeProblem(w http.ResponseWriter, p *Problem) {
	if p.Location != "" {
		w.Header().Set("Location", p.Location)
	}
	if p.RetryAfter > 0 {
		setRetryAfter(w, p.RetryAfter)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	status := p.Status
	if status >= 500 {
		// A server fault is usually a database or upstream hiccup (a
		// failover, a restarting instance): tell clients when to retry.
		setRetryAfter(w, s.cfg.RetryAfter)
	}
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON writes a resource.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

// setRetryAfter sets Retry-After in seconds (RFC 8555 §7.4, §8.2).
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	secs := int(d.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
}

// handleReady answers 200 when the database answers within two seconds and
// 503 otherwise, so a load balancer stops sending ACME traffic to an
// instance that cannot serve it.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Cache-Control", "no-store")
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readiness: database unreachable", slog.Any("error", err))
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database unreachable\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}
