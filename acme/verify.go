package acme

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"mime"
	"net/http"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmegate/acmegate/storage"
)

// Every rule of RFC 8555 §6.2–6.5 for a JWS-authenticated request lives in
// this file, behind three entry points that return a typed authedRequest:
//
//   - postForAccount: signed with an account key named by "kid".
//   - selfAuthenticatedPOST: signed with the key in "jwk" (newAccount).
//   - postForAccountOrKey: either (revokeCert, RFC 8555 §7.6).

// accountAlgs are the signature algorithms accepted for account keys
// (RFC 8555 §6.2; HS* only ever inside External Account Binding).
var accountAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

func accountAlgNames() []string {
	names := make([]string, len(accountAlgs))
	for i, a := range accountAlgs {
		names[i] = string(a)
	}
	return names
}

// authedRequest is a verified ACME POST.
type authedRequest struct {
	// URL is the request URL the client signed.
	URL string
	// Directory is the directory the request was addressed to.
	Directory string
	// Account is the authenticated account for kid requests; nil for jwk.
	Account *storage.Account
	// JWK is the key that signed the request.
	JWK *jose.JSONWebKey
	// Payload is the verified payload; empty for POST-as-GET.
	Payload []byte
	// PostAsGet is true when the payload is the empty string (RFC 8555 §6.3).
	PostAsGet bool
}

// flattenedJWS is the RFC 7515 §7.2.2 flattened JSON serialization, the only
// one RFC 8555 §6.2 allows.
type flattenedJWS struct {
	Protected string `json:"protected"`
	Payload   string `json:"payload"`
	Signature string `json:"signature"`
}

// protectedHeader holds the RFC 8555 §6.2 fields of a protected header.
type protectedHeader struct {
	Alg   string          `json:"alg"`
	Nonce string          `json:"nonce"`
	URL   string          `json:"url"`
	KID   string          `json:"kid"`
	JWK   json.RawMessage `json:"jwk"`
}

// parsedJWS is a JWS whose structure and protected header are well formed
// but whose signature is not yet verified.
type parsedJWS struct {
	raw    []byte
	header protectedHeader
	jws    *jose.JSONWebSignature
	jwk    *jose.JSONWebKey // embedded key, when the header has one
}

// parseFlattened checks the serialization and the protected header of a JWS
// without looking at nonce, url or the signing key.
func parseFlattened(body []byte) (*parsedJWS, error) {
	fields, err := jsonMembers(body)
	if err != nil {
		return nil, Malformed("request body is not a JSON object: %v", err)
	}
	// RFC 8555 §6.2: flattened JSON serialization only, no unprotected
	// header, exactly one signature.
	for _, m := range fields {
		switch m.name {
		case "protected", "payload", "signature":
		case "signatures":
			return nil, Malformed("JWS must use the flattened JSON serialization, not the general one")
		case "header":
			return nil, Malformed("JWS must not have an unprotected header")
		default:
			return nil, Malformed("JWS has an unexpected member %q", truncate(m.name, 32))
		}
	}
	// What json.Unmarshal(body, &f) did, by exact name: the members are only
	// these three, so its case-insensitive matching could not pick another.
	var f flattenedJWS
	for _, m := range []struct {
		name string
		dst  *string
	}{{"protected", &f.Protected}, {"payload", &f.Payload}, {"signature", &f.Signature}} {
		if raw, ok := fields.get(m.name); ok {
			if err := unmarshalString(raw, m.dst); err != nil {
				return nil, Malformed("JWS members must be strings: %v", err)
			}
		}
	}
	if _, ok := fields.get("payload"); !ok {
		return nil, Malformed("JWS has no payload member")
	}
	if f.Protected == "" {
		return nil, Malformed("JWS has no protected header")
	}
	hdrJSON, err := decodeBase64URL(f.Protected)
	if err != nil {
		return nil, Malformed("JWS protected header is not base64url: %v", err)
	}
	hdrFields, err := jsonMembers(hdrJSON)
	if err != nil {
		return nil, Malformed("JWS protected header is not a JSON object: %v", err)
	}
	for _, k := range []string{"x5c", "x5u", "jku", "crit", "b64"} {
		// RFC 7515 §4.1.11: a crit this server does not understand must be
		// refused; ACME defines none. Certificate-carried keys are refused
		// so the only key material is jwk or an account's stored key.
		if _, ok := hdrFields.get(k); ok {
			return nil, Malformed("JWS protected header must not contain %q", k)
		}
	}
	h, err := readProtectedHeader(hdrFields)
	if err != nil {
		return nil, err
	}
	if h.Alg == "" {
		return nil, Malformed("JWS protected header has no alg")
	}
	if !algAllowed(h.Alg) {
		// RFC 8555 §6.2: none and MAC algorithms are refused; the problem
		// lists what is accepted.
		p := BadSignatureAlgorithm("JWS algorithm %q is not accepted; use one of %s", truncate(h.Alg, 16), strings.Join(accountAlgNames(), ", "))
		p.Algorithms = accountAlgNames()
		return nil, p
	}
	if f.Signature == "" {
		return nil, Malformed("JWS has no signature")
	}
	if _, err := decodeBase64URL(f.Payload); err != nil {
		return nil, Malformed("JWS payload is not base64url: %v", err)
	}
	if _, err := decodeBase64URL(f.Signature); err != nil {
		return nil, Malformed("JWS signature is not base64url: %v", err)
	}
	if k := oversizedRSAJWK(h.JWK); k != nil {
		// go-jose would refuse the key as unsupported and the client would
		// only learn that its JWS could not be parsed.
		return nil, &rsaJWKTooLarge{key: k, problem: BadPublicKey(
			"JWS jwk is an RSA key whose modulus is %d bits; the maximum is %d, the largest RSA key this server can verify a signature with",
			k.N.BitLen(), jose.MaxRSAModulusBits)}
	}
	jws, err := jose.ParseSignedJSON(string(body), accountAlgs)
	if err != nil {
		return nil, Malformed("JWS could not be parsed: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, Malformed("JWS must have exactly one signature")
	}
	pj := &parsedJWS{raw: body, header: h, jws: jws}
	if len(h.JWK) > 0 {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(h.JWK); err != nil {
			return nil, Malformed("JWS jwk is not a valid JSON Web Key: %v", err)
		}
		if !k.Valid() || !k.IsPublic() {
			return nil, BadPublicKey("JWS jwk must be a valid public key")
		}
		pj.jwk = &k
	}
	return pj, nil
}

// jsonMember is one member of a JSON object.
type jsonMember struct {
	// name is the member name after JSON unescaping ("\u0061lg" is "alg"),
	// the name go-jose and encoding/json see.
	name string
	// value is the member's JSON value as it appears in the input, without
	// the surrounding whitespace. It aliases the input.
	value []byte
}

// jsonObject is the members of a JSON object in document order.
type jsonObject []jsonMember

// get returns the raw value of the member named exactly name.
func (o jsonObject) get(name string) ([]byte, bool) {
	for _, m := range o {
		if m.name == name {
			return m.value, true
		}
	}
	return nil, false
}

// jsonMembers returns the members of a JSON object by their exact names,
// refusing an object that names a member twice. RFC 7515 §4 makes header
// parameter names case-sensitive and lets a parser either refuse duplicates
// or take the last one; encoding/json takes the last one and also matches
// struct fields case-insensitively, while go-jose matches exactly. Refusing
// duplicates and reading members by exact name leaves one reading of the
// header, the one go-jose verifies.
//
// Names are compared after unescaping, as go-jose and encoding/json read
// them: "\u0061lg" and "alg" are the same member, so naming both is a
// duplicate. Only the top-level object is checked; nested values may repeat
// names (jwk is handed whole to go-jose). b must be exactly one JSON object,
// with optional surrounding whitespace.
//
// It accepts exactly what the encoding/json Decoder token loop it replaces
// accepted (verify_members_test.go keeps that loop as the reference and
// compares the two): a hand-written scanner walks the top-level object in
// one pass. Strings, numbers and literals are validated here, ending where
// the Decoder's scanner ended them; an array or object value is delimited
// by bracket depth and then checked with json.Valid, whose scanner is the
// one the Decoder used (same grammar, same 10000-level nesting limit per
// value). Nothing recurses, so deep nesting cannot exhaust the stack.
func jsonMembers(b []byte) (jsonObject, error) {
	i := skipJSONSpace(b, 0)
	if i == len(b) || b[i] != '{' {
		return nil, errors.New("not a JSON object")
	}
	i = skipJSONSpace(b, i+1)
	members := make(jsonObject, 0, 8)
	// Names seen so far, once there are too many for a linear search to be
	// cheap: a hostile object of thousands of members stays linear.
	var seen map[string]struct{}
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i == len(b) {
				return nil, errors.New("unexpected end of JSON input")
			}
			if b[i] != '"' {
				return nil, fmt.Errorf("invalid character %q at offset %d, want a member name", b[i], i)
			}
			end, plain := scanJSONString(b, i)
			if end < 0 {
				return nil, fmt.Errorf("invalid member name at offset %d", i)
			}
			var name string
			if plain {
				name = memberName(b[i+1 : end-1])
			} else {
				n, err := unquoteJSON(b[i:end])
				if err != nil {
					return nil, fmt.Errorf("invalid member name at offset %d: %w", i, err)
				}
				name = n
			}
			i = skipJSONSpace(b, end)
			if i == len(b) || b[i] != ':' {
				return nil, fmt.Errorf("member %q has no value", truncate(name, 32))
			}
			i = skipJSONSpace(b, i+1)
			vend, err := scanJSONValue(b, i)
			if err != nil {
				return nil, fmt.Errorf("member %q: %w", truncate(name, 32), err)
			}
			if seen == nil {
				for _, m := range members {
					if m.name == name {
						return nil, fmt.Errorf("member %q appears twice", truncate(name, 32))
					}
				}
				if len(members) == 16 {
					seen = make(map[string]struct{}, 2*len(members))
					for _, m := range members {
						seen[m.name] = struct{}{}
					}
					seen[name] = struct{}{}
				}
			} else {
				if _, dup := seen[name]; dup {
					return nil, fmt.Errorf("member %q appears twice", truncate(name, 32))
				}
				seen[name] = struct{}{}
			}
			members = append(members, jsonMember{name: name, value: b[i:vend]})
			i = skipJSONSpace(b, vend)
			if i < len(b) && b[i] == ',' {
				i = skipJSONSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == '}' {
				i++
				break
			}
			if i == len(b) {
				return nil, errors.New("unexpected end of JSON input")
			}
			return nil, fmt.Errorf("invalid character %q at offset %d after a member", b[i], i)
		}
	}
	if skipJSONSpace(b, i) != len(b) {
		return nil, errors.New("data after the JSON object")
	}
	return members, nil
}

// unquoteJSON decodes the valid JSON string raw the way the Decoder did:
// escapes resolved, invalid UTF-8 and lone surrogates replaced by U+FFFD.
// It is a function of its own so that only names that need it pay for the
// heap-allocated destination json.Unmarshal requires.
func unquoteJSON(raw []byte) (string, error) {
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// memberName returns the member name raw (plain ASCII, no escapes) as a
// string, without allocating for the names a JWS is made of.
func memberName(raw []byte) string {
	// The compiler compares string(raw) in a switch without converting it.
	switch string(raw) {
	case "protected":
		return "protected"
	case "payload":
		return "payload"
	case "signature":
		return "signature"
	case "alg":
		return "alg"
	case "nonce":
		return "nonce"
	case "url":
		return "url"
	case "kid":
		return "kid"
	case "jwk":
		return "jwk"
	}
	return string(raw)
}

// skipJSONSpace returns the index of the first byte at or after i that is
// not JSON whitespace (RFC 8259 §2), or len(b).
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanJSONString validates the JSON string that starts with the quote at
// b[i] and returns the index just after its closing quote, or -1 when it is
// not a valid string. It accepts what encoding/json's scanner accepts: no
// control characters, only the RFC 8259 §7 escapes, any other byte
// (invalid UTF-8 too, which decoding replaces with U+FFFD). plain reports
// that the string is printable ASCII without escapes, so its contents are
// its value.
func scanJSONString(b []byte, i int) (end int, plain bool) {
	plain = true
	for i++; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, plain
		case c < 0x20:
			return -1, false
		case c >= 0x80:
			plain = false
		case c == '\\':
			plain = false
			i++
			if i == len(b) {
				return -1, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHexDigit(h) {
						return -1, false
					}
				}
				i += 4
			default:
				return -1, false
			}
		}
	}
	return -1, false
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanJSONValue validates the JSON value that starts at b[i] and returns
// the index just after it.
func scanJSONValue(b []byte, i int) (int, error) {
	if i == len(b) {
		return 0, errors.New("unexpected end of JSON input")
	}
	var end int
	switch b[i] {
	case '"':
		// The string scanner validates completely; the common case (every
		// JWS member and header field but jwk) needs no second pass.
		if end, _ = scanJSONString(b, i); end < 0 {
			return 0, fmt.Errorf("invalid string at offset %d", i)
		}
		return end, nil
	case '{', '[':
		// Find the matching bracket by depth, skipping strings; json.Valid
		// then checks the grammar. Valid JSON closes exactly there, so a
		// wrong end only ever comes with a value json.Valid refuses.
		depth := 0
		for end = i; ; end++ {
			if end == len(b) {
				return 0, errors.New("unexpected end of JSON input")
			}
			switch b[end] {
			case '"':
				e, _ := scanJSONString(b, end)
				if e < 0 {
					return 0, fmt.Errorf("invalid string at offset %d", end)
				}
				end = e - 1
				continue
			case '{', '[':
				depth++
				continue
			case '}', ']':
				depth--
			default:
				continue
			}
			if depth == 0 {
				end++
				break
			}
		}
	case 't':
		return scanJSONLiteral(b, i, "true")
	case 'f':
		return scanJSONLiteral(b, i, "false")
	case 'n':
		return scanJSONLiteral(b, i, "null")
	default:
		return scanJSONNumber(b, i)
	}
	if !json.Valid(b[i:end]) {
		return 0, fmt.Errorf("invalid JSON value at offset %d", i)
	}
	return end, nil
}

// scanJSONLiteral checks that b holds lit at i and returns the index after
// it. Like the Decoder, it ends the value there whatever follows, so
// "truex" fails on the x as a missing comma.
func scanJSONLiteral(b []byte, i int, lit string) (int, error) {
	if !bytes.HasPrefix(b[i:], []byte(lit)) {
		if len(b)-i < len(lit) && bytes.HasPrefix([]byte(lit), b[i:]) {
			return 0, errors.New("unexpected end of JSON input")
		}
		return 0, fmt.Errorf("invalid JSON value at offset %d", i)
	}
	return i + len(lit), nil
}

// scanJSONNumber scans the RFC 8259 §6 number at b[i] and returns the index
// after it. Like encoding/json's scanner, it ends the number at the first
// byte that cannot continue it ("01" is the number 0 followed by a stray
// 1) and fails on one that must (a digit after "-", "." or the exponent).
func scanJSONNumber(b []byte, i int) (int, error) {
	start := i
	digits := func() bool {
		n := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i > n
	}
	bad := func() (int, error) {
		if i == len(b) {
			return 0, errors.New("unexpected end of JSON input")
		}
		return 0, fmt.Errorf("invalid JSON value at offset %d", start)
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		digits()
	default:
		return bad()
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return bad()
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return bad()
		}
	}
	return i, nil
}

// decodeBase64URL decodes a JWS member, which must be base64url without
// padding (RFC 7515 §2) in its one canonical spelling. Go's decoder also
// accepts non-zero spare bits in the last character and skips CR and LF,
// so a signature or MAC has many spellings, and go-jose verifies over its
// own re-encoding of the protected header and payload it decoded: without
// this check a request altered in those places after signing would still
// verify (found by FuzzVerifyJWS and FuzzEAB).
//
// The canonical spelling is checked on the input rather than by encoding
// the result again, which cost two allocations per member:
// verify_base64_test.go compares the two.
func decodeBase64URL(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	// Each CR or LF the decoder skipped makes s longer than the data it
	// holds, by enough to change the decoded length: one line break in a
	// 4k+1-character input, the only exception, leaves 4k data characters
	// and is caught below as a length of 1 mod 4.
	if len(b) != base64.RawURLEncoding.DecodedLen(len(s)) {
		return nil, errNotCanonical
	}
	// Unpadded, the last group of 2 or 3 characters carries 1 or 2 bytes;
	// the low 4 or 2 bits of its last character are spare and must be
	// zero. A single leftover character is never valid base64 (the decoder
	// refuses it unless a skipped line break hides it).
	var spare byte
	switch len(s) % 4 {
	case 1:
		return nil, errNotCanonical
	case 2:
		spare = 0x0f
	case 3:
		spare = 0x03
	}
	if spare != 0 && base64URLValue(s[len(s)-1])&spare != 0 {
		return nil, errNotCanonical
	}
	return b, nil
}

// errNotCanonical is decodeBase64URL's refusal of a valid but
// non-canonical encoding.
var errNotCanonical = errors.New("not in canonical form (spare bits set or line breaks)")

// base64URLValue is the 6-bit value of c, a character of the base64url
// alphabet (RFC 4648 §5).
func base64URLValue(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A'
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26
	case '0' <= c && c <= '9':
		return c - '0' + 52
	case c == '-':
		return 62
	}
	return 63 // '_', the only other character a successful decode leaves
}

// rsaJWKTooLarge refuses a jwk holding an RSA key larger than go-jose
// parses (jose.MaxRSAModulusBits). It is a badPublicKey problem naming
// that limit; a caller that knows the directory restates it with the
// directory's account key policy (accountKeyProblem), whose limit may be
// lower.
type rsaJWKTooLarge struct {
	problem *Problem
	key     *rsa.PublicKey
}

func (e *rsaJWKTooLarge) Error() string { return e.problem.Error() }
func (e *rsaJWKTooLarge) Unwrap() error { return e.problem }

// oversizedRSAJWK returns the RSA public key in the jwk raw when its
// modulus is larger than go-jose parses, nil otherwise. It reads n as
// go-jose does (base64url, leading zero bytes and skipped line breaks
// not counting), so it finds exactly the keys go-jose would refuse for
// their size. A jwk this function cannot read is left to go-jose, which
// refuses it too. E is 0 when e is not a usable exponent: the policy
// refuses the key for its size before it looks at e.
func oversizedRSAJWK(raw []byte) *rsa.PublicKey {
	// Decoded, n is at most 3/4 of its JSON text: a jwk too short to hold
	// the encoding of a larger modulus needs no look (every ECDSA and
	// Ed25519 key, RSA keys up to about 3900 bits).
	if len(raw) <= base64.RawURLEncoding.EncodedLen(jose.MaxRSAModulusBits/8) {
		return nil
	}
	members, err := jsonMembers(raw)
	if err != nil {
		return nil
	}
	var kty, n, e string
	for _, m := range []struct {
		name string
		dst  *string
	}{{"kty", &kty}, {"n", &n}, {"e", &e}} {
		if v, ok := members.get(m.name); ok {
			if err := unmarshalString(v, m.dst); err != nil {
				return nil
			}
		}
	}
	if kty != "RSA" {
		return nil
	}
	nb, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil {
		return nil
	}
	key := &rsa.PublicKey{N: new(big.Int).SetBytes(nb)}
	if key.N.BitLen() <= jose.MaxRSAModulusBits {
		return nil
	}
	if eb, err := base64.RawURLEncoding.DecodeString(e); err == nil {
		if ev := new(big.Int).SetBytes(eb); ev.IsInt64() && ev.Int64() <= math.MaxInt {
			key.E = int(ev.Int64())
		}
	}
	return key
}

// accountKeyProblem restates the refusal of an RSA jwk too large for
// go-jose when the jwk is an account key (newAccount, keyChange's new
// key): directory d's account key policy refuses it with its own detail,
// which names the directory's maximum (AccountRSAMaxBits, at most
// go-jose's) or its refusal of RSA keys. Any other error is returned as
// it is.
func accountKeyProblem(d *directory, err error) error {
	var tooLarge *rsaJWKTooLarge
	if errors.As(err, &tooLarge) {
		if perr := d.policy.GoodAccountKey(tooLarge.key); perr != nil {
			return policyProblem(perr)
		}
	}
	return err
}

// readProtectedHeader reads the RFC 8555 §6.2 members of a protected header
// by their exact names.
func readProtectedHeader(fields jsonObject) (protectedHeader, error) {
	var h protectedHeader
	for _, m := range []struct {
		name string
		dst  *string
	}{{"alg", &h.Alg}, {"nonce", &h.Nonce}, {"url", &h.URL}, {"kid", &h.KID}} {
		if raw, ok := fields.get(m.name); ok {
			if err := unmarshalString(raw, m.dst); err != nil {
				return h, Malformed("JWS protected header member %q must be a string", m.name)
			}
		}
	}
	h.JWK, _ = fields.get("jwk")
	return h, nil
}

// unmarshalString is json.Unmarshal(raw, dst) for a valid JSON value raw:
// a string is stored, null leaves dst alone, anything else is an error. A
// plain ASCII string without escapes, which is every base64url member, is
// read without reflection.
func unmarshalString(raw []byte, dst *string) error {
	if len(raw) >= 2 && raw[0] == '"' {
		if end, plain := scanJSONString(raw, 0); plain && end == len(raw) {
			*dst = string(raw[1 : len(raw)-1])
			return nil
		}
	}
	return json.Unmarshal(raw, dst)
}

func algAllowed(alg string) bool {
	for _, a := range accountAlgs {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// verifyWith checks the signature with key and that the key's type fits the
// header's alg, and returns the payload.
func (p *parsedJWS) verifyWith(key *jose.JSONWebKey) ([]byte, error) {
	payload, err := p.jws.Verify(key)
	if err != nil {
		return nil, Malformed("JWS signature is invalid: %v", err)
	}
	return payload, nil
}

// readJWS applies the transport rules and parses the body.
func (s *Server) readJWS(r *http.Request) (*parsedJWS, error) {
	// RFC 8555 §6.2: Content-Type must be application/jose+json.
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/jose+json" {
		p := Malformed("Content-Type must be application/jose+json, got %q", truncate(r.Header.Get("Content-Type"), 64))
		p.Status = http.StatusUnsupportedMediaType
		return nil, p
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			p := Malformed("request body is larger than %d bytes", mbe.Limit)
			p.Status = http.StatusRequestEntityTooLarge
			return nil, p
		}
		return nil, Malformed("reading request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, Malformed("request body is empty; ACME requests are JWS objects")
	}
	return parseFlattened(body)
}

// checkURLAndNonce enforces RFC 8555 §6.4 (url) and §6.5 (nonce). It runs
// after the signature is verified so a forged request cannot burn nonces.
func (s *Server) checkURLAndNonce(r *http.Request, p *parsedJWS) error {
	want := s.requestURL(r)
	if p.header.URL == "" {
		return Malformed("JWS protected header has no url")
	}
	if p.header.URL != want {
		return Unauthorized("JWS url %q does not match the request URL %q", truncate(p.header.URL, 256), want)
	}
	if p.header.Nonce == "" {
		s.metrics.nonce(false)
		return BadNonce("JWS protected header has no nonce")
	}
	if err := s.nonces.Redeem(r.Context(), p.header.Nonce); err != nil {
		if errors.Is(err, errBadNonce) {
			s.metrics.nonce(false)
			return BadNonce("%s", strings.TrimPrefix(err.Error(), errBadNonce.Error()+": "))
		}
		return err
	}
	s.metrics.nonce(true)
	return nil
}

// payload interprets the verified payload: empty string is POST-as-GET,
// anything else must be a JSON object.
func splitPayload(payload []byte) (postAsGet bool, err error) {
	if len(payload) == 0 {
		return true, nil
	}
	if !json.Valid(payload) || bytes.TrimSpace(payload)[0] != '{' {
		return false, Malformed("JWS payload must be a JSON object or empty (POST-as-GET)")
	}
	return false, nil
}

// postForAccount verifies a request signed by an existing, valid account of
// the request's directory, named by kid.
func (s *Server) postForAccount(r *http.Request, d *directory) (*authedRequest, error) {
	p, err := s.readJWS(r)
	if err != nil {
		return nil, err
	}
	if p.jwk != nil || p.header.KID == "" {
		return nil, Malformed("this request must be signed with an account key named by kid, without jwk")
	}
	return s.verifyKID(r, d, p)
}

func (s *Server) verifyKID(r *http.Request, d *directory, p *parsedJWS) (*authedRequest, error) {
	dir := d.name
	if p.jwk != nil {
		return nil, Malformed("JWS must have exactly one of jwk and kid")
	}
	acct, key, payload, err := s.verifyAccountSignature(r.Context(), dir, p)
	if err != nil {
		return nil, err
	}
	if err := s.checkURLAndNonce(r, p); err != nil {
		return nil, err
	}
	pag, err := splitPayload(payload)
	if err != nil {
		return nil, err
	}
	return &authedRequest{URL: p.header.URL, Directory: dir, Account: acct, JWK: key, Payload: payload, PostAsGet: pag}, nil
}

// verifyAccountSignature finds the valid account of directory dir that kid
// names and checks the JWS signature with its key; it returns the account,
// its key and the verified payload. It leaves url and nonce to the caller.
func (s *Server) verifyAccountSignature(ctx context.Context, dir string, p *parsedJWS) (*storage.Account, *jose.JSONWebKey, []byte, error) {
	id, err := s.accountIDFromKID(dir, p.header.KID)
	if err != nil {
		return nil, nil, nil, err
	}
	// From the account cache when it has the account: a deactivation or a
	// key change made anywhere drops it (accountcache.go).
	acct, key, err := s.lookupAccount(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && acct.Directory != dir) {
		return nil, nil, nil, AccountDoesNotExist("no account %q in this directory", truncate(p.header.KID, 256))
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("look up account: %w", err)
	}
	payload, err := p.verifyWith(key)
	if err != nil {
		return nil, nil, nil, err
	}
	// RFC 8555 §7.3.6: a deactivated account's requests are refused.
	if acct.Status != storage.StatusValid {
		return nil, nil, nil, Unauthorized("account is %s", acct.Status)
	}
	return acct, key, payload, nil
}

// selfAuthenticatedPOST verifies a request signed by the key it carries in
// jwk (newAccount, RFC 8555 §7.3).
func (s *Server) selfAuthenticatedPOST(r *http.Request, d *directory) (*authedRequest, *parsedJWS, error) {
	p, err := s.readJWS(r)
	if err != nil {
		return nil, nil, accountKeyProblem(d, err)
	}
	ar, err := s.verifyJWK(r, d, p)
	return ar, p, err
}

func (s *Server) verifyJWK(r *http.Request, d *directory, p *parsedJWS) (*authedRequest, error) {
	dir := d.name
	if p.jwk == nil || p.header.KID != "" {
		return nil, Malformed("this request must be signed with the key given in jwk, without kid")
	}
	if err := d.policy.GoodAccountKey(p.jwk.Key); err != nil {
		return nil, policyProblem(err)
	}
	payload, err := p.verifyWith(p.jwk)
	if err != nil {
		return nil, err
	}
	if err := s.checkURLAndNonce(r, p); err != nil {
		return nil, err
	}
	pag, err := splitPayload(payload)
	if err != nil {
		return nil, err
	}
	return &authedRequest{URL: p.header.URL, Directory: dir, JWK: p.jwk, Payload: payload, PostAsGet: pag}, nil
}

// postForAccountOrKey verifies a request signed either by an account (kid)
// or by the key in jwk (revokeCert, RFC 8555 §7.6).
func (s *Server) postForAccountOrKey(r *http.Request, d *directory) (*authedRequest, error) {
	dir := d.name
	p, err := s.readJWS(r)
	if err != nil {
		var tooLarge *rsaJWKTooLarge
		if errors.As(err, &tooLarge) {
			// The jwk of a revocation is the certificate's key, which the
			// directory may allow up to RSAMaxBits: say what still works.
			q := *tooLarge.problem
			q.Detail += "; to revoke a certificate with a larger key, sign the request with an account authorized for it"
			return nil, &q
		}
		return nil, err
	}
	if (p.jwk == nil) == (p.header.KID == "") {
		return nil, Malformed("JWS must have exactly one of jwk and kid")
	}
	if p.jwk != nil {
		payload, err := p.verifyWith(p.jwk)
		if err != nil {
			return nil, err
		}
		if err := s.checkURLAndNonce(r, p); err != nil {
			return nil, err
		}
		pag, err := splitPayload(payload)
		if err != nil {
			return nil, err
		}
		return &authedRequest{URL: p.header.URL, Directory: dir, JWK: p.jwk, Payload: payload, PostAsGet: pag}, nil
	}
	return s.verifyKID(r, d, p)
}

// accountIDFromKID extracts the account id from a kid, which must be an
// account URL of this directory.
func (s *Server) accountIDFromKID(dir, kid string) (string, error) {
	prefix := s.dirURL(dir) + "/account/"
	id, ok := strings.CutPrefix(kid, prefix)
	if !ok || id == "" || strings.Contains(id, "/") {
		if strings.HasPrefix(kid, s.baseURL+"/acme/") {
			return "", Unauthorized("kid %q is not an account of this directory", truncate(kid, 256))
		}
		return "", Malformed("kid %q is not an account URL of this server", truncate(kid, 256))
	}
	return id, nil
}

// thumbprint is the RFC 7638 SHA-256 thumbprint, base64url.
func thumbprint(k *jose.JSONWebKey) (string, error) {
	b, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", BadPublicKey("cannot compute the key's thumbprint: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
