package ca

import (
	"crypto/x509"
	"encoding/pem"
)

// ChainPEM encodes chain as concatenated PEM "CERTIFICATE" blocks in order:
// the application/pem-certificate-chain format of RFC 8555 §9.1.
func ChainPEM(chain []*x509.Certificate) []byte {
	var out []byte
	for _, c := range chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}
