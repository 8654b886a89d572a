// Package digicert is the ca.Backend for DigiCert CertCentral (Services API
// v2): it places certificate orders for finalized ACME orders, polls them
// until DigiCert issues, downloads the chain, and revokes. It also lists
// what an account offers (products, organizations, orders) and checks
// credentials for operators.
//
// The API reference it follows is /work/shared/upstream-apis.md §2; where
// that reference says unconfirmed, the choices this client and its fake
// (digicerttest) make are listed in docs/backends.md ("What the fakes assume").
//
// Package digicert must not know about ACME or storage: it receives a
// ca.IssueRequest and returns a ca.IssueResult whose Ref the caller
// persists. It keeps no state beyond its rate limiter, so any number of
// acmegate instances can poll the same orders.
package digicert

import (
	"context"
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
	// DefaultBaseURL is CertCentral US. EU accounts use
	// https://certcentral.digicert.eu/services/v2.
	DefaultBaseURL = "https://www.digicert.com/services/v2"
	// DefaultValidityDays is the longest public TLS certificate DigiCert
	// issues from 2026-02-24 [DC:orders/order-dv-ssl.html]; ordering more
	// days buys a longer order, not a longer certificate.
	DefaultValidityDays = 199
	// DefaultIdempotencyWindow bounds how far back Issue looks for an
	// order it may already have placed.
	DefaultIdempotencyWindow = 30 * 24 * time.Hour
	// DefaultHTTPTimeout bounds one API call when Config.HTTPClient is nil.
	DefaultHTTPTimeout = 30 * time.Second
	// DefaultRateLimitBackoff is how long the backend stays off the API
	// after a 429 that carries no Retry-After (DigiCert documents none for
	// CertCentral; Keyfactor's plugin waits 5 s).
	DefaultRateLimitBackoff = 5 * time.Second
)

// backendName is what Name returns.
const backendName = "digicert"

// ProfileMap maps an acmegate profile name to a DigiCert product.
type ProfileMap struct {
	// Name is what directories and ACME clients select. Required, unique.
	Name string
	// Product is DigiCert's product_name_id, e.g. "ssl_basic",
	// "ssl_securesite_flex", "private_ssl_plus" (§2.3). Required.
	Product string
	// ValidityDays is the order validity sent as order_validity.days, and
	// the longest validity an IssueRequest may ask for. Default:
	// DefaultValidityDays.
	ValidityDays int
	// Description is shown to operators and ACME clients.
	Description string
}

// RateWindow is one rolling window: at most Requests calls in any Per.
type RateWindow struct {
	Requests int
	Per      time.Duration
}

// RateLimit configures the client-side limiter.
type RateLimit struct {
	// Windows are the rolling windows to honour. Default: DigiCert's
	// documented limits per API key, 100 requests per 5 s and 1000 per 3
	// minutes [DC:rate-limits.html]. Instances sharing one key should
	// divide these between them.
	Windows []RateWindow
	// Disabled turns the client-side limiter off; 429 answers still back
	// off. Default: false.
	Disabled bool
	// Backoff is how long to stay off the API after a 429 without
	// Retry-After. Default: DefaultRateLimitBackoff.
	Backoff time.Duration
}

// DefaultRateWindows returns DigiCert's documented limits.
func DefaultRateWindows() []RateWindow {
	return []RateWindow{{Requests: 100, Per: 5 * time.Second}, {Requests: 1000, Per: 3 * time.Minute}}
}

// Config configures the backend.
type Config struct {
	// BaseURL is the Services API root. Default: DefaultBaseURL.
	BaseURL string
	// APIKey is sent as X-DC-DEVKEY on every call. Required. It never
	// appears in errors or logs.
	APIKey string
	// OrgID is the pre-validated organization sent as organization.id
	// with every order; 0 sends none (DV products). Default: 0.
	OrgID int
	// Profiles map acmegate profiles to DigiCert products; the first is
	// the default (IssueRequest.Profile ""). Required.
	Profiles []ProfileMap
	// SkipApproval sends skip_approval=true with orders and revocations,
	// skipping the account's approval step; it needs an API key with
	// admin rights (§2.4, §2.6). Default: false.
	SkipApproval bool
	// IdempotencyWindow is how far back Issue looks for an order already
	// placed for the same acmegate order id. Default:
	// DefaultIdempotencyWindow.
	IdempotencyWindow time.Duration
	// RateLimit configures the client-side limiter. Default: DigiCert's
	// documented limits.
	RateLimit RateLimit
	// HTTPClient makes the calls. Default: a client with a
	// DefaultHTTPTimeout timeout.
	HTTPClient *http.Client
	// Logger receives debug logs of each call and warnings. Default:
	// slog.Default().
	Logger *slog.Logger
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
}

// Backend is the DigiCert CertCentral ca.Backend. It is safe for
// concurrent use.
type Backend struct {
	base         *url.URL
	apiKey       string
	orgID        int
	profiles     []ProfileMap
	skipApproval bool
	window       time.Duration
	http         *http.Client
	log          *slog.Logger
	now          func() time.Time
	limiter      *limiter
	inflight     keyedMutex
	pageSize     int
}

var _ ca.Backend = (*Backend)(nil)

// New checks cfg and returns a Backend. It makes no network call; use
// Check for that.
func New(cfg Config) (*Backend, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("digicert: APIKey is required")
	}
	if strings.ContainsAny(cfg.APIKey, "\r\n") {
		return nil, errors.New("digicert: APIKey contains a line break")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("digicert: BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	if base.User != nil {
		return nil, errors.New("digicert: BaseURL must not carry credentials")
	}
	if cfg.OrgID < 0 {
		return nil, fmt.Errorf("digicert: negative OrgID %d", cfg.OrgID)
	}
	profiles, err := checkProfiles(cfg.Profiles)
	if err != nil {
		return nil, err
	}
	if cfg.IdempotencyWindow == 0 {
		cfg.IdempotencyWindow = DefaultIdempotencyWindow
	}
	if cfg.IdempotencyWindow < 0 {
		return nil, fmt.Errorf("digicert: negative IdempotencyWindow %s", cfg.IdempotencyWindow)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	lim, err := newLimiter(cfg.RateLimit, cfg.Clock)
	if err != nil {
		return nil, err
	}
	return &Backend{
		base:         base,
		apiKey:       cfg.APIKey,
		orgID:        cfg.OrgID,
		profiles:     profiles,
		skipApproval: cfg.SkipApproval,
		window:       cfg.IdempotencyWindow,
		http:         cfg.HTTPClient,
		log:          cfg.Logger.With("backend", backendName),
		now:          cfg.Clock,
		limiter:      lim,
		inflight:     keyedMutex{m: map[string]*keyedEntry{}},
		pageSize:     listPageSize,
	}, nil
}

// checkProfiles fills profile defaults and refuses what cannot work.
func checkProfiles(in []ProfileMap) ([]ProfileMap, error) {
	if len(in) == 0 {
		return nil, errors.New("digicert: at least one profile is required")
	}
	out := make([]ProfileMap, len(in))
	seen := map[string]bool{}
	for i, p := range in {
		switch {
		case p.Name == "":
			return nil, fmt.Errorf("digicert: profile %d has no name", i)
		case seen[p.Name]:
			return nil, fmt.Errorf("digicert: profile %q is defined twice", p.Name)
		case p.Product == "":
			return nil, fmt.Errorf("digicert: profile %q names no product", p.Name)
		case strings.ContainsAny(p.Product, "/?#% "):
			return nil, fmt.Errorf("digicert: profile %q: product %q is not a product_name_id", p.Name, p.Product)
		case p.ValidityDays < 0:
			return nil, fmt.Errorf("digicert: profile %q has a negative validity", p.Name)
		case p.ValidityDays == 0:
			p.ValidityDays = DefaultValidityDays
		}
		seen[p.Name] = true
		out[i] = p
	}
	return out, nil
}

// Name returns "digicert".
func (b *Backend) Name() string { return backendName }

// Profiles returns the configured profiles; the first is the default.
// Validity is the profile's order validity. What the account can order is
// ListProducts.
func (b *Backend) Profiles(ctx context.Context) ([]ca.Profile, error) {
	out := make([]ca.Profile, len(b.profiles))
	for i, p := range b.profiles {
		desc := p.Description
		if desc == "" {
			desc = "DigiCert " + p.Product
		}
		out[i] = ca.Profile{Name: p.Name, Description: desc, Validity: time.Duration(p.ValidityDays) * 24 * time.Hour}
	}
	return out, nil
}

// profile returns the profile called name, or the default for "".
func (b *Backend) profile(name string) (ProfileMap, error) {
	if name == "" {
		return b.profiles[0], nil
	}
	for _, p := range b.profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return ProfileMap{}, ca.Errorf(ca.Rejected, "the DigiCert backend has no profile %q", name)
}
