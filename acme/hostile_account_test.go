package acme_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// Catalogue cases of newAccount, account updates and orders lists, and
// keyChange (RFC 8555 §7.1.2.1, §7.3).

func (w *hostileWorld) newAccountCases() []hostileCase {
	u := w.base + "/new-account"
	tos := []byte(`{"termsOfServiceAgreed":true}`)
	// fresh posts payload for a new key, signed with it, under header
	// changes from edit.
	fresh := func(t *testing.T, payload []byte, edit func(h map[string]any)) *rawResponse {
		c := w.e.rawClient()
		h := c.header(u)
		if edit != nil {
			edit(h)
		}
		return c.post(u, headerJWS(h, payload, es256(t, c.key)))
	}
	// forged posts newAccount with the jwk given and a signature nobody
	// could have made.
	forged := func(jwk json.RawMessage, alg string) *rawResponse {
		c := w.e.rawClient()
		return c.post(u, headerJWS(map[string]any{"alg": alg, "nonce": c.nonce(), "url": u, "jwk": jwk}, tos, noSigner))
	}
	realN := rsaKey(w.t, 0).N.Bytes()
	return []hostileCase{
		{name: "newAccount/kid instead of jwk", status: 400, typ: urnMalformed, detail: "key given in jwk",
			req: func(*testing.T) *rawResponse { return w.post(w.good, u, tos) }},
		// go-jose refuses to parse an RSA JWK over 4096 bits
		// (jose.MaxRSAModulusBits), and account keys are capped at 4096
		// bits by default (account_rsa_max_bits; rsa_max_bits bounds
		// certificate keys only). The server measures the jwk's modulus
		// before go-jose sees it and refuses it as the key policy does,
		// naming the size and the maximum, rather than as a JWS that
		// could not be parsed; nothing costly is computed on the modulus.
		{name: "newAccount/RSA modulus of 16400 bits", status: 400, typ: urnBadPublicKey, detail: "the RSA account key's modulus is 16400 bits; the maximum is 4096",
			req: func(*testing.T) *rawResponse { return forged(rsaJWK(forgedModulus(16400), 65537), "RS256") }},
		{name: "newAccount/RSA modulus of 4097 bits", status: 400, typ: urnBadPublicKey, detail: "the RSA account key's modulus is 4097 bits; the maximum is 4096",
			req: func(*testing.T) *rawResponse { return forged(rsaJWK(forgedModulus(4097), 65537), "RS256") }},
		// 4096 bits is within both limits: the forged key parses and passes
		// the policy, and only its signature is refused.
		{name: "newAccount/RSA modulus of 4096 bits", status: 400, typ: urnMalformed, detail: "signature is invalid",
			req: func(*testing.T) *rawResponse { return forged(rsaJWK(roughModulus(4096), 65537), "RS256") }},
		// A megabyte modulus never reaches the parser: the body limit
		// (64 KiB) refuses it first.
		{name: "newAccount/1 MB RSA modulus", status: 413, typ: urnMalformed, detail: "larger than",
			req: func(*testing.T) *rawResponse { return forged(rsaJWK(forgedModulus(8<<20), 65537), "RS256") }},
		// e = 1 makes the "signature" the message itself; go-jose refuses
		// e < 2 at parse time: malformed, as for Boulder.
		{name: "newAccount/RSA exponent 1", status: 400, typ: urnMalformed, detail: "could not be parsed",
			req: func(*testing.T) *rawResponse { return forged(rsaJWK(realN, 1), "RS256") }},
		// BR §6.1.6: e ≥ 3, and like Boulder ≥ 65537. go-jose parses e = 3;
		// the key policy refuses it.
		{name: "newAccount/RSA exponent 3", status: 400, typ: urnBadPublicKey, detail: "below 65537",
			req: func(*testing.T) *rawResponse { return forged(rsaJWK(realN, 3), "RS256") }},
		// The key is sound but the alg names another key type; the
		// signature (a real RS256 one) is not checked under ES256.
		{name: "newAccount/ES256 header with an RSA key", status: 400, typ: urnMalformed, detail: "signature is invalid",
			req: func(t *testing.T) *rawResponse {
				k := rsaKey(t, 0)
				c := w.e.rawClient()
				return c.post(u, headerJWS(map[string]any{"alg": "ES256", "nonce": c.nonce(), "url": u, "jwk": rsaJWK(k.N.Bytes(), k.E)}, tos, rs256(t, k)))
			}},
		{name: "newAccount/RSA 1024-bit key", status: 400, typ: urnBadPublicKey, detail: "minimum is 2048",
			req: func(*testing.T) *rawResponse { return forged(rsaJWK(forgedModulus(1024), 65537), "RS256") }},
		// An invalid-curve attack point. go-jose refuses to parse the JWK,
		// so the JWS does not parse: malformed, as Boulder and Pebble
		// answer (both parse with go-jose too).
		{name: "newAccount/P-256 point not on the curve", status: 400, typ: urnMalformed, detail: "could not be parsed",
			req: func(*testing.T) *rawResponse {
				x, y := bytes.Repeat([]byte{0x11}, 32), bytes.Repeat([]byte{0x22}, 32)
				jwk, _ := json.Marshal(map[string]string{"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)})
				return forged(jwk, "ES256")
			}},
		// RFC 8037 Ed448: go-jose knows no Ed448, so the JWS does not
		// parse: malformed, as for Boulder and Pebble.
		{name: "newAccount/Ed448 key", status: 400, typ: urnMalformed, detail: "could not be parsed",
			req: func(*testing.T) *rawResponse {
				jwk, _ := json.Marshal(map[string]string{"kty": "OKP", "crv": "Ed448", "x": b64(bytes.Repeat([]byte{7}, 57))})
				return forged(jwk, "EdDSA")
			}},
		{name: "newAccount/invalid contact", status: 400, typ: urnInvalidContact, detail: "not a valid e-mail address",
			req: func(t *testing.T) *rawResponse {
				return fresh(t, []byte(`{"termsOfServiceAgreed":true,"contact":["mailto:not an address"]}`), nil)
			}},
		{name: "newAccount/contact with header fields", status: 400, typ: urnInvalidContact, detail: "header fields",
			req: func(t *testing.T) *rawResponse {
				return fresh(t, []byte(`{"termsOfServiceAgreed":true,"contact":["mailto:a@example.com?bcc=b@example.com"]}`), nil)
			}},
		{name: "newAccount/eleven contacts", status: 400, typ: urnInvalidContact, detail: "at most 10",
			req: func(t *testing.T) *rawResponse {
				cs := make([]string, 11)
				for i := range cs {
					cs[i] = fmt.Sprintf("mailto:a%d@example.com", i)
				}
				b, _ := json.Marshal(map[string]any{"termsOfServiceAgreed": true, "contact": cs})
				return fresh(t, b, nil)
			}},
		{name: "newAccount/unsupported contact", status: 400, typ: urnUnsupportedContact, detail: "only mailto",
			req: func(t *testing.T) *rawResponse {
				return fresh(t, []byte(`{"termsOfServiceAgreed":true,"contact":["tel:+15555550100"]}`), nil)
			}},
		{name: "newAccount/onlyReturnExisting without account", status: 400, typ: urnAccountDoesNotExist, detail: "no account",
			req: func(t *testing.T) *rawResponse { return fresh(t, []byte(`{"onlyReturnExisting":true}`), nil) }},
		{name: "newAccount/contact of the wrong JSON type", status: 400, typ: urnMalformed, detail: "expected shape",
			req: func(t *testing.T) *rawResponse { return fresh(t, []byte(`{"contact":"mailto:a@example.com"}`), nil) }},
		{name: "newAccount/without EAB where required", status: 401, typ: urnExternalAccountRequired, detail: "requires an external account binding",
			req: func(t *testing.T) *rawResponse {
				c := w.e.rawClient()
				eu := w.e.url + "/acme/eab/new-account"
				return c.post(eu, headerJWS(map[string]any{"alg": "ES256", "nonce": c.nonce(), "url": eu, "jwk": c.jwk()}, tos, es256(t, c.key)))
			}},
	}
}

func (w *hostileWorld) accountCases() []hostileCase {
	g := w.good
	return []hostileCase{
		// Boulder: "Request signing key did not match update key".
		{name: "account/update of another account", status: 403, typ: urnUnauthorized, detail: "another account",
			req: func(*testing.T) *rawResponse {
				return w.post(g, w.other.kid, []byte(`{"contact":["mailto:x@example.com"]}`))
			}},
		{name: "account/URL of a nonexistent account", status: 403, typ: urnUnauthorized, detail: "another account",
			req: func(*testing.T) *rawResponse { return w.post(g, w.base+"/account/does-not-exist", nil) }},
		{name: "account/status other than deactivated", status: 400, typ: urnMalformed, detail: "only be changed to deactivated",
			req: func(*testing.T) *rawResponse { return w.post(g, g.kid, []byte(`{"status":"valid"}`)) }},
		{name: "account/invalid contact update", status: 400, typ: urnInvalidContact, detail: "exactly one e-mail address",
			req: func(*testing.T) *rawResponse {
				return w.post(g, g.kid, []byte(`{"contact":["mailto:a@example.com,b@example.com"]}`))
			}},
		{name: "account/orders list of another account", status: 403, typ: urnUnauthorized, detail: "its own orders",
			req: func(*testing.T) *rawResponse { return w.post(g, w.other.kid+"/orders", nil) }},
		{name: "account/orders list with a payload", status: 400, typ: urnMalformed, detail: "POST-as-GET",
			req: func(*testing.T) *rawResponse { return w.post(g, g.kid+"/orders", []byte(`{}`)) }},
		{name: "account/orders list with a forged cursor", status: 400, typ: urnMalformed, detail: "cursor",
			req: func(*testing.T) *rawResponse { return w.post(g, g.kid+"/orders?cursor=%27%3B--", nil) }},
	}
}

func (w *hostileWorld) keyChangeCases() []hostileCase {
	// An account of its own: a key change that wrongly succeeded would
	// otherwise change the key every later case signs with.
	g := w.roller
	u := w.base + "/key-change"
	// inner builds the inner JWS: header fields, payload fields and the
	// key that signs it.
	type innerSpec struct {
		header  map[string]any
		account string
		oldKey  json.RawMessage
		sign    signer
	}
	send := func(t *testing.T, edit func(s *innerSpec)) *rawResponse {
		newKey := newECKey(t)
		c := &rawClient{e: w.e, key: newKey}
		s := &innerSpec{
			header:  map[string]any{"alg": "ES256", "url": u, "jwk": c.jwk()},
			account: g.kid,
			oldKey:  g.jwk(),
			sign:    es256(t, newKey),
		}
		if edit != nil {
			edit(s)
		}
		payload, _ := json.Marshal(map[string]any{"account": s.account, "oldKey": s.oldKey})
		inner := headerJWS(s.header, payload, s.sign)
		return g.post(u, g.jws(g.header(u), inner))
	}
	return []hostileCase{
		{name: "keyChange/inner JWS signed by the old key", status: 400, typ: urnMalformed, detail: "inner JWS: JWS signature is invalid",
			req: func(t *testing.T) *rawResponse {
				return send(t, func(s *innerSpec) { s.sign = es256(t, g.key) })
			}},
		{name: "keyChange/inner url differs", status: 400, typ: urnMalformed, detail: "inner JWS url",
			req: func(t *testing.T) *rawResponse {
				return send(t, func(s *innerSpec) { s.header["url"] = w.base + "/new-order" })
			}},
		{name: "keyChange/inner account differs", status: 403, typ: urnUnauthorized, detail: "not the account signing",
			req: func(t *testing.T) *rawResponse {
				return send(t, func(s *innerSpec) { s.account = w.other.kid })
			}},
		{name: "keyChange/oldKey is not the account key", status: 403, typ: urnUnauthorized, detail: "not the account's current key",
			req: func(t *testing.T) *rawResponse {
				return send(t, func(s *innerSpec) { s.oldKey = w.other.jwk() })
			}},
		// RFC 8555 §7.3.5: 409 with the Location of the account holding
		// the key; Boulder's type for it is malformed.
		{name: "keyChange/new key already in use", status: 409, typ: urnMalformed, detail: "already in use",
			req: func(t *testing.T) *rawResponse {
				return send(t, func(s *innerSpec) {
					s.header["jwk"] = w.other.jwk()
					s.sign = es256(t, w.other.key)
				})
			},
			also: func(t *testing.T, r *rawResponse) {
				if r.header.Get("Location") != w.other.kid {
					t.Errorf("Location = %q, want the account holding the key %q", r.header.Get("Location"), w.other.kid)
				}
			}},
		{name: "keyChange/new key is the current key", status: 400, typ: urnMalformed, detail: "current key",
			req: func(t *testing.T) *rawResponse {
				return send(t, func(s *innerSpec) {
					s.header["jwk"] = g.jwk()
					s.sign = es256(t, g.key)
				})
			}},
		// RFC 8555 §7.3.5: "The inner JWS MUST omit the "nonce" header
		// parameter."
		{name: "keyChange/inner JWS carries a nonce", status: 400, typ: urnMalformed, detail: "nonce",
			req: func(t *testing.T) *rawResponse {
				return send(t, func(s *innerSpec) { s.header["nonce"] = g.nonce() })
			}},
		{name: "keyChange/inner alg none", status: 400, typ: urnBadSignatureAlgorithm, detail: "inner JWS",
			req: func(t *testing.T) *rawResponse {
				return send(t, func(s *innerSpec) {
					s.header["alg"] = "none"
					s.sign = func([]byte) []byte { return nil }
				})
			}},
		{name: "keyChange/inner JWS with kid instead of jwk", status: 400, typ: urnMalformed, detail: "new key in jwk",
			req: func(t *testing.T) *rawResponse {
				return send(t, func(s *innerSpec) {
					delete(s.header, "jwk")
					s.header["kid"] = g.kid
				})
			}},
		{name: "keyChange/new key is a 1024-bit RSA key", status: 400, typ: urnBadPublicKey, detail: "minimum is 2048",
			req: func(t *testing.T) *rawResponse {
				return send(t, func(s *innerSpec) {
					s.header["alg"] = "RS256"
					s.header["jwk"] = rsaJWK(forgedModulus(1024), 65537)
					s.sign = noSigner
				})
			}},
		// The new key's size is measured before go-jose would refuse to
		// parse it. The inner JWS is parsed without the directory at hand,
		// so the detail names the server's limit (4096, the default).
		{name: "keyChange/new key is an 8192-bit RSA key", status: 400, typ: urnBadPublicKey,
			detail: "inner JWS: the RSA account key's modulus is 8192 bits; the maximum is 4096",
			req: func(t *testing.T) *rawResponse {
				return send(t, func(s *innerSpec) {
					s.header["alg"] = "RS256"
					s.header["jwk"] = rsaJWK(forgedModulus(8192), 65537)
					s.sign = noSigner
				})
			}},
		{name: "keyChange/POST-as-GET", status: 400, typ: urnMalformed, detail: "needs an inner JWS",
			req: func(*testing.T) *rawResponse { return w.post(g, u, nil) }},
		{name: "keyChange/signed by jwk instead of an account", status: 400, typ: urnMalformed, detail: "named by kid",
			req: func(t *testing.T) *rawResponse {
				c := w.e.rawClient()
				return c.post(u, c.jws(c.header(u), []byte(`{}`)))
			}},
	}
}
