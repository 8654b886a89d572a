package policy

import (
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"testing"
)

func TestSPKIHash(t *testing.T) {
	t.Parallel()
	// RFC 8032 §7.1 test 1 public key. Its SPKI hash was computed with
	// `openssl pkey -pubin -inform DER -outform DER | sha256sum` over the
	// RFC 8410 §4 encoding 302a300506032b6570032100 || key.
	rfcKey, err := hex.DecodeString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	if err != nil {
		t.Fatal(err)
	}
	rsa := rsaKey(t)
	ec := ecdsaKey(t, elliptic.P256())
	tests := []struct {
		name string
		key  crypto.PublicKey
		same crypto.PublicKey // a form of the key that must hash alike; nil to skip
		want string           // "" when only checking the form
	}{
		{name: "Ed25519 known answer", key: ed25519.PublicKey(rfcKey), want: "06e3fd8fda29bb60ab59557de61edb0aecdb231134be30e75b455f8e1b792fa9"},
		{name: "RSA by pointer and by value", key: &rsa.PublicKey, same: rsa.PublicKey},
		{name: "ECDSA by pointer and by value", key: &ec.PublicKey, same: ec.PublicKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := SPKIHash(tc.key)
			if err != nil {
				t.Fatalf("SPKIHash: %v", err)
			}
			if len(got) != 64 || strings.ToLower(got) != got {
				t.Errorf("SPKIHash = %q, want 64 lower-case hex digits", got)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("SPKIHash = %s, want %s", got, tc.want)
			}
			if tc.same != nil {
				other, err := SPKIHash(tc.same)
				if err != nil || other != got {
					t.Errorf("SPKIHash of the other form = %q, %v; want %q", other, err, got)
				}
			}
		})
	}
	if _, err := SPKIHash(struct{}{}); err == nil {
		t.Error("SPKIHash of an unsupported key: nil error")
	}
}

func TestBlockedKeys(t *testing.T) {
	t.Parallel()
	rsa := rsaKey(t)
	blockedEC := ecdsaKey(t, elliptic.P256())
	otherEC := ecdsaKey(t, elliptic.P256())
	edPub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	hash := func(k crypto.PublicKey) string {
		h, err := SPKIHash(k)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	p := newPolicy(t, Config{BlockedKeys: []string{
		hash(&blockedEC.PublicKey),
		strings.ToUpper(hash(&rsa.PublicKey)), // either case
		hash(edPub),
	}})
	const blocked = "the key is on the blocklist of compromised keys"
	tests := []struct {
		name                         string
		key                          crypto.PublicKey
		wantAccount, wantCertificate string
	}{
		{name: "blocked ECDSA key", key: &blockedEC.PublicKey, wantAccount: blocked, wantCertificate: blocked},
		{name: "blocked ECDSA key by value", key: blockedEC.PublicKey, wantAccount: blocked, wantCertificate: blocked},
		{name: "blocked RSA key, entry in upper case", key: &rsa.PublicKey, wantAccount: blocked, wantCertificate: blocked},
		{name: "blocked Ed25519 account key", key: edPub, wantAccount: blocked, wantCertificate: "Ed25519 certificate keys are not supported"},
		{name: "another key", key: &otherEC.PublicKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, check := range []struct {
				name string
				fn   func(crypto.PublicKey) error
				want string
			}{
				{"GoodAccountKey", p.GoodAccountKey, tc.wantAccount},
				{"GoodCertificateKey", p.GoodCertificateKey, tc.wantCertificate},
			} {
				err := check.fn(tc.key)
				if check.want == "" {
					if err != nil {
						t.Errorf("%s: %v, want nil", check.name, err)
					}
					continue
				}
				if err == nil {
					t.Fatalf("%s: nil, want a refusal containing %q", check.name, check.want)
				}
				checkError(t, err, wantErr{Kind: KindBadPublicKey, Detail: check.want})
			}
		})
	}

	t.Run("CheckCSR", func(t *testing.T) {
		t.Parallel()
		account := &otherEC.PublicKey
		order := []Identifier{dns("example.com")}
		tmpl := x509.CertificateRequest{DNSNames: []string{"example.com"}}
		if err := p.CheckCSR(csrFor(t, ecdsaKey(t, elliptic.P256()), tmpl), order, account); err != nil {
			t.Fatalf("CheckCSR with a key off the list: %v", err)
		}
		for _, key := range []crypto.Signer{blockedEC, rsa} {
			err := p.CheckCSR(csrFor(t, key, tmpl), order, account)
			if err == nil {
				t.Fatalf("CheckCSR with a blocked %T: nil", key)
			}
			checkError(t, err, wantErr{Kind: KindBadCSR, Detail: "the CSR public key is refused: " + blocked})
		}
	})
}
