package sectigotest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// testCA is the fake's issuing hierarchy: a root, a line of intermediates
// each signed by the one above, leaves signed by the last. It also signs the
// fake's own TLS server certificate and a client certificate the fake
// accepts.
type testCA struct {
	root *x509.Certificate
	// inters runs from the root's child down to the issuing CA.
	inters []*x509.Certificate
	key    crypto.Signer // the issuing CA's key
}

// caLifetime outlives any term a test asks for.
const caLifetime = 20 * 365 * 24 * time.Hour

func newTestCA(intermediates int, now time.Time) (*testCA, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	root, err := signCA(pkix.Name{CommonName: "sectigotest Root CA", Organization: []string{"sectigotest"}}, rootKey, nil, rootKey, now)
	if err != nil {
		return nil, err
	}
	ca := &testCA{root: root}
	parent, parentKey := root, crypto.Signer(rootKey)
	for i := range intermediates {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		name := pkix.Name{CommonName: fmt.Sprintf("sectigotest Intermediate CA %d", i+1), Organization: []string{"sectigotest"}}
		inter, err := signCA(name, key, parent, parentKey, now)
		if err != nil {
			return nil, err
		}
		ca.inters = append(ca.inters, inter)
		parent, parentKey = inter, key
	}
	ca.key = parentKey
	return ca, nil
}

// signCA makes a CA certificate for key, self-signed when parent is nil.
func signCA(name pkix.Name, key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer, now time.Time) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               name,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// issuer returns the certificate that signs leaves.
func (c *testCA) issuer() *x509.Certificate {
	if len(c.inters) == 0 {
		return c.root
	}
	return c.inters[len(c.inters)-1]
}

// chainAbove returns the issuing CA up to the root, in that order.
func (c *testCA) chainAbove() []*x509.Certificate {
	out := make([]*x509.Certificate, 0, len(c.inters)+1)
	for i := len(c.inters) - 1; i >= 0; i-- {
		out = append(out, c.inters[i])
	}
	return append(out, c.root)
}

// issueLeaf signs a certificate for pub naming cn and sans.
func (c *testCA) issueLeaf(pub crypto.PublicKey, cn string, sans []string, notBefore, notAfter time.Time, extKeyUsage []x509.ExtKeyUsage) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := pub.(*rsa.PublicKey); ok {
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           extKeyUsage,
		BasicConstraintsValid: true,
	}
	for _, n := range sans {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	if notAfter.After(c.issuer().NotAfter) {
		tmpl.NotAfter = c.issuer().NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.issuer(), pub, c.key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// tlsCertificate returns a key pair signed by the issuing CA for use in TLS,
// with the issuing chain attached so peers that trust the root verify it.
func (c *testCA) tlsCertificate(cn string, sans []string, usage x509.ExtKeyUsage, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := c.issueLeaf(key.Public(), cn, sans, now.Add(-time.Hour), now.Add(24*time.Hour), []x509.ExtKeyUsage{usage})
	if err != nil {
		return tls.Certificate{}, err
	}
	out := tls.Certificate{PrivateKey: key, Leaf: leaf, Certificate: [][]byte{leaf.Raw}}
	for _, ca := range c.chainAbove() {
		if ca != c.root {
			out.Certificate = append(out.Certificate, ca.Raw)
		}
	}
	return out, nil
}

// randomSerial returns a positive 128-bit serial number.
func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n, nil
		}
	}
}
