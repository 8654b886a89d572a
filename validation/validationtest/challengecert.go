package validationtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ACMETLS1Protocol is the ALPN protocol a tls-alpn-01 responder must
// negotiate (RFC 8737 §6.2).
const ACMETLS1Protocol = "acme-tls/1"

// OIDACMEIdentifier returns id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31
// (RFC 8737 §6.1).
func OIDACMEIdentifier() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}
}

// ChallengeCert builds the self-signed tls-alpn-01 validation certificate
// for identifier (a DNS name, or an IP address for RFC 8738) and the key
// authorization keyAuth (RFC 8737 §3): a subjectAltName holding only the
// identifier (dNSName, or iPAddress) and a critical acmeIdentifier extension
// holding the DER OCTET STRING of SHA-256(keyAuth). The key is a fresh
// ECDSA P-256 key; the certificate is valid from an hour ago for a day.
func ChallengeCert(identifier, keyAuth string) (tls.Certificate, error) {
	sum := sha256.Sum256([]byte(keyAuth))
	// RFC 8737 §3: Authorization ::= OCTET STRING (SIZE (32)).
	value, err := asn1.Marshal(sum[:])
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("validationtest: encode acmeIdentifier: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject: pkix.Name{CommonName: "ACME tls-alpn-01 challenge"},
		ExtraExtensions: []pkix.Extension{
			{Id: OIDACMEIdentifier(), Critical: true, Value: value},
		},
	}
	if a, err := netip.ParseAddr(identifier); err == nil {
		tmpl.IPAddresses = []net.IP{a.AsSlice()}
	} else {
		tmpl.DNSNames = []string{identifier}
	}
	return SelfSigned(tmpl)
}

// SelfSigned completes tmpl (serial number, validity, key usage, when
// unset) and signs it with a fresh ECDSA P-256 key. Tests use it to build
// deliberately wrong challenge certificates.
func SelfSigned(tmpl *x509.Certificate) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("validationtest: generate key: %w", err)
	}
	if tmpl.SerialNumber == nil {
		serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("validationtest: serial: %w", err)
		}
		tmpl.SerialNumber = serial
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = tmpl.NotBefore.Add(25 * time.Hour)
	}
	if tmpl.KeyUsage == 0 {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	if tmpl.ExtKeyUsage == nil {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("validationtest: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("validationtest: parse certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// ServerName returns the TLS SNI a tls-alpn-01 validator sends for
// identifier: the name itself, lowercase, or for an IP address its reverse
// mapping name such as "1.0.0.127.in-addr.arpa" (RFC 8738 §6).
func ServerName(identifier string) string {
	if a, err := netip.ParseAddr(identifier); err == nil {
		arpa, err := dns.ReverseAddr(a.String())
		if err == nil {
			return strings.TrimSuffix(arpa, ".")
		}
	}
	return strings.ToLower(strings.TrimSuffix(identifier, "."))
}
