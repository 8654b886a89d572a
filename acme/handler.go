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
	// name is the route's name in metrics and logs: a fixed label, never
	// the raw path, whose ids would make metric series unbounded.
	type route struct {
		name    string
		path    string
		methods []string
		h       handlerFunc
	}
	routes := []route{
		{"directory", "/directory", []string{http.MethodGet}, s.handleDirectory},
		{"new-nonce", "/new-nonce", []string{http.MethodGet, http.MethodHead}, s.handleNewNonce},
		{"new-account", "/new-account", []string{http.MethodPost}, s.handleNewAccount},
		{"account", "/account/{id}", []string{http.MethodPost}, s.handleAccount},
		{"account-orders", "/account/{id}/orders", []string{http.MethodPost}, s.handleAccountOrders},
		{"key-change", "/key-change", []string{http.MethodPost}, s.handleKeyChange},
		{"new-order", "/new-order", []string{http.MethodPost}, s.handleNewOrder},
		{"new-authz", "/new-authz", []string{http.MethodPost}, s.handleNewAuthz},
		{"order", "/order/{id}", []string{http.MethodPost}, s.handleOrder},
		{"finalize", "/order/{id}/finalize", []string{http.MethodPost}, s.handleFinalize},
		{"authz", "/authz/{id}", []string{http.MethodPost}, s.handleAuthz},
		{"challenge", "/chall/{id}", []string{http.MethodPost}, s.handleChallenge},
		{"certificate", "/cert/{id}", []string{http.MethodPost}, s.handleCertificate},
		{"certificate-alternate", "/cert/{id}/{alt}", []string{http.MethodPost}, s.handleCertificate},
		{"revoke-cert", "/revoke-cert", []string{http.MethodPost}, s.handleRevoke},
		{"renewal-info", "/renewal-info/{certID}", []string{http.MethodGet}, s.handleRenewalInfo},
	}
	for _, rt := range routes {
		r.Handle("/acme/{dir}"+rt.path, s.wrap(rt.name, rt.methods, rt.h))
	}
	// RFC 8555 §7.1.1: the well-known entry point of the default directory.
	r.Handle("/directory", s.wrap("directory", []string{http.MethodGet}, s.handleDirectory))
	// Probes for load balancers and orchestrators: liveness says the
	// process serves HTTP, readiness that its database answers.
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.HandleFunc("/readyz", s.handleReady)
	r.NotFoundHandler = s.wrap("not-found", nil, func(http.ResponseWriter, *http.Request, *directory) error {
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
// RequestEvent): handlers add to it, the wrapper writes it once. Its
// RequestID and ClientIP also go into the timeline and audit entries the
// request causes.
type requestEvent struct {
	RequestID string
	ClientIP  string
	Account   string
	Order     string
	Problem   *Problem
}

func eventFrom(ctx context.Context) *requestEvent {
	if ev, ok := ctx.Value(requestEventKey{}).(*requestEvent); ok {
		return ev
	}
	return &requestEvent{}
}

// wrap applies the rules every ACME route shares: request id, method check
// with 405 and Allow, HEAD for GET, body limit, request timeout,
// Replay-Nonce, Link rel="index", Cache-Control, problem documents, the
// request log and the request metrics under the route's name.
func (s *Server) wrap(route string, methods []string, h handlerFunc) http.Handler {
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
		ev := &requestEvent{RequestID: requestID(r), ClientIP: clientIP(r)}
		w.Header().Set(RequestIDHeader, ev.RequestID)
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
		elapsed := time.Since(start)
		s.metrics.request(route, rec.status, elapsed)
		if !s.log.Enabled(ctx, level) {
			return
		}
		attrs := []slog.Attr{
			slog.String("request_id", ev.RequestID), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("route", route), slog.String("client_ip", ev.ClientIP),
			slog.Int("status", rec.status), slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
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
