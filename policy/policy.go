// Package policy decides what acmegate is willing to certify: which
// identifiers an order may name, which account and certificate keys are
// acceptable, and whether a finalize CSR matches its order.
//
// Following Boulder's policy authority, the well-formedness of an
// identifier (labels, lengths, IDNA, wildcard shape, IP text form) is
// checked separately from the willingness to issue for it (wildcard and IP
// switches, public suffixes; later per-directory allow-lists, profiles,
// pre-validated domains, approvals and rate limits). Key rules follow
// Boulder's goodkey: one function per key type, each check commented with
// the requirement it enforces.
//
// Every decision is a pure function of the Policy and its arguments and is
// returned as an *Error whose Kind is an RFC 8555 §6.7 error type suffix.
// The package must not know about HTTP, SQL, storage or any other acmegate
// package: the acme package turns an *Error into a problem document.
package policy

import (
	"crypto/elliptic"
	"fmt"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxNames   = 100
	DefaultRSAMinBits = 2048
	DefaultRSAMaxBits = 8192
)

// Bounds on the RSA settings an operator may choose.
const (
	// minRSABits is the floor of RSAMinBits: CA/Browser Forum Baseline
	// Requirements §6.1.5 require a modulus of at least 2048 bits.
	minRSABits = 2048
	// maxRSABits is the ceiling of RSAMaxBits: crypto/rsa refuses to verify
	// with larger keys, and they only serve to make verification slow.
	maxRSABits = 16384
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
	// RSAMaxBits is the largest acceptable RSA modulus. It may not exceed
	// 16384. Default: 8192.
	RSAMaxBits int
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
	// refused: publicly-trusted CAs do not issue for them.
	DenyEd25519AccountKeys bool
}

// Policy is a validated Config. It holds no mutable state and is safe for
// concurrent use.
type Policy struct {
	allowWildcard     bool
	allowIP           bool
	maxNames          int
	rsaMinBits        int
	rsaMaxBits        int
	accountCurves     []elliptic.Curve
	certificateCurves []elliptic.Curve
	allowEd25519      bool
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
// outside 2048–16384 bits, a negative name limit) rather than guessing.
func New(cfg Config) (*Policy, error) {
	p := &Policy{
		allowWildcard: !cfg.DenyWildcard,
		allowIP:       !cfg.DenyIP,
		maxNames:      orDefault(cfg.MaxNames, DefaultMaxNames),
		rsaMinBits:    orDefault(cfg.RSAMinBits, DefaultRSAMinBits),
		rsaMaxBits:    orDefault(cfg.RSAMaxBits, DefaultRSAMaxBits),
		allowEd25519:  !cfg.DenyEd25519AccountKeys,
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
	var err error
	if p.accountCurves, err = curves("AccountCurves", cfg.AccountCurves, "P-256", "P-384", "P-521"); err != nil {
		return nil, err
	}
	if p.certificateCurves, err = curves("CertificateCurves", cfg.CertificateCurves, "P-256", "P-384"); err != nil {
		return nil, err
	}
	return p, nil
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
