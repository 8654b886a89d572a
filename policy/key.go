package policy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"math/big"
	"math/bits"
	"slices"
	"strings"
)

// keyUse says what a key is for; the rules differ slightly.
type keyUse string

const (
	useAccount     keyUse = "account"
	useCertificate keyUse = "certificate"
)

// GoodAccountKey decides whether pub may be an ACME account key (the key of a
// newAccount JWS or of a key change). A refusal is an *Error of kind
// badPublicKey (RFC 8555 §6.7) whose detail names the failed rule. The
// checks, in order: the directory's AllowedKeyTypes, the rules of the key's
// type, and the directory's BlockedKeys.
func (p *Policy) GoodAccountKey(pub crypto.PublicKey) error {
	if err := p.goodKey(pub, useAccount); err != nil {
		return err
	}
	return nil
}

// GoodCertificateKey decides whether pub may be the subject public key of a
// certificate. A refusal is an *Error of kind badPublicKey whose detail names
// the failed rule; CheckCSR reports the same reasons as badCSR. The checks
// are those of GoodAccountKey, except that Ed25519 is never accepted.
func (p *Policy) GoodCertificateKey(pub crypto.PublicKey) error {
	if err := p.goodKey(pub, useCertificate); err != nil {
		return err
	}
	return nil
}

// goodKey applies the rules of the key's type, then the blocklist.
func (p *Policy) goodKey(pub crypto.PublicKey, use keyUse) *Error {
	pub = pointerKey(pub)
	if err := p.goodKeyOfType(pub, use); err != nil {
		return err
	}
	return p.notBlocked(pub, use)
}

// goodKeyOfType dispatches on the key type: whether the directory accepts
// the type, then the type's own rules.
func (p *Policy) goodKeyOfType(pub crypto.PublicKey, use keyUse) *Error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k != nil {
			if err := p.keyTypeAllowed(keyTypeRSA, use); err != nil {
				return err
			}
			return p.goodRSA(k, use)
		}
	case *ecdsa.PublicKey:
		if k != nil {
			if err := p.keyTypeAllowed(keyTypeECDSA, use); err != nil {
				return err
			}
			return p.goodECDSA(k, use)
		}
	case ed25519.PublicKey:
		return p.goodEd25519(k, use)
	case nil:
	default:
		// Anything else (DSA, X25519, …) cannot sign a JWS RFC 8555 allows
		// or be certified by the CAs acmegate fronts.
		return newError(KindBadPublicKey, "%s keys of type %T are not supported; use RSA, ECDSA or Ed25519", use, pub)
	}
	return newError(KindBadPublicKey, "no %s public key", use)
}

// pointerKey returns RSA and ECDSA keys passed by value as pointers, the form
// crypto/x509 and go-jose produce and the form their Equal methods expect;
// crypto.PublicKey is untyped, so callers may pass either.
func pointerKey(pub crypto.PublicKey) crypto.PublicKey {
	switch k := pub.(type) {
	case rsa.PublicKey:
		return &k
	case ecdsa.PublicKey:
		return &k
	}
	return pub
}

// goodRSA applies the RSA rules of CA/Browser Forum Baseline Requirements
// §6.1.5 and §6.1.6 (and NIST SP 800-89 §5.3.3).
func (p *Policy) goodRSA(k *rsa.PublicKey, use keyUse) *Error {
	if k.N == nil || k.N.Sign() <= 0 {
		return newError(KindBadPublicKey, "the RSA %s key has no modulus", use)
	}
	// BR §6.1.5: the modulus is at least 2048 bits (or the directory's
	// higher floor). The ceiling bounds the verification cost an attacker
	// can impose with a huge key; for account keys it is also the largest
	// key the JWS library parses (see maxAccountRSABits).
	maxBits := p.rsaMaxBits
	if use == useAccount {
		maxBits = p.accountRSAMaxBits
		if p.rsaMinBits > maxBits {
			// New ensures another account key type is allowed.
			others := slices.DeleteFunc(p.keyTypes.names(use), func(t string) bool { return t == keyTypeRSA })
			return newError(KindBadPublicKey, "RSA account keys are not accepted by this directory: its RSA minimum (%d bits) is above the largest RSA account key the server supports (%d bits); use an %s account key", p.rsaMinBits, maxBits, strings.Join(others, " or "))
		}
	}
	size := k.N.BitLen()
	if size < p.rsaMinBits {
		return newError(KindBadPublicKey, "the RSA %s key's modulus is %d bits; the minimum is %d", use, size, p.rsaMinBits)
	}
	if size > maxBits {
		return newError(KindBadPublicKey, "the RSA %s key's modulus is %d bits; the maximum is %d", use, size, maxBits)
	}
	// BR §6.1.6: the public exponent is odd and at least 3, and SHOULD be
	// in [2^16+1, 2^256-1]; like Boulder we make the SHOULD a MUST, and cap
	// it below 2^32, beyond which some verifiers (Windows CryptoAPI) fail.
	if k.E%2 == 0 {
		return newError(KindBadPublicKey, "the RSA %s key's public exponent %d is even", use, k.E)
	}
	if k.E < 1<<16+1 {
		return newError(KindBadPublicKey, "the RSA %s key's public exponent %d is below 65537", use, k.E)
	}
	if k.E >= 1<<32 {
		return newError(KindBadPublicKey, "the RSA %s key's public exponent %d is not below 2^32", use, k.E)
	}
	// BR §6.1.6: the modulus SHOULD have no factors smaller than 752. A
	// modulus with one is broken by trial division (and usually betrays a
	// faulty key generator).
	if f := smallFactor(k.N); f != 0 {
		return newError(KindBadPublicKey, "the RSA %s key's modulus is divisible by the small prime %d", use, f)
	}
	return nil
}

// smallPrimes are the primes below 752 (BR §6.1.6). A read-only table.
var smallPrimes = [...]uint{
	2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67,
	71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149,
	151, 157, 163, 167, 173, 179, 181, 191, 193, 197, 199, 211, 223, 227, 229,
	233, 239, 241, 251, 257, 263, 269, 271, 277, 281, 283, 293, 307, 311, 313,
	317, 331, 337, 347, 349, 353, 359, 367, 373, 379, 383, 389, 397, 401, 409,
	419, 421, 431, 433, 439, 443, 449, 457, 461, 463, 467, 479, 487, 491, 499,
	503, 509, 521, 523, 541, 547, 557, 563, 569, 571, 577, 587, 593, 599, 601,
	607, 613, 617, 619, 631, 641, 643, 647, 653, 659, 661, 673, 677, 683, 691,
	701, 709, 719, 727, 733, 739, 743, 751,
}

// smallFactor returns the smallest prime below 752 dividing n, or 0. It
// reduces n word by word, from the most significant, so it allocates
// nothing. Its running time depends on n: use it on public values only.
func smallFactor(n *big.Int) uint {
	words := n.Bits()
	for _, prime := range smallPrimes {
		var rem uint
		for i := len(words) - 1; i >= 0; i-- {
			// rem < prime, so (rem, word) / prime fits in a word.
			rem = bits.Rem(rem, uint(words[i]), prime)
		}
		if rem == 0 {
			return prime
		}
	}
	return 0
}

// goodECDSA checks the curve against the directory's list for this use, then
// validates the point.
func (p *Policy) goodECDSA(k *ecdsa.PublicKey, use keyUse) *Error {
	allowed := p.certificateCurves
	if use == useAccount {
		allowed = p.accountCurves
	}
	if k.Curve == nil || !slices.Contains(allowed, k.Curve) {
		return newError(KindBadPublicKey, "ECDSA %s keys on curve %s are not allowed; allowed curves: %s", use, curveName(k.Curve), curveNames(allowed))
	}
	//lint:ignore SA1019 keys from go-jose are still built from raw coordinates; a nil one must be refused before ECDH() dereferences it.
	if k.X == nil || k.Y == nil {
		return newError(KindBadPublicKey, "the ECDSA %s key has no point", use)
	}
	// NIST SP 800-56A Rev. 3 §5.6.2.3.3 (full public key validation):
	// crypto/ecdh accepts only coordinates in [0, p-1] that satisfy the
	// curve equation, and not the point at infinity. The NIST prime curves
	// have cofactor 1, so every such point has order n and the remaining
	// step (n·Q = O) holds without computing it.
	if _, err := k.ECDH(); err != nil {
		return newError(KindBadPublicKey, "the ECDSA %s key is not a valid point on %s", use, curveName(k.Curve))
	}
	return nil
}

// goodEd25519 applies the Ed25519 rules: allowed for accounts (RFC 8555 §6.2:
// servers SHOULD implement EdDSA with Ed25519, RFC 8037), never for
// certificates, since publicly-trusted CAs do not issue for Ed25519 keys.
func (p *Policy) goodEd25519(k ed25519.PublicKey, use keyUse) *Error {
	if use == useCertificate {
		return newError(KindBadPublicKey, "Ed25519 certificate keys are not supported; use %s", strings.Join(p.keyTypes.names(use), " or "))
	}
	if err := p.keyTypeAllowed(keyTypeEd25519, use); err != nil {
		return err
	}
	// RFC 8032 §5.1.5: a public key is a 32-byte encoded point.
	if len(k) != ed25519.PublicKeySize {
		return newError(KindBadPublicKey, "the Ed25519 %s key is %d bytes; it must be %d", use, len(k), ed25519.PublicKeySize)
	}
	return nil
}

// curveName names a curve for a message, even one the policy does not know.
func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil || c.Params().Name == "" {
		return "(unknown)"
	}
	return c.Params().Name
}

func curveNames(cs []elliptic.Curve) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = curveName(c)
	}
	return strings.Join(names, ", ")
}
