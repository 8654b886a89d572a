// Package policy decides what acmegate is willing to certify: which
// identifiers an order may name, which account and certificate keys are
// acceptable, and whether a finalize CSR matches its order.
//
// Each ACME directory (a team's endpoint) has its own Policy, built by New
// from its own Config.
//
// Following Boulder's policy authority, the well-formedness of an
// identifier (labels, lengths, IDNA, wildcard shape, IP text form) is
// checked separately from the willingness to issue for it (wildcard and IP
// switches, public suffixes, the directory's denied and allowed domains,
// patterns and networks). Key rules follow Boulder's goodkey: one function
// per key type, each check commented with the requirement it enforces, then
// the directory's allowed key types and blocklist of compromised keys. The
// policy also answers the directory's other questions: the longest
// validity it allows and which identifiers need no validation.
//
// Every decision is a pure function of the Policy and its arguments and is
// returned as an *Error whose Kind is an RFC 8555 §6.7 error type suffix.
// The package must not know about HTTP, SQL, storage or any other acmegate
// package: the acme package turns an *Error into a problem document.
package policy

import (
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxNames   = 100
	DefaultRSAMinBits = 2048
	DefaultRSAMaxBits = 8192
	// DefaultAccountRSAMaxBits is the default largest RSA account key: the
	// largest the JWS library can parse (see maxAccountRSABits), or
	// RSAMaxBits when that is lower.
	DefaultAccountRSAMaxBits = maxAccountRSABits
)

// Bounds on the RSA settings an operator may choose.
const (
	// minRSABits is the floor of RSAMinBits: CA/Browser Forum Baseline
	// Requirements §6.1.5 require a modulus of at least 2048 bits.
	minRSABits = 2048
	// maxRSABits is the ceiling of RSAMaxBits: crypto/rsa refuses to verify
	// with larger keys, and they only serve to make verification slow.
	maxRSABits = 16384
	// maxAccountRSABits is the ceiling of AccountRSAMaxBits: go-jose, which
	// parses the JWS of every ACME request, refuses an RSA JWK over
	// jose.MaxRSAModulusBits (4096) bits. An account key above it could
	// never sign a request, and allowing it would only turn the clear
	// badPublicKey refusal into a malformed JWS. A test pins the two
	// together; this package does not import go-jose.
	maxAccountRSABits = 4096
)

// Config is the policy of one directory. The zero value is the default
// policy; New fills in the defaults documented on each field.
type Config struct {
	// DenyWildcard refuses wildcard DNS identifiers ("*.example.com").
	// Default: false (wildcards are allowed).
	DenyWildcard bool
	// DenyIP refuses identifiers of type "ip" (RFC 8738).
	// Default: false (IP identifiers are allowed).
	DenyIP bool
	// MaxNames is the most distinct identifiers one order may name.
	// Default: 100.
	MaxNames int

	// RSAMinBits is the smallest acceptable RSA modulus, for account and
	// certificate keys alike. It may not be below 2048. Default: 2048.
	RSAMinBits int
	// RSAMaxBits is the largest acceptable RSA modulus of a certificate
	// key. It may not exceed 16384. It also lowers the default of
	// AccountRSAMaxBits when set below 4096. Default: 8192.
	RSAMaxBits int
	// AccountRSAMaxBits is the largest acceptable RSA modulus of an
	// account key. It may not exceed 4096, the largest RSA key the JWS
	// library (go-jose) can parse, nor be below RSAMinBits. Default: the
	// lower of 4096 and RSAMaxBits.
	AccountRSAMaxBits int
	// AccountCurves lists the ECDSA curves allowed for account keys, by
	// name: "P-256", "P-384", "P-521". Default: all three, matching the JWS
	// algorithms ES256, ES384 and ES512 that RFC 8555 clients use.
	AccountCurves []string
	// CertificateCurves lists the ECDSA curves allowed for the key of a
	// certificate (the CSR key). Default: "P-256", "P-384", the curves
	// publicly-trusted CAs issue for; P-521 may be added for a private CA.
	CertificateCurves []string
	// DenyEd25519AccountKeys refuses Ed25519 account keys (JWS "EdDSA").
	// Default: false (allowed). Ed25519 certificate keys are always
	// refused: publicly-trusted CAs do not issue for them. It may not be
	// set together with an AllowedKeyTypes that lists "Ed25519".
	DenyEd25519AccountKeys bool

	// AllowedDomains restricts DNS identifiers to these domains: a name is
	// allowed when it is one of them or a name under one ("example.com"
	// allows "example.com" and "a.b.example.com", not "badexample.com"). A
	// wildcard identifier is judged by its base ("*.example.com" by
	// "example.com"), so that every name it covers is allowed. Entries are
	// normalised (lower case, trailing dot removed, U-labels turned into
	// A-labels) and must be well-formed names; a single label ("internal")
	// is accepted. When AllowedPatterns is set too, a name must satisfy
	// either list. Default: empty (any domain).
	AllowedDomains []string
	// DeniedDomains refuses DNS identifiers that are one of these domains
	// or under one, matched like AllowedDomains, and wins over every
	// allow. A wildcard identifier is refused when any name it covers is:
	// "*.example.com" when "example.com", "corp.example.com" or a domain
	// above them is denied. Default: empty.
	DeniedDomains []string
	// AllowedPatterns restricts DNS identifiers to names matching one of
	// these patterns, an alternative to AllowedDomains (a name must satisfy
	// one of the two lists when either is set). A pattern is a DNS name
	// whose labels may be globs, matched against the whole name, label by
	// label: "*" matches exactly one label and "**" one or more labels;
	// globs must be whole labels ("web-*" is refused) and other labels
	// match themselves, case-insensitively. "*.svc.example.com" matches
	// "a.svc.example.com" but neither "svc.example.com" nor
	// "a.b.svc.example.com"; "**.dev.example.com" matches both of the
	// latter's kind but not "dev.example.com"; a pattern without globs
	// matches exactly one name (unlike a domain, which covers the names
	// under it). A wildcard identifier matches only if every name it
	// covers does: its "*" label is matched by a "*" or "**" glob, never
	// by a plain label. Literal labels are normalised like domains.
	// Default: empty.
	AllowedPatterns []string
	// DeniedPatterns refuses DNS identifiers matching one of these
	// patterns (syntax as for AllowedPatterns), winning over every allow.
	// A wildcard identifier is refused when any name it covers matches:
	// its "*" label is matched by any pattern label. Default: empty.
	DeniedPatterns []string
	// AllowedCIDRs restricts IP identifiers to addresses in one of these
	// networks; IPv4 prefixes hold only IPv4 addresses and IPv6 prefixes
	// IPv6 ones. Each prefix must be valid and have no host bits set
	// ("192.0.2.0/24", not "192.0.2.1/24"); IPv4-mapped IPv6 prefixes are
	// refused, as IPv4-mapped identifiers are. It may not be set together
	// with DenyIP. Default: empty (any address, subject to DenyIP).
	AllowedCIDRs []netip.Prefix

	// MaxValidity is the longest validity (notAfter - notBefore) a
	// client may request; see CheckValidity. It may not be negative.
	// Default: 0, no limit from the policy (the CA's own limits apply).
	MaxValidity time.Duration
	// PreValidatedDomains are domains whose control the operator has
	// established out of band: an identifier that is one of them or under
	// one (matched like AllowedDomains, a wildcard by its base) needs no
	// challenge; see PreValidated. Entries are normalised and validated
	// like AllowedDomains. Pre-validation decides nothing about
	// willingness: CheckIdentifiers still applies the lists above.
	// Default: empty.
	PreValidatedDomains []string
	// SkipValidation makes the directory a private one that never requires
	// validation: every authorization is created valid. See
	// SkipsValidation. Default: false.
	SkipValidation bool

	// BlockedKeys lists keys that must never be accepted, as account or
	// certificate keys, by the hex SHA-256 of their DER
	// SubjectPublicKeyInfo (64 hex digits, either case), as SPKIHash
	// computes it. Default: empty.
	BlockedKeys []string
	// AllowedKeyTypes lists the key types accepted for account and
	// certificate keys: any of "RSA", "ECDSA" and "Ed25519" (compared
	// case-insensitively). Certificate keys are never Ed25519 whatever
	// this says, so the list must name RSA or ECDSA. Default: all three.
	AllowedKeyTypes []string
}

// Policy is a validated Config. It holds no mutable state and is safe for
// concurrent use.
type Policy struct {
	allowWildcard     bool
	allowIP           bool
	maxNames          int
	rsaMinBits        int
	rsaMaxBits        int // certificate keys
	accountRSAMaxBits int
	accountCurves     []elliptic.Curve
	certificateCurves []elliptic.Curve
	keyTypes          keyTypes
	blockedKeys       map[[sha256.Size]byte]bool

	allowedDomains  domainSet
	deniedDomains   domainSet
	allowedPatterns []pattern
	deniedPatterns  []pattern
	allowedCIDRs    []netip.Prefix

	maxValidity    time.Duration
	preValidated   domainSet
	skipValidation bool
}

// curveByName resolves a curve name an operator may use. P-224 is absent on
// purpose: it is below every current requirement.
func curveByName(name string) (elliptic.Curve, bool) {
	switch name {
	case "P-256":
		return elliptic.P256(), true
	case "P-384":
		return elliptic.P384(), true
	case "P-521":
		return elliptic.P521(), true
	}
	return nil, false
}

// New validates cfg, applies the defaults and returns the Policy. It fails on
// settings that cannot be honoured (an unknown curve name, an RSA range
// outside 2048–16384 bits or an account-key one outside 2048–4096 bits, a
// negative name limit, a malformed domain, pattern, network or key hash,
// contradictory switches) rather than guessing.
func New(cfg Config) (*Policy, error) {
	p := &Policy{
		allowWildcard:  !cfg.DenyWildcard,
		allowIP:        !cfg.DenyIP,
		maxNames:       orDefault(cfg.MaxNames, DefaultMaxNames),
		rsaMinBits:     orDefault(cfg.RSAMinBits, DefaultRSAMinBits),
		rsaMaxBits:     orDefault(cfg.RSAMaxBits, DefaultRSAMaxBits),
		maxValidity:    cfg.MaxValidity,
		skipValidation: cfg.SkipValidation,
	}
	if p.maxNames < 0 {
		return nil, fmt.Errorf("policy: MaxNames %d is negative", cfg.MaxNames)
	}
	if p.rsaMinBits < minRSABits {
		return nil, fmt.Errorf("policy: RSAMinBits %d is below %d (CA/B Baseline Requirements §6.1.5)", p.rsaMinBits, minRSABits)
	}
	if p.rsaMaxBits > maxRSABits {
		return nil, fmt.Errorf("policy: RSAMaxBits %d is above %d", p.rsaMaxBits, maxRSABits)
	}
	if p.rsaMinBits > p.rsaMaxBits {
		return nil, fmt.Errorf("policy: RSAMinBits %d is above RSAMaxBits %d", p.rsaMinBits, p.rsaMaxBits)
	}
	if err := p.setAccountRSAMax(cfg.AccountRSAMaxBits); err != nil {
		return nil, err
	}
	var err error
	if p.accountCurves, err = curves("AccountCurves", cfg.AccountCurves, "P-256", "P-384", "P-521"); err != nil {
		return nil, err
	}
	if p.certificateCurves, err = curves("CertificateCurves", cfg.CertificateCurves, "P-256", "P-384"); err != nil {
		return nil, err
	}
	if p.keyTypes, err = parseKeyTypes(cfg.AllowedKeyTypes, cfg.DenyEd25519AccountKeys); err != nil {
		return nil, err
	}
	if p.rsaMinBits > p.accountRSAMaxBits && !p.keyTypes.ecdsa && !p.keyTypes.ed25519 {
		return nil, fmt.Errorf("policy: RSAMinBits %d is above the largest RSA account key (%d bits) and AllowedKeyTypes allows no other account key type, so no account could be created; lower RSAMinBits or allow ECDSA", p.rsaMinBits, p.accountRSAMaxBits)
	}
	if p.blockedKeys, err = parseBlockedKeys(cfg.BlockedKeys); err != nil {
		return nil, err
	}
	if err := p.setNameRules(cfg); err != nil {
		return nil, err
	}
	if p.allowedCIDRs, err = parseCIDRs(cfg.AllowedCIDRs); err != nil {
		return nil, err
	}
	if len(p.allowedCIDRs) > 0 && !p.allowIP {
		return nil, errors.New("policy: AllowedCIDRs is set but DenyIP refuses every IP identifier; drop one of them")
	}
	if p.maxValidity < 0 {
		return nil, fmt.Errorf("policy: MaxValidity %s is negative", p.maxValidity)
	}
	return p, nil
}

// setAccountRSAMax validates AccountRSAMaxBits, or derives its default from
// RSAMaxBits, once rsaMinBits and rsaMaxBits are set.
func (p *Policy) setAccountRSAMax(configured int) error {
	if configured == 0 {
		// The default keeps an operator's RSAMaxBits below 4096 binding for
		// account keys, as it was when one setting covered both. An
		// RSAMinBits above 4096 leaves no RSA account key; goodRSA says so.
		p.accountRSAMaxBits = min(p.rsaMaxBits, DefaultAccountRSAMaxBits)
		return nil
	}
	if configured > maxAccountRSABits {
		return fmt.Errorf("policy: AccountRSAMaxBits %d is above %d: the JWS library (go-jose) cannot parse larger RSA keys, so no account could use one; RSAMaxBits sets the limit for certificate keys", configured, maxAccountRSABits)
	}
	if p.rsaMinBits > configured {
		return fmt.Errorf("policy: RSAMinBits %d is above AccountRSAMaxBits %d", p.rsaMinBits, configured)
	}
	p.accountRSAMaxBits = configured
	return nil
}

// setNameRules compiles the domain and pattern lists of cfg.
func (p *Policy) setNameRules(cfg Config) error {
	var err error
	if p.allowedDomains, err = newDomainSet("AllowedDomains", cfg.AllowedDomains); err != nil {
		return err
	}
	if p.deniedDomains, err = newDomainSet("DeniedDomains", cfg.DeniedDomains); err != nil {
		return err
	}
	if p.preValidated, err = newDomainSet("PreValidatedDomains", cfg.PreValidatedDomains); err != nil {
		return err
	}
	if p.allowedPatterns, err = compilePatterns("AllowedPatterns", cfg.AllowedPatterns); err != nil {
		return err
	}
	if p.deniedPatterns, err = compilePatterns("DeniedPatterns", cfg.DeniedPatterns); err != nil {
		return err
	}
	return nil
}

// orDefault returns v, or def when v is zero.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// curves resolves curve names, or the defaults when names is empty.
func curves(field string, names []string, defaults ...string) ([]elliptic.Curve, error) {
	if len(names) == 0 {
		names = defaults
	}
	out := make([]elliptic.Curve, 0, len(names))
	for _, n := range names {
		c, ok := curveByName(n)
		if !ok {
			return nil, fmt.Errorf("policy: %s: unknown curve %q (known: P-256, P-384, P-521)", field, n)
		}
		out = append(out, c)
	}
	return out, nil
}
