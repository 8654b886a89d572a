package acme_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// Catalogue cases of the transport, the JWS envelope and nonces (RFC 8555
// §6.2–6.5), with the JWS-building helpers all catalogue files use.

// signer signs a JWS signing input (RFC 7515 §5.1).
type signer func(input []byte) []byte

// es256 signs with an ECDSA P-256 key (RFC 7518 §3.4: r‖s, 32 bytes each).
func es256(t *testing.T, key *ecdsa.PrivateKey) signer {
	return func(input []byte) []byte {
		h := crypto.SHA256.New()
		h.Write(input)
		r, s, err := ecdsa.Sign(rand.Reader, key, h.Sum(nil))
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	}
}

// rs256 signs with an RSA key (RFC 7518 §3.3).
func rs256(t *testing.T, key *rsa.PrivateKey) signer {
	return func(input []byte) []byte {
		h := crypto.SHA256.New()
		h.Write(input)
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h.Sum(nil))
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

// noSigner stands in for a key whose private half does not exist (a forged
// jwk): the server must refuse the key before it looks at the signature.
func noSigner(_ []byte) []byte { return bytes.Repeat([]byte{1}, 64) }

// rawJWS is a flattened JWS whose protected header is exactly the JSON
// text given, so tests can send what no JSON encoder would write.
func rawJWS(protected string, payload []byte, sign signer) []byte {
	prot, pl := b64([]byte(protected)), b64(payload)
	body, _ := json.Marshal(map[string]string{"protected": prot, "payload": pl, "signature": b64(sign([]byte(prot + "." + pl)))})
	return body
}

// headerJWS is rawJWS with a header map.
func headerJWS(header map[string]any, payload []byte, sign signer) []byte {
	hb, _ := json.Marshal(header)
	return rawJWS(string(hb), payload, sign)
}

// rsaJWK is an RSA JWK with modulus n and exponent e, as raw big-endian
// bytes: real or forged.
func rsaJWK(n []byte, e int) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"kty": "RSA", "n": b64(n), "e": b64(big.NewInt(int64(e)).Bytes())})
	return b
}

// forgedModulus is an odd number of exactly bits bits: the server must
// refuse it for its size before it could matter that nobody can sign with
// it.
func forgedModulus(bits int) []byte {
	n := make([]byte, (bits+7)/8)
	_, _ = rand.Read(n)
	n[0] |= 0x80 >> ((8 - bits%8) % 8)
	n[0] &= 0xff >> ((8 - bits%8) % 8)
	n[len(n)-1] |= 1
	return n
}

func (w *hostileWorld) transportCases() []hostileCase {
	g := w.good
	newOrder := w.base + "/new-order"
	good := func() []byte { return g.jws(g.header(newOrder), []byte(orderOf("a.example.com"))) }
	return []hostileCase{
		{name: "transport/wrong Content-Type", status: 415, typ: urnMalformed, detail: "Content-Type must be application/jose+json",
			req: func(*testing.T) *rawResponse { return g.send(http.MethodPost, newOrder, "application/json", good()) }},
		{name: "transport/no Content-Type", status: 415, typ: urnMalformed, detail: "Content-Type must be application/jose+json",
			req: func(*testing.T) *rawResponse { return g.send(http.MethodPost, newOrder, "", good()) }},
		{name: "transport/oversized body (2 MB)", status: 413, typ: urnMalformed, detail: "larger than",
			req: func(*testing.T) *rawResponse {
				return g.post(newOrder, g.jws(g.header(newOrder), []byte(orderOf(strings.Repeat("a", 2<<20)))))
			}},
		{name: "transport/empty body", status: 400, typ: urnMalformed, detail: "request body is empty",
			req: func(*testing.T) *rawResponse { return g.post(newOrder, nil) }},
		{name: "transport/truncated JSON", status: 400, typ: urnMalformed, detail: "not a JSON object",
			req: func(*testing.T) *rawResponse { return g.post(newOrder, []byte(`{"protected":`)) }},
		{name: "transport/protected header not base64url", status: 400, typ: urnMalformed, detail: "protected header is not base64url",
			req: func(*testing.T) *rawResponse {
				return g.post(newOrder, []byte(`{"protected":"!!!","payload":"","signature":"AAAA"}`))
			}},
		{name: "transport/protected header not a JSON object", status: 400, typ: urnMalformed, detail: "protected header is not a JSON object",
			req: func(*testing.T) *rawResponse {
				return g.post(newOrder, []byte(`{"protected":"`+b64([]byte(`["alg"]`))+`","payload":"","signature":"AAAA"}`))
			}},
		// RFC 8555 §6.2: only the flattened JSON serialization.
		{name: "transport/compact serialization", status: 400, typ: urnMalformed, detail: "not a JSON object",
			req: func(*testing.T) *rawResponse {
				var m map[string]string
				_ = json.Unmarshal(good(), &m)
				return g.post(newOrder, []byte(m["protected"]+"."+m["payload"]+"."+m["signature"]))
			}},
		{name: "transport/general serialization", status: 400, typ: urnMalformed, detail: "flattened JSON serialization",
			req: func(*testing.T) *rawResponse {
				var m map[string]string
				_ = json.Unmarshal(good(), &m)
				b, _ := json.Marshal(map[string]any{"payload": m["payload"], "signatures": []map[string]string{{"protected": m["protected"], "signature": m["signature"]}}})
				return g.post(newOrder, b)
			}},
		{name: "transport/unprotected header", status: 400, typ: urnMalformed, detail: "unprotected header",
			req: func(*testing.T) *rawResponse {
				var m map[string]any
				_ = json.Unmarshal(good(), &m)
				m["header"] = map[string]string{"kid": g.kid}
				b, _ := json.Marshal(m)
				return g.post(newOrder, b)
			}},
		{name: "transport/unknown JWS member", status: 400, typ: urnMalformed, detail: "unexpected member",
			req: func(*testing.T) *rawResponse {
				var m map[string]any
				_ = json.Unmarshal(good(), &m)
				m["extra"] = 1
				b, _ := json.Marshal(m)
				return g.post(newOrder, b)
			}},
		// RFC 7515 §7.2.1 members are unique; a second payload after the
		// signed one must not be what the server reads.
		{name: "transport/payload member twice", status: 400, typ: urnMalformed, detail: "twice",
			req: func(*testing.T) *rawResponse {
				b := good()
				other := b64([]byte(orderOf("smuggled.example.com")))
				return g.post(newOrder, append(b[:len(b)-1], []byte(`,"payload":"`+other+`"}`)...))
			}},
	}
}

func (w *hostileWorld) jwsCases() []hostileCase {
	g := w.good
	newOrder := w.base + "/new-order"
	order := []byte(orderOf("a.example.com"))
	hdr := func() map[string]any { return g.header(newOrder) }
	return []hostileCase{
		// RFC 7515 §4: header names MUST be unique (or the last one
		// counts). acmegate refuses duplicates outright, so no reader of
		// the header can take another "alg" or "kid" than the verifier.
		{name: "jws/protected header with alg twice", status: 400, typ: urnMalformed, detail: "twice",
			req: func(t *testing.T) *rawResponse {
				prot := fmt.Sprintf(`{"alg":"none","alg":"ES256","nonce":%q,"url":%q,"kid":%q}`, g.nonce(), newOrder, g.kid)
				return g.post(newOrder, rawJWS(prot, order, es256(t, g.key)))
			}},
		{name: "jws/protected header with kid twice", status: 400, typ: urnMalformed, detail: "twice",
			req: func(t *testing.T) *rawResponse {
				prot := fmt.Sprintf(`{"alg":"ES256","nonce":%q,"url":%q,"kid":%q,"kid":%q}`, g.nonce(), newOrder, w.other.kid, g.kid)
				return g.post(newOrder, rawJWS(prot, order, es256(t, g.key)))
			}},
		{name: "jws/alg none", status: 400, typ: urnBadSignatureAlgorithm, detail: "not accepted",
			req: func(*testing.T) *rawResponse {
				h := hdr()
				h["alg"] = "none"
				return g.post(newOrder, headerJWS(h, order, func([]byte) []byte { return nil }))
			},
			also: func(t *testing.T, r *rawResponse) {
				// RFC 8555 §6.2: the problem lists the accepted algorithms.
				if !slices.Contains(r.problem.Algorithms, "ES256") {
					t.Errorf("algorithms = %v, want the accepted list", r.problem.Algorithms)
				}
			}},
		// RFC 8555 §6.2: MAC algorithms only inside External Account
		// Binding.
		{name: "jws/HS256 outside EAB", status: 400, typ: urnBadSignatureAlgorithm, detail: "HS256",
			req: func(*testing.T) *rawResponse {
				h := hdr()
				h["alg"] = "HS256"
				return g.post(newOrder, headerJWS(h, order, func(in []byte) []byte { m := hmac.New(sha256.New, []byte("secret")); m.Write(in); return m.Sum(nil) }))
			}},
		{name: "jws/no alg", status: 400, typ: urnMalformed, detail: "no alg",
			req: func(t *testing.T) *rawResponse {
				h := hdr()
				delete(h, "alg")
				return g.post(newOrder, headerJWS(h, order, es256(t, g.key)))
			}},
		// Boulder answers an alg that does not fit the key with
		// malformed ("JWS verification error"); so does acmegate.
		{name: "jws/RS256 header on an ECDSA account key", status: 400, typ: urnMalformed, detail: "signature is invalid",
			req: func(t *testing.T) *rawResponse {
				h := hdr()
				h["alg"] = "RS256"
				return g.post(newOrder, headerJWS(h, order, es256(t, g.key)))
			}},
		// Certificate-carried and remote keys are never a key source.
		{name: "jws/embedded x5c", status: 400, typ: urnMalformed, detail: `"x5c"`,
			req: func(t *testing.T) *rawResponse {
				h := hdr()
				h["x5c"] = []string{b64url2std(b64(w.validDER))}
				return g.post(newOrder, headerJWS(h, order, es256(t, g.key)))
			}},
		{name: "jws/jku header", status: 400, typ: urnMalformed, detail: `"jku"`,
			req: func(t *testing.T) *rawResponse {
				h := hdr()
				h["jku"] = "https://attacker.example/keys"
				return g.post(newOrder, headerJWS(h, order, es256(t, g.key)))
			}},
		// RFC 7515 §4.1.11: an extension the server does not understand
		// listed in crit must be refused.
		{name: "jws/unknown crit", status: 400, typ: urnMalformed, detail: `"crit"`,
			req: func(t *testing.T) *rawResponse {
				h := hdr()
				h["crit"] = []string{"exp"}
				h["exp"] = 1
				return g.post(newOrder, headerJWS(h, order, es256(t, g.key)))
			}},
		// RFC 7797 unencoded payload: the signature would cover the raw
		// payload, which ACME does not allow.
		{name: "jws/b64 false (RFC 7797)", status: 400, typ: urnMalformed, detail: "must not contain",
			req: func(t *testing.T) *rawResponse {
				h := hdr()
				h["b64"] = false
				h["crit"] = []string{"b64"}
				return g.post(newOrder, headerJWS(h, order, es256(t, g.key)))
			}},
		{name: "jws/header field of the wrong type", status: 400, typ: urnMalformed, detail: "must be a string",
			req: func(t *testing.T) *rawResponse {
				h := hdr()
				h["nonce"] = 5
				return g.post(newOrder, headerJWS(h, order, es256(t, g.key)))
			}},
		{name: "jws/empty signature", status: 400, typ: urnMalformed, detail: "no signature",
			req: func(*testing.T) *rawResponse {
				return g.post(newOrder, headerJWS(hdr(), order, func([]byte) []byte { return nil }))
			}},
		{name: "jws/signature over another payload", status: 400, typ: urnMalformed, detail: "signature is invalid",
			req: func(*testing.T) *rawResponse {
				var m map[string]string
				_ = json.Unmarshal(g.jws(hdr(), order), &m)
				m["payload"] = b64([]byte(orderOf("b.example.com")))
				b, _ := json.Marshal(m)
				return g.post(newOrder, b)
			}},
		{name: "jws/payload not base64url", status: 400, typ: urnMalformed, detail: "payload is not base64url",
			req: func(*testing.T) *rawResponse {
				var m map[string]string
				_ = json.Unmarshal(g.jws(hdr(), order), &m)
				m["payload"] = "!!!"
				b, _ := json.Marshal(m)
				return g.post(newOrder, b)
			}},
		// Another account's kid with one's own signature: the stored key
		// of that account does not verify it (Boulder: malformed).
		{name: "jws/kid of another account", status: 400, typ: urnMalformed, detail: "signature is invalid",
			req: func(t *testing.T) *rawResponse {
				h := hdr()
				h["kid"] = w.other.kid
				return g.post(newOrder, headerJWS(h, order, es256(t, g.key)))
			}},
		// A real account, properly signed, but of another directory:
		// directories are separate tenants.
		{name: "jws/kid of another directory's account", status: 403, typ: urnUnauthorized, detail: "not an account of this directory",
			req: func(*testing.T) *rawResponse {
				f := w.foreign
				return f.post(newOrder, f.jws(f.header(newOrder), order))
			}},
		{name: "jws/kid of a nonexistent account", status: 400, typ: urnAccountDoesNotExist, detail: "no account",
			req: func(t *testing.T) *rawResponse {
				h := hdr()
				h["kid"] = w.base + "/account/does-not-exist"
				return g.post(newOrder, headerJWS(h, order, es256(t, g.key)))
			}},
		{name: "jws/kid that is not an account URL", status: 400, typ: urnMalformed, detail: "not an account URL",
			req: func(t *testing.T) *rawResponse {
				h := hdr()
				h["kid"] = "https://attacker.example/acme/default/account/1"
				return g.post(newOrder, headerJWS(h, order, es256(t, g.key)))
			}},
		{name: "jws/kid and jwk together", status: 400, typ: urnMalformed, detail: "without jwk",
			req: func(t *testing.T) *rawResponse {
				h := hdr()
				h["jwk"] = g.jwk()
				return g.post(newOrder, headerJWS(h, order, es256(t, g.key)))
			}},
		{name: "jws/jwk on a kid-only resource", status: 400, typ: urnMalformed, detail: "without jwk",
			req: func(t *testing.T) *rawResponse {
				h := hdr()
				delete(h, "kid")
				h["jwk"] = g.jwk()
				return g.post(newOrder, headerJWS(h, order, es256(t, g.key)))
			}},
		// RFC 8555 §7.3.6: a deactivated account's requests are refused.
		{name: "jws/deactivated account's kid", status: 403, typ: urnUnauthorized, detail: "deactivated",
			req: func(*testing.T) *rawResponse {
				d := w.dead
				return d.post(newOrder, d.jws(d.header(newOrder), order))
			}},
		// RFC 8555 §6.4: the url header binds the signature to one
		// resource.
		{name: "jws/no url", status: 400, typ: urnMalformed, detail: "no url",
			req: func(t *testing.T) *rawResponse {
				h := hdr()
				delete(h, "url")
				return g.post(newOrder, headerJWS(h, order, es256(t, g.key)))
			}},
		{name: "jws/url of another resource", status: 403, typ: urnUnauthorized, detail: "does not match",
			req: func(t *testing.T) *rawResponse {
				h := hdr()
				h["url"] = w.base + "/new-account"
				return g.post(newOrder, headerJWS(h, order, es256(t, g.key)))
			}},
		{name: "jws/url of another directory", status: 403, typ: urnUnauthorized, detail: "does not match",
			req: func(t *testing.T) *rawResponse {
				h := hdr()
				h["url"] = w.e.url + "/acme/other/new-order"
				return g.post(newOrder, headerJWS(h, order, es256(t, g.key)))
			}},
		{name: "jws/url of another host", status: 403, typ: urnUnauthorized, detail: "does not match",
			req: func(t *testing.T) *rawResponse {
				h := hdr()
				h["url"] = "https://acme.attacker.example/acme/default/new-order"
				return g.post(newOrder, headerJWS(h, order, es256(t, g.key)))
			}},
		{name: "jws/payload not an object", status: 400, typ: urnMalformed, detail: "must be a JSON object",
			req: func(*testing.T) *rawResponse { return g.post(newOrder, g.jws(hdr(), []byte(`[1,2]`))) }},
		{name: "jws/POST-as-GET to newOrder", status: 400, typ: urnMalformed, detail: "needs a JSON payload",
			req: func(*testing.T) *rawResponse { return g.post(newOrder, g.jws(hdr(), nil)) }},
	}
}

// b64url2std turns base64url into the standard alphabet with padding, as
// x5c wants (RFC 7515 §4.1.6).
func b64url2std(s string) string {
	s = strings.NewReplacer("-", "+", "_", "/").Replace(s)
	for len(s)%4 != 0 {
		s += "="
	}
	return s
}

func (w *hostileWorld) nonceCases() []hostileCase {
	g := w.good
	acct := g.kid
	get := func(t *testing.T, nonce any) *rawResponse {
		h := g.header(acct)
		if nonce == nil {
			delete(h, "nonce")
		} else {
			h["nonce"] = nonce
		}
		return g.post(acct, headerJWS(h, nil, es256(t, g.key)))
	}
	return []hostileCase{
		{name: "nonce/missing", status: 400, typ: urnBadNonce, detail: "no nonce",
			req: func(t *testing.T) *rawResponse { return get(t, nil) }},
		{name: "nonce/reused", status: 400, typ: urnBadNonce, detail: "already used",
			req: func(t *testing.T) *rawResponse {
				n := g.nonce()
				if r := get(t, n); r.status != http.StatusOK {
					t.Fatalf("first use of the nonce: %d %s", r.status, r.body)
				}
				return get(t, n)
			}},
		// Well-formed (the right length) but not minted by the server.
		{name: "nonce/forged", status: 400, typ: urnBadNonce, detail: "not a nonce this server issued",
			req: func(t *testing.T) *rawResponse { return get(t, strings.Repeat("A", 43)) }},
		{name: "nonce/garbage", status: 400, typ: urnBadNonce, detail: "not a nonce this server issued",
			req: func(t *testing.T) *rawResponse { return get(t, "!!not base64!!") }},
		{name: "nonce/expired", status: 400, typ: urnBadNonce, detail: "expired",
			req: func(t *testing.T) *rawResponse {
				n := g.nonce()
				w.clock.advance(2 * time.Hour)
				defer w.clock.advance(-2 * time.Hour)
				return get(t, n)
			}},
		// A nonce whose expiry lies beyond what this server would mint
		// now: from an instance whose clock runs hours ahead (or minted
		// with a stolen key). Accepting it would keep its redemption record
		// alive until that far expiry.
		{name: "nonce/from the future", status: 400, typ: urnBadNonce, detail: "future",
			req: func(t *testing.T) *rawResponse {
				w.clock.advance(3 * time.Hour)
				n := g.nonce()
				w.clock.advance(-3 * time.Hour)
				return get(t, n)
			}},
	}
}
