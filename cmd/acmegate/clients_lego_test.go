package main

import (
	"crypto/x509"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// legoRun is one lego account and certificate: the global flags shared by
// run, renew and revoke.
type legoRun struct {
	bin    string
	env    []string
	global []string
	path   string // --path
	first  string // first domain, which names the certificate files
}

// do runs lego with the global flags, then the command and its flags.
func (l legoRun) do(t *testing.T, args ...string) string {
	t.Helper()
	return runClient(t, l.env, l.bin, append(append([]string(nil), l.global...), args...)...)
}

// leaf verifies the certificate bundle lego stored against the server's
// root and returns its leaf.
func (l legoRun) leaf(t *testing.T, rootPEM string, names ...string) *x509.Certificate {
	t.Helper()
	return verifyIssued(t, readPEMCerts(t, filepath.Join(l.path, "certificates", l.first+".crt")), rootPEM, names...)
}

// issueRenewRevoke obtains a certificate for names, renews it and revokes
// the renewed one, checking each step in the client's files and in the
// server's database.
func (l legoRun) issueRenewRevoke(t *testing.T, rootPEM, dataDir string, names ...string) {
	t.Helper()
	l.do(t, "run")
	first := l.leaf(t, rootPEM, names...)
	checkStored(t, dataDir, first.SerialNumber.Text(16), certRecord{Status: "valid"})

	// Any certificate expires within 1000 days, so this always renews.
	l.do(t, "renew", "--days", "1000", "--no-random-sleep")
	second := l.leaf(t, rootPEM, names...)
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatalf("renewal left the same certificate (serial %s)", first.SerialNumber.Text(16))
	}
	checkStored(t, dataDir, second.SerialNumber.Text(16), certRecord{Status: "valid"})

	// RFC 5280 §5.3.1: cessationOfOperation is reason code 5.
	l.do(t, "revoke", "--keep", "--reason", "5")
	checkStored(t, dataDir, second.SerialNumber.Text(16), certRecord{Status: "revoked", Reason: 5})
	checkStored(t, dataDir, first.SerialNumber.Text(16), certRecord{Status: "valid"})
}

// TestClientsLegoHTTP01 has lego's built-in HTTP server obtain, renew and
// revoke a certificate over http-01.
func TestClientsLegoHTTP01(t *testing.T) {
	skipIfShort(t)
	lego := requireClient(t, "lego")
	const name = "lego1.example.test"

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

	path := t.TempDir()
	l := legoRun{
		bin: lego,
		env: clientEnv(t, "LEGO_CA_CERTIFICATES="+rootPEM),
		global: []string{
			"--server", dirURL,
			"--email", "ops@example.test", "--accept-tos",
			"--domains", name,
			"--http", "--http.port", "127.0.0.1:" + strconv.Itoa(httpPort),
			"--path", path,
		},
		path:  path,
		first: name,
	}
	l.issueRenewRevoke(t, rootPEM, dataDir, name)
	if !queried(dnsSrv, dns.Fqdn(name), dns.TypeA) {
		t.Errorf("the server never asked the configured resolver for the A record of %s", name)
	}
}

// TestClientsLegoDNS01 has lego obtain, renew and revoke a certificate for
// a name and its wildcard over dns-01, publishing the TXT records through
// its exec provider into the loopback DNS server.
func TestClientsLegoDNS01(t *testing.T) {
	skipIfShort(t)
	lego := requireClient(t, "lego")
	const name = "lego2.example.test"

	dnsSrv := startDNS(t)
	mirror := startTXTMirror(t, dnsSrv)
	dirURL, rootPEM, dataDir := startServer(t, &Config{
		Validation: ValidationConfig{
			Resolvers:   []string{dnsSrv.Addr()},
			Timeout:     5 * time.Second,
			RetryWindow: 10 * time.Second,
		},
		Log: LogConfig{Level: "debug"},
	})

	path := t.TempDir()
	l := legoRun{
		bin: lego,
		env: clientEnv(t,
			"LEGO_CA_CERTIFICATES="+rootPEM,
			"EXEC_PATH="+mirror.script,
			txtMirrorDirEnv+"="+mirror.dir,
			// The script returns once the record is served, so lego need
			// not wait: one second between checks and between the
			// sequentially solved authorizations (default 60 s) is plenty.
			"EXEC_POLLING_INTERVAL=1",
			"EXEC_PROPAGATION_TIMEOUT=30",
			"EXEC_SEQUENCE_INTERVAL=1",
		),
		global: []string{
			"--server", dirURL,
			"--email", "ops@example.test", "--accept-tos",
			"--domains", name, "--domains", "*." + name,
			"--dns", "exec",
			"--dns.resolvers", dnsSrv.Addr(),
			// The loopback server has no NS records to find the
			// authoritative servers by; the recursive check through
			// --dns.resolvers is the one that matters here.
			"--dns.disable-cp",
			"--path", path,
		},
		path:  path,
		first: name,
	}
	l.issueRenewRevoke(t, rootPEM, dataDir, name, "*."+name)

	// The name and its wildcard are two authorizations proved at the same
	// TXT name, each with its own value (RFC 8555 §8.4).
	challenge := "_acme-challenge." + dns.Fqdn(name)
	if got := mirror.values(challenge); len(got) < 2 {
		t.Errorf("TXT values published at %s: %q, want at least 2 (name and wildcard)", challenge, got)
	}
	if left := mirror.current(); len(left) != 0 {
		t.Errorf("records lego did not clean up: %v", left)
	}
}
