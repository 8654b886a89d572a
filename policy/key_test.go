//lint:file-ignore SA1019 these tests build invalid points from raw coordinates on purpose.

package policy

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func ecdsaKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatalf("ecdsa.GenerateKey(%s): %v", c.Params().Name, err)
	}
	return k
}

// rsaPub returns an RSA public key with modulus n and exponent e. Only the
// public values matter to the policy, so the tests derive moduli from the
// one generated key instead of generating more.
func rsaPub(n *big.Int, e int) *rsa.PublicKey { return &rsa.PublicKey{N: n, E: e} }

func mul(n *big.Int, k int64) *big.Int { return new(big.Int).Mul(n, big.NewInt(k)) }

func TestGoodKey(t *testing.T) {
	t.Parallel()
	rsaKey := rsaKey(t)
	n := rsaKey.N
	// A 1024-bit odd modulus: the top half of the generated one.
	n1024 := new(big.Int).Rsh(n, 1024)
	n1024.SetBit(n1024, 0, 1)
	// An 8200-bit odd modulus.
	n8200 := new(big.Int).Lsh(n, 8200-2048)
	n8200.SetBit(n8200, 0, 1)
	// Moduli that only their size can refuse.
	n4096, n4097, n8192 := modulusOfBits(n, 4096), modulusOfBits(n, 4097), modulusOfBits(n, 8192)

	p256 := ecdsaKey(t, elliptic.P256())
	p384 := ecdsaKey(t, elliptic.P384())
	p521 := ecdsaKey(t, elliptic.P521())
	p224 := ecdsaKey(t, elliptic.P224())
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256Params := elliptic.P256().Params()

	tests := []struct {
		name string
		cfg  Config
		key  crypto.PublicKey
		// wantAccount and wantCertificate are substrings of the refusal
		// detail, or "" when the key is accepted.
		wantAccount, wantCertificate string
	}{
		// RSA: size (BR §6.1.5).
		{name: "RSA 2048", key: &rsaKey.PublicKey},
		{name: "RSA 2048 as a value", key: rsaKey.PublicKey},
		{name: "RSA 1024", key: rsaPub(n1024, 65537), wantAccount: "1024 bits; the minimum is 2048", wantCertificate: "1024 bits; the minimum is 2048"},
		{name: "RSA 8200", key: rsaPub(n8200, 65537), wantAccount: "8200 bits; the maximum is 4096", wantCertificate: "8200 bits; the maximum is 8192"},
		// Account keys stop at 4096 bits, the largest RSA JWK go-jose
		// parses (maxAccountRSABits); certificate keys at RSAMaxBits.
		{name: "RSA 4096", key: rsaPub(n4096, 65537)},
		{name: "RSA 4097", key: rsaPub(n4097, 65537), wantAccount: "4097 bits; the maximum is 4096"},
		{name: "RSA 8192", key: rsaPub(n8192, 65537), wantAccount: "8192 bits; the maximum is 4096"},
		{name: "RSA 8192 with RSAMaxBits 16384", cfg: Config{RSAMaxBits: 16384}, key: rsaPub(n8192, 65537), wantAccount: "8192 bits; the maximum is 4096"},
		{name: "RSA 4096 above a lower RSAMaxBits", cfg: Config{RSAMaxBits: 3072}, key: rsaPub(n4096, 65537), wantAccount: "4096 bits; the maximum is 3072", wantCertificate: "4096 bits; the maximum is 3072"},
		{name: "RSA 4096 above AccountRSAMaxBits", cfg: Config{AccountRSAMaxBits: 3072}, key: rsaPub(n4096, 65537), wantAccount: "4096 bits; the maximum is 3072"},
		{name: "RSA 4096 within AccountRSAMaxBits above RSAMaxBits", cfg: Config{RSAMaxBits: 3072, AccountRSAMaxBits: 4096}, key: rsaPub(n4096, 65537), wantCertificate: "4096 bits; the maximum is 3072"},
		{name: "RSA minimum above every account key", cfg: Config{RSAMinBits: 6144}, key: rsaPub(n8192, 65537), wantAccount: "RSA account keys are not accepted by this directory: its RSA minimum (6144 bits) is above the largest RSA account key the server supports (4096 bits); use an ECDSA or Ed25519 account key"},
		{name: "RSA minimum above every account key, ECDSA only", cfg: Config{RSAMinBits: 6144, AllowedKeyTypes: []string{"rsa", "ecdsa"}}, key: &rsaKey.PublicKey, wantAccount: "use an ECDSA account key", wantCertificate: "2048 bits; the minimum is 6144"},
		{name: "RSA 2048 below a configured minimum", cfg: Config{RSAMinBits: 3072}, key: &rsaKey.PublicKey, wantAccount: "2048 bits; the minimum is 3072", wantCertificate: "2048 bits; the minimum is 3072"},
		{name: "RSA without a modulus", key: &rsa.PublicKey{E: 65537}, wantAccount: "no modulus", wantCertificate: "no modulus"},
		{name: "nil RSA key", key: (*rsa.PublicKey)(nil), wantAccount: "no account public key", wantCertificate: "no certificate public key"},
		// RSA: exponent (BR §6.1.6).
		{name: "RSA exponent 3", key: rsaPub(n, 3), wantAccount: "exponent 3 is below 65537", wantCertificate: "exponent 3 is below 65537"},
		{name: "RSA exponent 65535", key: rsaPub(n, 65535), wantAccount: "exponent 65535 is below 65537", wantCertificate: "below 65537"},
		{name: "RSA even exponent", key: rsaPub(n, 65538), wantAccount: "exponent 65538 is even", wantCertificate: "is even"},
		{name: "RSA exponent 2^32+1", key: rsaPub(n, 1<<32+1), wantAccount: "not below 2^32", wantCertificate: "not below 2^32"},
		{name: "RSA exponent 65539", key: rsaPub(n, 65539)},
		// RSA: small factors (BR §6.1.6).
		{name: "RSA even modulus", key: rsaPub(mul(n, 2), 65537), wantAccount: "divisible by the small prime 2", wantCertificate: "small prime 2"},
		{name: "RSA modulus divisible by 3", key: rsaPub(mul(n, 3), 65537), wantAccount: "divisible by the small prime 3", wantCertificate: "small prime 3"},
		{name: "RSA modulus divisible by 751", key: rsaPub(mul(n, 751), 65537), wantAccount: "divisible by the small prime 751", wantCertificate: "small prime 751"},
		{name: "RSA modulus with factor 757 is beyond the check", key: rsaPub(mul(n, 757), 65537)},

		// ECDSA: curves.
		{name: "ECDSA P-256", key: &p256.PublicKey},
		{name: "ECDSA P-256 as a value", key: p256.PublicKey},
		{name: "ECDSA P-384", key: &p384.PublicKey},
		{name: "ECDSA P-521", key: &p521.PublicKey, wantCertificate: "curve P-521 are not allowed; allowed curves: P-256, P-384"},
		{name: "ECDSA P-521 for certificates by config", cfg: Config{CertificateCurves: []string{"P-256", "P-384", "P-521"}}, key: &p521.PublicKey},
		{name: "ECDSA P-384 outside configured account curves", cfg: Config{AccountCurves: []string{"P-256"}}, key: &p384.PublicKey, wantAccount: "ECDSA account keys on curve P-384 are not allowed; allowed curves: P-256"},
		{name: "ECDSA P-224", key: &p224.PublicKey, wantAccount: "curve P-224 are not allowed", wantCertificate: "curve P-224 are not allowed"},
		{name: "ECDSA generic P-256 parameters", key: &ecdsa.PublicKey{Curve: p256Params, X: p256.X, Y: p256.Y}, wantAccount: "are not allowed", wantCertificate: "are not allowed"},
		{name: "ECDSA without a curve", key: &ecdsa.PublicKey{X: p256.X, Y: p256.Y}, wantAccount: "curve (unknown)", wantCertificate: "curve (unknown)"},
		// ECDSA: point validation (SP 800-56A §5.6.2.3.3).
		{name: "ECDSA point off the curve", key: &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)}, wantAccount: "not a valid point on P-256", wantCertificate: "not a valid point on P-256"},
		{name: "ECDSA Y of another point", key: &ecdsa.PublicKey{Curve: elliptic.P256(), X: p256.X, Y: p384.Y}, wantAccount: "not a valid point", wantCertificate: "not a valid point"},
		{name: "ECDSA point at infinity", key: &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int), Y: new(big.Int)}, wantAccount: "not a valid point", wantCertificate: "not a valid point"},
		{name: "ECDSA coordinate not reduced", key: &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).Add(p256.X, p256Params.P), Y: p256.Y}, wantAccount: "not a valid point", wantCertificate: "not a valid point"},
		{name: "ECDSA negative coordinate", key: &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).Neg(p256.X), Y: p256.Y}, wantAccount: "not a valid point", wantCertificate: "not a valid point"},
		{name: "ECDSA without a point", key: &ecdsa.PublicKey{Curve: elliptic.P256()}, wantAccount: "has no point", wantCertificate: "has no point"},

		// Ed25519.
		{name: "Ed25519", key: edPub, wantCertificate: "Ed25519 certificate keys are not supported"},
		{name: "Ed25519 account keys denied by config", cfg: Config{DenyEd25519AccountKeys: true}, key: edPub, wantAccount: "Ed25519 account keys are not allowed", wantCertificate: "not supported"},
		{name: "Ed25519 of the wrong length", key: edPub[:31], wantAccount: "31 bytes; it must be 32", wantCertificate: "not supported"},

		// Other types.
		{name: "X25519", key: x25519.PublicKey(), wantAccount: "type *ecdh.PublicKey are not supported", wantCertificate: "type *ecdh.PublicKey are not supported"},
		{name: "nil", key: nil, wantAccount: "no account public key", wantCertificate: "no certificate public key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPolicy(t, tc.cfg)
			for _, check := range []struct {
				name string
				fn   func(crypto.PublicKey) error
				want string
			}{
				{"GoodAccountKey", p.GoodAccountKey, tc.wantAccount},
				{"GoodCertificateKey", p.GoodCertificateKey, tc.wantCertificate},
			} {
				err := check.fn(tc.key)
				if check.want == "" {
					if err != nil {
						t.Errorf("%s: %v, want nil", check.name, err)
					}
					continue
				}
				if err == nil {
					t.Errorf("%s: nil, want a refusal containing %q", check.name, check.want)
					continue
				}
				checkError(t, err, wantErr{Kind: KindBadPublicKey, Detail: check.want})
			}
		})
	}
}

// modulusOfBits returns an odd number of exactly bits bits, derived from n
// (bits > n.BitLen()), with no prime factor below 752: a modulus only its
// size can refuse. It finds the factors by GCD with their product, not with
// smallFactor.
func modulusOfBits(n *big.Int, bits int) *big.Int {
	product := big.NewInt(1)
	for p := int64(2); p < 752; p++ {
		if big.NewInt(p).ProbablyPrime(0) {
			product.Mul(product, big.NewInt(p))
		}
	}
	m := new(big.Int).Lsh(n, uint(bits-n.BitLen()))
	m.SetBit(m, 0, 1)
	one, two, gcd := big.NewInt(1), big.NewInt(2), new(big.Int)
	for gcd.GCD(nil, nil, m, product).Cmp(one) != 0 {
		m.Add(m, two)
	}
	if m.BitLen() != bits {
		panic("modulusOfBits overflowed")
	}
	return m
}

// TestAccountRSAMaxIsJOSELimit pins maxAccountRSABits to the largest RSA key
// go-jose parses: if a go-jose upgrade moves its limit, the account-key
// policy must move with it (an allowed key go-jose refuses would be a
// malformed JWS instead of a badPublicKey refusal).
func TestAccountRSAMaxIsJOSELimit(t *testing.T) {
	t.Parallel()
	if maxAccountRSABits != jose.MaxRSAModulusBits {
		t.Fatalf("maxAccountRSABits = %d, go-jose's MaxRSAModulusBits = %d", maxAccountRSABits, jose.MaxRSAModulusBits)
	}
}

func TestSmallFactor(t *testing.T) {
	t.Parallel()
	// Numbers just past 2^64 span two words on 64-bit platforms, so the
	// remainder must carry from the high word: 2^64+1 = 274177 ×
	// 67280421310721 has no factor below 752, 2^64+15 = 31 × 107 × …
	twoTo64 := new(big.Int).Lsh(big.NewInt(1), 64)
	tests := []struct {
		name string
		n    *big.Int
		want uint
	}{
		{name: "one", n: big.NewInt(1), want: 0},
		{name: "751 squared", n: big.NewInt(751 * 751), want: 751},
		{name: "757 squared", n: big.NewInt(757 * 757), want: 0},
		{name: "2^64+1", n: new(big.Int).Add(twoTo64, big.NewInt(1)), want: 0},
		{name: "2^64+15", n: new(big.Int).Add(twoTo64, big.NewInt(15)), want: 31},
		{name: "product of 743 and 2^127-1", n: new(big.Int).Mul(big.NewInt(743), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 127), big.NewInt(1))), want: 743},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := smallFactor(tc.n); got != tc.want {
				t.Errorf("smallFactor(%v) = %d, want %d", tc.n, got, tc.want)
			}
		})
	}
}
