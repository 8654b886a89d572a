package acme

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmegate/acmegate/policy"
)

// The request kinds FuzzPayload sends, each with the payload decoder and
// checks of one handler.
const (
	payloadNewAccount = iota
	payloadAccountUpdate
	payloadNewOrder
	payloadNewAuthz
	payloadAuthzUpdate
	payloadChallenge
	payloadFinalize
	payloadRevoke
	payloadKeyChange
	payloadKinds
)

var payloadKindNames = [payloadKinds]string{"newAccount", "accountUpdate", "newOrder", "newAuthz", "authzUpdate", "challenge", "finalize", "revokeCert", "keyChange"}

// preDomain is pre-validated in the fuzzed directory, so orders for names
// under it are ready at once and finalize can be reached.
const preDomain = "pre.example.com"

// payloadFuzz is the state FuzzPayload keeps across inputs: one fuzz worker
// process, one server.
type payloadFuzz struct {
	fs      *fuzzServer
	acct    *fuzzKey // the main account's key
	kid     string
	certKey *fuzzKey // the key of the certificates the harness orders
	leafDER []byte   // a certificate of the main account, to revoke
	// rollKID's key changes whenever a keyChange succeeds.
	rollKey *fuzzKey
	rollKID string
	seq     int
}

// FuzzPayload sends correctly signed requests with fuzzed payloads through
// the whole handler of every endpoint that decodes a payload: newAccount,
// account update and deactivation, newOrder, newAuthz, authorization
// deactivation, challenge response, finalize, revokeCert and keyChange (the
// fuzzed payload is the inner JWS's payload, which the harness signs with a
// new key). "$CSR", "$CERT", "$ACCOUNT" and "$OLDKEY" in a payload are
// replaced by a good CSR for the order, the certificate to revoke, the
// account URL and its current key, so the fuzzer reaches the success paths.
//
// Invariants: no input makes the server fail (5xx) or answer anything but
// a well-formed problem or resource; every success is one the payload
// allowed (contacts are mailto, identifiers come back normalised, only
// "deactivated" deactivates, a finalized CSR names exactly the order's
// identifiers, a revocation names the right certificate and an allowed
// reason, a key change proves the old key).
func FuzzPayload(f *testing.F) {
	pf := newPayloadFuzz(f)
	f.Fuzz(func(t *testing.T, kind uint8, payload []byte) {
		pf.seq++
		pf.run(t, int(kind)%payloadKinds, payload)
	})
}

func newPayloadFuzz(tb testing.TB) *payloadFuzz {
	tb.Helper()
	fs := newFuzzServer(tb, DirectorySettings{Policy: PolicySettings{PreValidatedDomains: []string{preDomain}}})
	pf := &payloadFuzz{fs: fs, acct: newP256Key(tb), certKey: newP256Key(tb), rollKey: newP256Key(tb)}
	pf.kid = fs.newAccount(tb, pf.acct)
	pf.rollKID = fs.newAccount(tb, pf.rollKey)
	// One issued certificate of the main account, for revokeCert.
	orderURL, finalizeURL := pf.readyOrder(tb, "cert."+preDomain)
	fs.mustPost(tb, pf.acct, pf.kid, finalizeURL, map[string]string{"csr": pf.csr(tb, "cert."+preDomain)}, http.StatusOK)
	var o orderObject
	decodeJSON(tb, fs.mustPost(tb, pf.acct, pf.kid, orderURL, nil, http.StatusOK).body, &o)
	chain := fs.mustPost(tb, pf.acct, pf.kid, o.Certificate, nil, http.StatusOK).body
	block, _ := pem.Decode(chain)
	if block == nil {
		tb.Fatalf("no certificate in %q", chain)
	}
	pf.leafDER = block.Bytes
	return pf
}

func decodeJSON(tb testing.TB, b []byte, v any) {
	tb.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("decode %q: %v", b, err)
	}
}

// readyOrder orders name (under preDomain: ready at once) for the main
// account and returns the order's URL and finalize URL.
func (pf *payloadFuzz) readyOrder(tb testing.TB, name string) (string, string) {
	tb.Helper()
	resp := pf.fs.mustPost(tb, pf.acct, pf.kid, pf.fs.url("/new-order"),
		map[string]any{"identifiers": []Identifier{{Type: "dns", Value: name}}}, http.StatusCreated)
	var o orderObject
	decodeJSON(tb, resp.body, &o)
	if o.Status != "ready" {
		tb.Fatalf("order for pre-validated %s is %s", name, o.Status)
	}
	return resp.header.Get("Location"), o.Finalize
}

// csr is a good finalize CSR for names, base64url DER.
func (pf *payloadFuzz) csr(tb testing.TB, names ...string) string {
	tb.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{}, DNSNames: names}, pf.certKey.signer)
	if err != nil {
		tb.Fatal(err)
	}
	return b64(der)
}

func (pf *payloadFuzz) run(t *testing.T, kind int, payload []byte) {
	fs := pf.fs
	name := payloadKindNames[kind]
	var resp fuzzResponse
	switch kind {
	case payloadNewAccount:
		resp = fs.post(t, newP256Key(t), "", fs.url("/new-account"), payload)
	case payloadAccountUpdate:
		k := newP256Key(t)
		kid := fs.newAccount(t, k)
		payload = bytes.ReplaceAll(payload, []byte("$ACCOUNT"), []byte(kid))
		resp = fs.post(t, k, kid, kid, payload)
	case payloadNewOrder:
		resp = fs.post(t, pf.acct, pf.kid, fs.url("/new-order"), payload)
	case payloadNewAuthz:
		resp = fs.post(t, pf.acct, pf.kid, fs.url("/new-authz"), payload)
	case payloadAuthzUpdate:
		authzURL := pf.newAuthz(t, fmt.Sprintf("z%d.%s", pf.seq, preDomain))
		resp = fs.post(t, pf.acct, pf.kid, authzURL, payload)
	case payloadChallenge:
		authzURL := pf.newAuthz(t, fmt.Sprintf("c%d.example.org", pf.seq))
		var a authzObject
		decodeJSON(t, fs.mustPost(t, pf.acct, pf.kid, authzURL, nil, http.StatusOK).body, &a)
		resp = fs.post(t, pf.acct, pf.kid, a.Challenges[0].URL, payload)
	case payloadFinalize:
		_, finalizeURL := pf.readyOrder(t, "f."+preDomain)
		payload = bytes.ReplaceAll(payload, []byte("$CSR"), []byte(pf.csr(t, "f."+preDomain)))
		resp = fs.post(t, pf.acct, pf.kid, finalizeURL, payload)
	case payloadRevoke:
		payload = bytes.ReplaceAll(payload, []byte("$CERT"), []byte(b64(pf.leafDER)))
		resp = fs.post(t, pf.acct, pf.kid, fs.url("/revoke-cert"), payload)
	case payloadKeyChange:
		payload = bytes.ReplaceAll(payload, []byte("$ACCOUNT"), []byte(pf.rollKID))
		payload = bytes.ReplaceAll(payload, []byte("$OLDKEY"), pf.rollKey.jwkJSON(t))
		newKey := newP256Key(t)
		url := fs.url("/key-change")
		inner := flattened(t, newKey, header(t, newKey, "", "", url), payload)
		resp = fs.post(t, pf.rollKey, pf.rollKID, url, inner)
		if resp.status == http.StatusOK {
			pf.checkKeyChange(t, payload)
			pf.rollKey = newKey
			return
		}
	}
	if resp.status >= 500 {
		t.Fatalf("%s: server error %d for payload %q: %s", name, resp.status, payload, resp.body)
	}
	if resp.status >= 400 {
		checkProblemResponse(t, resp)
		return
	}
	pf.checkSuccess(t, kind, payload, resp)
}

// newAuthz pre-authorizes name for the main account and returns its URL.
func (pf *payloadFuzz) newAuthz(tb testing.TB, name string) string {
	tb.Helper()
	resp := pf.fs.mustPost(tb, pf.acct, pf.kid, pf.fs.url("/new-authz"),
		map[string]any{"identifier": Identifier{Type: "dns", Value: name}}, http.StatusCreated)
	return resp.header.Get("Location")
}

// checkSuccess checks that a 2xx answer is one the payload allowed.
func (pf *payloadFuzz) checkSuccess(t *testing.T, kind int, payload []byte, resp fuzzResponse) {
	name := payloadKindNames[kind]
	if kind == payloadRevoke {
		pf.checkRevoke(t, payload, resp)
		return
	}
	if ct := resp.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: status %d with Content-Type %q", name, resp.status, ct)
	}
	// POST-as-GET (empty payload) reads an account, authorization or
	// challenge; every other success needs a JSON object.
	postAsGetOK := kind == payloadAccountUpdate || kind == payloadAuthzUpdate || kind == payloadChallenge
	if !(postAsGetOK && len(payload) == 0) && !isJSONObject(payload) {
		t.Fatalf("%s accepted payload %q, which is not a JSON object", name, payload)
	}
	switch kind {
	case payloadNewAccount:
		var req newAccountRequest
		decodeJSON(t, payload, &req)
		var got accountObject
		decodeJSON(t, resp.body, &got)
		if resp.status != http.StatusCreated || req.OnlyReturnExisting {
			t.Fatalf("newAccount for a new key: status %d, onlyReturnExisting %v", resp.status, req.OnlyReturnExisting)
		}
		// No EAB key exists in this directory: no binding can verify.
		if len(req.ExternalAccountBinding) > 0 && string(req.ExternalAccountBinding) != "null" {
			t.Fatalf("newAccount accepted externalAccountBinding %s with no EAB key", req.ExternalAccountBinding)
		}
		checkContactsOut(t, got.Contact, req.Contact)
	case payloadAccountUpdate:
		var got accountObject
		decodeJSON(t, resp.body, &got)
		if len(payload) == 0 {
			return
		}
		var req accountUpdateRequest
		decodeJSON(t, payload, &req)
		if req.Status != "" && req.Status != "deactivated" {
			t.Fatalf("account update accepted status %q", req.Status)
		}
		if wantDeact := req.Status == "deactivated"; wantDeact != (got.Status == "deactivated") {
			t.Fatalf("account update with status %q left the account %s", req.Status, got.Status)
		}
		if req.Contact != nil {
			checkContactsOut(t, got.Contact, *req.Contact)
		}
	case payloadNewOrder:
		var req newOrderRequest
		decodeJSON(t, payload, &req)
		var got orderObject
		decodeJSON(t, resp.body, &got)
		checkNormalised(t, got.Identifiers, req.Identifiers)
	case payloadNewAuthz:
		var req newAuthzRequest
		decodeJSON(t, payload, &req)
		var got authzObject
		decodeJSON(t, resp.body, &got)
		if req.Identifier == nil || got.Wildcard {
			t.Fatalf("newAuthz accepted identifier %v (wildcard %v)", req.Identifier, got.Wildcard)
		}
		checkNormalised(t, []Identifier{got.Identifier}, []Identifier{*req.Identifier})
	case payloadAuthzUpdate:
		var got authzObject
		decodeJSON(t, resp.body, &got)
		if len(payload) == 0 {
			return
		}
		var req authzUpdateRequest
		decodeJSON(t, payload, &req)
		if req.Status != "deactivated" || got.Status != "deactivated" {
			t.Fatalf("authorization update with status %q answered 200 with the authorization %s", req.Status, got.Status)
		}
	case payloadChallenge:
		var got challengeObject
		decodeJSON(t, resp.body, &got)
		want := "processing"
		if len(payload) == 0 {
			want = "pending"
		}
		if string(got.Status) != want {
			t.Fatalf("challenge answered with payload %q is %s, want %s", payload, got.Status, want)
		}
	case payloadFinalize:
		pf.checkFinalize(t, payload, resp)
	}
}

func isJSONObject(b []byte) bool {
	return json.Valid(b) && len(bytes.TrimSpace(b)) > 0 && bytes.TrimSpace(b)[0] == '{'
}

// checkContactsOut: every stored contact is one the client sent, a mailto:
// URL of one address (RFC 8555 §7.3); the scheme is case-insensitive
// (RFC 3986 §3.1).
func checkContactsOut(t *testing.T, got, sent []string) {
	t.Helper()
	if len(got) > maxContacts {
		t.Fatalf("%d contacts stored", len(got))
	}
	for _, c := range got {
		scheme, addr, _ := strings.Cut(c, ":")
		if !slices.Contains(sent, c) || !strings.EqualFold(scheme, "mailto") || strings.Count(addr, "@") != 1 || strings.ContainsAny(c, ",?#") {
			t.Fatalf("stored contact %q (sent %q)", c, sent)
		}
	}
	if len(got) != len(sent) {
		t.Fatalf("stored contacts %q, sent %q", got, sent)
	}
}

// checkNormalised: every identifier of an accepted order or authorization
// is in normal form (normalising it again changes nothing) and is the
// normal form of an identifier the client sent.
func checkNormalised(t *testing.T, got, sent []Identifier) {
	t.Helper()
	if len(got) == 0 || len(got) > len(sent) {
		t.Fatalf("accepted identifiers %v for %v", got, sent)
	}
	sentNorm := map[Identifier]bool{}
	for _, id := range sent {
		v := id.Value
		switch id.Type {
		case "dns":
			v = strings.ToLower(v)
		case "ip":
			if a, err := netip.ParseAddr(v); err == nil {
				v = a.String()
			}
		}
		sentNorm[Identifier{Type: id.Type, Value: v}] = true
	}
	p, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range got {
		if !sentNorm[id] {
			t.Fatalf("accepted identifier %v is not the normal form of any of %v", id, sent)
		}
		again, err := p.CheckIdentifiers([]policy.Identifier{{Type: policy.IdentifierType(id.Type), Value: id.Value}})
		if err != nil || len(again) != 1 || again[0].Value != id.Value {
			t.Fatalf("accepted identifier %v does not normalise to itself: %v %v", id, again, err)
		}
	}
}

// checkFinalize: the order was finalized with a CSR naming exactly its
// identifier, with a key other than the account's.
func (pf *payloadFuzz) checkFinalize(t *testing.T, payload []byte, resp fuzzResponse) {
	var req finalizeRequest
	decodeJSON(t, payload, &req)
	der, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(req.CSR, "="))
	if err != nil {
		t.Fatalf("finalize accepted csr %q that is not base64url: %v", req.CSR, err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatalf("finalize accepted a CSR that does not parse: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatalf("finalize accepted a CSR whose signature does not verify: %v", err)
	}
	names := slices.Clone(csr.DNSNames)
	for i := range names {
		names[i] = strings.ToLower(names[i])
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) != 1 || names[0] != "f."+preDomain || len(csr.IPAddresses)+len(csr.EmailAddresses)+len(csr.URIs) != 0 {
		t.Fatalf("finalize accepted a CSR for %v %v %v %v, the order is for f.%s", csr.DNSNames, csr.IPAddresses, csr.EmailAddresses, csr.URIs, preDomain)
	}
	if sameKeyAs(csr.PublicKey, pf.acct) {
		t.Fatal("finalize accepted a CSR with the account key")
	}
	var got orderObject
	decodeJSON(t, resp.body, &got)
	if got.Status != "valid" || got.Certificate == "" {
		t.Fatalf("finalized order is %s (certificate %q)", got.Status, got.Certificate)
	}
}

func sameKeyAs(pub any, k *fuzzKey) bool {
	e, ok := k.signer.Public().(interface{ Equal(x any) bool })
	return ok && e.Equal(pub)
}

// checkRevoke: the revoked certificate is the one named, for an allowed
// reason (RFC 8555 §7.6, RFC 5280 §5.3.1).
func (pf *payloadFuzz) checkRevoke(t *testing.T, payload []byte, resp fuzzResponse) {
	if resp.status != http.StatusOK {
		t.Fatalf("revokeCert answered %d", resp.status)
	}
	var req revokeRequest
	decodeJSON(t, payload, &req)
	der, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(req.Certificate, "="))
	if err != nil || !bytes.Equal(der, pf.leafDER) {
		t.Fatalf("revokeCert accepted certificate %q, not the one issued (%v)", req.Certificate, err)
	}
	if req.Reason != nil {
		if _, ok := allowedReasons[*req.Reason]; !ok {
			t.Fatalf("revokeCert accepted reason %d", *req.Reason)
		}
	}
}

// checkKeyChange: the inner payload named the account and proved its
// current key (RFC 8555 §7.3.5).
func (pf *payloadFuzz) checkKeyChange(t *testing.T, payload []byte) {
	var req keyChangeRequest
	decodeJSON(t, payload, &req)
	if req.Account != pf.rollKID {
		t.Fatalf("keyChange accepted account %q, the account is %s", req.Account, pf.rollKID)
	}
	var old jose.JSONWebKey
	if err := old.UnmarshalJSON(req.OldKey); err != nil {
		t.Fatalf("keyChange accepted oldKey %s: %v", req.OldKey, err)
	}
	if mustThumb(t, &old) != pf.rollKey.thumbprint(t) {
		t.Fatal("keyChange accepted an oldKey that is not the account's key")
	}
}
