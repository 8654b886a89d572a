// Package sectigo is the ca.Backend for Sectigo Certificate Manager (SCM, also
// sold as InCommon Certificate Manager): it enrolls a CSR through SCM's REST
// API, polls and collects the certificate, revokes, and lists what the
// account offers. Issuance is asynchronous: Issue returns the SCM sslId as
// the reference to Poll.
//
// The wire behaviour follows the project's upstream API reference
// (upstream-apis.md §1); what that reference marks unconfirmed is listed
// in docs/backends.md ("What the fakes assume"). Package sectigotest is a fake SCM to
// test against.
//
// Package sectigo must not know about ACME or storage: everything it needs
// arrives in a ca.IssueRequest, and it keeps no state between calls. Its
// idempotency rests on SCM itself: the order id travels in the enrollment's
// comments and is searched for before enrolling again.
package sectigo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/acmegate/acmegate/ca"
)

// Defaults for Config fields left zero.
const (
	DefaultName                 = "sectigo"
	DefaultPollInterval         = 15 * time.Second
	DefaultApprovalPollInterval = 5 * time.Minute
	DefaultTimeout              = 30 * time.Second
	DefaultCollectFormat        = "x509"
)

// ProfileMap maps an acmegate profile name onto an SCM certificate type.
type ProfileMap struct {
	// Name is what directories select the profile by. Required.
	Name string
	// CertTypeID is the SCM certificate profile id (GET /api/ssl/v1/types).
	// Required.
	CertTypeID int
	// Term is the certificate's lifetime in days; it must be one of the
	// certificate type's terms. Required.
	Term int
	// Description is shown to operators and ACME clients.
	Description string
}

// CustomField is an SCM custom field sent with every enrollment; accounts
// can make some mandatory (error -62 without them).
type CustomField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Config configures the Sectigo backend.
type Config struct {
	// Name identifies the backend in logs and the inventory, so that two SCM
	// accounts can be told apart. Default: "sectigo".
	Name string
	// BaseURL is the SCM instance's root, e.g. "https://cert-manager.com" or
	// "https://hard.cert-manager.com". A trailing "/api" is accepted and
	// dropped. Calls go to BaseURL + "/api/…", or BaseURL + "/private/api/…"
	// with ClientCert. Required.
	BaseURL string
	// CustomerURI is the account segment of the portal URL
	// https://<host>/customer/<CustomerURI>. Required.
	CustomerURI string
	// Login is the API administrator's login name. Required.
	Login string
	// Password is the administrator's password. Required unless ClientCert
	// is set, in which case it is not sent.
	Password string
	// ClientCert switches to client-certificate authentication: the
	// certificate is presented in the TLS handshake, the password header is
	// not sent and paths gain the "/private" prefix (upstream-apis.md §1.1).
	ClientCert *tls.Certificate
	// RootCAs verifies the SCM server's certificate when HTTPClient is nil.
	// Default: the system pool.
	RootCAs *x509.CertPool
	// OrgID is the organization (or department) id enrollments are made
	// under. Required.
	OrgID int
	// Profiles map acmegate profiles onto SCM certificate types. The first
	// is the default (IssueRequest.Profile ""). At least one is required.
	Profiles []ProfileMap
	// CustomFields are sent with every enrollment. Default: none.
	CustomFields []CustomField
	// PollInterval is the RetryAfter hint while SCM is processing a request.
	// Default: 15s.
	PollInterval time.Duration
	// ApprovalPollInterval is the RetryAfter hint while a request waits for
	// an SCM administrator to approve it, which can take hours. Default: 5m.
	ApprovalPollInterval time.Duration
	// CollectFormat is the collect format: "x509", "x509R", "pem" or "pemia",
	// the PEM bundles of leaf and chain. The chain is put in order whatever
	// order SCM sends it in. Default: "x509".
	CollectFormat string
	// LegacyCollectPath uses GET /api/ssl/v1/collect/{sslId}/{format}, the
	// older form, instead of …/collect/{sslId}?format={format}.
	// Default: false.
	LegacyCollectPath bool
	// Timeout bounds each HTTP request. Default: 30s.
	Timeout time.Duration
	// HTTPClient sends the requests; a copy is used that never follows
	// redirects. With ClientCert, its transport must be an *http.Transport
	// (or nil), which is cloned to present the certificate. Default: a
	// client with Timeout and RootCAs.
	HTTPClient *http.Client
	// Logger receives one debug line per upstream request and notable events.
	// Credentials are never logged. Default: discard.
	Logger *slog.Logger
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
}

// Backend is the Sectigo Certificate Manager backend. It implements
// ca.Backend and is safe for concurrent use: nothing in it changes after New.
type Backend struct {
	name             string
	orgID            int
	profiles         []ProfileMap
	customFields     []CustomField
	pollInterval     time.Duration
	approvalInterval time.Duration
	collectFormat    string
	legacyCollect    bool
	c                *client
	log              *slog.Logger
	now              func() time.Time
}

var _ ca.Backend = (*Backend)(nil)

// collectFormats are the PEM bundles of leaf and chain (upstream-apis.md
// §1.5); the others carry only part of the chain or PKCS#7.
var collectFormats = map[string]bool{"x509": true, "x509R": true, "pem": true, "pemia": true}

// New checks cfg and returns a Backend. It does not contact SCM; Check does.
func New(cfg Config) (*Backend, error) {
	cfg, base, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	hc, err := httpClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Backend{
		name:             cfg.Name,
		orgID:            cfg.OrgID,
		profiles:         cfg.Profiles,
		customFields:     cfg.CustomFields,
		pollInterval:     cfg.PollInterval,
		approvalInterval: cfg.ApprovalPollInterval,
		collectFormat:    cfg.CollectFormat,
		legacyCollect:    cfg.LegacyCollectPath,
		c: &client{
			base:        base,
			http:        hc,
			timeout:     cfg.Timeout,
			customerURI: cfg.CustomerURI,
			login:       cfg.Login,
			password:    cfg.Password,
			certAuth:    cfg.ClientCert != nil,
			log:         cfg.Logger,
			now:         cfg.Clock,
		},
		log: cfg.Logger,
		now: cfg.Clock,
	}, nil
}

// withDefaults fills the zero fields of cfg, checks the rest and returns the
// URL requests are built on.
func withDefaults(cfg Config) (Config, *url.URL, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	base, err := parseBaseURL(cfg.BaseURL, cfg.ClientCert != nil)
	if err != nil {
		return cfg, nil, err
	}
	switch {
	case cfg.CustomerURI == "":
		return cfg, nil, errors.New("sectigo: CustomerURI is required")
	case cfg.Login == "":
		return cfg, nil, errors.New("sectigo: Login is required")
	case cfg.Password == "" && cfg.ClientCert == nil:
		return cfg, nil, errors.New("sectigo: Password is required unless ClientCert is set")
	case cfg.OrgID <= 0:
		return cfg, nil, errors.New("sectigo: OrgID is required")
	case len(cfg.Profiles) == 0:
		return cfg, nil, errors.New("sectigo: at least one profile is required")
	case cfg.PollInterval < 0 || cfg.ApprovalPollInterval < 0 || cfg.Timeout < 0:
		return cfg, nil, errors.New("sectigo: negative PollInterval, ApprovalPollInterval or Timeout")
	}
	// The values are sent as HTTP headers: a line break would split them.
	for _, v := range []string{cfg.CustomerURI, cfg.Login, cfg.Password} {
		if strings.ContainsAny(v, "\r\n") {
			return cfg, nil, errors.New("sectigo: CustomerURI, Login and Password must not contain line breaks")
		}
	}
	seen := make(map[string]bool, len(cfg.Profiles))
	profiles := make([]ProfileMap, len(cfg.Profiles))
	for i, p := range cfg.Profiles {
		switch {
		case p.Name == "":
			return cfg, nil, fmt.Errorf("sectigo: profile %d has no name", i)
		case seen[p.Name]:
			return cfg, nil, fmt.Errorf("sectigo: profile %q is defined twice", p.Name)
		case p.CertTypeID <= 0:
			return cfg, nil, fmt.Errorf("sectigo: profile %q has no CertTypeID", p.Name)
		case p.Term <= 0:
			return cfg, nil, fmt.Errorf("sectigo: profile %q has no Term (days)", p.Name)
		}
		seen[p.Name] = true
		profiles[i] = p
	}
	cfg.Profiles = profiles
	cfg.CustomFields = append([]CustomField(nil), cfg.CustomFields...)
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.ApprovalPollInterval == 0 {
		cfg.ApprovalPollInterval = DefaultApprovalPollInterval
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.CollectFormat == "" {
		cfg.CollectFormat = DefaultCollectFormat
	}
	if !collectFormats[cfg.CollectFormat] {
		return cfg, nil, fmt.Errorf("sectigo: CollectFormat %q is not one of x509, x509R, pem, pemia", cfg.CollectFormat)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return cfg, base, nil
}

// parseBaseURL checks raw and adds the "/private" prefix that
// client-certificate authentication requires (upstream-apis.md §1.1).
func parseBaseURL(raw string, certAuth bool) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("sectigo: BaseURL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("sectigo: BaseURL: %w", err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("sectigo: BaseURL %q must be an https (or, for tests, http) URL", raw)
	case u.Host == "":
		return nil, fmt.Errorf("sectigo: BaseURL %q has no host", raw)
	case u.User != nil:
		// Credentials in the URL would end up in every error message.
		return nil, errors.New("sectigo: BaseURL must not carry credentials; use Login and Password")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("sectigo: BaseURL %q must not have a query or fragment", raw)
	}
	path := strings.TrimRight(u.Path, "/")
	path = strings.TrimSuffix(path, "/api")
	path = strings.TrimSuffix(path, "/private")
	if certAuth {
		path += "/private"
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: path}, nil
}

// httpClient returns the client requests go through, presenting the client
// certificate when there is one.
func httpClient(cfg Config) (*http.Client, error) {
	if cfg.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
		if cfg.ClientCert != nil {
			t.TLSClientConfig.Certificates = []tls.Certificate{*cfg.ClientCert}
		}
		return &http.Client{Transport: t, Timeout: cfg.Timeout, CheckRedirect: noRedirect}, nil
	}
	hc := *cfg.HTTPClient
	hc.CheckRedirect = noRedirect
	if cfg.ClientCert == nil {
		return &hc, nil
	}
	var t *http.Transport
	switch rt := hc.Transport.(type) {
	case nil:
		t = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		t = rt.Clone()
	default:
		return nil, fmt.Errorf("sectigo: ClientCert needs HTTPClient.Transport to be an *http.Transport, not %T", rt)
	}
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	t.TLSClientConfig.Certificates = []tls.Certificate{*cfg.ClientCert}
	hc.Transport = t
	return &hc, nil
}

// noRedirect stops the default client from following redirects: SCM's API
// does not redirect, and following one would resend the credential headers
// to wherever it points.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Name returns the configured name ("sectigo" by default).
func (b *Backend) Name() string { return b.name }

// Profiles returns the configured profile maps; the first is the default.
// Validity is the profile's term.
func (b *Backend) Profiles(ctx context.Context) ([]ca.Profile, error) {
	out := make([]ca.Profile, len(b.profiles))
	for i, p := range b.profiles {
		out[i] = ca.Profile{Name: p.Name, Description: p.Description, Validity: termDuration(p.Term)}
	}
	return out, nil
}

// profile returns the profile called name, or the default one for "".
func (b *Backend) profile(name string) (ProfileMap, error) {
	if name == "" {
		return b.profiles[0], nil
	}
	for _, p := range b.profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return ProfileMap{}, ca.Errorf(ca.Rejected, "the Sectigo backend has no profile %q", name)
}

func termDuration(days int) time.Duration { return time.Duration(days) * 24 * time.Hour }
