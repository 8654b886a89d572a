package acme

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// FuzzEAB feeds External Account Bindings (RFC 8555 §7.3.4) to verifyEAB on
// a real server holding one live EAB key, one revoked and one expired. In
// raw mode the fuzzer writes the whole binding; in built mode it chooses
// the alg, kid, url, extra header members, payload ("$JWK" is replaced by
// the account key) and how the MAC is made (the right key, a wrong key, a
// wrong hash, or arbitrary bytes), and the harness assembles the JWS,
// possibly changing the last character of one member afterwards.
//
// Invariants: a correct binding is accepted; a binding changed after it
// was MACed is refused; anything accepted names the
// live key, the newAccount URL, no nonce, an HS256/384/512 alg, binds the
// account key, and carries exactly the HMAC of its signing input under the
// live key with that alg; every refusal is a 4xx problem.
func FuzzEAB(f *testing.F) {
	ctx := context.Background()
	fs := newFuzzServer(f, DirectorySettings{ExternalAccountRequired: true})
	keys := &EABKeys{Store: fs.store, Sealer: fs.sealer}
	live, err := keys.Create(ctx, fs.dirName, "live", false, 0)
	if err != nil {
		f.Fatal(err)
	}
	revoked, err := keys.Create(ctx, fs.dirName, "revoked", false, 0)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := fs.store.RevokeEABKey(ctx, revoked.KeyID, false, time.Now().UTC()); err != nil {
		f.Fatal(err)
	}
	expired, err := keys.Create(ctx, fs.dirName, "expired", false, time.Nanosecond)
	if err != nil {
		f.Fatal(err)
	}
	secrets := map[string][]byte{}
	for _, k := range []*NewEABKey{live, revoked, expired} {
		if secrets[k.KeyID], err = base64.RawURLEncoding.DecodeString(k.HMACKey); err != nil {
			f.Fatal(err)
		}
	}
	acct := newP256Key(f)
	acctJWK := acct.jwkJSON(f)
	outerURL := fs.url("/new-account")
	d := fs.directory(f)
	kidFor := []string{live.KeyID, "kid-unknown", "", revoked.KeyID, expired.KeyID}

	f.Fuzz(func(t *testing.T, mode uint8, alg string, kidMode, urlMode uint8, extra string, payload, sig []byte) {
		raw := payload // raw mode: the fuzzer writes the binding itself
		correct, altered := false, false
		if mode%2 == 1 {
			claimed := alg
			if claimed == "" {
				claimed = "HS256"
			}
			kid := kidFor[int(kidMode)%len(kidFor)]
			var hb strings.Builder
			hb.WriteString(`{"alg":` + jsonString(t, claimed))
			if kid != "" {
				hb.WriteString(`,"kid":` + jsonString(t, kid))
			}
			switch urlMode % 3 {
			case 0:
				hb.WriteString(`,"url":` + jsonString(t, outerURL))
			case 1:
				hb.WriteString(`,"url":` + jsonString(t, outerURL+"x"))
			}
			hb.WriteString(extra + "}")
			pl := acctJWK
			if len(payload) > 0 {
				pl = bytes.ReplaceAll(payload, []byte("$JWK"), acctJWK)
			}
			prot, encPL := b64([]byte(hb.String())), b64(pl)
			input := []byte(prot + "." + encPL)
			macMode := int(mode) / 2 % 4
			var mac []byte
			switch macMode {
			case 0:
				mac = hmacOf(claimed, secrets[kid], input)
			case 1:
				mac = hmacOf(claimed, []byte("not the key"), input)
			case 2:
				mac = sig
			case 3:
				other := map[string]string{"HS256": "HS512", "HS384": "HS256", "HS512": "HS384"}[claimed]
				mac = hmacOf(other, secrets[kid], input)
			}
			encSig := b64(mac)
			// Optionally change the last character of one member after
			// MACing, where base64 keeps its spare bits.
			flip := kidMode / 8
			switch urlMode / 4 % 4 {
			case 1:
				prot = flipByte(prot, 0, flip)
			case 2:
				encPL = flipByte(encPL, 0, flip)
			case 3:
				encSig = flipByte(encSig, 0, flip)
			}
			altered = urlMode/4%4 != 0
			raw = flattenedOf(t, prot, encPL, encSig)
			_, knownAlg := eabAlgs[claimed]
			correct = knownAlg && kid == live.KeyID && urlMode%3 == 0 && extra == "" && macMode == 0 && !altered &&
				(len(payload) == 0 || string(payload) == "$JWK")
		}

		id, err := fs.s.verifyEAB(context.Background(), d, raw, outerURL, acct.jwk)
		if err != nil {
			p := checkRefusal(t, err)
			if correct {
				t.Fatalf("refused a correct binding: %v", p)
			}
			if strings.Contains(p.Detail, live.HMACKey) {
				t.Fatal("a refusal shows the HMAC key")
			}
			return
		}
		// Accepted: check it independently of verifyEAB.
		if altered {
			t.Fatalf("accepted a binding changed after it was MACed: %s", raw)
		}
		if id != live.KeyID {
			t.Fatalf("bound key %q, the only live key is %q", id, live.KeyID)
		}
		var jws flattenedJWS
		if err := json.Unmarshal(raw, &jws); err != nil {
			t.Fatalf("accepted a binding that is not a JSON object: %v", err)
		}
		hdr := decodeHeaderMap(t, jws.Protected)
		a, _ := hdr["alg"].(string)
		if _, ok := eabAlgs[a]; !ok {
			t.Fatalf("accepted alg %v", hdr["alg"])
		}
		if hdr["kid"] != live.KeyID || hdr["url"] != outerURL {
			t.Fatalf("accepted kid %v url %v", hdr["kid"], hdr["url"])
		}
		if _, ok := hdr["nonce"]; ok {
			t.Fatal("accepted a binding with a nonce")
		}
		got, err := base64.RawURLEncoding.DecodeString(jws.Signature)
		if err != nil || !hmac.Equal(got, hmacOf(a, secrets[live.KeyID], []byte(jws.Protected+"."+jws.Payload))) {
			t.Fatalf("accepted a binding not MACed with the key (%v)", err)
		}
		pl, err := base64.RawURLEncoding.DecodeString(jws.Payload)
		if err != nil {
			t.Fatalf("accepted a payload that is not base64url: %v", err)
		}
		var bound jose.JSONWebKey
		if err := bound.UnmarshalJSON(pl); err != nil || mustThumb(t, &bound) != acct.thumbprint(t) {
			t.Fatalf("accepted a binding of another key (%v)", err)
		}
	})
}

// hmacOf is the HMAC of input under key with the hash of a JWS HS* alg
// (HS256 for anything else).
func hmacOf(alg string, key, input []byte) []byte {
	newHash, ok := eabAlgs[alg]
	if !ok {
		newHash = eabAlgs["HS256"]
	}
	m := hmac.New(newHash, key)
	m.Write(input)
	return m.Sum(nil)
}
