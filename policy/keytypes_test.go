package policy

import (
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"testing"
)

func TestAllowedKeyTypes(t *testing.T) {
	t.Parallel()
	rsa := rsaKey(t)
	ec := ecdsaKey(t, elliptic.P256())
	edPub, edPriv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		key  crypto.PublicKey
		// wantAccount and wantCertificate are substrings of the refusal
		// detail, or "" when the key is accepted.
		wantAccount, wantCertificate string
	}{
		{name: "default: RSA", key: &rsa.PublicKey},
		{name: "default: ECDSA", key: &ec.PublicKey},
		{name: "default: Ed25519 for accounts only", key: edPub, wantCertificate: "Ed25519 certificate keys are not supported; use RSA or ECDSA"},
		{name: "ECDSA only: RSA refused", cfg: Config{AllowedKeyTypes: []string{"ECDSA"}}, key: &rsa.PublicKey,
			wantAccount:     "RSA account keys are not allowed by this directory's policy; allowed key types: ECDSA",
			wantCertificate: "RSA certificate keys are not allowed by this directory's policy; allowed key types: ECDSA"},
		{name: "ECDSA only: Ed25519 refused", cfg: Config{AllowedKeyTypes: []string{"ECDSA"}}, key: edPub,
			wantAccount:     "Ed25519 account keys are not allowed by this directory's policy; allowed key types: ECDSA",
			wantCertificate: "Ed25519 certificate keys are not supported; use ECDSA"},
		{name: "ECDSA only: ECDSA accepted", cfg: Config{AllowedKeyTypes: []string{"ECDSA"}}, key: &ec.PublicKey},
		{name: "RSA and Ed25519: ECDSA refused", cfg: Config{AllowedKeyTypes: []string{"rsa", "ed25519"}}, key: &ec.PublicKey,
			wantAccount:     "ECDSA account keys are not allowed by this directory's policy; allowed key types: RSA, Ed25519",
			wantCertificate: "allowed key types: RSA"},
		{name: "RSA and Ed25519: Ed25519 account key accepted", cfg: Config{AllowedKeyTypes: []string{"RSA", "Ed25519"}}, key: edPub, wantCertificate: "use RSA"},
		{name: "type before the type's rules", cfg: Config{AllowedKeyTypes: []string{"ECDSA"}}, key: rsaPub(rsa.N, 3), wantAccount: "RSA account keys are not allowed", wantCertificate: "RSA certificate keys are not allowed"},
		{name: "denied Ed25519 is left out of the list", cfg: Config{DenyEd25519AccountKeys: true}, key: edPub, wantAccount: "allowed key types: RSA, ECDSA", wantCertificate: "not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPolicy(t, tc.cfg)
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
					t.Errorf("%s: nil, want a refusal containing %q", check.name, check.want)
					continue
				}
				checkError(t, err, wantErr{Kind: KindBadPublicKey, Detail: check.want})
			}
		})
	}

	t.Run("CheckCSR", func(t *testing.T) {
		t.Parallel()
		p := newPolicy(t, Config{AllowedKeyTypes: []string{"ECDSA"}})
		order := []Identifier{dns("example.com")}
		tmpl := x509.CertificateRequest{DNSNames: []string{"example.com"}}
		for _, tc := range []struct {
			key  crypto.Signer
			want string
		}{
			{key: rsa, want: "the CSR public key is refused: RSA certificate keys are not allowed by this directory's policy; allowed key types: ECDSA"},
			{key: edPriv, want: "the CSR public key is refused: Ed25519 certificate keys are not supported; use ECDSA"},
		} {
			err := p.CheckCSR(csrFor(t, tc.key, tmpl), order, &ec.PublicKey)
			if err == nil {
				t.Fatalf("CheckCSR with a %T key: nil", tc.key)
			}
			checkError(t, err, wantErr{Kind: KindBadCSR, Detail: tc.want})
		}
		if err := p.CheckCSR(csrFor(t, ecdsaKey(t, elliptic.P256()), tmpl), order, &ec.PublicKey); err != nil {
			t.Errorf("CheckCSR with an ECDSA key: %v", err)
		}
	})
}

// TestEd25519CertificateKeyDetail checks the whole detail: the key types it
// suggests must be exactly those the directory accepts for certificates.
func TestEd25519CertificateKeyDetail(t *testing.T) {
	t.Parallel()
	edPub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		types []string
		want  string
	}{
		{name: "default", want: "Ed25519 certificate keys are not supported; use RSA or ECDSA"},
		{name: "ECDSA and Ed25519", types: []string{"ECDSA", "Ed25519"}, want: "Ed25519 certificate keys are not supported; use ECDSA"},
		{name: "RSA", types: []string{"RSA"}, want: "Ed25519 certificate keys are not supported; use RSA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := newPolicy(t, Config{AllowedKeyTypes: tc.types}).GoodCertificateKey(edPub)
			pe, ok := err.(*Error)
			if !ok || pe.Kind != KindBadPublicKey || pe.Detail != tc.want {
				t.Errorf("GoodCertificateKey(Ed25519) = %v, want badPublicKey %q", err, tc.want)
			}
		})
	}
}
