package acme

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// FuzzParseJWS feeds arbitrary request bodies to the JWS parser
// (parseFlattened, RFC 8555 §6.2) and, when the body carries its key in
// jwk, to the signature check. Whatever it accepts must be a flattened JWS
// whose header this package reads exactly as go-jose reads it, with an
// allowed alg, no crit/b64/x5c/x5u/jku, and a signature that the standard
// library verifies too. The seeds are real signed requests of every key
// type plus the classic hostile shapes.
func FuzzParseJWS(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseFlattened(body)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		var outer map[string]json.RawMessage
		if err := json.Unmarshal(body, &outer); err != nil {
			t.Fatalf("accepted a body that is not a JSON object: %v", err)
		}
		for k := range outer {
			if k != "protected" && k != "payload" && k != "signature" {
				t.Fatalf("accepted a JWS with member %q", k)
			}
		}
		var f flattenedJWS
		if err := json.Unmarshal(body, &f); err != nil {
			t.Fatal(err)
		}
		hdr := decodeHeaderMap(t, f.Protected)
		for _, k := range []string{"crit", "b64", "x5c", "x5u", "jku"} {
			if _, ok := hdr[k]; ok {
				t.Fatalf("accepted a protected header with %q", k)
			}
		}
		if !algAllowed(p.header.Alg) {
			t.Fatalf("accepted alg %q", p.header.Alg)
		}
		// The header this package acts on (alg, kid, jwk, nonce, url) must
		// be the one go-jose verifies, and the one a case-sensitive reader
		// of the JSON (RFC 7515 §4: names are case-sensitive) sees.
		jh := p.jws.Signatures[0].Protected
		if string(jh.Algorithm) != p.header.Alg || jh.KeyID != p.header.KID || jh.Nonce != p.header.Nonce {
			t.Fatalf("header read differently: ours alg=%q kid=%q nonce=%q, go-jose alg=%q kid=%q nonce=%q",
				p.header.Alg, p.header.KID, p.header.Nonce, jh.Algorithm, jh.KeyID, jh.Nonce)
		}
		if u, _ := jh.ExtraHeaders["url"].(string); u != p.header.URL {
			t.Fatalf("url read differently: ours %q, go-jose %q", p.header.URL, u)
		}
		for _, m := range []struct{ name, ours string }{{"alg", p.header.Alg}, {"kid", p.header.KID}, {"url", p.header.URL}, {"nonce", p.header.Nonce}} {
			// Absent and null read as "", as do "" itself.
			v, _ := hdr[m.name].(string)
			if hdr[m.name] != nil && hdr[m.name] != v {
				t.Fatalf("accepted a non-string %s: %v", m.name, hdr[m.name])
			}
			if v != m.ours {
				t.Fatalf("header member %s read as %q, the JSON has %q (%v)", m.name, m.ours, v, hdr)
			}
		}
		if (p.jwk != nil) != (jh.JSONWebKey != nil) {
			t.Fatalf("jwk present for us: %v, for go-jose: %v", p.jwk != nil, jh.JSONWebKey != nil)
		}
		if _, ok := hdr["jwk"]; ok != (p.jwk != nil) {
			t.Fatalf("jwk member present: %v, key parsed: %v", ok, p.jwk != nil)
		}
		if p.jwk == nil {
			return
		}
		if a, b := mustThumb(t, p.jwk), mustThumb(t, jh.JSONWebKey); a != b {
			t.Fatalf("jwk read differently: thumbprint %s vs go-jose %s", a, b)
		}
		if !p.jwk.IsPublic() {
			t.Fatal("accepted a private jwk")
		}
		payload, verr := p.verifyWith(p.jwk)
		sig, serr := base64.RawURLEncoding.DecodeString(f.Signature)
		std := serr == nil && stdVerify(p.jwk.Key, p.header.Alg, []byte(f.Protected+"."+f.Payload), sig)
		if (verr == nil) != std {
			t.Fatalf("signature verdicts differ: go-jose error %v, standard library valid %v", verr, std)
		}
		if verr != nil {
			checkRefusal(t, verr)
			return
		}
		want, err := base64.RawURLEncoding.DecodeString(f.Payload)
		if err != nil || !bytes.Equal(payload, want) {
			t.Fatalf("verified payload %q is not the payload member %q (%v)", payload, f.Payload, err)
		}
	})
}

func decodeHeaderMap(t *testing.T, protected string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(protected)
	if err != nil {
		t.Fatalf("accepted a protected header that is not base64url: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("accepted a protected header that is not a JSON object: %v", err)
	}
	return m
}

func mustThumb(t *testing.T, k *jose.JSONWebKey) string {
	t.Helper()
	tp, err := thumbprint(k)
	if err != nil {
		t.Fatalf("thumbprint of an accepted key: %v", err)
	}
	return tp
}

// checkRefusal asserts that a refusal of client input is a client error
// problem: never a server fault, never a bare error.
func checkRefusal(t *testing.T, err error) *Problem {
	t.Helper()
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("refusal is not a problem document: %v", err)
	}
	if p.Status < 400 || p.Status >= 500 {
		t.Fatalf("refusal of client input has status %d: %v", p.Status, p)
	}
	if !strings.HasPrefix(string(p.Type), "urn:ietf:params:acme:error:") {
		t.Fatalf("problem type %q", p.Type)
	}
	return p
}

// The JWS entry points FuzzVerifyJWS drives, with the URL each is for.
var verifyEntries = []struct {
	name string
	path string
}{{"postForAccount", "/new-order"}, {"selfAuthenticatedPOST", "/new-account"}, {"postForAccountOrKey", "/revoke-cert"}}

// FuzzVerifyJWS drives the three JWS entry points (RFC 8555 §6.2–6.5) of a
// real server with requests the harness signs itself: the fuzzer chooses
// the entry point, the key (RSA, P-256/384/521, Ed25519), whether the
// header names it by kid, jwk, both or neither, the alg claimed, the url
// and nonce, extra header members, the payload, and one byte to change in
// the encoded protected header, payload or signature after signing.
//
// Invariants: a correct request is accepted; anything accepted was not
// altered after signing, has exactly one of jwk and kid, the alg of its key
// from the allow-list, a signature the standard library verifies, the
// request's url and a fresh nonce that cannot be used again; every refusal
// is a 4xx problem.
func FuzzVerifyJWS(f *testing.F) {
	fs := newFuzzServer(f, DirectorySettings{})
	keys := newFuzzKeys(f)
	kids := make([]string, len(keys))
	for i, k := range keys {
		kids[i] = fs.newAccount(f, k)
	}
	d := fs.directory(f)
	f.Fuzz(func(t *testing.T, entry, keyMode uint8, alg string, urlMode uint8, extra string, payload []byte, target uint8, pos uint16, flip uint8) {
		ctx := context.Background()
		ei := int(entry) % len(verifyEntries)
		ki := int(keyMode) % len(keys)
		k := keys[ki]
		hdrMode := int(keyMode) / len(keys) % 4 // 0 kid, 1 jwk, 2 both, 3 neither
		reqURL := fs.url(verifyEntries[ei].path)

		signedURL := reqURL
		switch urlMode % 4 {
		case 1:
			signedURL = strings.Replace(reqURL, "/acme/default/", "/acme/other/", 1)
		case 2:
			signedURL = ""
		case 3:
			signedURL = reqURL + "/"
		}
		nonce := fs.s.nonces.New()
		switch urlMode / 4 % 3 {
		case 1:
			nonce = ""
		case 2:
			if err := fs.s.nonces.Redeem(ctx, nonce); err != nil {
				t.Fatal(err)
			}
		}
		claimed := k.alg
		if alg != "" {
			claimed = alg
		}
		var hb strings.Builder
		hb.WriteString(`{"alg":` + jsonString(t, claimed))
		if nonce != "" {
			hb.WriteString(`,"nonce":` + jsonString(t, nonce))
		}
		if signedURL != "" {
			hb.WriteString(`,"url":` + jsonString(t, signedURL))
		}
		if hdrMode == 0 || hdrMode == 2 {
			hb.WriteString(`,"kid":` + jsonString(t, kids[ki]))
		}
		if hdrMode == 1 || hdrMode == 2 {
			hb.WriteString(`,"jwk":` + string(k.jwkJSON(t)))
		}
		hb.WriteString(extra + "}")

		prot, pl := b64([]byte(hb.String())), b64(payload)
		sigBytes := k.sign(t, []byte(prot+"."+pl))
		sig := b64(sigBytes)
		mutated := true
		switch target % 4 {
		case 0:
			mutated = false
		case 1:
			prot = flipByte(prot, pos, flip)
		case 2:
			pl = flipByte(pl, pos, flip)
		case 3:
			sig = flipByte(sig, pos, flip)
		}
		r := joseRequest(reqURL, flattenedOf(t, prot, pl, sig))

		var ar *authedRequest
		var err error
		switch ei {
		case 0:
			ar, err = fs.s.postForAccount(r, d)
		case 1:
			ar, _, err = fs.s.selfAuthenticatedPOST(r, d)
		case 2:
			ar, err = fs.s.postForAccountOrKey(r, d)
		}

		payloadOK := len(payload) == 0 || (json.Valid(payload) && bytes.TrimSpace(payload)[0] == '{')
		keyOK := (ei == 0 && hdrMode == 0) || (ei == 1 && hdrMode == 1) || (ei == 2 && hdrMode < 2)
		correct := !mutated && keyOK && urlMode%4 == 0 && urlMode/4%3 == 0 && extra == "" && claimed == k.alg && payloadOK
		if err != nil {
			p := checkRefusal(t, err)
			if correct {
				t.Fatalf("%s refused a correct request signed with %s: %v", verifyEntries[ei].name, k.name, p)
			}
			return
		}

		if mutated {
			t.Fatalf("%s accepted a request altered after signing (target %d, position %d)", verifyEntries[ei].name, target%4, pos)
		}
		hdr := decodeHeaderMap(t, prot)
		_, hasKID := hdr["kid"]
		_, hasJWK := hdr["jwk"]
		if hasKID == hasJWK {
			t.Fatalf("accepted a header with kid %v and jwk %v: %s", hasKID, hasJWK, hb.String())
		}
		if a, _ := hdr["alg"].(string); a != k.alg || !algAllowed(a) {
			t.Fatalf("accepted alg %q for a %s key", hdr["alg"], k.name)
		}
		if !stdVerify(ar.JWK.Key, k.alg, []byte(prot+"."+pl), sigBytes) {
			t.Fatal("accepted a signature the standard library does not verify with the returned key")
		}
		if ar.JWK == nil || mustThumb(t, ar.JWK) != k.thumbprint(t) {
			t.Fatal("the returned key is not the signing key")
		}
		if u, _ := hdr["url"].(string); u != reqURL || ar.URL != reqURL {
			t.Fatalf("accepted url %q (authed %q) for request URL %q", hdr["url"], ar.URL, reqURL)
		}
		if n, _ := hdr["nonce"].(string); n != nonce || nonce == "" {
			t.Fatalf("accepted nonce %q, the fresh one was %q", hdr["nonce"], nonce)
		}
		if err := fs.s.nonces.Redeem(ctx, nonce); err == nil {
			t.Fatal("the nonce of an accepted request can be redeemed again")
		}
		if !bytes.Equal(ar.Payload, payload) || ar.PostAsGet != (len(payload) == 0) {
			t.Fatalf("payload %q (post-as-get %v), signed %q", ar.Payload, ar.PostAsGet, payload)
		}
		switch {
		case ar.Account != nil:
			if ei == 1 || !hasKID || ar.Account.ID != strings.TrimPrefix(kids[ki], fs.url("/account/")) {
				t.Fatalf("%s authenticated account %s for key %s", verifyEntries[ei].name, ar.Account.ID, k.name)
			}
		case ei == 0 || !hasJWK:
			t.Fatalf("%s accepted a request without an account", verifyEntries[ei].name)
		}
	})
}

// flipByte changes the character pos places from the end (modulo the
// length) of s, so the result always differs from s. Counting from the end
// puts the last characters, where base64 keeps its spare bits, at the small
// positions fuzzers try first. A flip below 0x80 xors the character's
// base64url value with flip (1 when that is 0), which keeps it in the
// alphabet and makes spare-bit changes independent of the signature bytes;
// a flip from 0x80 xors the byte itself, which may leave the alphabet.
func flipByte(s string, pos uint16, flip uint8) string {
	if s == "" {
		return "A"
	}
	b := []byte(s)
	i := len(b) - 1 - int(pos)%len(b)
	if flip >= 0x80 {
		b[i] ^= flip
		return string(b)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	v := strings.IndexByte(alphabet, b[i])
	if v < 0 {
		b[i] ^= 1
		return string(b)
	}
	x := int(flip) & 0x3f
	if x == 0 {
		x = 1
	}
	b[i] = alphabet[v^x]
	return string(b)
}

func jsonString(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
