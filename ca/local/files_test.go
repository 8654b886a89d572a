package local

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/ca"
)

func TestNewCreatesHierarchy(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data", "ca")
	now := time.Now().UTC().Truncate(time.Second)
	c := newTestCA(t, Config{Dir: dir, Clock: fixedClock(now)})

	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o700 {
		t.Errorf("directory mode %o, want 700", got)
	}
	wantModes := map[string]fs.FileMode{rootKeyFile: 0o600, interKeyFile: 0o600, rootCertFile: 0o644, interCertFile: 0o644}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(wantModes) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want exactly the four CA files (no temporary files left)", names)
	}
	for name, want := range wantModes {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s mode %o, want %o", name, got, want)
		}
	}
	for _, name := range []string{rootKeyFile, interKeyFile} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(data)
		if block == nil || block.Type != "PRIVATE KEY" {
			t.Fatalf("%s is not a PKCS#8 PEM block", name)
		}
		if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got, want := c.RootPEMPath(), filepath.Join(dir, "root.pem"); got != want {
		t.Errorf("RootPEMPath = %q, want %q", got, want)
	}
	onDisk, err := readCert(c.RootPEMPath())
	if err != nil {
		t.Fatal(err)
	}
	if !onDisk.Equal(c.Root()) {
		t.Error("root.pem is not the CA's root")
	}

	root, inter := c.Root(), c.Intermediate()
	if err := root.CheckSignatureFrom(root); err != nil {
		t.Errorf("root is not self-signed: %v", err)
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		t.Errorf("intermediate is not signed by the root: %v", err)
	}
	tests := []struct {
		name        string
		cert        *x509.Certificate
		maxPathLen  int
		lifetimeYrs int
	}{
		{"root", root, 1, 10},
		{"intermediate", inter, 0, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cert
			if !c.BasicConstraintsValid || !c.IsCA {
				t.Error("not a CA certificate")
			}
			if c.MaxPathLen != tt.maxPathLen || (tt.maxPathLen == 0 && !c.MaxPathLenZero) {
				t.Errorf("pathlen %d (zero flag %v), want %d", c.MaxPathLen, c.MaxPathLenZero, tt.maxPathLen)
			}
			if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign; c.KeyUsage != want {
				t.Errorf("key usage %b, want %b", c.KeyUsage, want)
			}
			if len(c.SubjectKeyId) == 0 {
				t.Error("no subject key identifier")
			}
			if !c.NotBefore.Before(now) {
				t.Errorf("NotBefore %v is not before creation time %v", c.NotBefore, now)
			}
			if got := c.NotBefore.AddDate(tt.lifetimeYrs, 0, 0); !got.Equal(c.NotAfter) {
				t.Errorf("NotAfter %v, want NotBefore + %d years = %v", c.NotAfter, tt.lifetimeYrs, got)
			}
			if !strings.HasPrefix(c.Subject.CommonName, DefaultCommonName+" ") {
				t.Errorf("CN %q does not start with %q", c.Subject.CommonName, DefaultCommonName)
			}
			if _, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || c.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
				t.Errorf("default key is %T, want ECDSA P-256", c.PublicKey)
			}
		})
	}
	if !bytes.Equal(inter.AuthorityKeyId, root.SubjectKeyId) {
		t.Error("intermediate AKI differs from root SKI")
	}
	if root.Subject.String() == inter.Subject.String() {
		t.Error("root and intermediate have the same subject")
	}
}

func TestNewReusesExistingFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := newTestCA(t, Config{Dir: dir})
	before := readAll(t, dir)
	// A different KeyType must not matter once the CA exists.
	second := newTestCA(t, Config{Dir: dir, KeyType: "P-384", CommonName: "other"})

	if first.Root().SerialNumber.Cmp(second.Root().SerialNumber) != 0 {
		t.Error("root serial changed on restart")
	}
	if !publicKeysEqual(first.Root().PublicKey, second.Root().PublicKey) {
		t.Error("root key changed on restart")
	}
	if !first.Intermediate().Equal(second.Intermediate()) {
		t.Error("intermediate changed on restart")
	}
	if after := readAll(t, dir); !equalFiles(before, after) {
		t.Error("files were rewritten on restart")
	}
	// The reloaded CA signs leaves that chain to the original root.
	leaf := issueOK(t, second, "reuse.example")
	verifyServerAuth(t, first.Root(), first.Intermediate(), leaf, "reuse.example")
}

func TestNewRefusesIncompleteSet(t *testing.T) {
	t.Parallel()
	for _, missing := range []string{rootCertFile, rootKeyFile, interCertFile, interKeyFile} {
		t.Run("without "+missing, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			newTestCA(t, Config{Dir: dir})
			if err := os.Remove(filepath.Join(dir, missing)); err != nil {
				t.Fatal(err)
			}
			before := readAll(t, dir)
			_, err := New(testContext(t), Config{Dir: dir})
			if err == nil {
				t.Fatal("New succeeded with an incomplete set of CA files")
			}
			if !strings.Contains(err.Error(), missing+" missing") {
				t.Errorf("error %q does not name the missing file %s", err, missing)
			}
			if after := readAll(t, dir); !equalFiles(before, after) {
				t.Error("New changed the directory while refusing it")
			}
		})
	}
}

func TestNewRefusesMismatchedFiles(t *testing.T) {
	t.Parallel()
	other := t.TempDir()
	newTestCA(t, Config{Dir: other})
	tests := []struct {
		name    string
		replace string // file taken from another CA
		want    string
	}{
		{"intermediate key of another CA", interKeyFile, "does not hold the key"},
		{"root key of another CA", rootKeyFile, "does not hold the key"},
		{"intermediate of another root", interCertFile, "does not hold the key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			newTestCA(t, Config{Dir: dir})
			data, err := os.ReadFile(filepath.Join(other, tt.replace))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, tt.replace), data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = New(testContext(t), Config{Dir: dir})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error %v, want one containing %q", err, tt.want)
			}
		})
	}
	t.Run("intermediate and key of another root", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		newTestCA(t, Config{Dir: dir})
		for _, name := range []string{interCertFile, interKeyFile} {
			data, err := os.ReadFile(filepath.Join(other, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		_, err := New(testContext(t), Config{Dir: dir})
		if err == nil || !strings.Contains(err.Error(), "is not signed by") {
			t.Fatalf("New error %v, want one about the intermediate's signature", err)
		}
	})
}

func TestNewConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   Config // Dir is a fresh temporary directory unless noDir
		noDir bool
		want  string
	}{
		{"no dir", Config{}, true, "Dir is required"},
		{"unknown key type", Config{KeyType: "RSA-1024"}, false, "unsupported KeyType"},
		{"negative validity", Config{Validity: -time.Hour}, false, "negative Validity"},
		{"common name too long", Config{CommonName: strings.Repeat("n", 50)}, false, "too long"},
		{"unnamed profile", Config{Profiles: []ca.Profile{{}}}, false, "has no name"},
		{"duplicate profile", Config{Profiles: []ca.Profile{{Name: "a"}, {Name: "a"}}}, false, "defined twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.noDir {
				tt.cfg.Dir = t.TempDir()
			}
			_, err := New(testContext(t), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error %v, want one containing %q", err, tt.want)
			}
			if !tt.noDir {
				if files := readAll(t, tt.cfg.Dir); len(files) != 0 {
					t.Errorf("a refused configuration wrote %d files", len(files))
				}
			}
		})
	}
}

func TestKeyTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		keyType string
		curve   elliptic.Curve
		sigAlg  x509.SignatureAlgorithm
	}{
		{"P-256", elliptic.P256(), x509.ECDSAWithSHA256},
		{"P-384", elliptic.P384(), x509.ECDSAWithSHA384},
	}
	for _, tt := range tests {
		t.Run(tt.keyType, func(t *testing.T) {
			t.Parallel()
			c := newTestCA(t, Config{KeyType: tt.keyType})
			for _, cert := range []*x509.Certificate{c.Root(), c.Intermediate()} {
				pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
				if !ok || pub.Curve != tt.curve {
					t.Errorf("%s key is %T %v, want %s", cert.Subject.CommonName, cert.PublicKey, cert.PublicKey, tt.keyType)
				}
			}
			leaf := issueOK(t, c, "curve.example")
			if leaf.SignatureAlgorithm != tt.sigAlg {
				t.Errorf("leaf signature algorithm %v, want %v", leaf.SignatureAlgorithm, tt.sigAlg)
			}
			verifyServerAuth(t, c.Root(), c.Intermediate(), leaf, "curve.example")
		})
	}
}

func TestNewRefusesExpiredIntermediate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	created := time.Now()
	newTestCA(t, Config{Dir: dir, Clock: fixedClock(created)})
	_, err := New(testContext(t), Config{Dir: dir, Clock: fixedClock(created.AddDate(6, 0, 0))})
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("New error %v, want one saying the intermediate expired", err)
	}
}

func readAll(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte, len(entries))
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = data
	}
	return out
}

func equalFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for name, data := range a {
		if !bytes.Equal(data, b[name]) {
			return false
		}
	}
	return true
}
