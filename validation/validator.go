package validation

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// Config configures a Validator. The zero value is usable.
type Config struct {
	// Resolvers are the DNS servers ("ip:port") used for every lookup: A and
	// AAAA of http-01 and tls-alpn-01 targets, TXT of dns-01, CAA, and the
	// CNAMEs on the way. Default: the nameservers of /etc/resolv.conf.
	Resolvers []string
	// HTTPPort is the port http-01 connects to. Default: 80.
	HTTPPort int
	// TLSALPNPort is the port tls-alpn-01 connects to. Default: 443.
	TLSALPNPort int
	// Timeout bounds one validation attempt, DNS included, and one CheckCAA.
	// Default: 10s.
	Timeout time.Duration
	// AllowedNetworks are special addresses (loopback, private, link-local,
	// ...) validation may connect to anyway, such as the internal ranges a
	// private CA validates. Default: none, only globally reachable unicast
	// addresses.
	AllowedNetworks []netip.Prefix
	// Logger receives one debug event per validation. Default: slog.Default().
	Logger *slog.Logger
}

// Validator runs challenge validations. It is safe for concurrent use.
type Validator struct {
	resolver    *Resolver
	filter      *AddressFilter
	httpPort    int
	httpsPort   int // port an http-01 redirect to https may use; 443, tests change it
	tlsALPNPort int
	timeout     time.Duration
	log         *slog.Logger
	transport   *http.Transport
}

// New checks cfg and returns a Validator.
func New(cfg Config) (*Validator, error) {
	v := &Validator{
		httpPort:    cfg.HTTPPort,
		httpsPort:   443,
		tlsALPNPort: cfg.TLSALPNPort,
		timeout:     cfg.Timeout,
		log:         cfg.Logger,
	}
	if v.httpPort == 0 {
		v.httpPort = 80
	}
	if v.tlsALPNPort == 0 {
		v.tlsALPNPort = 443
	}
	for name, p := range map[string]int{"HTTPPort": v.httpPort, "TLSALPNPort": v.tlsALPNPort} {
		if p < 1 || p > 65535 {
			return nil, fmt.Errorf("validation: %s %d out of range", name, p)
		}
	}
	if v.timeout == 0 {
		v.timeout = 10 * time.Second
	}
	if v.timeout < 0 {
		return nil, fmt.Errorf("validation: Timeout %v is negative", v.timeout)
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	var err error
	// One query to one server may use at most half the attempt, so a
	// second server still gets a chance.
	v.resolver, err = NewResolver(ResolverConfig{Servers: cfg.Resolvers, Timeout: min(defaultQueryTimeout, v.timeout/2)})
	if err != nil {
		return nil, err
	}
	if v.filter, err = NewAddressFilter(cfg.AllowedNetworks); err != nil {
		return nil, err
	}
	v.transport = v.newHTTPTransport()
	return v, nil
}

// Resolver returns the Resolver every lookup goes through.
func (v *Validator) Resolver() *Resolver { return v.resolver }

// Validate runs one validation attempt of r, bounded by ctx and
// Config.Timeout. It returns nil when the challenge checks out and an
// *Error otherwise. When ctx is canceled the *Error unwraps to
// context.Canceled: the attempt was abandoned and says nothing about the
// subscriber.
func (v *Validator) Validate(ctx context.Context, r Request) error {
	start := time.Now()
	err := v.validate(ctx, r)
	attrs := []slog.Attr{
		slog.String("challenge", r.ChallengeType),
		slog.String("identifier_type", r.IdentifierType),
		slog.String("identifier", r.Identifier),
		slog.Duration("took", time.Since(start)),
	}
	if err != nil {
		attrs = append(attrs, slog.Any("error", err))
		v.log.LogAttrs(ctx, slog.LevelDebug, "validation failed", attrs...)
		return err
	}
	v.log.LogAttrs(ctx, slog.LevelDebug, "validation succeeded", attrs...)
	return nil
}

func (v *Validator) validate(ctx context.Context, r Request) *Error {
	t, ferr := check(r)
	if ferr != nil {
		return ferr
	}
	attemptCtx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()

	// Extension point, multi-perspective corroboration: run checkChallenge
	// from remote perspectives too and require a quorum of successes.
	ferr = v.checkChallenge(attemptCtx, t)

	if ferr != nil && errors.Is(ctx.Err(), context.Canceled) {
		return failf(ferr.Kind, context.Canceled, "%s validation of %s abandoned: %s", r.ChallengeType, t.host(), ferr.Detail)
	}
	// CAA is not checked here: it needs the account URL and the CA's
	// identities, which a Request does not carry. The caller runs CheckCAA
	// once the challenge succeeded.
	return ferr
}

// checkChallenge dispatches to the method.
func (v *Validator) checkChallenge(ctx context.Context, t target) *Error {
	switch t.ChallengeType {
	case ChallengeHTTP01:
		return v.validateHTTP01(ctx, t)
	case ChallengeDNS01:
		return v.validateDNS01(ctx, t)
	case ChallengeTLSALPN01:
		return v.validateTLSALPN01(ctx, t)
	}
	return failf(KindMalformed, nil, "unsupported challenge type %q", t.ChallengeType)
}

// newHTTPTransport returns the transport of http-01 requests: dialing only
// through dialTCP, never through a proxy, no connection reuse (every attempt
// resolves and connects afresh), and no certificate verification on https
// redirects, as Let's Encrypt does.
func (v *Validator) newHTTPTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			host, portText, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			port, err := strconv.Atoi(portText)
			if err != nil {
				return nil, err
			}
			conn, ferr := v.dialTCP(ctx, ChallengeHTTP01, host, port)
			if ferr != nil {
				return nil, ferr // not a typed nil: the *Error reaches httpError
			}
			return conn, nil
		},
		TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, // http-01 proves control over plain HTTP; an https redirect adds nothing to check
			MinVersion:         tls.VersionTLS12,
		},
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 16 << 10,
	}
}
