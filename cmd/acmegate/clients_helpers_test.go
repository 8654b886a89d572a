package main

// Helpers for the tests that drive real ACME clients (certbot, lego)
// against the built acmegate binary: build, start and stop the server, run
// a client in its own process group, check what it obtained, and read the
// server's database to see what it recorded.

import (
	"bytes"
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "modernc.org/sqlite"

	"github.com/acmegate/acmegate/validation/validationtest"
)

const (
	// clientTimeout bounds one run of a client or of the build.
	clientTimeout = 120 * time.Second
	// serverStartTimeout bounds the wait for the directory line.
	serverStartTimeout = 30 * time.Second
	// serverStopTimeout is how long a SIGTERM gets before SIGKILL.
	serverStopTimeout = 15 * time.Second
)

// requireClient returns the path of an ACME client. CI must run these
// tests, so a missing client fails there; on a developer's machine it
// skips with the command that installs it.
func requireClient(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed but CI must run the client tests: %v", name, err)
	}
	t.Skipf("%s is not installed (%v); run `apt-get install certbot lego` to run the real-client tests", name, err)
	return ""
}

// skipIfShort keeps `go test -short` (make test-short) to unit tests.
func skipIfShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("real-client test: skipped with -short")
	}
}

// buildServer builds cmd/acmegate into a temporary directory and returns
// the binary. The build cache makes every build after the first a link,
// about a second, so each test builds its own rather than sharing one
// through package state.
func buildServer(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "acmegate")
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built acmegate in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine exec starts
// and the test reading it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer starts a freshly built acmegate on cfg (DataDir and Listen
// default to a temporary directory and a free loopback port) and waits until
// it prints its directory URL. Cleanup stops it with SIGTERM and checks the
// graceful shutdown exits 0 (see startGate).
func startServer(t *testing.T, cfg *Config) (dirURL, rootPEM, dataDir string) {
	t.Helper()
	s := startGate(t, cfg)
	return s.directoryURL("default"), s.rootPEM, s.dataDir
}

// parseBanner finds the directory URL and root CA path in the lines
// `acmegate serve` prints on start; either is "" until printed.
func parseBanner(out string) (dirURL, rootPEM string) {
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "directory:"); ok {
			dirURL = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "root CA:"); ok {
			rootPEM = strings.TrimSpace(v)
		}
	}
	return dirURL, rootPEM
}

// killGroup signals the process group led by pid. A group already gone is
// not an error: that is what the caller wanted.
func killGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill -%d -%d: %w", sig, pid, err)
	}
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// startDNS starts the loopback DNS server the server (and lego) resolve
// through.
func startDNS(t *testing.T) *validationtest.DNSServer {
	t.Helper()
	dns, err := validationtest.NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dns.Close(); err != nil {
			t.Errorf("close DNS server: %v", err)
		}
	})
	return dns
}

// clientEnv is the environment of a client: this process's, without
// anything that would send it elsewhere (proxies) or configure it behind
// the test's back, plus HOME in a temporary directory and extra.
func clientEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasSuffix(strings.ToLower(k), "_proxy"),
			strings.HasPrefix(k, "LEGO_"), strings.HasPrefix(k, "EXEC_"),
			k == "REQUESTS_CA_BUNDLE", k == "SSL_CERT_FILE", k == "SSL_CERT_DIR", k == "HOME":
			continue
		}
		env = append(env, kv)
	}
	return append(env, append([]string{"HOME=" + t.TempDir()}, extra...)...)
}

// runClient runs an ACME client in its own process group, bounded by
// clientTimeout, and fails the test with its output if it fails.
func runClient(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runClientErr(t, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// runClientErr is runClient returning the error instead of failing.
func runClientErr(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	if cmd.Process != nil {
		// Whatever the client left behind (a hook, a challenge server) goes
		// with it.
		if kerr := killGroup(cmd.Process.Pid, syscall.SIGKILL); kerr != nil {
			err = errors.Join(err, kerr)
		}
	}
	t.Logf("%s %s took %v", filepath.Base(name), clientVerb(args), time.Since(start).Round(time.Millisecond))
	return out.String(), err
}

// clientVerb is the subcommand in a client's arguments, for the log.
func clientVerb(args []string) string {
	for _, a := range args {
		switch a {
		case "certonly", "run", "renew", "revoke":
			return a
		}
	}
	return strings.Join(args, " ")
}

// readPEMCerts parses every CERTIFICATE block of the file at path.
func readPEMCerts(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, raw = pem.Decode(raw)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		t.Fatalf("%s holds no certificate", path)
	}
	return certs
}

// verifyIssued checks that chain (leaf first, then intermediates) chains
// to the server's root for server authentication, names exactly
// wantNames, and returns the leaf.
func verifyIssued(t *testing.T, chain []*x509.Certificate, rootPEM string, wantNames ...string) *x509.Certificate {
	t.Helper()
	rootRaw, err := os.ReadFile(rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootRaw) {
		t.Fatalf("%s holds no certificate", rootPEM)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	leaf := chain[0]
	hosts := slices.Clone(wantNames)
	for _, name := range wantNames {
		// A wildcard must also cover a name it stands for, not only match
		// itself as a string.
		if rest, ok := strings.CutPrefix(name, "*."); ok {
			hosts = append(hosts, "covered-by-wildcard."+rest)
		}
	}
	for _, name := range hosts {
		if _, err := leaf.Verify(x509.VerifyOptions{
			DNSName:       name,
			Roots:         roots,
			Intermediates: inter,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}); err != nil {
			t.Errorf("certificate %s does not verify for %s: %v", leaf.SerialNumber.Text(16), name, err)
		}
	}
	got := slices.Sorted(slices.Values(leaf.DNSNames))
	want := slices.Sorted(slices.Values(wantNames))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("certificate SANs (-want +got):\n%s", diff)
	}
	return leaf
}

// certRecord is what the server's database says about a certificate.
type certRecord struct {
	Status string
	Reason int
}

// storedCert reads the certificates row of serial (lower-case hex, no
// leading zeros, as the server stores it) from the SQLite database in
// dataDir, while the server runs: WAL mode lets a reader in.
func storedCert(t *testing.T, dataDir, serial string) certRecord {
	t.Helper()
	dsn := (&url.URL{
		Scheme:   "file",
		Path:     filepath.Join(dataDir, "acmegate.db"),
		RawQuery: url.Values{"_busy_timeout": {"5000"}, "_query_only": {"1"}}.Encode(),
	}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var rec certRecord
	err = db.QueryRowContext(ctx,
		`SELECT status, revocation_reason FROM certificates WHERE serial = ?`, serial,
	).Scan(&rec.Status, &rec.Reason)
	if err != nil {
		t.Fatalf("certificate %s in the database: %v", serial, err)
	}
	return rec
}

// checkStored fails the test unless the database holds serial with want.
func checkStored(t *testing.T, dataDir, serial string, want certRecord) {
	t.Helper()
	if diff := cmp.Diff(want, storedCert(t, dataDir, serial)); diff != "" {
		t.Errorf("stored certificate %s (-want +got):\n%s", serial, diff)
	}
}

// queried reports whether the DNS server received a question of qtype for
// name (canonical, with the final dot).
func queried(dns *validationtest.DNSServer, name string, qtype uint16) bool {
	return slices.ContainsFunc(dns.Queries(), func(q validationtest.Query) bool {
		return q.Name == name && q.Type == qtype
	})
}
