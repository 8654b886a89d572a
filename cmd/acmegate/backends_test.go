package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/digicert"
	"github.com/acmegate/acmegate/ca/digicert/digicerttest"
	"github.com/acmegate/acmegate/ca/sectigo"
	"github.com/acmegate/acmegate/ca/sectigo/sectigotest"
)

func secretFile(t *testing.T, value string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBackendCheck runs `acmegate backend check` against the fakes, with
// good and bad credentials: a plain-words explanation, never the secret.
func TestBackendCheck(t *testing.T) {
	scm := sectigotest.Start(t, sectigotest.Config{})
	dc := digicerttest.Start(t, digicerttest.Config{})
	for _, tc := range []struct {
		name, yaml, secret, want string
		ok                       bool
	}{
		{"sectigo", "type: sectigo\n    sectigo:\n      base_url: " + scm.URL() + "\n      customer_uri: " + sectigotest.DefaultCustomerURI + "\n      login: " + sectigotest.DefaultLogin + "\n      org_id: " + strconv.Itoa(sectigotest.DefaultOrgID) + "\n      profiles: [{name: ov, cert_type_id: 1018, term: 365}]\n      password_file: ",
			sectigotest.DefaultPassword, "reachable", true},
		{"sectigo", "type: sectigo\n    sectigo:\n      base_url: " + scm.URL() + "\n      customer_uri: " + sectigotest.DefaultCustomerURI + "\n      login: " + sectigotest.DefaultLogin + "\n      org_id: " + strconv.Itoa(sectigotest.DefaultOrgID) + "\n      profiles: [{name: ov, cert_type_id: 1018, term: 365}]\n      password_file: ",
			"wrong-password-123", "password", false},
		{"digicert", "type: digicert\n    digicert:\n      base_url: " + dc.URL() + "\n      org_id: " + strconv.Itoa(digicerttest.DefaultOrganizationID) + "\n      profiles: [{name: ov, product: ssl_basic, validity_days: 199}]\n      api_key_file: ",
			dc.APIKey(), "reachable", true},
		{"digicert", "type: digicert\n    digicert:\n      base_url: " + dc.URL() + "\n      org_id: " + strconv.Itoa(digicerttest.DefaultOrganizationID) + "\n      profiles: [{name: ov, product: ssl_basic, validity_days: 199}]\n      api_key_file: ",
			"not-the-key-0000", "key", false},
	} {
		t.Run(tc.name+map[bool]string{true: "/good", false: "/bad"}[tc.ok], func(t *testing.T) {
			cfg, err := loadConfig(writeConfig(t, "backends:\n  - name: "+tc.name+"\n    "+tc.yaml+secretFile(t, tc.secret)+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			// The fakes serve TLS with their own roots: only their clients
			// trust them.
			var out bytes.Buffer
			err = runBackendWith(context.Background(), cfg, []string{"check", tc.name}, &out, map[string]*http.Client{"sectigo": scm.Client(), "digicert": dc.Client()}[tc.name])
			switch {
			case tc.ok && (err != nil || !strings.Contains(out.String(), tc.want)):
				t.Errorf("check: %v %q", err, out.String())
			case !tc.ok && (err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.want)):
				t.Errorf("check with bad credentials: %v, want an explanation mentioning %q", err, tc.want)
			case !tc.ok && strings.Contains(err.Error(), tc.secret):
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestBackendCAFile: a vendor API whose TLS certificate is not in the
// system roots is trusted through ca_file.
func TestBackendCAFile(t *testing.T) {
	dc := digicerttest.Start(t, digicerttest.Config{})
	cfg, err := loadConfig(writeConfig(t, "backends:\n  - name: digicert\n    type: digicert\n    ca_file: "+serverCertPEM(t, dc.URL())+
		"\n    digicert:\n      base_url: "+dc.URL()+"\n      org_id: "+strconv.Itoa(digicerttest.DefaultOrganizationID)+
		"\n      profiles: [{name: ov, product: ssl_basic, validity_days: 199}]\n      api_key_file: "+secretFile(t, dc.APIKey())+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runBackend(context.Background(), cfg, []string{"check", "digicert"}, &out); err != nil || !strings.Contains(out.String(), "reachable") {
		t.Errorf("check through ca_file: %v %q", err, out.String())
	}
	cfg.Backends[0].CAFile = ""
	if err := runBackend(context.Background(), cfg, []string{"check", "digicert"}, &out); err == nil {
		t.Error("check without ca_file trusted the fake's certificate")
	}
}

// TestACMEUpstreamBackend wires a backend of type acme to another acmegate
// (a private directory that never validates) and issues through it: the
// account key is created 0600 and reused.
func TestACMEUpstreamBackend(t *testing.T) {
	upData := t.TempDir()
	upCfg := writeConfig(t, "data_dir: "+upData+"\nlisten: 127.0.0.1:0\nlog:\n  level: warn\ndirectories:\n  - name: private\n    policy:\n      skip_validation: true\n")
	dirURL, _ := startInProcess(t, "--config", upCfg)
	upstreamDir := strings.TrimSuffix(dirURL, "/directory") + "/acme/private/directory"
	dataDir := t.TempDir()
	bc := BackendConfig{Name: "corp-acme", Type: "acme", ACME: &ACMEBackendConfig{DirectoryURL: upstreamDir}}
	client := trustingClient(t, filepath.Join(upData, "root.pem"))
	b, err := openBackend(bc, dataDir, slog.New(slog.NewTextHandler(io.Discard, nil)), client)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dataDir, "acme-corp-acme-account.key")
	fi, err := os.Stat(keyPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("account key file: %v %v", fi, err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"svc.corp.example"}}, key)
	csr, _ := x509.ParseCertificateRequest(der)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := b.Issue(ctx, ca.IssueRequest{OrderID: "o1", CSR: csr, Identifiers: []ca.Identifier{{Type: "dns", Value: "svc.corp.example"}}})
	for err == nil && res.Pending {
		time.Sleep(100 * time.Millisecond)
		res, err = b.Poll(ctx, res.Ref)
	}
	if err != nil {
		t.Fatalf("issue through the upstream ACME CA: %v", err)
	}
	if len(res.Chain) == 0 || res.Chain[0].DNSNames[0] != "svc.corp.example" {
		t.Fatalf("chain = %v", res.Chain)
	}
	// A second backend built from the same configuration reuses the key.
	if _, err := openBackend(bc, dataDir, slog.New(slog.NewTextHandler(io.Discard, nil)), client); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if fi2, _ := os.Stat(keyPath); !fi2.ModTime().Equal(fi.ModTime()) {
		t.Error("the account key was rewritten")
	}
}

// TestBackendSync stores what the (fake) SCM account offers and checks the
// configured profiles against it.
func TestBackendSync(t *testing.T) {
	scm := sectigotest.Start(t, sectigotest.Config{})
	dataDir := t.TempDir()
	yamlFor := func(certType int) string {
		return "data_dir: " + dataDir + "\nlisten: 127.0.0.1:0\nlog:\n  level: warn\nbackends:\n  - name: scm\n    type: sectigo\n    sectigo:\n      base_url: " + scm.URL() +
			"\n      customer_uri: " + sectigotest.DefaultCustomerURI + "\n      login: " + sectigotest.DefaultLogin +
			"\n      org_id: " + strconv.Itoa(sectigotest.DefaultOrgID) +
			"\n      profiles: [{name: ov, cert_type_id: " + strconv.Itoa(certType) + ", term: 365}]\n      password_file: " + secretFile(t, sectigotest.DefaultPassword) + "\n"
	}
	good := writeConfig(t, yamlFor(sectigotest.DefaultCertTypeID))
	_, stop := startInProcess(t, "--config", good) // initialises the data directory
	stop()
	cfg, err := loadConfig(good)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runBackend(context.Background(), cfg, []string{"sync", "scm"}, &out); err != nil {
		t.Fatalf("sync: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "product "+strconv.Itoa(sectigotest.DefaultCertTypeID)) {
		t.Errorf("sync output does not list the certificate types: %s", out.String())
	}
	// A profile asking for a certificate type the account lacks.
	bad, err := loadConfig(writeConfig(t, yamlFor(9999)))
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = runBackend(context.Background(), bad, []string{"sync", "scm"}, &out)
	if err == nil || !strings.Contains(err.Error(), "certificate type 9999 is not offered") {
		t.Errorf("sync with an unknown certificate type: %v", err)
	}
	problems, err := func() ([]string, error) {
		comp, err := openExistingComponents(context.Background(), bad)
		if err != nil {
			return nil, err
		}
		defer comp.close()
		return storedCatalogProblems(context.Background(), bad, comp.store)
	}()
	if err != nil || len(problems) != 1 || !strings.Contains(problems[0], "9999") {
		t.Errorf("stored catalog check = %v %v, want one problem about 9999", problems, err)
	}
}

// TestBackendImport brings certificates DigiCert issued outside acmegate
// into the inventory, once.
func TestBackendImport(t *testing.T) {
	dc := digicerttest.Start(t, digicerttest.Config{})
	// A certificate ordered directly at DigiCert, not through acmegate.
	direct, err := digicert.New(digicert.Config{BaseURL: dc.URL(), APIKey: dc.APIKey(), OrgID: digicerttest.DefaultOrganizationID,
		Profiles: []digicert.ProfileMap{{Name: "ov", Product: "ssl_basic", ValidityDays: 199}}, HTTPClient: dc.Client()})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"legacy.example.com"}}, key)
	csr, _ := x509.ParseCertificateRequest(der)
	res, err := direct.Issue(context.Background(), ca.IssueRequest{OrderID: "legacy", CSR: csr, Identifiers: []ca.Identifier{{Type: "dns", Value: "legacy.example.com"}}})
	if err != nil || len(res.Chain) == 0 {
		t.Fatalf("direct order: %+v %v", res, err)
	}
	dataDir := t.TempDir()
	cfgPath := writeConfig(t, "data_dir: "+dataDir+"\nlisten: 127.0.0.1:0\nlog:\n  level: warn\nbackends:\n  - name: digicert\n    type: digicert\n    ca_file: "+serverCertPEM(t, dc.URL())+
		"\n    digicert:\n      base_url: "+dc.URL()+"\n      org_id: "+strconv.Itoa(digicerttest.DefaultOrganizationID)+
		"\n      profiles: [{name: ov, product: ssl_basic, validity_days: 199}]\n      api_key_file: "+secretFile(t, dc.APIKey())+"\n")
	_, stop := startInProcess(t, "--config", cfgPath)
	stop()
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runBackend(context.Background(), cfg, []string{"import", "digicert", "--directory", "default"}, &out); err != nil || !strings.Contains(out.String(), "1 certificates imported") {
		t.Fatalf("import: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := runBackend(context.Background(), cfg, []string{"import", "digicert"}, &out); err != nil || !strings.Contains(out.String(), "0 certificates imported") || !strings.Contains(out.String(), "1 already") {
		t.Errorf("second import: %v\n%s", err, out.String())
	}
	comp, err := openExistingComponents(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer comp.close()
	got, err := comp.store.GetCertificateBySerial(context.Background(), res.Chain[0].SerialNumber.Text(16))
	if err != nil || got.Backend != "digicert" || got.Names[0] != "legacy.example.com" || got.Directory != "default" {
		t.Errorf("inventory entry = %+v %v", got, err)
	}
}

// TestBackendImportSectigo brings a certificate enrolled directly at SCM
// into the inventory.
func TestBackendImportSectigo(t *testing.T) {
	scm := sectigotest.Start(t, sectigotest.Config{})
	direct, err := sectigo.New(sectigo.Config{BaseURL: scm.URL(), CustomerURI: sectigotest.DefaultCustomerURI,
		Login: sectigotest.DefaultLogin, Password: sectigotest.DefaultPassword, OrgID: sectigotest.DefaultOrgID,
		Profiles: []sectigo.ProfileMap{{Name: "ov", CertTypeID: sectigotest.DefaultCertTypeID, Term: 365}}, HTTPClient: scm.Client()})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"scm-legacy.example.com"}}, key)
	csr, _ := x509.ParseCertificateRequest(der)
	ctx := context.Background()
	res, err := direct.Issue(ctx, ca.IssueRequest{OrderID: "legacy", CSR: csr, Identifiers: []ca.Identifier{{Type: "dns", Value: "scm-legacy.example.com"}}})
	for err == nil && res.Pending {
		res, err = direct.Poll(ctx, res.Ref)
	}
	if err != nil || len(res.Chain) == 0 {
		t.Fatalf("direct enrollment: %+v %v", res, err)
	}
	dataDir := t.TempDir()
	cfgPath := writeConfig(t, "data_dir: "+dataDir+"\nlisten: 127.0.0.1:0\nlog:\n  level: warn\nbackends:\n  - name: scm\n    type: sectigo\n    sectigo:\n      base_url: "+scm.URL()+
		"\n      customer_uri: "+sectigotest.DefaultCustomerURI+"\n      login: "+sectigotest.DefaultLogin+
		"\n      org_id: "+strconv.Itoa(sectigotest.DefaultOrgID)+
		"\n      profiles: [{name: ov, cert_type_id: "+strconv.Itoa(sectigotest.DefaultCertTypeID)+", term: 365}]\n      password_file: "+secretFile(t, sectigotest.DefaultPassword)+"\n")
	_, stop := startInProcess(t, "--config", cfgPath)
	stop()
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runBackend(ctx, cfg, []string{"import", "scm"}, &out); err != nil || !strings.Contains(out.String(), "1 certificates imported") {
		t.Fatalf("import: %v\n%s", err, out.String())
	}
	comp, err := openExistingComponents(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer comp.close()
	if got, err := comp.store.GetCertificateBySerial(ctx, res.Chain[0].SerialNumber.Text(16)); err != nil || got.Backend != "scm" {
		t.Errorf("inventory entry = %+v %v", got, err)
	}
}
