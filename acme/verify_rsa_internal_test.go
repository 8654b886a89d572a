package acme

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// oversizedRSAJWK must find exactly the RSA keys go-jose refuses for their
// size: never a key go-jose would parse (the request would be refused for
// a reason it does not have), always a well-formed one it refuses (the
// client would get "could not be parsed" again).

// joseRefuses reports whether go-jose refuses the jwk raw, and whether
// for the modulus size alone.
func joseRefuses(raw []byte) (refused, forSize bool) {
	var k jose.JSONWebKey
	err := k.UnmarshalJSON(raw)
	return err != nil, errors.Is(err, jose.ErrUnsupportedKeyType)
}

// modulusOf is an odd modulus of exactly bits bits from rng.
func modulusOf(rng *rand.Rand, bits int) []byte {
	n := make([]byte, (bits+7)/8)
	for i := range n {
		n[i] = byte(rng.Uint32())
	}
	n[0] |= 0x80 >> ((8 - bits%8) % 8)
	n[0] &= 0xff >> ((8 - bits%8) % 8)
	n[len(n)-1] |= 1
	return n
}

func TestOversizedRSAJWKTable(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	rng := rand.New(rand.NewPCG(3, 4))
	n4096, n4097, n8192 := enc(modulusOf(rng, 4096)), enc(modulusOf(rng, 4097)), enc(modulusOf(rng, 8192))
	zero4096 := enc(append([]byte{0, 0}, modulusOf(rng, 4096)...))
	tests := []struct {
		name string
		jwk  string
		bits int // the modulus size found, 0 for none
	}{
		{"4096 bits", `{"kty":"RSA","n":"` + n4096 + `","e":"AQAB"}`, 0},
		{"4097 bits", `{"kty":"RSA","n":"` + n4097 + `","e":"AQAB"}`, 4097},
		{"8192 bits", `{"kty":"RSA","n":"` + n8192 + `","e":"AQAB"}`, 8192},
		{"4096 bits after two zero bytes", `{"kty":"RSA","n":"` + zero4096 + `","e":"AQAB"}`, 0},
		{"members in another order, spaced", ` { "e" : "AQAB" , "n" : "` + n8192 + `" , "kty" : "RSA" } `, 8192},
		// go-jose's decoder skips line breaks, as encoding/base64 does.
		{"line breaks in n", `{"kty":"RSA","n":"` + n8192[:100] + `\n` + n8192[100:] + `\r\n","e":"AQAB"}`, 8192},
		{"escaped characters in n", `{"kty":"RSA","n":"\u` + fmt.Sprintf("%04x", n8192[0]) + n8192[1:] + `","e":"AQAB"}`, 8192},
		{"escaped kty", `{"kty":"\u0052SA","n":"` + n8192 + `","e":"AQAB"}`, 8192},
		// Still too large, whatever else is wrong with the key.
		{"no e", `{"kty":"RSA","n":"` + n8192 + `"}`, 8192},
		{"empty e", `{"kty":"RSA","n":"` + n8192 + `","e":""}`, 8192},
		{"e of 1", `{"kty":"RSA","n":"` + n8192 + `","e":"AQ"}`, 8192},
		{"e too large", `{"kty":"RSA","n":"` + n8192 + `","e":"` + enc(bytes.Repeat([]byte{0xff}, 9)) + `"}`, 8192},
		// Left to go-jose, which refuses them for what they are.
		{"kty of another case", `{"kty":"rsa","n":"` + n8192 + `","e":"AQAB"}`, 0},
		{"no kty", `{"n":"` + n8192 + `","e":"AQAB"}`, 0},
		{"EC key with a long member", `{"kty":"EC","crv":"P-256","n":"` + n8192 + `"}`, 0},
		{"n of another case", `{"kty":"RSA","N":"` + n8192 + `","e":"AQAB"}`, 0},
		{"duplicate n", `{"kty":"RSA","n":"` + n8192 + `","n":"` + n4096 + `","e":"AQAB"}`, 0},
		{"n not a string", `{"kty":"RSA","n":[` + strings.Repeat("1,", 400) + `1],"e":"AQAB"}`, 0},
		{"n not base64url", `{"kty":"RSA","n":"` + n8192 + `=","e":"AQAB"}`, 0},
		{"not an object", `["RSA","` + n8192 + `"]`, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.jwk)
			if !json.Valid(raw) {
				t.Fatalf("test jwk is not JSON: %s", raw)
			}
			k := oversizedRSAJWK(raw)
			refused, forSize := joseRefuses(raw)
			if tc.bits == 0 {
				if k != nil {
					t.Fatalf("found a %d-bit key", k.N.BitLen())
				}
				within := strings.HasPrefix(tc.name, "4096 bits")
				if refused == within {
					t.Fatalf("go-jose refuses the key: %v; the test expects it to parse %v", refused, within)
				}
				return
			}
			if k == nil || k.N.BitLen() != tc.bits {
				t.Fatalf("found %v, want a %d-bit key", k, tc.bits)
			}
			if !refused {
				t.Fatal("go-jose parses a key oversizedRSAJWK refuses")
			}
			if strings.HasPrefix(tc.name, "4097") || strings.HasPrefix(tc.name, "8192") {
				if !forSize {
					t.Fatal("go-jose refuses the key, but not for its size")
				}
			}
		})
	}
}

// TestOversizedRSAJWKRandom compares with go-jose on random RSA jwks
// around the limit: sizes from 3900 to 4300 bits, leading zero bytes,
// line breaks in n, valid and invalid exponents, member order.
func TestOversizedRSAJWKRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	enc := base64.RawURLEncoding.EncodeToString
	found, parsed := 0, 0
	for range 3000 {
		bits := 3900 + rng.IntN(400)
		nb := append(make([]byte, rng.IntN(3)), modulusOf(rng, bits)...)
		n := enc(nb)
		if rng.IntN(4) == 0 {
			i := rng.IntN(len(n))
			n = n[:i] + `\n` + n[i:]
		}
		e := "AQAB"
		wellFormed := true
		switch rng.IntN(6) {
		case 0:
			e = "Aw" // 3: go-jose parses it; the policy refuses it later
		case 1:
			e, wellFormed = "AQ", false // 1: go-jose refuses it
		}
		members := []string{`"kty":"RSA"`, `"n":"` + n + `"`, `"e":"` + e + `"`}
		rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		raw := []byte("{" + strings.Join(members, ",") + "}")

		k := oversizedRSAJWK(raw)
		refused, forSize := joseRefuses(raw)
		if k != nil {
			found++
			if k.N.BitLen() != bits {
				t.Fatalf("%s: found %d bits, the modulus has %d", raw, k.N.BitLen(), bits)
			}
			if !refused {
				t.Fatalf("%s: go-jose parses a key oversizedRSAJWK refuses", raw)
			}
		}
		if wellFormed {
			if (k != nil) != forSize {
				t.Fatalf("%s (%d bits): oversizedRSAJWK found %v, go-jose refuses for the size: %v", raw, bits, k != nil, forSize)
			}
			if !refused {
				parsed++
			}
		}
	}
	if found < 500 || parsed < 500 {
		t.Fatalf("found %d, go-jose parsed %d: the inputs do not straddle the limit", found, parsed)
	}
}
