package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestClientsCertbotHTTP01 has certbot's standalone authenticator obtain,
// renew and revoke a certificate over http-01.
func TestClientsCertbotHTTP01(t *testing.T) {
	skipIfShort(t)
	certbot := requireClient(t, "certbot")
	const name = "certbot1.example.test"

	dnsSrv := startDNS(t)
	dnsSrv.SetA(name, netip.MustParseAddr("127.0.0.1"))
	httpPort := freePort(t)
	dirURL, rootPEM, dataDir := startServer(t, &Config{
		Validation: ValidationConfig{
			Resolvers:       []string{dnsSrv.Addr()},
			HTTPPort:        httpPort,
			AllowedNetworks: []string{"127.0.0.0/8"},
			Timeout:         5 * time.Second,
			RetryWindow:     10 * time.Second,
		},
		Log: LogConfig{Level: "debug"},
	})

	work := t.TempDir()
	configDir := filepath.Join(work, "config")
	common := []string{
		"--non-interactive",
		"--server", dirURL,
		"--config-dir", configDir,
		"--work-dir", filepath.Join(work, "work"),
		"--logs-dir", filepath.Join(work, "logs"),
	}
	env := clientEnv(t, "REQUESTS_CA_BUNDLE="+rootPEM)
	live := filepath.Join(configDir, "live", name)

	runClient(t, env, certbot, append([]string{
		"certonly", "--standalone",
		"--http-01-address", "127.0.0.1",
		"--http-01-port", strconv.Itoa(httpPort),
		"--agree-tos", "-m", "ops@example.test", "--no-eff-email",
		"-d", name,
	}, common...)...)
	first := verifyIssued(t, readPEMCerts(t, filepath.Join(live, "fullchain.pem")), rootPEM, name)
	// The server resolved the name through its configured resolver rather
	// than the system's.
	if !queried(dnsSrv, dns.Fqdn(name), dns.TypeA) {
		t.Errorf("the server never asked the configured resolver for the A record of %s", name)
	}
	checkStored(t, dataDir, first.SerialNumber.Text(16), certRecord{Status: "valid"})

	// renew reads the port and address back from the renewal configuration
	// certonly wrote.
	runClient(t, env, certbot, append([]string{
		"renew", "--force-renewal", "--no-random-sleep-on-renew",
	}, common...)...)
	second := verifyIssued(t, readPEMCerts(t, filepath.Join(live, "fullchain.pem")), rootPEM, name)
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatalf("renewal left the same certificate (serial %s)", first.SerialNumber.Text(16))
	}
	if _, err := os.Stat(filepath.Join(configDir, "archive", name, "cert2.pem")); err != nil {
		t.Errorf("certbot kept no second certificate: %v", err)
	}

	runClient(t, env, certbot, append([]string{
		"revoke", "--cert-path", filepath.Join(live, "cert.pem"),
		"--reason", "superseded", "--no-delete-after-revoke",
	}, common...)...)
	// RFC 5280 §5.3.1: superseded is reason code 4.
	checkStored(t, dataDir, second.SerialNumber.Text(16), certRecord{Status: "revoked", Reason: 4})
	checkStored(t, dataDir, first.SerialNumber.Text(16), certRecord{Status: "valid"})
}
