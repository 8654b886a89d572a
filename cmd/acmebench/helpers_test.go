package main

// Helpers for the tests that run the generator against real servers: the
// acmegate binary built from this tree (a test cannot import package main
// of cmd/acmegate, and the built binary is what `make bench` measures) and
// Debian's Pebble.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// buildTimeout bounds `go build` of acmegate.
	buildTimeout = 180 * time.Second
	// startTimeout bounds a server's start.
	startTimeout = 30 * time.Second
	// benchTimeout bounds one run of the generator in a test.
	benchTimeout = 120 * time.Second
)

// syncBuffer is a bytes.Buffer safe for a process's output goroutine and
// the test reading it.
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

// freePort returns a loopback port that was free a moment ago for TCP and
// UDP alike (the DNS responder needs both).
func freePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = pc.Close()
		if err == nil {
			_ = ln.Close()
			return port
		}
	}
	t.Fatal("no loopback port free for both TCP and UDP")
	return 0
}

// skipIfShort keeps `go test -short` (make test-short) to unit tests.
func skipIfShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test against a real server: skipped with -short")
	}
}

// buildGate builds cmd/acmegate of this tree into a temporary directory.
func buildGate(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "acmegate")
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "../acmegate")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ../acmegate: %v\n%s", err, out)
	}
	return bin
}

// gate is a running acmegate.
type gate struct {
	bin, cfgPath string
	dirURL       string // of the default directory
	rootPEM      string // path of the local CA's root
	pid          int
}

// directory is the URL of the directory called name.
func (g *gate) directory(name string) string {
	if name == "default" {
		return g.dirURL
	}
	return strings.TrimSuffix(g.dirURL, "/directory") + "/acme/" + name + "/directory"
}

// startGate starts the acmegate binary on the YAML configuration cfg and
// waits for the directory line it prints. Cleanup stops it with SIGTERM.
func startGate(t *testing.T, bin, cfg string) *gate {
	t.Helper()
	dir := t.TempDir()
	g := &gate{bin: bin, cfgPath: filepath.Join(dir, "acmegate.yaml")}
	if err := os.WriteFile(g.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	cmd := exec.Command(bin, "serve", "--config", g.cfgPath)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// ACMEGATE_DATABASE_URL must not move it to PostgreSQL.
	cmd.Env = append(os.Environ(), "ACMEGATE_DATABASE_URL=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start acmegate: %v", err)
	}
	g.pid = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-g.pid, syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("acmegate did not exit cleanly on SIGTERM: %v", err)
			}
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-g.pid, syscall.SIGKILL)
			<-exited
			t.Errorf("acmegate still running 15s after SIGTERM")
		}
		if t.Failed() {
			t.Logf("acmegate stdout:\n%s\nstderr:\n%s", stdout.String(), truncate(stderr.String(), 20000))
		}
	})
	deadline := time.After(startTimeout)
	for {
		for line := range strings.Lines(stdout.String()) {
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "directory:"); ok {
				g.dirURL = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "root CA:"); ok {
				g.rootPEM = strings.TrimSpace(v)
			}
		}
		if g.dirURL != "" && g.rootPEM != "" {
			return g
		}
		select {
		case err := <-exited:
			t.Fatalf("acmegate exited before serving: %v\n%s", err, stderr.String())
		case <-deadline:
			t.Fatalf("acmegate printed no directory within %v:\n%s", startTimeout, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// cli runs an acmegate verb against the running server's configuration.
func (g *gate) cli(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.bin, append(args, "--config", g.cfgPath)...)
	cmd.Env = append(os.Environ(), "ACMEGATE_DATABASE_URL=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("acmegate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// benchRun is one run of the generator.
type benchRun struct {
	code           int
	stdout, stderr string
	report         Report
}

// runBenchRaw calls run with args.
func runBenchRaw(t *testing.T, args ...string) benchRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), benchTimeout)
	defer cancel()
	var stdout, stderr syncBuffer
	r := benchRun{code: run(ctx, args, &stdout, &stderr)}
	r.stdout, r.stderr = stdout.String(), stderr.String()
	return r
}

// runBench calls run with args and parses the last line of its output.
func runBench(t *testing.T, args ...string) benchRun {
	t.Helper()
	r := runBenchRaw(t, args...)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	last := lines[len(lines)-1]
	if err := json.Unmarshal([]byte(last), &r.report); err != nil {
		t.Fatalf("last line of stdout is not a JSON report (%v): %q\nstdout:\n%s\nstderr:\n%s", err, last, r.stdout, r.stderr)
	}
	return r
}

// checkClean asserts a run issued exactly n certificates with nothing
// failed and every step measured.
func checkClean(t *testing.T, r benchRun, n int) {
	t.Helper()
	rep := r.report
	if r.code != 0 || rep.Issuances != n || rep.Failures != 0 || len(rep.Errors) != 0 {
		t.Fatalf("exit %d, %d issued, %d failed, errors %v; want exit 0 and %d issued\n%s\n%s",
			r.code, rep.Issuances, rep.Failures, rep.Errors, n, r.stdout, r.stderr)
	}
	if rep.Schema != reportSchema || rep.IssuancesPerS <= 0 || rep.ElapsedS <= 0 ||
		rep.LongestGapS <= 0 || rep.LongestGapS > rep.ElapsedS {
		t.Errorf("schema %d, %.1f issuances/s in %.3fs, longest gap %.3fs",
			rep.Schema, rep.IssuancesPerS, rep.ElapsedS, rep.LongestGapS)
	}
	if rep.Flow.Count != n || rep.Flow.P50 <= 0 || rep.Flow.P50 > rep.Flow.P90 || rep.Flow.P90 > rep.Flow.P99 || rep.Flow.P99 > rep.Flow.Max {
		t.Errorf("flow percentiles out of order: %+v", rep.Flow)
	}
	for _, name := range stepNames {
		s, ok := rep.Steps[name]
		if !ok || s.Count != n {
			t.Errorf("step %s: %+v, want %d samples", name, s, n)
		}
	}
	if got := rep.Steps["new_order"].P50; got <= 0 {
		t.Errorf("new_order p50 = %v ms", got)
	}
}

// writeTrust writes PEM files together into one file for -ca-root.
func writeTrust(t *testing.T, pems ...[]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "trust.pem")
	if err := os.WriteFile(path, bytes.Join(pems, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// selfSigned makes a TLS certificate for 127.0.0.1 and returns the
// certificate and key PEM.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "acmebench test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// pebble is a running Pebble.
type pebble struct {
	dirURL string
	trust  string // -ca-root: Pebble's TLS certificate and its issuing root
	pid    int
}

// startPebble runs Debian's pebble on loopback with its random bad nonces
// and validation sleeps off. With alwaysValid it validates nothing;
// otherwise it validates http-01 on httpPort and resolves names through the
// DNS server on dnsPort. CI must run these tests: there a missing pebble
// fails them.
func startPebble(t *testing.T, alwaysValid bool, httpPort, dnsPort int) *pebble {
	t.Helper()
	bin, err := exec.LookPath("pebble")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pebble is not installed but CI must run this test: %v", err)
		}
		t.Skipf("pebble is not installed (apt-get install pebble): %v", err)
	}
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	port, mgmt := freePort(t), freePort(t)
	cfg, err := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": "127.0.0.1:" + strconv.Itoa(port), "managementListenAddress": "127.0.0.1:" + strconv.Itoa(mgmt),
		"certificate": certPath, "privateKey": keyPath, "httpPort": httpPort, "tlsPort": freePort(t),
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
	}})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", cfgPath, "-dnsserver", "127.0.0.1:"+strconv.Itoa(dnsPort))
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	if alwaysValid {
		cmd.Env = append(cmd.Env, "PEBBLE_VA_ALWAYS_VALID=1")
	}
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("pebble output:\n%s", truncate(logs.String(), 20000))
		}
	})

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	p := &pebble{dirURL: "https://127.0.0.1:" + strconv.Itoa(port) + "/dir", pid: cmd.Process.Pid}
	var root []byte
	for deadline := time.Now().Add(startTimeout); ; {
		root, err = getOK(hc, "https://127.0.0.1:"+strconv.Itoa(mgmt)+"/roots/0")
		if err == nil {
			_, err = getOK(hc, p.dirURL)
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.trust = writeTrust(t, certPEM, root)
	return p
}

// getOK fetches url and returns its body when the status is 200.
func getOK(hc *http.Client, url string) ([]byte, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	if len(body) == 0 {
		return nil, errors.New("empty body")
	}
	return body, nil
}
