// Package digicerttest is a fake DigiCert CertCentral Services API v2 for
// tests: an httptest server that answers the calls acmegate's DigiCert
// backend makes, with the JSON shapes, error bodies and status codes of
// /work/shared/upstream-apis.md §2, and real certificates signed by an
// in-memory test CA.
//
// It models what a test needs to steer: the three order modes (immediate
// issuance, pending for N polls, needs approval), approval and rejection,
// per-key rate limits with DigiCert's 429 body, injected 5xx, rate-limit
// storms, slow and malformed responses, revocation with and without an
// approval request. Where the reference marks behaviour **unconfirmed**, the
// fake's choice is listed in docs/backends.md ("What the fakes assume").
//
// The package knows DigiCert's wire format only. It must not know about
// acmegate's backend (it never imports ca/digicert), ACME or storage.
package digicerttest

import (
	"bytes"
	"crypto/subtle"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BasePath is where the fake mounts the Services API, as www.digicert.com
// does: URL() ends with it.
const BasePath = "/services/v2"

// DefaultAPIKey is the key the fake accepts when Config.APIKey is empty.
const DefaultAPIKey = "fake-digicert-api-key-0123456789abcdef"

// maxRequestBody caps what the fake reads of a request body.
const maxRequestBody = 1 << 20

// DefaultOrganizationID is the id of the organization the fake offers when
// Config.Organizations is empty.
const DefaultOrganizationID = 112233

// Mode says what happens to a newly placed order.
type Mode int

// The order modes.
const (
	// ModeImmediate issues at once: the order response carries
	// certificate_id and certificate_chain (org and domains pre-validated,
	// request approved).
	ModeImmediate Mode = iota
	// ModePending answers status "pending" to Config.PendingPolls order
	// info requests, then "issued".
	ModePending
	// ModeNeedsApproval leaves the order "needs_approval" until an approver
	// approves its request (Approve or PUT /request/{id}/status), after
	// which it behaves as ModePending. An order placed with
	// skip_approval=true skips the step.
	ModeNeedsApproval
)

// RateWindow is one rolling rate-limit window: at most Requests in any Per.
type RateWindow struct {
	Requests int
	Per      time.Duration
}

// Config configures the fake. Every field has a default.
type Config struct {
	// APIKey is the one X-DC-DEVKEY value the fake accepts. Default:
	// DefaultAPIKey.
	APIKey string
	// Mode is the initial order mode (see SetMode). Default: ModeImmediate.
	Mode Mode
	// PendingPolls is how many order info requests a pending order answers
	// "pending" before it is issued. Default: 0 (issued at the first poll).
	PendingPolls int
	// RateLimits are the per-key rolling windows; a request beyond any of
	// them gets 429 request_limit_exceeded. Default: DigiCert's documented
	// 100 per 5 s and 1000 per 3 min. An explicit empty, non-nil slice
	// disables the limiter.
	RateLimits []RateWindow
	// RetryAfter, when positive, adds a Retry-After header (whole seconds)
	// to 429 answers. DigiCert documents none for CertCentral, so the
	// default is no header.
	RetryAfter time.Duration
	// RevokeNeedsApproval makes every revocation lodge a pending "revoke"
	// request (201) even when the client sends skip_approval=true, as
	// DigiCert does for a key without admin rights. Default: false
	// (skip_approval is honoured: 204).
	RevokeNeedsApproval bool
	// RootFirstBundles makes the pem_all and pem bundles list the root
	// first and the leaf last, to exercise order-agnostic parsing (the
	// vendor's bundle order is unconfirmed). Default: leaf first.
	RootFirstBundles bool
	// Products are what GET /product lists and what orders may name.
	// Default: DefaultProducts().
	Products []Product
	// Organizations are what GET /organization lists and what orders may
	// reference. Default: one active, OV-validated organization with id
	// DefaultOrganizationID.
	Organizations []Organization
	// Domains are what GET /domain lists. Default: example.com and
	// example.org, active and OV-validated under the first organization.
	Domains []string
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
}

// Server is a running fake CertCentral. It is safe for concurrent use.
type Server struct {
	srv     *httptest.Server
	apiKey  string
	now     func() time.Time
	ca      *testCA
	limiter *windowLimiter

	mu    sync.Mutex
	st    state
	fault faults
}

// faults holds the injected misbehaviour; guarded by Server.mu.
type faults struct {
	fail        []failRule
	malform     []countRule
	delay       time.Duration
	delayMatch  Match
	echoKey     bool
	caaFailures map[string]bool
}

// Match selects requests for fault injection by method and path prefix
// (after BasePath, e.g. "/order/certificate"). The zero Match selects every
// request.
type Match struct {
	Method     string
	PathPrefix string
}

func (m Match) matches(r *http.Request) bool {
	return (m.Method == "" || m.Method == r.Method) &&
		strings.HasPrefix(strings.TrimPrefix(r.URL.Path, BasePath), m.PathPrefix)
}

// countRule applies to the next n matching requests.
type countRule struct {
	n     int
	match Match
}

type failRule struct {
	countRule
	status int
}

// RequestRecord is one request the fake received.
type RequestRecord struct {
	Method, Path, RawQuery string
	Time                   time.Time
	// Status is the status the fake answered.
	Status int
	// ContentType and Accept are the request headers; KeyPresent whether
	// X-DC-DEVKEY was sent at all (its value is never recorded).
	ContentType, Accept string
	KeyPresent          bool
	// UnknownFields are top-level or certificate fields of a JSON body
	// that the reference does not document.
	UnknownFields []string
}

// New starts a fake on a loopback TLS listener. Call Close when done.
func New(cfg Config) (*Server, error) {
	if cfg.APIKey == "" {
		cfg.APIKey = DefaultAPIKey
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.RateLimits == nil {
		cfg.RateLimits = []RateWindow{{Requests: 100, Per: 5 * time.Second}, {Requests: 1000, Per: 3 * time.Minute}}
	}
	if cfg.Products == nil {
		cfg.Products = DefaultProducts()
	}
	if cfg.Organizations == nil {
		cfg.Organizations = []Organization{defaultOrganization()}
	}
	if cfg.Domains == nil {
		cfg.Domains = []string{"example.com", "example.org"}
	}
	testCA, err := newTestCA(cfg.Clock())
	if err != nil {
		return nil, err
	}
	s := &Server{
		apiKey:  cfg.APIKey,
		now:     cfg.Clock,
		ca:      testCA,
		limiter: newWindowLimiter(cfg.RateLimits),
		st:      newState(cfg),
		fault:   faults{caaFailures: map[string]bool{}},
	}
	s.srv = httptest.NewTLSServer(s.handler())
	return s, nil
}

// Start is New for tests: it fails t on error and closes the server when t
// ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("digicerttest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// URL is the Services API base URL, ending in BasePath.
func (s *Server) URL() string { return s.srv.URL + BasePath }

// Client returns an HTTP client that trusts the fake's TLS certificate.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// APIKey returns the key the fake accepts.
func (s *Server) APIKey() string { return s.apiKey }

// SetMode sets the mode of orders placed from now on.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.mode = m
}

// SetPendingPolls sets Config.PendingPolls for orders placed from now on.
func (s *Server) SetPendingPolls(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.pendingPolls = n
}

// FailNext makes the next n requests that m matches fail with status
// before they are processed: 429 answers DigiCert's request_limit_exceeded
// body (a rate-limit storm), anything else a DigiCert error body for that
// status.
func (s *Server) FailNext(n, status int, m Match) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault.fail = append(s.fault.fail, failRule{countRule{n, m}, status})
}

// MalformNext truncates the body of the next n successful (2xx) answers
// with a body to requests m matches. The request is processed first: an
// order placed by a malformed answer exists.
func (s *Server) MalformNext(n int, m Match) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault.malform = append(s.fault.malform, countRule{n, m})
}

// SetDelay delays the answers to requests m matches by d, after the
// request was processed: a slow upstream whose work happened even if the
// client gave up waiting. Zero d removes the delay.
func (s *Server) SetDelay(d time.Duration, m Match) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault.delay, s.fault.delayMatch = d, m
}

// take consumes one use of the first rule in rules that matches r.
func take[R interface{ rule() *countRule }](rules []R, r *http.Request) (R, bool) {
	for _, x := range rules {
		if c := x.rule(); c.n > 0 && c.match.matches(r) {
			c.n--
			return x, true
		}
	}
	var zero R
	return zero, false
}

func (c *countRule) rule() *countRule { return c }
func (f *failRule) rule() *countRule  { return &f.countRule }

// EchoKeyInErrors makes error messages quote the X-DC-DEVKEY the client
// sent, as a careless upstream or proxy might; clients must not repeat it.
func (s *Server) EchoKeyInErrors(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault.echoKey = on
}

// FailCAA makes orders naming domain fail with 400 caa_check_failed|domain.
func (s *Server) FailCAA(domain string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault.caaFailures[domain] = true
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []RequestRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RequestRecord, len(s.st.log))
	copy(out, s.st.log)
	return out
}

// handler routes the API under BasePath through the shared middleware.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	routes := map[string]http.HandlerFunc{
		"POST /order/certificate/{product}":                          s.placeOrder,
		"GET /order/certificate":                                     s.listOrders,
		"GET /order/certificate/{id}":                                s.orderInfo,
		"PUT /order/certificate/{id}/status":                         s.updateOrderStatus,
		"PUT /order/certificate/{id}/revoke":                         s.revokeOrder,
		"GET /request/{id}":                                          s.requestInfo,
		"PUT /request/{id}/status":                                   s.updateRequestStatus,
		"GET /certificate/{id}/download/format/{format}":             s.downloadByCertificate,
		"GET /certificate/download/order/{order_id}/format/{format}": s.downloadByOrder,
		"GET /certificate/{id}/chain":                                s.certificateChain,
		"PUT /certificate/{id}/revoke":                               s.revokeCertificate,
		"GET /product":                                               s.listProducts,
		"GET /product/{name_id}":                                     s.productInfo,
		"GET /organization":                                          s.listOrganizations,
		"GET /organization/{id}":                                     s.organizationInfo,
		"GET /domain":                                                s.listDomains,
		"GET /domain/{id}":                                           s.domainInfo,
	}
	for pattern, h := range routes {
		method, path, _ := cutSpace(pattern)
		mux.Handle(method+" "+BasePath+path, h)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found|route", "The specified route was not found.")
	})
	return s.middleware(mux)
}

func cutSpace(s string) (before, after string, ok bool) {
	for i := range len(s) {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// middleware applies what every DigiCert call shares, in the order the
// real service is assumed to: per-key rate limit, key check, injected
// faults, then the handler; the answer is recorded, possibly malformed, and
// delayed.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-DC-DEVKEY")
		reqBody, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request_format", "The request body could not be read.")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		rec := httptest.NewRecorder()
		rec.Body = new(bytes.Buffer)
		s.serve(rec, r, key, next)

		s.mu.Lock()
		var delay time.Duration
		if s.fault.delayMatch.matches(r) {
			delay = s.fault.delay
		}
		malform := false
		if rec.Code/100 == 2 && rec.Body.Len() > 0 {
			_, malform = take(ptrs(s.fault.malform), r)
		}
		s.st.log = append(s.st.log, RequestRecord{
			Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Time: s.now(), Status: rec.Code,
			ContentType: r.Header.Get("Content-Type"), Accept: r.Header.Get("Accept"), KeyPresent: key != "",
			UnknownFields: unknownFields(r.Method, r.URL.Path, reqBody),
		})
		s.mu.Unlock()

		body := rec.Body.Bytes()
		if malform {
			body = body[:len(body)/2]
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				// Abort rather than return: returning would send an
				// empty 200 that a client could still read.
				panic(http.ErrAbortHandler)
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

// serve runs the checks that can refuse a request before next sees it.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, key string, next http.Handler) {
	if wait, ok := s.limiter.allow(key, s.now()); !ok {
		s.writeRateLimited(w, wait)
		return
	}
	if subtle.ConstantTimeCompare([]byte(key), []byte(s.apiKey)) != 1 {
		msg := "The API key provided is invalid or missing."
		s.mu.Lock()
		if s.fault.echoKey && key != "" {
			msg = "Invalid API key " + key + "."
		}
		s.mu.Unlock()
		writeError(w, http.StatusUnauthorized, "invalid_api_key", msg)
		return
	}
	s.mu.Lock()
	var status int
	if f, ok := take(ptrs(s.fault.fail), r); ok {
		status = f.status
	}
	echo := s.fault.echoKey
	s.mu.Unlock()
	switch {
	case status == http.StatusTooManyRequests:
		s.writeRateLimited(w, 0)
		return
	case status != 0:
		msg := "An internal error occurred; please try again later."
		if echo {
			msg += " (key " + key + ")"
		}
		writeError(w, status, serverErrorCode(status), msg)
		return
	}
	next.ServeHTTP(w, r)
}

// writeRateLimited writes DigiCert's documented 429 answer
// [DC:rate-limits.html], with Retry-After only when the fake is told to.
func (s *Server) writeRateLimited(w http.ResponseWriter, wait time.Duration) {
	if s.retryAfter() > 0 {
		if wait < s.retryAfter() {
			wait = s.retryAfter()
		}
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	}
	writeError(w, http.StatusTooManyRequests, "request_limit_exceeded", "Service unavailable, please limit request volume")
}

func (s *Server) retryAfter() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.retryAfter
}

// serverErrorCode is the code the fake puts in a 5xx body; DigiCert's
// codes for service faults are unconfirmed.
func serverErrorCode(status int) string {
	switch status {
	case http.StatusServiceUnavailable:
		return "service_unavailable"
	default:
		if status >= 500 {
			return "internal_error"
		}
		return "bad_request"
	}
}

// ptrs returns pointers to the elements of s, so rules can be consumed in
// place.
func ptrs[T any](s []T) []*T {
	out := make([]*T, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}
