package digicerttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// Common names of the fake's CA certificates, shaped like DigiCert's.
const (
	RootCommonName         = "Fake DigiCert Global Root G2"
	IntermediateCommonName = "Fake DigiCert Global G2 TLS RSA SHA256 2020 CA1"
)

// testCA is the in-memory hierarchy that signs the fake's certificates.
type testCA struct {
	root, inter *x509.Certificate
	interKey    crypto.Signer
}

func newTestCA(now time.Time) (*testCA, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	notBefore := now.Add(-time.Hour)
	rootTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: RootCommonName, Organization: []string{"Fake DigiCert Inc"}},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	root, err := sign(rootTmpl, nil, rootKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	interTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: IntermediateCommonName, Organization: []string{"Fake DigiCert Inc"}},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	inter, err := sign(interTmpl, root, interKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("intermediate: %w", err)
	}
	return &testCA{root: root, inter: inter, interKey: interKey}, nil
}

// sign fills the serial and key id of tmpl and signs it with key, under
// parent or self-signed when parent is nil.
func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1)) // never zero
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// issue signs a server certificate for csr's key, named commonName plus
// dnsNames (IP addresses among them become IP SANs), valid for days.
func (c *testCA) issue(csr *x509.CertificateRequest, commonName string, dnsNames []string, days int, now time.Time) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		NotBefore:   now.Add(-time.Minute),
		NotAfter:    now.Add(time.Duration(days) * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if _, isRSA := csr.PublicKey.(*rsa.PublicKey); isRSA {
		// RSA key transport (TLS 1.2 RSA key exchange) needs it.
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	seen := map[string]bool{}
	for _, n := range append([]string{commonName}, dnsNames...) {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	if tmpl.NotAfter.After(c.inter.NotAfter) {
		tmpl.NotAfter = c.inter.NotAfter
	}
	return sign(tmpl, c.inter, csr.PublicKey, c.interKey)
}

// serialHex is a serial number as DigiCert prints it: uppercase hex of the
// serial's bytes, e.g. "0669D46CAE79EF684A69777490602485".
func serialHex(serial *big.Int) string {
	return strings.ToUpper(hex.EncodeToString(serial.Bytes()))
}

// thumbprint is the SHA-1 of the DER, uppercase hex, as DigiCert shows it.
func thumbprint(der []byte) string {
	sum := sha1.Sum(der)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// pemCRLF encodes a certificate as PEM with \r\n line ends, as DigiCert's
// JSON does [ribose order_created_with_immediate_issuance.json].
func pemCRLF(der []byte) string {
	s := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// p7b is a degenerate PKCS #7 SignedData (RFC 2315 §9.1) carrying certs:
// no content, no signers, the shape of DigiCert's p7b download.
func p7b(certs ...[]byte) ([]byte, error) {
	var raw []byte
	for _, c := range certs {
		raw = append(raw, c...)
	}
	type contentInfo struct {
		ContentType asn1.ObjectIdentifier
	}
	type signedData struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		ContentInfo      contentInfo
		Certificates     asn1.RawValue // [0] IMPLICIT SET OF Certificate
		SignerInfos      asn1.RawValue
	}
	emptySet := asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: []byte{}}
	sd, err := asn1.Marshal(signedData{
		Version:          1,
		DigestAlgorithms: emptySet,
		ContentInfo:      contentInfo{ContentType: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: raw},
		SignerInfos:      emptySet,
	})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue // [0] EXPLICIT SignedData
	}{
		ContentType: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2},
		Content:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd},
	})
}

// Root returns the fake's root certificate, which no chain it serves
// through the backend should contain.
func (s *Server) Root() *x509.Certificate { return s.ca.root }

// Intermediate returns the certificate that signs the fake's leaves.
func (s *Server) Intermediate() *x509.Certificate { return s.ca.inter }
