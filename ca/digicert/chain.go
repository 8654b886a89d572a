package digicert

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// parseCertificates reads every certificate in data: concatenated PEM
// blocks with \n or \r\n line ends (DigiCert's JSON uses \r\n), or, when
// there is no PEM block at all, one base64 or raw DER certificate.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := data
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
			return nil, fmt.Errorf("parse certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) > 0 {
		return out, nil
	}
	// Raw DER first, untouched: trimming "whitespace" off binary data would
	// cut a signature that happens to end in such a byte.
	if c, err := x509.ParseCertificate(data); err == nil {
		return []*x509.Certificate{c}, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(bytes.TrimSpace(data))), ""))
	if err != nil {
		return nil, errors.New("no certificate found")
	}
	c, err := x509.ParseCertificate(b)
	if err != nil {
		return nil, errors.New("no certificate found")
	}
	return []*x509.Certificate{c}, nil
}

// buildChain orders certs as acmegate serves them: the leaf first, then
// each issuer in turn, without the self-signed root (ca.IssueResult.Chain).
// The bundle must hold at least the leaf's issuer.
// DigiCert's bundle order per download format is unconfirmed, so the order
// of certs does not matter. The leaf is the certificate whose serial is
// leafSerial when given (from order info), else the one certificate that
// issued none of the others.
func buildChain(certs []*x509.Certificate, leafSerial string) ([]*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, errors.New("no certificates")
	}
	leaf, err := findLeaf(certs, leafSerial)
	if err != nil {
		return nil, err
	}
	chain := []*x509.Certificate{leaf}
	used := map[*x509.Certificate]bool{leaf: true}
	for cur := leaf; ; {
		next := issuerOf(cur, certs, used)
		if next == nil {
			// Without the root, the chain ends at the last intermediate
			// found; without even the leaf's issuer, it is useless to
			// clients.
			if len(chain) == 1 {
				return nil, fmt.Errorf("the issuer of %q is not in the bundle", cur.Subject.CommonName)
			}
			break
		}
		if selfSigned(next) {
			break
		}
		chain = append(chain, next)
		used[next] = true
		cur = next
	}
	return chain, nil
}

// findLeaf picks the end-entity certificate out of certs.
func findLeaf(certs []*x509.Certificate, leafSerial string) (*x509.Certificate, error) {
	if want, ok := parseSerial(leafSerial); ok {
		for _, c := range certs {
			if c.SerialNumber.Cmp(want) == 0 {
				return c, nil
			}
		}
	}
	var leaves []*x509.Certificate
	for _, c := range certs {
		if selfSigned(c) {
			continue
		}
		issuesOther := false
		for _, o := range certs {
			if o != c && bytes.Equal(o.RawIssuer, c.RawSubject) && o.CheckSignatureFrom(c) == nil {
				issuesOther = true
				break
			}
		}
		if !issuesOther {
			leaves = append(leaves, c)
		}
	}
	switch len(leaves) {
	case 1:
		return leaves[0], nil
	case 0:
		return nil, errors.New("no end-entity certificate among them")
	}
	return nil, fmt.Errorf("%d unrelated end-entity certificates; cannot tell which was issued", len(leaves))
}

// issuerOf returns the certificate in certs, not yet used, that signed c.
func issuerOf(c *x509.Certificate, certs []*x509.Certificate, used map[*x509.Certificate]bool) *x509.Certificate {
	for _, p := range certs {
		if !used[p] && bytes.Equal(c.RawIssuer, p.RawSubject) && c.CheckSignatureFrom(p) == nil {
			return p
		}
	}
	return nil
}

// selfSigned reports whether c is a root: issued by itself, under its own
// key.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// serialHex formats a serial as DigiCert prints it: uppercase hex of the
// serial's bytes, "0669D46CAE79EF684A69777490602485" [ribose order.json].
func serialHex(n *big.Int) string {
	return strings.ToUpper(hex.EncodeToString(n.Bytes()))
}

// parseSerial reads a hex serial, with or without colons.
func parseSerial(s string) (*big.Int, bool) {
	s = strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	if s == "" {
		return nil, false
	}
	return new(big.Int).SetString(s, 16)
}
