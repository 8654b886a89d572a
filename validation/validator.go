package validation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
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
	// Timeout bounds one validation attempt (DNS, connection, TLS handshake,
	// redirects and reading the response, together) and one CheckCAA, so a
	// responder that trickles its answer cannot hold a worker longer.
	// Default: 10s.
	Timeout time.Duration
	// AllowedNetworks are special addresses (loopback, private, link-local,
	// ...) validation may connect to anyway, such as the internal ranges a
	// private CA validates. Default: none, only globally reachable unicast
	// addresses.
	AllowedNetworks []netip.Prefix
	// ServerAddresses are the addresses this server itself listens on (its
	// ACME, admin and metrics listeners). Validation never connects to
	// them, even when AllowedNetworks covers their address, so neither a
	// challenge nor a redirect can make the server send requests to
	// itself. An unspecified address (0.0.0.0:443, [::]:443) stands for
	// that port on every local address. Default: none.
	ServerAddresses []netip.AddrPort
	// Logger receives one debug event per validation. Default: slog.Default().
	Logger *slog.Logger
}

// Validator runs challenge validations. It is safe for concurrent use.
type Validator struct {
	resolver    *Resolver
	filter      *AddressFilter
	self        []netip.AddrPort // Config.ServerAddresses, unmapped
	httpPort    int
	httpsPort   int // port an http-01 redirect to https may use; 443, tests change it
	tlsALPNPort int
	timeout     time.Duration
	log         *slog.Logger
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
	for _, ap := range cfg.ServerAddresses {
		if !ap.IsValid() || ap.Port() == 0 {
			return nil, fmt.Errorf("validation: server address %v is not an address with a port", ap)
		}
		v.self = append(v.self, netip.AddrPortFrom(ap.Addr().WithZone("").Unmap(), ap.Port()))
	}
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
