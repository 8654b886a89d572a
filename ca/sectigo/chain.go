package sectigo

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// orderChain parses a collected bundle and returns it leaf first, each
// certificate followed by its issuer, without the self-signed root
// (ca.IssueResult.Chain). SCM's bundles come root first (upstream-apis.md
// §1.5) and the order of the variants is unconfirmed, so the order is
// rebuilt from signatures rather than trusted. Certificates that are not on
// the leaf's path are dropped.
func orderChain(bundle []byte) ([]*x509.Certificate, error) {
	certs, err := parseBundle(bundle)
	if err != nil {
		return nil, err
	}
	// The leaf is the one end-entity certificate that issued none of the
	// others.
	var leaf *x509.Certificate
	for _, c := range certs {
		if c.IsCA || issuedAny(c, certs) {
			continue
		}
		if leaf != nil {
			return nil, errors.New("the bundle holds more than one end-entity certificate")
		}
		leaf = c
	}
	if leaf == nil {
		return nil, errors.New("the bundle holds no end-entity certificate")
	}
	chain := []*x509.Certificate{leaf}
	for cur := leaf; len(chain) <= len(certs); {
		parent := issuerOf(cur, certs, chain)
		if parent == nil || selfSigned(parent) {
			break
		}
		chain = append(chain, parent)
		cur = parent
	}
	return chain, nil
}

// parseBundle reads PEM CERTIFICATE blocks (LF or CRLF) or, failing that,
// concatenated DER.
func parseBundle(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	seen := make(map[string]bool)
	rest := b
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d of the bundle: %w", len(certs)+1, err)
		}
		if !seen[string(c.Raw)] {
			seen[string(c.Raw)] = true
			certs = append(certs, c)
		}
	}
	if len(certs) > 0 {
		return certs, nil
	}
	if bytes.Contains(b, []byte("-----BEGIN")) {
		return nil, errors.New("the bundle holds no PEM certificate")
	}
	certs, err := x509.ParseCertificates(b)
	if err != nil || len(certs) == 0 {
		return nil, errors.New("the answer is neither PEM nor DER certificates")
	}
	return certs, nil
}

// issuedBy reports whether parent signed child.
func issuedBy(child, parent *x509.Certificate) bool {
	return child != parent && bytes.Equal(child.RawIssuer, parent.RawSubject) && child.CheckSignatureFrom(parent) == nil
}

func issuedAny(parent *x509.Certificate, certs []*x509.Certificate) bool {
	for _, c := range certs {
		if issuedBy(c, parent) {
			return true
		}
	}
	return false
}

// issuerOf returns the certificate in certs that signed c and is not
// already in the chain, preferring one that is not self-signed (a
// cross-certificate over the root of the same name).
func issuerOf(c *x509.Certificate, certs, chain []*x509.Certificate) *x509.Certificate {
	var root *x509.Certificate
	for _, p := range certs {
		if !issuedBy(c, p) || inChain(p, chain) {
			continue
		}
		if !selfSigned(p) {
			return p
		}
		root = p
	}
	return root
}

func inChain(c *x509.Certificate, chain []*x509.Certificate) bool {
	for _, x := range chain {
		if x == c {
			return true
		}
	}
	return false
}

// selfSigned reports whether c is a root: its own issuer and signer.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}
