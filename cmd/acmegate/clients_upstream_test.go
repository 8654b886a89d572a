package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca/sectigo/sectigotest"
)

// serverCertPEM fetches the TLS certificate a fake upstream serves, so the
// acmegate process can trust it through ca_file.
func serverCertPEM(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	conn, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true}) // only to read the certificate it presents
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p := filepath.Join(t.TempDir(), "upstream-ca.pem")
	der := conn.ConnectionState().PeerCertificates[0].Raw
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestClientsCertbotThroughSectigo: certbot orders from a directory whose
// profile issues through Sectigo (the fake SCM), which keeps the order
// pending for two polls.
func TestClientsCertbotThroughSectigo(t *testing.T) {
	skipIfShort(t)
	certbot := requireClient(t, "certbot")
	const name = "certbot-scm.example.test"
	fake := sectigotest.Start(t, sectigotest.Config{Behavior: sectigotest.Behavior{PendingPolls: 2}})
	dnsSrv := startDNS(t)
	dnsSrv.SetA(name, netip.MustParseAddr("127.0.0.1"))
	httpPort := freePort(t)
	dirURL, rootPEM, _ := startServer(t, &Config{
		Backends: []BackendConfig{{Name: "scm", Type: "sectigo", Sectigo: &SectigoBackendConfig{
			BaseURL: fake.URL(), CustomerURI: sectigotest.DefaultCustomerURI, Login: sectigotest.DefaultLogin,
			PasswordFile: secretFile(t, sectigotest.DefaultPassword), OrgID: sectigotest.DefaultOrgID,
			Profiles:     []SectigoProfileYAML{{Name: "ov", CertTypeID: sectigotest.DefaultCertTypeID, Term: 365}},
			PollInterval: 200 * time.Millisecond,
		}}},
		Directories: []DirectoryConfig{{Name: "vendor", DirectorySettings: acme.DirectorySettings{
			Profiles: []acme.ProfileSettings{{Name: "ov", Backend: "scm", Product: "ov"}},
		}}},
		Validation: ValidationConfig{
			Resolvers: []string{dnsSrv.Addr()}, HTTPPort: httpPort, AllowedNetworks: []string{"127.0.0.0/8"},
			Timeout: 5 * time.Second, RetryWindow: 10 * time.Second,
		},
		Log: LogConfig{Level: "debug"},
	})
	vendorURL := strings.TrimSuffix(dirURL, "/directory") + "/acme/vendor/directory"
	work := t.TempDir()
	configDir := filepath.Join(work, "config")
	runClient(t, clientEnv(t, "REQUESTS_CA_BUNDLE="+rootPEM), certbot,
		"certonly", "--standalone", "--http-01-address", "127.0.0.1", "--http-01-port", strconv.Itoa(httpPort),
		"--agree-tos", "-m", "ops@example.test", "--no-eff-email", "-d", name,
		"--non-interactive", "--server", vendorURL,
		"--config-dir", configDir, "--work-dir", filepath.Join(work, "work"), "--logs-dir", filepath.Join(work, "logs"))
	chain := readPEMCerts(t, filepath.Join(configDir, "live", name, "fullchain.pem"))
	leaf := chain[0]
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != name {
		t.Errorf("certificate names %v", leaf.DNSNames)
	}
	pool := x509.NewCertPool()
	pool.AddCert(fake.Root())
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: name}); err != nil {
		t.Errorf("the certificate does not chain to the vendor's root: %v", err)
	}
	if n := len(fake.Enrollments()); n != 1 {
		t.Errorf("%d enrollments at Sectigo, want 1", n)
	}
}
