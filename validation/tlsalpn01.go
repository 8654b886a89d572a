package validation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// acmeTLS1 is the ALPN protocol of tls-alpn-01 (RFC 8737 §6.2).
const acmeTLS1 = "acme-tls/1"

// oidACMEIdentifier is id-pe-acmeIdentifier (RFC 8737 §6.1).
func oidACMEIdentifier() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}
}

// oidSubjectAltName is id-ce-subjectAltName (RFC 5280 §4.2.1.6).
func oidSubjectAltName() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{2, 5, 29, 17} }

// validateTLSALPN01 implements RFC 8737 §3 (and RFC 8738 §6 for IP
// identifiers).
func (v *Validator) validateTLSALPN01(ctx context.Context, t target) *Error {
	// RFC 8737 §3: the SNI is the domain name being validated. RFC 8738 §6:
	// for an IP address it is the reverse mapping name ("in-addr.arpa" or
	// "ip6.arpa"), as an IP address is not allowed in SNI.
	sni := t.name
	if t.ip.IsValid() {
		arpa, err := dns.ReverseAddr(t.ip.String())
		if err != nil {
			return failf(KindMalformed, err, "tls-alpn-01: no reverse name for %s", t.ip)
		}
		sni = strings.TrimSuffix(arpa, ".")
	}
	conn, ferr := v.dialTCP(ctx, ChallengeTLSALPN01, t.host(), v.tlsALPNPort)
	if ferr != nil {
		return ferr
	}
	defer conn.Close()
	addr := conn.RemoteAddr().String()

	tc := tls.Client(conn, &tls.Config{
		ServerName: sni,
		// RFC 8737 §3: offer acme-tls/1 and nothing else.
		NextProtos: []string{acmeTLS1},
		// The certificate is self-signed by design; it is checked below.
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS12,
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		if ctx.Err() != nil {
			return failf(KindConnection, err, "tls-alpn-01: TLS handshake with %s (SNI %q) timed out (limit %v)", addr, sni, v.timeout)
		}
		return failf(KindTLS, err, "tls-alpn-01: TLS handshake with %s (SNI %q) failed: %v", addr, sni, err)
	}
	state := tc.ConnectionState()
	// RFC 8737 §3: the server MUST verify "that the ACME-TLS/1 Protocol was
	// negotiated in the handshake".
	if state.NegotiatedProtocol != acmeTLS1 {
		return failf(KindUnauthorized, nil, "tls-alpn-01: %s (SNI %q) did not negotiate the %q ALPN protocol (negotiated %q)",
			addr, sni, acmeTLS1, state.NegotiatedProtocol)
	}
	if len(state.PeerCertificates) == 0 {
		return failf(KindUnauthorized, nil, "tls-alpn-01: %s (SNI %q) presented no certificate", addr, sni)
	}
	if err := checkChallengeCert(state.PeerCertificates[0], t); err != nil {
		return failf(KindUnauthorized, err, "tls-alpn-01: certificate from %s (SNI %q) %v", addr, sni, err)
	}
	return nil
}

// checkChallengeCert checks the RFC 8737 §3 requirements on the validation
// certificate. Its errors complete the sentence "certificate from X ...".
func checkChallengeCert(cert *x509.Certificate, t target) error {
	// RFC 8737 §3: the certificate "contains a subjectAltName extension
	// containing the dNSName being validated and no other entries"
	// (RFC 8738 §6: "an iPAddress ... containing the IP address being
	// validated"). Parse the extension raw: crypto/x509 ignores name forms
	// it does not know, which would hide extra entries.
	var sanExt *[]byte
	for i := range cert.Extensions {
		if cert.Extensions[i].Id.Equal(oidSubjectAltName()) {
			sanExt = &cert.Extensions[i].Value
		}
	}
	if sanExt == nil {
		return errors.New("has no subjectAltName extension")
	}
	names, err := parseGeneralNames(*sanExt)
	if err != nil {
		return fmt.Errorf("has a malformed subjectAltName extension: %w", err)
	}
	want := generalName{tag: tagDNSName, value: []byte(t.name)}
	if t.ip.IsValid() {
		want = generalName{tag: tagIPAddress, value: t.ip.AsSlice()}
	}
	if len(names) != 1 || !names[0].equal(want) {
		return fmt.Errorf("has subjectAltName %s, want exactly %s", describeNames(names), want)
	}

	// RFC 8737 §3: the certificate "contains the acmeIdentifier extension
	// ... marked critical ... [whose] extnValue ... MUST contain the ASN.1
	// DER encoding of the Authorization structure, which contains the
	// SHA-256 digest of the key authorization":
	//
	//	Authorization ::= OCTET STRING (SIZE (32))
	var ext *[]byte
	critical := false
	for i := range cert.Extensions {
		if cert.Extensions[i].Id.Equal(oidACMEIdentifier()) {
			ext, critical = &cert.Extensions[i].Value, cert.Extensions[i].Critical
		}
	}
	if ext == nil {
		return fmt.Errorf("has no acmeIdentifier extension (%s)", oidACMEIdentifier())
	}
	if !critical {
		return errors.New("has an acmeIdentifier extension that is not marked critical")
	}
	var digest []byte
	rest, err := asn1.Unmarshal(*ext, &digest)
	if err != nil || len(rest) != 0 || len(digest) != sha256.Size {
		return fmt.Errorf("has a malformed acmeIdentifier extension: want a DER OCTET STRING of %d bytes, got % x", sha256.Size, truncBytes(*ext))
	}
	sum := sha256.Sum256([]byte(t.KeyAuthorization))
	if subtle.ConstantTimeCompare(digest, sum[:]) != 1 {
		return fmt.Errorf("has acmeIdentifier digest %x, want %x (SHA-256 of the key authorization)", digest, sum)
	}
	return nil
}

// GeneralName tags (RFC 5280 §4.2.1.6) used by the challenge.
const (
	tagDNSName   = 2
	tagIPAddress = 7
)

// generalName is one entry of a subjectAltName, undecoded.
type generalName struct {
	tag   int
	value []byte
}

func (g generalName) equal(o generalName) bool {
	if g.tag != o.tag {
		return false
	}
	if g.tag == tagDNSName { // DNS names compare case-insensitively
		return strings.EqualFold(string(g.value), string(o.value))
	}
	return bytes.Equal(g.value, o.value)
}

// String renders the entry for a Detail.
func (g generalName) String() string {
	switch g.tag {
	case tagDNSName:
		return fmt.Sprintf("dNSName %s", quote(string(g.value)))
	case tagIPAddress:
		if a, ok := netip.AddrFromSlice(g.value); ok {
			return "iPAddress " + a.String()
		}
		return fmt.Sprintf("iPAddress % x", truncBytes(g.value))
	}
	kinds := map[int]string{0: "otherName", 1: "rfc822Name", 3: "x400Address", 4: "directoryName",
		5: "ediPartyName", 6: "uniformResourceIdentifier", 8: "registeredID"}
	if k, ok := kinds[g.tag]; ok {
		return k
	}
	return fmt.Sprintf("GeneralName [%d]", g.tag)
}

func describeNames(names []generalName) string {
	if len(names) == 0 {
		return "with no entries"
	}
	parts := make([]string, 0, len(names))
	for i, n := range names {
		if i == maxListed {
			parts = append(parts, fmt.Sprintf("and %d more", len(names)-maxListed))
			break
		}
		parts = append(parts, n.String())
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// parseGeneralNames decodes a subjectAltName extension value:
// GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName.
func parseGeneralNames(der []byte) ([]generalName, error) {
	var seq asn1.RawValue
	rest, err := asn1.Unmarshal(der, &seq)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 || seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return nil, errors.New("not a SEQUENCE")
	}
	var out []generalName
	for in := seq.Bytes; len(in) > 0; {
		var gn asn1.RawValue
		if in, err = asn1.Unmarshal(in, &gn); err != nil {
			return nil, err
		}
		if gn.Class != asn1.ClassContextSpecific {
			return nil, fmt.Errorf("entry with class %d, want context-specific", gn.Class)
		}
		out = append(out, generalName{tag: gn.Tag, value: gn.Bytes})
	}
	return out, nil
}

func truncBytes(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
