package policy

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// csrFor signs a CSR for tmpl with key and parses it back, as the finalize
// handler would.
func csrFor(t *testing.T, key crypto.Signer, tmpl x509.CertificateRequest) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &tmpl, key)
	if err != nil {
		t.Fatalf("CreateCertificateRequest: %v", err)
	}
	return parseCSR(t, der)
}

func parseCSR(t *testing.T, der []byte) *x509.CertificateRequest {
	t.Helper()
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatalf("ParseCertificateRequest: %v", err)
	}
	return csr
}

// sanExtension builds a subjectAltName extension from raw GeneralNames.
func sanExtension(t *testing.T, names ...asn1.RawValue) pkix.Extension {
	t.Helper()
	value, err := asn1.Marshal(names)
	if err != nil {
		t.Fatalf("marshalling the SAN: %v", err)
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: value}
}

func TestCheckCSR(t *testing.T) {
	t.Parallel()
	p := newPolicy(t, Config{})
	account := ecdsaKey(t, elliptic.P256())
	certKey := ecdsaKey(t, elliptic.P256())
	rsaCertKey := rsaKey(t)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	order := []Identifier{dns("a.example.com"), dns("b.example.com"), ip("192.0.2.1"), ip("2001:db8::1")}
	exact := x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "a.example.com"},
		DNSNames:    []string{"b.example.com", "a.example.com"},
		IPAddresses: []net.IP{net.ParseIP("2001:db8::1"), net.ParseIP("192.0.2.1")},
	}
	with := func(f func(*x509.CertificateRequest)) x509.CertificateRequest {
		tmpl := exact
		f(&tmpl)
		return tmpl
	}
	good := csrFor(t, certKey, exact)

	// A CSR whose signature no longer matches: the last byte of the DER is
	// the last byte of the signature.
	badSig := bytes.Clone(good.Raw)
	badSig[len(badSig)-1] ^= 0x01
	// A CSR whose signed content changed after signing.
	badTBS := bytes.Replace(good.Raw, []byte("b.example.com"), []byte("c.example.com"), 1)
	if bytes.Equal(badTBS, good.Raw) {
		t.Fatal("tampering with the CSR changed nothing")
	}

	tests := []struct {
		name    string
		csr     *x509.CertificateRequest
		order   []Identifier
		account crypto.PublicKey
		want    string // substring of the badCSR detail; "" for acceptance
	}{
		{name: "exact match in another order", csr: good, order: order},
		{name: "RSA key", csr: csrFor(t, rsaCertKey, exact), order: order},
		{name: "RSA-PSS signature", csr: csrFor(t, rsaCertKey, with(func(r *x509.CertificateRequest) { r.SignatureAlgorithm = x509.SHA256WithRSAPSS })), order: order},
		{name: "ECDSA P-384 with SHA-384", csr: csrFor(t, ecdsaKey(t, elliptic.P384()), with(func(r *x509.CertificateRequest) { r.SignatureAlgorithm = x509.ECDSAWithSHA384 })), order: order},
		{name: "DNS names compared case-insensitively", csr: csrFor(t, certKey, with(func(r *x509.CertificateRequest) {
			r.DNSNames = []string{"A.Example.COM", "b.example.com"}
			r.Subject.CommonName = "A.EXAMPLE.com"
		})), order: order},
		{name: "order identifiers in non-canonical form", csr: good, order: []Identifier{dns("A.EXAMPLE.COM"), dns("b.example.com"), ip("192.0.2.1"), ip("2001:DB8:0::1")}},
		{name: "no common name", csr: csrFor(t, certKey, with(func(r *x509.CertificateRequest) { r.Subject = pkix.Name{} })), order: order},
		{name: "IP address as common name", csr: csrFor(t, certKey, with(func(r *x509.CertificateRequest) { r.Subject.CommonName = "192.0.2.1" })), order: order},
		{name: "repeated SAN", csr: csrFor(t, certKey, with(func(r *x509.CertificateRequest) { r.DNSNames = append(r.DNSNames, "a.example.com") })), order: order},
		{name: "wildcard", csr: csrFor(t, certKey, x509.CertificateRequest{DNSNames: []string{"*.example.com", "example.com"}}), order: []Identifier{dns("example.com"), dns("*.example.com")}},
		{name: "repeated order identifier", csr: good, order: append([]Identifier{dns("b.example.com")}, order...)},

		{name: "nil CSR", csr: nil, order: order, want: "no CSR"},
		{name: "extra name", csr: csrFor(t, certKey, with(func(r *x509.CertificateRequest) { r.DNSNames = append(r.DNSNames, "c.example.com") })), order: order, want: "do not match the order's identifiers; not in the order: dns:c.example.com"},
		{name: "missing name", csr: csrFor(t, certKey, with(func(r *x509.CertificateRequest) { r.IPAddresses = r.IPAddresses[:1] })), order: order, want: "do not match the order's identifiers; missing from the CSR: ip:192.0.2.1"},
		{
			name: "missing and extra names are all listed",
			csr: csrFor(t, certKey, x509.CertificateRequest{
				DNSNames:    []string{"a.example.com", "z.example.com", "y.example.com"},
				IPAddresses: []net.IP{net.ParseIP("192.0.2.2")},
			}),
			order: order,
			want:  "missing from the CSR: dns:b.example.com, ip:192.0.2.1, ip:2001:db8::1; not in the order: dns:y.example.com, dns:z.example.com, ip:192.0.2.2",
		},
		{
			// crypto/x509 writes IPv4-mapped addresses as 4 bytes, so the
			// 16-byte form is built by hand.
			name: "IPv4-mapped SAN is not the IPv4 identifier",
			csr: csrFor(t, certKey, x509.CertificateRequest{ExtraExtensions: []pkix.Extension{sanExtension(t,
				asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tagIPAddress, Bytes: net.ParseIP("::ffff:192.0.2.1").To16()},
			)}}),
			order: []Identifier{ip("192.0.2.1")},
			want:  "missing from the CSR: ip:192.0.2.1; not in the order: ip:::ffff:192.0.2.1",
		},
		{name: "IP SAN does not stand for a DNS identifier", csr: csrFor(t, certKey, x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP("192.0.2.1")}}), order: []Identifier{dns("192.0.2.1")}, want: "missing from the CSR: dns:192.0.2.1; not in the order: ip:192.0.2.1"},
		{name: "common name not among the SANs", csr: csrFor(t, certKey, with(func(r *x509.CertificateRequest) { r.Subject.CommonName = "c.example.com" })), order: order, want: `common name "c.example.com" is not one of its subjectAltName entries`},
		{name: "common name only", csr: csrFor(t, certKey, x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example.com"}}), order: []Identifier{dns("a.example.com")}, want: `common name "a.example.com" is not one of its subjectAltName entries`},
		{name: "e-mail SAN", csr: csrFor(t, certKey, with(func(r *x509.CertificateRequest) { r.EmailAddresses = []string{"admin@example.com"} })), order: order, want: "contains an e-mail address (rfc822Name); only DNS names and IP addresses are allowed"},
		{name: "URI SAN", csr: csrFor(t, certKey, with(func(r *x509.CertificateRequest) { r.URIs = []*url.URL{{Scheme: "spiffe", Host: "example.com"}} })), order: order, want: "contains a URI;"},
		{
			name: "registeredID SAN, which crypto/x509 does not surface",
			csr: csrFor(t, certKey, x509.CertificateRequest{ExtraExtensions: []pkix.Extension{sanExtension(t,
				asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tagDNSName, Bytes: []byte("a.example.com")},
				asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 8, Bytes: []byte{0x2a, 0x03}},
			)}}),
			order: []Identifier{dns("a.example.com")},
			want:  "contains a registeredID;",
		},
		{name: "account key reused", csr: good, order: order, account: &certKey.PublicKey, want: "the CSR public key is the account key"},
		{name: "account key reused, RSA", csr: csrFor(t, rsaCertKey, exact), order: order, account: &rsaCertKey.PublicKey, want: "the CSR public key is the account key"},
		{name: "signature bytes altered", csr: parseCSR(t, badSig), order: order, want: "signature does not verify"},
		{name: "signed content altered", csr: parseCSR(t, badTBS), order: order, want: "signature does not verify"},
		{name: "ECDSA with SHA-1", csr: csrFor(t, certKey, with(func(r *x509.CertificateRequest) { r.SignatureAlgorithm = x509.ECDSAWithSHA1 })), order: order, want: "signature algorithm ECDSA-SHA1 is not accepted"},
		{name: "RSA with SHA-1", csr: csrFor(t, rsaCertKey, with(func(r *x509.CertificateRequest) { r.SignatureAlgorithm = x509.SHA1WithRSA })), order: order, want: "signature algorithm SHA1-RSA is not accepted"},
		{name: "P-224 key", csr: csrFor(t, ecdsaKey(t, elliptic.P224()), exact), order: order, want: "the CSR public key is refused: ECDSA certificate keys on curve P-224 are not allowed"},
		{name: "P-521 key", csr: csrFor(t, ecdsaKey(t, elliptic.P521()), with(func(r *x509.CertificateRequest) { r.SignatureAlgorithm = x509.ECDSAWithSHA512 })), order: order, want: "curve P-521 are not allowed"},
		{name: "Ed25519 key", csr: csrFor(t, edKey, exact), order: order, want: "the CSR public key is refused: Ed25519 certificate keys are not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			acct := tc.account
			if acct == nil {
				acct = &account.PublicKey
			}
			err := p.CheckCSR(tc.csr, tc.order, acct)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckCSR: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckCSR: nil, want a refusal containing %q", tc.want)
			}
			checkError(t, err, wantErr{Kind: KindBadCSR, Detail: tc.want})
		})
	}
}

func TestSameKey(t *testing.T) {
	t.Parallel()
	a := ecdsaKey(t, elliptic.P256())
	b := ecdsaKey(t, elliptic.P256())
	pubCopy := a.PublicKey
	tests := []struct {
		name string
		x, y crypto.PublicKey
		want bool
	}{
		{name: "same pointer", x: &a.PublicKey, y: &a.PublicKey, want: true},
		{name: "equal copies", x: &a.PublicKey, y: &pubCopy, want: true},
		{name: "different keys", x: &a.PublicKey, y: &b.PublicKey, want: false},
		{name: "nil account key", x: &a.PublicKey, y: nil, want: false},
		{name: "value and pointer", x: a.PublicKey, y: &pubCopy, want: true},
		{name: "pointer and value", x: &a.PublicKey, y: pubCopy, want: true},
		{name: "RSA and ECDSA", x: &rsaKey(t).PublicKey, y: &a.PublicKey, want: false},
		{name: "key without Equal", x: struct{}{}, y: struct{}{}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := sameKey(tc.x, tc.y); got != tc.want {
				t.Errorf("sameKey = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUnsupportedSANs(t *testing.T) {
	t.Parallel()
	san := func(names ...asn1.RawValue) []pkix.Extension { return []pkix.Extension{sanExtension(t, names...)} }
	tagged := func(tag int) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: tag == 0 || tag == 4, Bytes: []byte{}}
	}
	tests := []struct {
		name string
		exts []pkix.Extension
		want []string
	}{
		{name: "no extensions", want: nil},
		{name: "DNS and IP only", exts: san(tagged(tagDNSName), tagged(tagIPAddress)), want: nil},
		{name: "each other form named", exts: san(tagged(0), tagged(1), tagged(3), tagged(4), tagged(5), tagged(6), tagged(8)), want: []string{
			"an otherName", "an e-mail address (rfc822Name)", "an x400Address", "a directoryName", "an ediPartyName", "a URI", "a registeredID",
		}},
		{name: "universal-class entry", exts: san(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagUTF8String, Bytes: []byte("x")}), want: []string{"an entry of an unknown form"}},
		{name: "SAN not a sequence", exts: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: []byte{0x30, 0x05}}}, want: []string{"an unparseable entry"}},
		{name: "truncated entry", exts: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: []byte{0x30, 0x02, 0x82, 0x05}}}, want: []string{"an unparseable entry"}},
		{name: "other extensions ignored", exts: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 15}, Value: []byte{0x30, 0x02, 0x81, 0x00}}}, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := unsupportedSANs(&x509.CertificateRequest{Extensions: tc.exts})
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("unsupportedSANs (-want +got):\n%s", diff)
			}
		})
	}
}
