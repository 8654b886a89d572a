package sectigo

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// hierarchy makes root → inter → leaf, plus a second leaf.
func hierarchy(t *testing.T) (root, inter, leaf, leaf2 *x509.Certificate) {
	t.Helper()
	now := time.Now()
	mk := func(cn string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			BasicConstraintsValid: true, IsCA: isCA,
		}
		if isCA {
			tmpl.KeyUsage = x509.KeyUsageCertSign
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, key
	}
	root, rootKey := mk("root", true, nil, nil)
	inter, interKey := mk("inter", true, root, rootKey)
	leaf, _ = mk("leaf", false, inter, interKey)
	leaf2, _ = mk("leaf2", false, inter, interKey)
	return root, inter, leaf, leaf2
}

func pemOf(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

func TestOrderChain(t *testing.T) {
	t.Parallel()
	root, inter, leaf, leaf2 := hierarchy(t)
	tests := []struct {
		name    string
		bundle  []byte
		want    []*x509.Certificate
		wantErr string
	}{
		{"root first", pemOf(root, inter, leaf), []*x509.Certificate{leaf, inter}, ""},
		{"leaf first", pemOf(leaf, inter, root), []*x509.Certificate{leaf, inter}, ""},
		{"shuffled", pemOf(inter, leaf, root), []*x509.Certificate{leaf, inter}, ""},
		{"no root", pemOf(inter, leaf), []*x509.Certificate{leaf, inter}, ""},
		{"leaf only", pemOf(leaf), []*x509.Certificate{leaf}, ""},
		{"duplicates", pemOf(leaf, inter, inter, leaf, root), []*x509.Certificate{leaf, inter}, ""},
		{"CRLF and text around", []byte("Subject: leaf\r\n" + strings.ReplaceAll(string(pemOf(root, inter, leaf)), "\n", "\r\n") + "trailer\r\n"), []*x509.Certificate{leaf, inter}, ""},
		{"concatenated DER", append(append([]byte{}, leaf.Raw...), inter.Raw...), []*x509.Certificate{leaf, inter}, ""},
		{"two leaves", pemOf(leaf, leaf2, inter), nil, "more than one end-entity"},
		{"CAs only", pemOf(root, inter), nil, "no end-entity"},
		{"garbage", []byte("<html>oops</html>"), nil, "neither PEM nor DER"},
		{"truncated PEM", pemOf(root, inter, leaf)[:len(pemOf(root, inter, leaf))-200], nil, "no end-entity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := orderChain(tt.bundle)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("orderChain error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("chain of %d, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !got[i].Equal(tt.want[i]) {
					t.Errorf("chain[%d] = %s, want %s", i, got[i].Subject.CommonName, tt.want[i].Subject.CommonName)
				}
			}
		})
	}
}
