package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"
)

var directoryLine = regexp.MustCompile(`directory: (\S+)`)

// startInProcess runs `acmegate serve` with args in this process and
// returns the printed directory URL and a function that stops it (as
// SIGTERM would) and returns its exit code.
func startInProcess(t *testing.T, args ...string) (string, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	code := make(chan int, 1)
	go func() { code <- run(ctx, append([]string{"serve"}, args...), stdout, stderr) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := directoryLine.FindStringSubmatch(stdout.String()); m != nil {
			stopped := false
			stop := func() int {
				if stopped {
					return 0
				}
				stopped = true
				cancel()
				select {
				case c := <-code:
					return c
				case <-time.After(30 * time.Second):
					t.Fatal("serve did not stop within 30s")
					return -1
				}
			}
			t.Cleanup(func() { stop() })
			return m[1], stop
		}
		select {
		case c := <-code:
			t.Fatalf("serve exited with %d before serving:\n%s\n%s", c, stdout.String(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve printed no directory URL within 20s:\n%s\n%s", stdout.String(), stderr.String())
		}
	}
}

func trustingClient(t *testing.T, rootPath string) *http.Client {
	t.Helper()
	pemBytes, err := os.ReadFile(rootPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("root.pem holds no certificate")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// TestServeWithoutConfig is the README's first command: no file, no flags.
func TestServeWithoutConfig(t *testing.T) {
	t.Chdir(t.TempDir())
	dirURL, stop := startInProcess(t)
	if dirURL != "https://127.0.0.1:14000/directory" {
		t.Errorf("directory URL = %q", dirURL)
	}
	for file, mode := range map[string]os.FileMode{
		"acmegate-data/root.pem": 0o644, "acmegate-data/root.key": 0o600,
		"acmegate-data/intermediate.pem": 0o644, "acmegate-data/intermediate.key": 0o600,
		"acmegate-data/acmegate.db": 0o600,
	} {
		fi, err := os.Stat(file)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %o, want %o", file, fi.Mode().Perm(), mode)
		}
	}
	resp, err := trustingClient(t, "acmegate-data/root.pem").Get(dirURL)
	if err != nil {
		t.Fatalf("GET directory with only root.pem trusted: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("directory status %d", resp.StatusCode)
	}
	if code := stop(); code != 0 {
		t.Errorf("serve exited with %d after shutdown", code)
	}
}

// TestServeRestartKeepsCAAndAccounts restarts the server on the same data
// directory: the root stays the same and accounts survive.
func TestServeRestartKeepsCAAndAccounts(t *testing.T) {
	dataDir := t.TempDir()
	cfg := writeConfig(t, "data_dir: "+dataDir+"\nlisten: 127.0.0.1:0\nlog:\n  level: warn\n")
	rootPath := filepath.Join(dataDir, "root.pem")

	dirURL, stop := startInProcess(t, "--config", cfg)
	root1, err := os.ReadFile(rootPath)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &xacme.Client{Key: key, DirectoryURL: dirURL, HTTPClient: trustingClient(t, rootPath)}
	acct, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("first serve exited with %d", code)
	}

	dirURL2, _ := startInProcess(t, "--config", cfg)
	root2, err := os.ReadFile(rootPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(root1, root2) {
		t.Error("the root changed across a restart")
	}
	c2 := &xacme.Client{Key: key, DirectoryURL: dirURL2, HTTPClient: trustingClient(t, rootPath)}
	got, err := c2.GetReg(ctx, "")
	if err != nil {
		t.Fatalf("account lookup after restart: %v", err)
	}
	// Account URLs carry the listener's port, which changed: compare ids.
	if filepath.Base(got.URI) != filepath.Base(acct.URI) {
		t.Errorf("account after restart = %s, want the id of %s", got.URI, acct.URI)
	}
}
