package acme_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Catalogue cases of identifiers and orders, authorizations, challenges,
// finalize, certificates, revocation, ARI and routing (RFC 8555 §7.1.4,
// §7.4–7.6, RFC 8738, RFC 9773).

// identifierCases are newOrder requests with identifiers the policy refuses
// (policy/dns.go, policy/ip.go). Each refused identifier gets a subproblem
// naming it as sent (RFC 8555 §6.7.1); the top-level type is the
// subproblems' type when they agree and compound otherwise.
func (w *hostileWorld) identifierCases() []hostileCase {
	mal := func(ids ...string) map[string]string {
		m := map[string]string{}
		for _, id := range ids {
			_, v, ok := strings.Cut(id, ":")
			if !ok || !strings.HasPrefix(id, "ip:") {
				v = id
			}
			m[v] = urnMalformed
		}
		return m
	}
	one := func(name, detail string, ids ...string) hostileCase {
		return hostileCase{name: name, status: 400, typ: urnMalformed, detail: detail, sub: mal(ids...),
			req: func(*testing.T) *rawResponse {
				return w.newOrder(orderOf(append([]string{"fine.example.com"}, ids...)...))
			}}
	}
	label64 := strings.Repeat("a", 64)
	// 63+1+63+1+63+1+58+1+3 = 254 characters, one over RFC 1035's 253.
	name254 := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 58) + ".com"
	if len(name254) != 254 {
		w.t.Fatalf("name254 is %d characters", len(name254))
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("n%d.example.com", i)
	}
	return []hostileCase{
		{name: "identifiers/empty list", status: 400, typ: urnMalformed, detail: "at least one identifier",
			req: func(*testing.T) *rawResponse { return w.newOrder(`{"identifiers":[]}`) }},
		{name: "identifiers/member missing", status: 400, typ: urnMalformed, detail: "at least one identifier",
			req: func(*testing.T) *rawResponse { return w.newOrder(`{}`) }},
		{name: "identifiers/value of the wrong JSON type", status: 400, typ: urnMalformed, detail: "expected shape",
			req: func(*testing.T) *rawResponse { return w.newOrder(`{"identifiers":[{"type":"dns","value":1}]}`) }},
		// The limit is about the request, not one identifier: no
		// subproblems.
		{name: "identifiers/101 names", status: 400, typ: urnMalformed, detail: "maximum is 100",
			req: func(*testing.T) *rawResponse { return w.newOrder(orderOf(many...)) }},
		// RFC 5280 §4.2.1.6 names have no root dot; Boulder refuses it too
		// rather than strip it.
		one("identifiers/trailing dot", "must not end with a dot", "trailing.example.com."),
		// Service labels are not host names (Boulder refuses them too).
		one("identifiers/underscore", "underscore", "_service.example.com"),
		one("identifiers/empty label", "empty label", "a..example.com"),
		one("identifiers/label of 64 characters", "maximum is 63", label64+".example.com"),
		one("identifiers/name of 254 characters", "maximum is 253", name254),
		one("identifiers/label beginning with a hyphen", "hyphen", "-a.example.com"),
		one("identifiers/single label", "at least two labels", "localhost"),
		// RFC 8555 §7.1.4: names arrive as A-labels. A Latin name with a
		// Cyrillic "а" (U+0430) in U-label form is refused as malformed,
		// with its A-label in the detail.
		one("identifiers/Cyrillic homoglyph in a Latin name", "xn--exmple-4nf.com", "ex\u0430mple.com"),
		// RFC 8555 §7.1.4: "xn--" labels must be proper Punycode.
		one("identifiers/invalid A-label", "not a valid IDNA A-label", "xn--a.example.com"),
		// RFC 8555 §7.1.3: "*" only as the whole leftmost label.
		one("identifiers/wildcard in the middle", "entire leftmost label", "a.*.example.com"),
		one("identifiers/double wildcard", "entire leftmost label", "*.*.example.com"),
		one("identifiers/partial wildcard label", "entire leftmost label", "w*.example.com"),
		// RFC 8738 §3 with RFC 1123 §2.1: leading zeros are refused (some
		// stacks read them as octal).
		one("identifiers/IPv4 with a leading zero", "not a valid IP address", "ip:010.0.0.1"),
		one("identifiers/IPv4-mapped IPv6", "IPv4-mapped", "ip:::ffff:1.2.3.4"),
		one("identifiers/IP with a prefix length", "not a valid IP address", "ip:1.2.3.4/32"),
		one("identifiers/IPv6 with a zone", "zone", "ip:fe80::1%eth0"),
		one("identifiers/ip identifier carrying a DNS name", "not a valid IP address", "ip:example.com"),
		// RFC 8738 §3: addresses are identifiers of type "ip".
		one("identifiers/dns identifier carrying an IP", "is an IP address", "192.0.2.1"),
		// Several bad names: one subproblem each.
		one("identifiers/three malformed names", "empty label", "x_.example.com", "y..example.com", "z.example.com."),
		// The same bad name twice is one subproblem.
		{name: "identifiers/bad name repeated", status: 400, typ: urnMalformed, detail: "underscore",
			sub: mal("dup_.example.com"),
			req: func(*testing.T) *rawResponse { return w.newOrder(orderOf("dup_.example.com", "dup_.example.com")) }},
		// Upper case is not refused: names are lower-cased and IPv6
		// rewritten to RFC 5952 form (policy.CheckIdentifiers), as Boulder
		// lower-cases names. Shown by the subproblems of an order refused
		// for another name: only that name has one.
		{name: "identifiers/upper case and IPv6 spelling are normalised, not refused", status: 400, typ: urnMalformed, detail: "underscore",
			sub: mal("bad_.example.com"),
			req: func(*testing.T) *rawResponse {
				return w.newOrder(orderOf("Upper.Example.COM", "ip:2001:DB8:0::1", "bad_.example.com"))
			}},
		// Decision: a well-formed A-label passes however it renders; a
		// mixed-script A-label ("xn--pple-43d" is Cyrillic "аpple") is not
		// refused by the identifier policy. Boulder and every public CA do
		// the same: confusability is the browsers' job (they show such
		// names as Punycode), and an operator who wants to keep a lookalike
		// out lists it in denied_domains or restricts allowed_domains.
		{name: "identifiers/mixed-script A-label is well formed", status: 400, typ: urnMalformed, detail: "underscore",
			sub: mal("bad_.example.com"),
			req: func(*testing.T) *rawResponse { return w.newOrder(orderOf("xn--pple-43d.com", "bad_.example.com")) }},
		{name: "identifiers/unknown type", status: 400, typ: urnUnsupportedIdentifier, detail: "not supported",
			sub: map[string]string{"a@example.com": urnUnsupportedIdentifier},
			req: func(*testing.T) *rawResponse { return w.newOrder(orderOf("fine.example.com", "email:a@example.com")) }},
		// CA/B BR §3.2.2.6.
		{name: "identifiers/wildcard of a public suffix", status: 400, typ: urnRejectedIdentifier, detail: "public suffix",
			sub: map[string]string{"*.co.uk": urnRejectedIdentifier},
			req: func(*testing.T) *rawResponse { return w.newOrder(orderOf("*.co.uk")) }},
		{name: "identifiers/multicast address", status: 400, typ: urnRejectedIdentifier, detail: "multicast",
			sub: map[string]string{"224.0.0.1": urnRejectedIdentifier},
			req: func(*testing.T) *rawResponse { return w.newOrder(orderOf("ip:224.0.0.1")) }},
		// The directory denies deniedDomain and every name under it; the
		// allowed names of the same order get no subproblem.
		{name: "identifiers/denied names mixed with allowed ones", status: 400, typ: urnRejectedIdentifier, detail: deniedDomain,
			sub: map[string]string{deniedDomain: urnRejectedIdentifier, "www." + deniedDomain: urnRejectedIdentifier},
			req: func(*testing.T) *rawResponse {
				return w.newOrder(orderOf("ok.example.com", deniedDomain, "ok2.example.com", "www."+deniedDomain))
			}},
		// Refusals of different types: compound, one subproblem each.
		{name: "identifiers/denied, malformed and unsupported together", status: 400, typ: urnCompound, detail: "cannot issue",
			sub: map[string]string{deniedDomain: urnRejectedIdentifier, "bad..example.com": urnMalformed, "a@example.com": urnUnsupportedIdentifier},
			req: func(*testing.T) *rawResponse {
				return w.newOrder(orderOf("ok.example.com", deniedDomain, "bad..example.com", "email:a@example.com"))
			}},
		// newAuthz applies the same policy, with the same subproblems.
		{name: "identifiers/newAuthz of a malformed name", status: 400, typ: urnMalformed, detail: "underscore",
			sub: mal("pre_.example.com"),
			req: func(*testing.T) *rawResponse {
				return w.post(w.good, w.base+"/new-authz", []byte(`{"identifier":{"type":"dns","value":"pre_.example.com"}}`))
			}},
	}
}

func (w *hostileWorld) newOrderCases() []hostileCase {
	at := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
	with := func(extra string) string {
		return `{"identifiers":[{"type":"dns","value":"v.example.com"}],` + extra + `}`
	}
	return []hostileCase{
		{name: "newOrder/notAfter before notBefore", status: 400, typ: urnMalformed, detail: "must be after",
			req: func(*testing.T) *rawResponse {
				return w.newOrder(with(`"notBefore":"` + at(48*time.Hour) + `","notAfter":"` + at(24*time.Hour) + `"`))
			}},
		{name: "newOrder/validity beyond the maximum", status: 400, typ: urnMalformed, detail: "exceeds the maximum",
			req: func(*testing.T) *rawResponse { return w.newOrder(with(`"notAfter":"` + at(100*24*time.Hour) + `"`)) }},
		{name: "newOrder/notAfter in the past", status: 400, typ: urnMalformed, detail: "in the past",
			req: func(*testing.T) *rawResponse { return w.newOrder(with(`"notAfter":"` + at(-time.Hour) + `"`)) }},
		{name: "newOrder/notBefore beyond the order's lifetime", status: 400, typ: urnMalformed, detail: "further in the future",
			req: func(*testing.T) *rawResponse { return w.newOrder(with(`"notBefore":"` + at(30*24*time.Hour) + `"`)) }},
		{name: "newOrder/notBefore not RFC 3339", status: 400, typ: urnMalformed, detail: "RFC 3339",
			req: func(*testing.T) *rawResponse { return w.newOrder(with(`"notBefore":"tomorrow"`)) }},
		{name: "newOrder/unknown profile", status: 400, typ: urnInvalidProfile, detail: "not offered",
			req: func(*testing.T) *rawResponse { return w.newOrder(with(`"profile":"nope"`)) }},
		{name: "newOrder/replaces a malformed certificate ID", status: 400, typ: urnMalformed, detail: "ARI certificate identifier",
			req: func(*testing.T) *rawResponse { return w.newOrder(with(`"replaces":"not-a-cert-id"`)) }},
		// RFC 9773 §5: only the account's own certificate can be replaced.
		{name: "newOrder/replaces another account's certificate", status: 403, typ: urnUnauthorized, detail: "another account",
			req: func(*testing.T) *rawResponse {
				return w.post(w.other, w.base+"/new-order", []byte(`{"identifiers":[{"type":"dns","value":"valid.example.com"}],"replaces":"`+w.validCertID+`"}`))
			}},
		{name: "newOrder/over the rate limit", status: 429, typ: urnRateLimited, detail: "rate limit",
			req: func(*testing.T) *rawResponse {
				_, _, r := w.limited.order("limited", orderOf("limited2.example.com"))
				return r
			},
			also: func(t *testing.T, r *rawResponse) {
				if r.header.Get("Retry-After") == "" {
					t.Error("rateLimited without Retry-After")
				}
			}},
		// RFC 8555 §7.4.1: pre-authorization cannot cover a wildcard.
		{name: "newAuthz/wildcard", status: 400, typ: urnRejectedIdentifier, detail: "cannot be pre-authorized",
			req: func(*testing.T) *rawResponse {
				return w.post(w.good, w.base+"/new-authz", []byte(`{"identifier":{"type":"dns","value":"*.pre.example.com"}}`))
			}},
		{name: "newAuthz/no identifier", status: 400, typ: urnMalformed, detail: "needs an identifier",
			req: func(*testing.T) *rawResponse { return w.post(w.good, w.base+"/new-authz", []byte(`{}`)) }},
	}
}

// sameIDIn rewrites a resource URL of the default directory into the same
// resource id under directory dir.
func (w *hostileWorld) sameIDIn(dir, u string) string {
	return strings.Replace(u, "/acme/default/", "/acme/"+dir+"/", 1)
}

func (w *hostileWorld) authzCases() []hostileCase {
	g := w.good
	return []hostileCase{
		{name: "authz/of another account", status: 403, typ: urnUnauthorized, detail: "another account",
			req: func(*testing.T) *rawResponse { return w.post(w.other, w.pendingAuthz, nil) }},
		{name: "authz/of another directory", status: 404, typ: urnMalformed, detail: "authorization not found",
			req: func(*testing.T) *rawResponse { return w.post(w.foreign, w.sameIDIn("other", w.pendingAuthz), nil) }},
		{name: "authz/unknown", status: 404, typ: urnMalformed, detail: "authorization not found",
			req: func(*testing.T) *rawResponse { return w.post(g, w.base+"/authz/does-not-exist", nil) }},
		{name: "authz/status other than deactivated", status: 400, typ: urnMalformed, detail: "only be changed to deactivated",
			req: func(*testing.T) *rawResponse { return w.post(g, w.pendingAuthz, []byte(`{"status":"valid"}`)) }},
		// A payload that is neither empty (POST-as-GET) nor a
		// deactivation.
		{name: "authz/POST-as-GET with a non-empty payload", status: 400, typ: urnMalformed, detail: "only be changed to deactivated",
			req: func(*testing.T) *rawResponse { return w.post(g, w.pendingAuthz, []byte(`{}`)) }},
		// RFC 8555 §7.5.2: only pending or valid authorizations can be
		// deactivated.
		{name: "authz/deactivating an invalid authorization", status: 400, typ: urnMalformed, detail: "cannot be deactivated",
			req: func(*testing.T) *rawResponse { return w.post(g, w.invalidAuthz, []byte(`{"status":"deactivated"}`)) }},
	}
}

func (w *hostileWorld) challengeCases() []hostileCase {
	return []hostileCase{
		// RFC 8555 §7.1.6: an invalid authorization is final; answering
		// another of its challenges must not start a validation. Boulder
		// refuses it as malformed ("authorization must be pending").
		{name: "challenge/POST on an invalid authorization", status: 400, typ: urnMalformed, detail: "can no longer be answered",
			req: func(*testing.T) *rawResponse { return w.post(w.good, w.invalidChall, []byte(`{}`)) }},
		{name: "challenge/POST on another account's authorization", status: 403, typ: urnUnauthorized, detail: "another account",
			req: func(*testing.T) *rawResponse { return w.post(w.other, w.pendingChall, []byte(`{}`)) }},
		{name: "challenge/of another directory", status: 404, typ: urnMalformed, detail: "not found",
			req: func(*testing.T) *rawResponse {
				return w.post(w.foreign, w.sameIDIn("other", w.pendingChall), []byte(`{}`))
			}},
		{name: "challenge/unknown", status: 404, typ: urnMalformed, detail: "challenge not found",
			req: func(*testing.T) *rawResponse { return w.post(w.good, w.base+"/chall/does-not-exist", []byte(`{}`)) }},
	}
}

// csrFor is a CSR for names, signed by key, after edit changes the template.
func csrFor(t *testing.T, names []string, key crypto.Signer, edit func(*x509.CertificateRequest)) []byte {
	t.Helper()
	tmpl := csrTemplate(names)
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (w *hostileWorld) finalizeCases() []hostileCase {
	g := w.good
	fin := func(u string, csr []byte) *rawResponse {
		return w.post(g, u, []byte(`{"csr":"`+b64(csr)+`"}`))
	}
	ready := func(csr []byte) *rawResponse { return fin(w.readyFinalize, csr) }
	good := func(t *testing.T) []byte { return csrFor(t, w.readyNames, newECKey(t), nil) }
	return []hostileCase{
		// RFC 8555 §7.4: finalize before every authorization is valid.
		{name: "finalize/before ready", status: 403, typ: urnOrderNotReady, detail: "pending",
			req: func(t *testing.T) *rawResponse {
				return fin(w.pendingFinalize, csrFor(t, []string{"pending.example.com"}, newECKey(t), nil))
			}},
		{name: "finalize/twice", status: 403, typ: urnOrderNotReady, detail: "valid",
			req: func(t *testing.T) *rawResponse {
				return fin(w.validFinalize, csrFor(t, []string{"valid.example.com"}, newECKey(t), nil))
			}},
		{name: "finalize/order of another account", status: 403, typ: urnUnauthorized, detail: "another account",
			req: func(t *testing.T) *rawResponse {
				return w.post(w.other, w.readyFinalize, []byte(`{"csr":"`+b64(good(t))+`"}`))
			}},
		{name: "finalize/unknown order", status: 404, typ: urnMalformed, detail: "order not found",
			req: func(t *testing.T) *rawResponse { return fin(w.base+"/order/does-not-exist/finalize", good(t)) }},
		{name: "finalize/POST-as-GET", status: 400, typ: urnMalformed, detail: "needs a JSON payload",
			req: func(*testing.T) *rawResponse { return w.post(g, w.readyFinalize, nil) }},
		{name: "finalize/CSR not base64url", status: 400, typ: urnBadCSR, detail: "base64url",
			req: func(*testing.T) *rawResponse { return w.post(g, w.readyFinalize, []byte(`{"csr":"!!!"}`)) }},
		{name: "finalize/CSR not DER", status: 400, typ: urnBadCSR, detail: "could not be parsed",
			req: func(*testing.T) *rawResponse { return ready([]byte("not a certificate request")) }},
		{name: "finalize/CSR with 101 names", status: 400, typ: urnBadCSR, detail: "not in the order",
			req: func(t *testing.T) *rawResponse {
				names := append([]string{}, w.readyNames...)
				for i := len(names); i < 101; i++ {
					names = append(names, fmt.Sprintf("n%d.example.com", i))
				}
				return ready(csrFor(t, names, newECKey(t), nil))
			}},
		// RFC 2986 §3: the signature is the proof of possession.
		{name: "finalize/CSR whose signature does not verify", status: 400, typ: urnBadCSR, detail: "signature does not verify",
			req: func(t *testing.T) *rawResponse {
				der := good(t)
				der[len(der)-1] ^= 0x01 // the signature's last byte
				return ready(der)
			}},
		// RFC 8555 §7.4: exactly the order's identifiers.
		{name: "finalize/CSR with an extra name", status: 400, typ: urnBadCSR, detail: "not in the order: dns:extra.example.com",
			req: func(t *testing.T) *rawResponse {
				return ready(csrFor(t, append(append([]string{}, w.readyNames...), "extra.example.com"), newECKey(t), nil))
			}},
		{name: "finalize/CSR with a missing name", status: 400, typ: urnBadCSR, detail: "missing from the CSR: dns:ready2.example.com",
			req: func(t *testing.T) *rawResponse { return ready(csrFor(t, w.readyNames[:1], newECKey(t), nil)) }},
		// Boulder refuses the account key as certificate key too.
		{name: "finalize/CSR reusing the account key", status: 400, typ: urnBadCSR, detail: "is the account key",
			req: func(t *testing.T) *rawResponse { return ready(csrFor(t, w.readyNames, g.key, nil)) }},
		// RFC 8555 §6.7 gives "a short key" as its example of badCSR.
		{name: "finalize/CSR with a 1024-bit RSA key", status: 400, typ: urnBadCSR, detail: "minimum is 2048",
			req: func(t *testing.T) *rawResponse {
				k, err := rsa.GenerateKey(rand.Reader, 1024)
				if err != nil {
					t.Fatal(err)
				}
				return ready(csrFor(t, w.readyNames, k, nil))
			}},
		{name: "finalize/CSR with an Ed25519 key", status: 400, typ: urnBadCSR, detail: "Ed25519",
			req: func(t *testing.T) *rawResponse {
				_, k, err := ed25519.GenerateKey(rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				return ready(csrFor(t, w.readyNames, k, nil))
			}},
		{name: "finalize/CSR with an e-mail SAN", status: 400, typ: urnBadCSR, detail: "e-mail address",
			req: func(t *testing.T) *rawResponse {
				return ready(csrFor(t, w.readyNames, newECKey(t), func(r *x509.CertificateRequest) { r.EmailAddresses = []string{"a@example.com"} }))
			}},
		{name: "finalize/CSR common name not among its SANs", status: 400, typ: urnBadCSR, detail: "common name",
			req: func(t *testing.T) *rawResponse {
				return ready(csrFor(t, w.readyNames, newECKey(t), func(r *x509.CertificateRequest) { r.Subject = pkix.Name{CommonName: "cn.example.com"} }))
			}},
	}
}

func (w *hostileWorld) resourceCases() []hostileCase {
	g := w.good
	return []hostileCase{
		{name: "order/POST-as-GET with a non-empty payload", status: 400, typ: urnMalformed, detail: "POST-as-GET",
			req: func(*testing.T) *rawResponse { return w.post(g, w.pendingOrder, []byte(`{}`)) }},
		{name: "order/of another account", status: 403, typ: urnUnauthorized, detail: "another account",
			req: func(*testing.T) *rawResponse { return w.post(w.other, w.pendingOrder, nil) }},
		{name: "order/of another directory", status: 404, typ: urnMalformed, detail: "order not found",
			req: func(*testing.T) *rawResponse { return w.post(w.foreign, w.sameIDIn("other", w.pendingOrder), nil) }},
		{name: "order/unknown", status: 404, typ: urnMalformed, detail: "order not found",
			req: func(*testing.T) *rawResponse { return w.post(g, w.base+"/order/nope", nil) }},
		{name: "certificate/of another account", status: 403, typ: urnUnauthorized, detail: "another account",
			req: func(*testing.T) *rawResponse { return w.post(w.other, w.validCert, nil) }},
		{name: "certificate/POST-as-GET with a non-empty payload", status: 400, typ: urnMalformed, detail: "POST-as-GET",
			req: func(*testing.T) *rawResponse { return w.post(g, w.validCert, []byte(`{}`)) }},
		{name: "certificate/unknown", status: 404, typ: urnMalformed, detail: "certificate not found",
			req: func(*testing.T) *rawResponse { return w.post(g, w.base+"/cert/does-not-exist", nil) }},
		{name: "certificate/unknown alternate chain", status: 404, typ: urnMalformed, detail: "alternate chain not found",
			req: func(*testing.T) *rawResponse { return w.post(g, w.validCert+"/7", nil) }},
	}
}

// foreignCert is a self-signed certificate this server never issued.
func foreignCert(t *testing.T) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "valid.example.com"},
		DNSNames: []string{"valid.example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	k := newECKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (w *hostileWorld) revokeCases() []hostileCase {
	u := w.base + "/revoke-cert"
	body := func(der []byte, reason int) []byte {
		b, _ := json.Marshal(map[string]any{"certificate": b64(der), "reason": reason})
		return b
	}
	return []hostileCase{
		// RFC 8555 §7.6: only the issuing account, an account with valid
		// authorizations for every name, or the certificate's key.
		{name: "revokeCert/by an account that does not own the certificate", status: 403, typ: urnUnauthorized, detail: "neither ordered",
			req: func(*testing.T) *rawResponse { return w.post(w.other, u, body(w.validDER, 0)) }},
		{name: "revokeCert/signed by an unrelated key", status: 403, typ: urnUnauthorized, detail: "neither by an account nor",
			req: func(*testing.T) *rawResponse {
				c := w.e.rawClient()
				return c.post(u, c.jws(c.header(u), body(w.validDER, 0)))
			}},
		// RFC 5280 §5.3.1 has no code 7.
		{name: "revokeCert/unknown reason code", status: 400, typ: urnBadRevocationReason, detail: "reason code 7",
			req: func(*testing.T) *rawResponse { return w.post(w.good, u, body(w.validDER, 7)) }},
		// cACompromise is the CA's to declare, not a subscriber's.
		{name: "revokeCert/reason reserved to the CA", status: 400, typ: urnBadRevocationReason, detail: "reason code 2",
			req: func(*testing.T) *rawResponse { return w.post(w.good, u, body(w.validDER, 2)) }},
		{name: "revokeCert/already revoked", status: 400, typ: urnAlreadyRevoked, detail: "revoked at",
			req: func(*testing.T) *rawResponse { return w.post(w.good, u, body(w.revokedDER, 1)) }},
		{name: "revokeCert/certificate not issued here", status: 404, typ: urnMalformed, detail: "not issued by this directory",
			req: func(t *testing.T) *rawResponse { return w.post(w.good, u, body(foreignCert(t), 0)) }},
		{name: "revokeCert/certificate not DER", status: 400, typ: urnMalformed, detail: "could not be parsed",
			req: func(*testing.T) *rawResponse { return w.post(w.good, u, body([]byte("not a certificate"), 0)) }},
		{name: "revokeCert/POST-as-GET", status: 400, typ: urnMalformed, detail: "needs a JSON payload",
			req: func(*testing.T) *rawResponse { return w.post(w.good, u, nil) }},
	}
}

func (w *hostileWorld) renewalInfoCases() []hostileCase {
	get := func(id string) func(*testing.T) *rawResponse {
		return func(*testing.T) *rawResponse {
			return w.good.send(http.MethodGet, w.base+"/renewal-info/"+id, "", nil)
		}
	}
	aki, serial, _ := strings.Cut(w.validCertID, ".")
	otherAKI := base64.RawURLEncoding.EncodeToString([]byte("another issuer's key id"))
	return []hostileCase{
		// RFC 9773 §4.1: base64url(AKI) "." base64url(serial).
		{name: "renewalInfo/certID without a dot", status: 400, typ: urnMalformed, detail: "not an ARI certificate identifier",
			req: get(aki + serial)},
		{name: "renewalInfo/certID not base64url", status: 400, typ: urnMalformed, detail: "not an ARI certificate identifier",
			req: get("%21%21." + serial)},
		{name: "renewalInfo/certID with an empty serial", status: 400, typ: urnMalformed, detail: "not an ARI certificate identifier",
			req: get(aki + ".")},
		{name: "renewalInfo/unknown certificate", status: 404, typ: urnMalformed, detail: "certificate not found",
			req: get(aki + "." + base64.RawURLEncoding.EncodeToString([]byte{0x7f, 1, 2, 3, 4, 5, 6, 7}))},
		// The serial exists but under another issuer: not this
		// certificate.
		{name: "renewalInfo/known serial under another issuer", status: 404, typ: urnMalformed, detail: "certificate not found",
			req: get(otherAKI + "." + serial)},
		{name: "renewalInfo/POST", status: 405, typ: urnMalformed, detail: "not allowed", allow: "GET",
			req: func(*testing.T) *rawResponse {
				u := w.base + "/renewal-info/" + w.validCertID
				return w.post(w.good, u, nil)
			}},
	}
}

func (w *hostileWorld) routingCases() []hostileCase {
	send := func(method, u string) func(*testing.T) *rawResponse {
		return func(*testing.T) *rawResponse { return w.good.send(method, u, "", nil) }
	}
	return []hostileCase{
		{name: "routing/POST to newNonce", status: 405, typ: urnMalformed, detail: "not allowed", allow: "GET, HEAD",
			req: func(*testing.T) *rawResponse { return w.post(w.good, w.base+"/new-nonce", nil) }},
		{name: "routing/GET on newOrder", status: 405, typ: urnMalformed, detail: "not allowed", allow: "POST",
			req: send(http.MethodGet, w.base+"/new-order")},
		{name: "routing/GET on an account", status: 405, typ: urnMalformed, detail: "not allowed", allow: "POST",
			req: send(http.MethodGet, w.good.kid)},
		{name: "routing/GET on an order", status: 405, typ: urnMalformed, detail: "not allowed", allow: "POST",
			req: send(http.MethodGet, w.pendingOrder)},
		{name: "routing/DELETE on the directory", status: 405, typ: urnMalformed, detail: "not allowed", allow: "GET",
			req: send(http.MethodDelete, w.e.url+"/directory")},
		// RFC 8555 names no type for an unknown resource; Boulder and
		// Pebble answer malformed with 404.
		{name: "routing/unknown route", status: 404, typ: urnMalformed, detail: "not found",
			req: func(*testing.T) *rawResponse { return w.post(w.good, w.base+"/does-not-exist", nil) }},
		{name: "routing/unknown directory", status: 404, typ: urnMalformed, detail: `directory "nope"`,
			req: func(*testing.T) *rawResponse {
				return w.post(w.good, w.e.url+"/acme/nope/new-order", []byte(orderOf("a.example.com")))
			}},
	}
}
