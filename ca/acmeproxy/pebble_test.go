package acmeproxy_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acmegate/acmegate/ca/acmeproxy"
)

// startPebble runs Debian's pebble on loopback with a TLS certificate made
// here, validation always succeeding (PEBBLE_VA_ALWAYS_VALID: Pebble stands
// in for a public CA whose challenges the hook answers) and returns its
// directory URL and an HTTP client that trusts it.
func startPebble(t *testing.T) (string, *http.Client) {
	t.Helper()
	bin, err := exec.LookPath("pebble")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pebble is not installed but CI must run this test: %v", err)
		}
		t.Skipf("pebble is not installed (apt-get install pebble): %v", err)
	}
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebble test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	_ = os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	port := freeTCPPort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": "127.0.0.1:" + strconv.Itoa(port), "managementListenAddress": "127.0.0.1:" + strconv.Itoa(freeTCPPort(t)),
		"certificate": certPath, "privateKey": keyPath, "httpPort": freeTCPPort(t), "tlsPort": freeTCPPort(t),
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
	}}
	raw, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, bin, "-config", cfgPath)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("pebble output:\n%s", logs.String())
		}
	})
	pool := x509.NewCertPool()
	pool.AddCert(mustParse(t, der))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	dirURL := "https://127.0.0.1:" + strconv.Itoa(port) + "/dir"
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := client.Get(dirURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return dirURL, client
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func freeTCPPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestPebbleUpstream issues through Debian's Pebble, a different ACME
// implementation than acmegate, with the dns-01 hook answering its
// challenges.
func TestPebbleUpstream(t *testing.T) {
	dirURL, client := startPebble(t)
	var presented atomic.Int32
	b, err := acmeproxy.New(acmeproxy.Config{
		DirectoryURL: dirURL, AccountKey: newKey(t), HTTPClient: client,
		DNS01: func(_ context.Context, action, _, _ string) error {
			if action == acmeproxy.ActionPresent {
				presented.Add(1)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := issue(ctx, t, b, request(t, "pebble-1", "pebble.example.com", "*.pebble.example.com"))
	if len(res.Chain) == 0 {
		t.Fatal("no chain from pebble")
	}
	got := append([]string{}, res.Chain[0].DNSNames...)
	if len(got) != 2 || presented.Load() != 2 {
		t.Errorf("leaf names %v after %d challenges, want both names and two dns-01 answers", got, presented.Load())
	}
	if err := b.Revoke(ctx, res.Chain[0], 4); err != nil {
		t.Errorf("revoke at pebble: %v", err)
	}
}
