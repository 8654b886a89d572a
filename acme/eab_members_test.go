package acme

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// The External Account Binding (RFC 8555 §7.3.4) is read by the rules of
// the outer JWS: members by their exact names (RFC 7515 §4: names are
// case-sensitive), none named twice, only the flattened serialization's
// three. Each binding below carries a correct MAC under the live key, so
// a refusal can only come from how it is read.
func TestEABMembersByExactName(t *testing.T) {
	ctx := context.Background()
	fs := newFuzzServer(t, DirectorySettings{ExternalAccountRequired: true})
	keys := &EABKeys{Store: fs.store, Sealer: fs.sealer}
	live, err := keys.Create(ctx, fs.dirName, "live", true, 0)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base64.RawURLEncoding.DecodeString(live.HMACKey)
	if err != nil {
		t.Fatal(err)
	}
	acct := newP256Key(t)
	outerURL := fs.url("/new-account")
	d := fs.directory(t)

	kid, u := jsonString(t, live.KeyID), jsonString(t, outerURL)
	// macd returns the members of a binding whose protected header is the
	// JSON text hdr, MACed with the live key under HS256.
	macd := func(hdr string) (prot, payload, sig string) {
		prot, payload = b64([]byte(hdr)), b64(acct.jwkJSON(t))
		return prot, payload, b64(hmacOf("HS256", secret, []byte(prot+"."+payload)))
	}
	// binding is the flattened JWS of macd(hdr).
	binding := func(hdr string) []byte {
		prot, payload, sig := macd(hdr)
		return flattenedOf(t, prot, payload, sig)
	}
	// object is a binding whose outer JSON text is written by fill from
	// the members of macd(hdr).
	object := func(hdr string, fill func(prot, payload, sig string) string) []byte {
		return []byte(fill(macd(hdr)))
	}
	good := `{"alg":"HS256","kid":` + kid + `,"url":` + u + `}`

	tests := []struct {
		name   string
		raw    []byte
		typ    ProblemType // "" when the binding must be accepted
		status int
		detail string
	}{
		{name: "correct", raw: binding(good)},
		// Names are compared after unescaping, as go-jose reads them.
		{name: "escaped member names", raw: binding(`{"\u0061lg":"HS256","ki\u0064":` + kid + `,"url":` + u + `}`)},
		{name: "whitespace everywhere", raw: binding(" {\n \"alg\" : \"HS256\" ,\t\"kid\" : " + kid + " , \"url\" : " + u + " } ")},

		// The protected header.
		{name: "alg named twice", raw: binding(`{"alg":"HS256","alg":"HS256","kid":` + kid + `,"url":` + u + `}`),
			typ: ProblemMalformed, status: http.StatusBadRequest,
			detail: `externalAccountBinding protected header is not a JSON object: member "alg" appears twice`},
		// encoding/json took the last kid; a reader taking the first would
		// look up another key.
		{name: "kid named twice", raw: binding(`{"alg":"HS256","kid":"kid-other","kid":` + kid + `,"url":` + u + `}`),
			typ: ProblemMalformed, status: http.StatusBadRequest,
			detail: `externalAccountBinding protected header is not a JSON object: member "kid" appears twice`},
		{name: "url named twice, once escaped", raw: binding(`{"alg":"HS256","kid":` + kid + `,"url":"https://elsewhere.example/","\u0075rl":` + u + `}`),
			typ: ProblemMalformed, status: http.StatusBadRequest,
			detail: `externalAccountBinding protected header is not a JSON object: member "url" appears twice`},
		// encoding/json matched struct fields case-insensitively: "KID"
		// was read as the kid.
		{name: "KID instead of kid", raw: binding(`{"alg":"HS256","KID":` + kid + `,"url":` + u + `}`),
			typ: ProblemMalformed, status: http.StatusBadRequest, detail: "externalAccountBinding has no kid"},
		{name: "Alg instead of alg", raw: binding(`{"Alg":"HS256","kid":` + kid + `,"url":` + u + `}`),
			typ: ProblemBadSignatureAlgorithm, status: http.StatusBadRequest,
			detail: `externalAccountBinding must use HS256, HS384 or HS512, not ""`},
		{name: "URL instead of url", raw: binding(`{"alg":"HS256","kid":` + kid + `,"URL":` + u + `}`),
			typ: ProblemUnauthorized, status: http.StatusForbidden,
			detail: `externalAccountBinding url "" must be the newAccount URL "` + outerURL + `"`},
		// RFC 8555 §7.3.4: no nonce, whatever its value; json.Unmarshal
		// into a *string left a null nonce unseen.
		{name: "null nonce", raw: binding(`{"alg":"HS256","kid":` + kid + `,"url":` + u + `,"nonce":null}`),
			typ: ProblemMalformed, status: http.StatusBadRequest, detail: "externalAccountBinding must not carry a nonce"},
		{name: "alg not a string", raw: binding(`{"alg":["HS256"],"kid":` + kid + `,"url":` + u + `}`),
			typ: ProblemMalformed, status: http.StatusBadRequest,
			detail: `externalAccountBinding protected header member "alg" must be a string`},
		{name: "crit", raw: binding(`{"alg":"HS256","kid":` + kid + `,"url":` + u + `,"crit":["b64"],"b64":false}`),
			typ: ProblemMalformed, status: http.StatusBadRequest,
			detail: `externalAccountBinding protected header must not contain "crit"`},
		{name: "header not an object", raw: binding(`["HS256"]`),
			typ: ProblemMalformed, status: http.StatusBadRequest,
			detail: "externalAccountBinding protected header is not a JSON object: not a JSON object"},

		// The binding's own members.
		{name: "protected named twice", raw: object(good, func(p, pl, s string) string {
			return `{"protected":"` + b64([]byte(`{"alg":"HS256"}`)) + `","protected":"` + p + `","payload":"` + pl + `","signature":"` + s + `"}`
		}), typ: ProblemMalformed, status: http.StatusBadRequest,
			detail: `externalAccountBinding must be a flattened JWS (a JSON object): member "protected" appears twice`},
		{name: "Signature instead of signature", raw: object(good, func(p, pl, s string) string {
			return `{"protected":"` + p + `","payload":"` + pl + `","Signature":"` + s + `"}`
		}), typ: ProblemMalformed, status: http.StatusBadRequest, detail: `externalAccountBinding has an unexpected member "Signature"`},
		{name: "unprotected header", raw: object(good, func(p, pl, s string) string {
			return `{"protected":"` + p + `","header":{"kid":"x"},"payload":"` + pl + `","signature":"` + s + `"}`
		}), typ: ProblemMalformed, status: http.StatusBadRequest, detail: "externalAccountBinding must not have an unprotected header"},
		{name: "general serialization", raw: object(good, func(p, pl, s string) string {
			return `{"payload":"` + pl + `","signatures":[{"protected":"` + p + `","signature":"` + s + `"}]}`
		}), typ: ProblemMalformed, status: http.StatusBadRequest, detail: "externalAccountBinding must use the flattened JSON serialization"},
		{name: "no payload", raw: object(good, func(p, _, s string) string {
			return `{"protected":"` + p + `","signature":"` + s + `"}`
		}), typ: ProblemMalformed, status: http.StatusBadRequest,
			detail: "externalAccountBinding must be a flattened JWS with protected, payload and signature"},
		{name: "signature not a string", raw: object(good, func(p, pl, _ string) string {
			return `{"protected":"` + p + `","payload":"` + pl + `","signature":1}`
		}), typ: ProblemMalformed, status: http.StatusBadRequest, detail: `externalAccountBinding member "signature" must be a string`},
		{name: "not an object", raw: []byte(`"binding"`), typ: ProblemMalformed, status: http.StatusBadRequest,
			detail: "externalAccountBinding must be a flattened JWS (a JSON object): not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := fs.s.verifyEAB(ctx, d, tc.raw, outerURL, acct.jwk)
			if tc.typ == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if id != live.KeyID {
					t.Fatalf("bound %q, want %q", id, live.KeyID)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %s", tc.raw)
			}
			p := checkRefusal(t, err)
			if p.Type != tc.typ || p.Status != tc.status || !strings.HasPrefix(p.Detail, tc.detail) {
				t.Fatalf("got %d %s %q, want %d %s %q", p.Status, p.Type, p.Detail, tc.status, tc.typ, tc.detail)
			}
			if strings.Contains(p.Detail, live.HMACKey) {
				t.Fatal("the refusal shows the HMAC key")
			}
		})
	}
}
