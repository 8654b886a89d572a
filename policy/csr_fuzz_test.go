package policy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// FuzzCSR checks finalize CSRs (RFC 8555 §7.4) against an order. In raw
// mode the fuzzer writes the DER itself; in built mode it chooses the names
// (IP-looking ones go in as addresses), common name, extra e-mail and URI
// names and the key (a good certificate key, the account key, an RSA key, a
// P-521 or Ed25519 key the default policy refuses for certificates), and
// may then change one byte of the signed DER. The order's identifiers are
// a second fuzzed list, normalised as newOrder stores them.
//
// Invariants: a CSR that names exactly the order's identifiers with a good
// key is accepted; an accepted CSR has an accepted signature algorithm, a
// signature that verifies, a key the certificate policy accepts that is
// not the account key, no subjectAltName other than DNS names and
// addresses, names that are exactly the order's identifiers (compared as
// lower-case names and canonical addresses), and a common name that is one
// of them; every refusal is a badCSR *Error.
func FuzzCSR(f *testing.F) {
	p, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	account := mustECDSA(f, elliptic.P256())
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	rsaK, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	good := mustECDSA(f, elliptic.P256())
	signers := []crypto.Signer{good, account, rsaK, mustECDSA(f, elliptic.P384()), mustECDSA(f, elliptic.P521()), edKey}

	f.Fuzz(func(t *testing.T, mode uint8, der []byte, names, cn, order string, pos uint16, flip uint8) {
		var orderIDs []Identifier
		for _, n := range strings.Split(order, ",") {
			if n == "" {
				continue
			}
			id := Identifier{Type: TypeDNS, Value: n}
			if _, err := netip.ParseAddr(n); err == nil {
				id.Type = TypeIP
			}
			orderIDs = append(orderIDs, id)
		}
		normalised := false
		if norm, err := p.CheckIdentifiers(orderIDs); err == nil {
			orderIDs, normalised = norm, true
		}

		complete := false
		if mode%2 == 1 {
			var tmpl x509.CertificateRequest
			tmpl.Subject = pkix.Name{CommonName: cn}
			for _, n := range strings.Split(names, ",") {
				if ip := net.ParseIP(n); ip != nil {
					tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
				} else if n != "" {
					tmpl.DNSNames = append(tmpl.DNSNames, n)
				}
			}
			extras := int(mode) / 2 % 4 // 1: an e-mail SAN, 2: a URI SAN
			if extras == 1 {
				tmpl.EmailAddresses = []string{"ops@example.com"}
			}
			if extras == 2 {
				tmpl.URIs = []*url.URL{{Scheme: "https", Host: "example.com"}}
			}
			ki := int(mode) / 8 % len(signers)
			var err error
			if der, err = x509.CreateCertificateRequest(rand.Reader, &tmpl, signers[ki]); err != nil {
				return // a template crypto/x509 will not encode
			}
			flipped := mode/64%2 == 1
			if flipped && len(der) > 0 {
				if flip == 0 {
					flip = 1
				}
				der[int(pos)%len(der)] ^= flip
			}
			complete = normalised && !flipped && ki == 0 && extras == 0 && cn == "" && names == joinValues(orderIDs)
		}

		csr, err := x509.ParseCertificateRequest(der)
		if err != nil {
			if complete {
				t.Fatalf("a CSR crypto/x509 made does not parse: %v", err)
			}
			return
		}
		err = p.CheckCSR(csr, orderIDs, account.Public())
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Kind != KindBadCSR {
				t.Fatalf("refusal is not a badCSR *policy.Error: %v", err)
			}
			if complete {
				t.Fatalf("refused a CSR naming exactly %q with a good key: %v", orderIDs, err)
			}
			return
		}

		if !acceptedCSRSignature(csr.SignatureAlgorithm) {
			t.Fatalf("accepted signature algorithm %s", csr.SignatureAlgorithm)
		}
		if err := csr.CheckSignature(); err != nil {
			t.Fatalf("accepted a CSR whose signature does not verify: %v", err)
		}
		switch k := csr.PublicKey.(type) {
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
				t.Fatalf("accepted a certificate key on %s", k.Curve.Params().Name)
			}
		case *rsa.PublicKey:
			if n := k.N.BitLen(); n < 2048 || n > 8192 || k.E < 3 || k.E%2 == 0 {
				t.Fatalf("accepted an RSA key of %d bits, exponent %d", n, k.E)
			}
		default:
			t.Fatalf("accepted a certificate key of type %T", csr.PublicKey)
		}
		if account.PublicKey.Equal(csr.PublicKey) {
			t.Fatal("accepted the account key as certificate key")
		}
		if len(csr.EmailAddresses)+len(csr.URIs) > 0 {
			t.Fatalf("accepted e-mail %q / URI %v names", csr.EmailAddresses, csr.URIs)
		}
		checkSANForms(t, csr)
		inCSR := map[string]bool{}
		for _, n := range csr.DNSNames {
			inCSR["dns:"+strings.ToLower(n)] = true
		}
		for _, ip := range csr.IPAddresses {
			a, ok := netip.AddrFromSlice(ip)
			if !ok {
				t.Fatalf("accepted address %v", ip)
			}
			inCSR["ip:"+a.String()] = true
		}
		inOrder := map[string]bool{}
		for _, id := range orderIDs {
			inOrder[string(id.Type)+":"+normalForm(id)] = true
		}
		if len(inCSR) != len(inOrder) {
			t.Fatalf("accepted CSR names %v for order %v", inCSR, inOrder)
		}
		for k := range inCSR {
			if !inOrder[k] {
				t.Fatalf("accepted CSR name %s, not in order %v", k, inOrder)
			}
		}
		if c := csr.Subject.CommonName; c != "" && !inCSR["dns:"+strings.ToLower(c)] && !inCSR["ip:"+normalForm(Identifier{Type: TypeIP, Value: c})] {
			t.Fatalf("accepted common name %q, not among %v", c, inCSR)
		}
	})
}

func mustECDSA(tb testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// joinValues is the comma-separated values of ids.
func joinValues(ids []Identifier) string {
	vs := make([]string, len(ids))
	for i, id := range ids {
		vs[i] = id.Value
	}
	return strings.Join(vs, ",")
}

// checkSANForms reads the subjectAltName extensions of an accepted CSR
// directly: every GeneralName is a dNSName or an iPAddress (RFC 5280
// §4.2.1.6).
func checkSANForms(t *testing.T, csr *x509.CertificateRequest) {
	t.Helper()
	for _, ext := range csr.Extensions {
		if !ext.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 17}) {
			continue
		}
		var names []asn1.RawValue
		if _, err := asn1.Unmarshal(ext.Value, &names); err != nil {
			t.Fatalf("accepted an unparseable subjectAltName: %v", err)
		}
		for _, gn := range names {
			if gn.Class != asn1.ClassContextSpecific || (gn.Tag != 2 && gn.Tag != 7) {
				t.Fatalf("accepted a GeneralName of class %d tag %d", gn.Class, gn.Tag)
			}
		}
	}
}
