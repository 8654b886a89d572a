// Package sectigotest is a fake Sectigo Certificate Manager REST API for
// tests: a real HTTP(S) server on loopback that authenticates, enrolls,
// walks each request through SCM's states, issues real certificates from an
// in-memory CA, collects them in SCM's formats, revokes, lists, and fails on
// demand (429, 5xx, slow or corrupt answers).
//
// It follows the project's upstream API reference (upstream-apis.md
// §1.10); where that reference marks SCM's behaviour unconfirmed, the fake's
// choice is listed in docs/backends.md ("What the fakes assume"). It must not know about ACME,
// storage or the client in package sectigo.
package sectigotest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Defaults for Config fields left zero.
const (
	DefaultCustomerURI = "acmegate-test"
	DefaultLogin       = "api-admin"
	DefaultPassword    = "fake-password-1234"
	DefaultOrgID       = 1697
	DefaultDepartment  = 1698
	DefaultCertTypeID  = 1018
)

// Config configures the fake.
type Config struct {
	// CustomerURI, Login and Password are the credentials the fake accepts
	// in the customerUri, login and password headers. Defaults:
	// DefaultCustomerURI, DefaultLogin, DefaultPassword.
	CustomerURI, Login, Password string
	// ClientCertAuth serves HTTPS that asks for a client certificate and
	// accepts only paths under /private/api, authenticated by a verified
	// client certificate plus the login and customerUri headers (no
	// password), as upstream-apis.md §1.1 describes. ClientCertificate
	// returns a certificate it accepts. Default: plain HTTP, password
	// authentication, paths under /api.
	ClientCertAuth bool
	// CertTypes are the SSL certificate types (GET /api/ssl/v1/types).
	// Default: DefaultCertTypes().
	CertTypes []CertType
	// Organizations are what GET /api/organization/v1 lists; enrollments
	// may name an organization or a department. Default: one organization
	// DefaultOrgID with department DefaultDepartment.
	Organizations []Organization
	// CustomFields are the account's custom fields; mandatory ones must be
	// sent with every enrollment (error -62). Default: none.
	CustomFields []CustomField
	// Domains are the pre-validated domains. When set, every name of an
	// enrollment must be one of them or below one (error -737). Default:
	// none, and every name is accepted.
	Domains []string
	// Behavior is how enrollments progress unless SetBehavior says
	// otherwise for their common name. Default: auto-approved, issued on
	// the first collect.
	Behavior Behavior
	// Intermediates is how many intermediate CAs lie between the root and
	// the leaves. Default: 1.
	Intermediates int
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
}

// Behavior is how one enrollment progresses.
type Behavior struct {
	// RequireApproval keeps the request "Requested" until Approve (or POST
	// /api/ssl/v1/approve/{sslId}) approves it.
	RequireApproval bool
	// PendingPolls is how many collects are answered "being processed"
	// after approval before the certificate is issued.
	PendingPolls int
	// PendingCode is the code of the "being processed" answer: 0 (the
	// default, "Being processed by Sectigo"), -1400, -183 or -109.
	PendingCode int
	// IssueAfter also holds issuance back until this long after approval.
	IssueAfter time.Duration
	// Decline, if set, declines the request at once with this reason.
	Decline string
}

// CertType is an SSL certificate type the fake offers.
type CertType struct {
	ID          int
	Name        string
	Description string
	// Terms are the allowed lifetimes in days.
	Terms []int
	// KeyTypes maps "RSA" to sizes in bits and "EC" to curve names
	// ("P-256"); a key of any other kind is refused (error -11). Empty
	// allows every key.
	KeyTypes map[string][]string
}

// DefaultCertTypes returns the types a zero Config offers.
func DefaultCertTypes() []CertType {
	return []CertType{
		{ID: DefaultCertTypeID, Name: "InCommon SSL (SHA-2)", Description: "OV server certificate", Terms: []int{365, 730},
			KeyTypes: map[string][]string{"RSA": {"2048", "3072", "4096"}, "EC": {"P-256", "P-384"}}},
		{ID: 1019, Name: "InCommon Multi Domain SSL (SHA-2)", Description: "OV multi-domain", Terms: []int{365},
			KeyTypes: map[string][]string{"RSA": {"2048", "3072", "4096"}, "EC": {"P-256", "P-384"}}},
	}
}

// Organization is an organization and its departments.
type Organization struct {
	ID          int
	Name        string
	Departments []Department
}

// Department is part of an Organization.
type Department struct {
	ID   int
	Name string
}

// CustomField is one of the account's custom fields.
type CustomField struct {
	ID        int
	Name      string
	Mandatory bool
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	cfg        Config
	ca         *testCA
	srv        *httptest.Server
	clientCert tls.Certificate
	pool       *x509.CertPool
	now        func() time.Time
	handler    http.Handler

	mu          sync.Mutex
	nextID      int
	certs       map[int]*record
	behaviors   map[string]Behavior
	faults      []*Fault
	requests    []Request
	enrollments []Enrollment
	revocations []Revocation
}

// New starts a fake on a loopback port. Close it when done.
func New(cfg Config) (*Server, error) {
	cfg = withDefaults(cfg)
	ca, err := newTestCA(cfg.Intermediates, cfg.Clock())
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		ca:        ca,
		now:       cfg.Clock,
		nextID:    100,
		certs:     make(map[int]*record),
		behaviors: make(map[string]Behavior),
		pool:      x509.NewCertPool(),
	}
	s.pool.AddCert(ca.root)
	s.handler = s.routes()
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// Failed handshakes are what some tests are about; they need no log.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if !cfg.ClientCertAuth {
		s.srv.Start()
		return s, nil
	}
	serverCert, err := ca.tlsCertificate("localhost", []string{"localhost", "127.0.0.1", "::1"}, x509.ExtKeyUsageServerAuth, cfg.Clock())
	if err != nil {
		return nil, err
	}
	if s.clientCert, err = ca.tlsCertificate("acmegate API client", nil, x509.ExtKeyUsageClientAuth, cfg.Clock()); err != nil {
		return nil, err
	}
	// VerifyClientCertIfGiven rather than Require: a client without a
	// certificate gets SCM's 401 answer instead of a failed handshake.
	s.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    s.pool,
		MinVersion:   tls.VersionTLS12,
	}
	s.srv.StartTLS()
	return s, nil
}

// Start is New for tests: it fails tb on error and closes the fake when the
// test ends.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s, err := New(cfg)
	if err != nil {
		tb.Fatalf("sectigotest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

func withDefaults(cfg Config) Config {
	if cfg.CustomerURI == "" {
		cfg.CustomerURI = DefaultCustomerURI
	}
	if cfg.Login == "" {
		cfg.Login = DefaultLogin
	}
	if cfg.Password == "" {
		cfg.Password = DefaultPassword
	}
	if cfg.CertTypes == nil {
		cfg.CertTypes = DefaultCertTypes()
	}
	if cfg.Organizations == nil {
		cfg.Organizations = []Organization{{ID: DefaultOrgID, Name: "org4Test", Departments: []Department{{ID: DefaultDepartment, Name: "Web Team"}}}}
	}
	if cfg.Intermediates == 0 {
		cfg.Intermediates = 1
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return cfg
}

// Close shuts the fake down.
func (s *Server) Close() { s.srv.Close() }

// URL is the instance root to configure clients with, e.g.
// "http://127.0.0.1:41234"; the API is under URL+"/api" (or
// URL+"/private/api" with ClientCertAuth).
func (s *Server) URL() string { return s.srv.URL }

// Client returns an HTTP client that trusts the fake's TLS certificate and
// presents no client certificate.
func (s *Server) Client() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t, Timeout: 10 * time.Second}
}

// RootCAs returns a pool holding the fake's root, which signs its TLS
// certificate, the client certificate and every certificate it issues.
func (s *Server) RootCAs() *x509.CertPool { return s.pool.Clone() }

// Root returns the root CA certificate.
func (s *Server) Root() *x509.Certificate { return s.ca.root }

// Intermediates returns the intermediate CAs, the issuing one first: the
// chain a client should build above a leaf.
func (s *Server) Intermediates() []*x509.Certificate {
	chain := s.ca.chainAbove()
	return chain[:len(chain)-1]
}

// ClientCertificate returns a client certificate the fake accepts with
// ClientCertAuth.
func (s *Server) ClientCertificate() (tls.Certificate, error) {
	if !s.cfg.ClientCertAuth {
		return tls.Certificate{}, errors.New("sectigotest: ClientCertAuth is off")
	}
	return s.clientCert, nil
}

// SetBehavior makes enrollments whose common name is commonName (compared
// case-insensitively) progress by b instead of Config.Behavior.
func (s *Server) SetBehavior(commonName string, b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behaviors[fold(commonName)] = b
}

// Request is one request the fake received.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	// Header is the request's headers without the password header, whose
	// presence PasswordSent records.
	Header       http.Header
	PasswordSent bool
	// ClientCert reports a verified TLS client certificate.
	ClientCert bool
	Body       []byte
}

// Query parses RawQuery.
func (r Request) Query() url.Values {
	q, _ := url.ParseQuery(r.RawQuery)
	return q
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Enrollment is one accepted enrollment.
type Enrollment struct {
	SSLID             int
	OrgID             int
	CertType          int
	Term              int
	CSR               string
	SubjAltNames      string
	Comments          string
	ExternalRequester string
	CustomFields      []CustomFieldValue
	// Raw is the request body as sent.
	Raw []byte
}

// CustomFieldValue is a custom field as sent in an enrollment.
type CustomFieldValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Enrollments returns the accepted enrollments, in order.
func (s *Server) Enrollments() []Enrollment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Enrollment(nil), s.enrollments...)
}

// Revocation is one accepted revocation.
type Revocation struct {
	SSLID      int
	Serial     string // upper-case hex, no separators
	ReasonCode int
	Reason     string
	// BySerial reports the revoke/serial/{serial} form.
	BySerial bool
}

// Revocations returns the accepted revocations, in order.
func (s *Server) Revocations() []Revocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Revocation(nil), s.revocations...)
}

// Status returns the SCM status of sslID ("Requested", "Applied",
// "Issued", "Declined", "Revoked") and whether it exists.
func (s *Server) Status(sslID int) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.certs[sslID]
	if !ok {
		return "", false
	}
	s.advance(r)
	return r.status, true
}

// Certificate returns the certificate issued for sslID, or nil.
func (s *Server) Certificate(sslID int) *x509.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.certs[sslID]; ok && r.leaf != nil {
		return r.leaf
	}
	return nil
}
