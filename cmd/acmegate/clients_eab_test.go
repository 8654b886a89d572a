package main

// certbot and lego creating their accounts with an External Account Binding
// (RFC 8555 §7.3.4) in a directory that requires one, with keys made by
// `acmegate eab create`.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
)

// eabTestTimeout bounds each EAB client test.
const eabTestTimeout = 60 * time.Second

// eabConfig is a server whose only directory, "team", requires EAB and
// allows names under example.test, validating http-01 on httpPort through
// the resolver at dnsAddr.
func eabConfig(dnsAddr string, httpPort int) *Config {
	return &Config{
		Directories: []DirectoryConfig{{
			Name: "team",
			DirectorySettings: acme.DirectorySettings{
				ExternalAccountRequired: true,
				Policy:                  acme.PolicySettings{AllowedDomains: []string{"example.test"}},
			},
		}},
		Validation: ValidationConfig{
			Resolvers:       []string{dnsAddr},
			HTTPPort:        httpPort,
			AllowedNetworks: []string{"127.0.0.0/8"},
			Timeout:         5 * time.Second,
			RetryWindow:     10 * time.Second,
		},
		Log: LogConfig{Level: "debug"},
	}
}

// issuedTo reads which directory a certificate was issued in and which EAB
// key bound the account that ordered it, from the database in dataDir.
func issuedTo(t *testing.T, dataDir, serial string) (directory, kid string) {
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
	err = db.QueryRowContext(ctx, `
		SELECT c.directory, a.eab_key_id
		FROM certificates c JOIN accounts a ON a.id = c.account_id
		WHERE c.serial = ?`, serial).Scan(&directory, &kid)
	if err != nil {
		t.Fatalf("certificate %s and its account in the database: %v", serial, err)
	}
	return directory, kid
}

// checkIssuedTo fails the test unless the certificate was issued in
// directory to an account bound to kid.
func checkIssuedTo(t *testing.T, dataDir, serial, directory, kid string) {
	t.Helper()
	gotDir, gotKID := issuedTo(t, dataDir, serial)
	if gotDir != directory || gotKID != kid {
		t.Errorf("certificate %s issued in directory %q to an account bound to %q, want %q and %q", serial, gotDir, gotKID, directory, kid)
	}
}

// acmeClient is an x/crypto/acme client with a fresh P-256 account key for
// the directory called name, trusting the server's root.
func (s *gateServer) acmeClient(t *testing.T, name string) *xacme.Client {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &xacme.Client{Key: key, DirectoryURL: s.directoryURL(name), HTTPClient: trustingClient(t, s.rootPEM)}
}

// register creates c's account, bound to k unless k is nil.
func register(ctx context.Context, c *xacme.Client, k *eabKey) error {
	acct := &xacme.Account{Contact: []string{"mailto:ops@example.test"}}
	if k != nil {
		raw, err := base64.RawURLEncoding.DecodeString(k.hmac)
		if err != nil {
			return fmt.Errorf("decode HMAC key: %w", err)
		}
		acct.ExternalAccountBinding = &xacme.ExternalAccountBinding{KID: k.kid, Key: raw}
	}
	_, err := c.Register(ctx, acct, xacme.AcceptTOS)
	return err
}

// newOrder asks for an order for name with c's account.
func newOrder(ctx context.Context, c *xacme.Client, name string) error {
	_, err := c.AuthorizeOrder(ctx, xacme.DomainIDs(name))
	return err
}

// problemIs reports whether err is a problem document of type typ (the
// last part of the URN) whose detail contains detail.
func problemIs(err error, typ, detail string) bool {
	var p *xacme.Error
	return errors.As(err, &p) && p.ProblemType == "urn:ietf:params:acme:error:"+typ && strings.Contains(p.Detail, detail)
}

// wantProblem fails the test unless err is the problem problemIs describes.
func wantProblem(t *testing.T, what string, err error, typ, detail string) {
	t.Helper()
	if !problemIs(err, typ, detail) {
		t.Errorf("%s: got %v, want a %s problem whose detail holds %q", what, err, typ, detail)
	}
}

// TestClientsCertbotEAB has certbot register with an EAB key from
// `acmegate eab create` and obtain a certificate over http-01; the
// single-use key then refuses a second account, and certbot without EAB is
// refused.
func TestClientsCertbotEAB(t *testing.T) {
	skipIfShort(t)
	certbot := requireClient(t, "certbot")
	const name = "certbot-eab.example.test"
	start := time.Now()

	dnsSrv := startDNS(t)
	dnsSrv.SetA(name, netip.MustParseAddr("127.0.0.1"))
	httpPort := freePort(t)
	s := startGate(t, eabConfig(dnsSrv.Addr(), httpPort))
	key := s.createEAB(t, "team", "--label", "certbot")
	env := clientEnv(t, "REQUESTS_CA_BUNDLE="+s.rootPEM)

	// certonly is certbot's arguments to obtain a certificate with a
	// configuration of its own, so each run is a client that has never
	// registered. Every run is a certonly, whose registration step is what
	// the refused ones fail at: runClient logs the arguments of other verbs,
	// and they hold the HMAC key.
	certonly := func(configDir string, eab ...string) []string {
		work := t.TempDir()
		return append([]string{
			"certonly", "--non-interactive",
			"--server", s.directoryURL("team"),
			"--config-dir", configDir,
			"--work-dir", filepath.Join(work, "work"),
			"--logs-dir", filepath.Join(work, "logs"),
			"--agree-tos", "-m", "ops@example.test", "--no-eff-email",
			"--standalone",
			"--http-01-address", "127.0.0.1",
			"--http-01-port", strconv.Itoa(httpPort),
			"-d", name,
		}, eab...)
	}

	configDir := filepath.Join(t.TempDir(), "config")
	runClient(t, env, certbot, certonly(configDir, "--eab-kid", key.kid, "--eab-hmac-key", key.hmac)...)
	leaf := verifyIssued(t, readPEMCerts(t, filepath.Join(configDir, "live", name, "fullchain.pem")), s.rootPEM, name)
	checkStored(t, s.dataDir, leaf.SerialNumber.Text(16), certRecord{Status: "valid"})
	checkIssuedTo(t, s.dataDir, leaf.SerialNumber.Text(16), "team", key.kid)
	s.checkEABState(t, "team", key, "1", "used")

	// The key bound one account; a second client presenting it is refused
	// by the server, which says why.
	out, err := runClientErr(t, env, certbot, certonly(filepath.Join(t.TempDir(), "config"),
		"--eab-kid", key.kid, "--eab-hmac-key", key.hmac)...)
	if err == nil {
		t.Errorf("certbot registered a second account with single-use key %s:\n%s", key.kid, out)
	} else if !strings.Contains(out, "was already used to create an account") {
		t.Errorf("certbot reusing key %s failed (%v) without the server's reason:\n%s", key.kid, err, out)
	}

	// certbot reads meta.externalAccountRequired and stops before asking;
	// the server refuses such an account too (RFC 8555 §7.3.4).
	out, err = runClientErr(t, env, certbot, certonly(filepath.Join(t.TempDir(), "config"))...)
	if err == nil {
		t.Errorf("certbot registered without EAB in a directory that requires it:\n%s", out)
	} else if !strings.Contains(out, "requires external account binding") {
		t.Errorf("certbot without EAB failed (%v) without saying EAB is required:\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	wantProblem(t, "newAccount without EAB", register(ctx, s.acmeClient(t, "team"), nil), "externalAccountRequired", "")

	s.checkEABState(t, "team", key, "1", "used")
	s.checkNoSecret(t, key)
	if d := time.Since(start); d > eabTestTimeout {
		t.Errorf("took %v, budget %v", d, eabTestTimeout)
	}
}

// TestClientsLegoEAB has lego register with an EAB key and obtain a
// certificate over http-01; a second lego account with the same
// single-use key is refused.
func TestClientsLegoEAB(t *testing.T) {
	skipIfShort(t)
	lego := requireClient(t, "lego")
	const name = "lego-eab.example.test"
	start := time.Now()

	dnsSrv := startDNS(t)
	dnsSrv.SetA(name, netip.MustParseAddr("127.0.0.1"))
	httpPort := freePort(t)
	s := startGate(t, eabConfig(dnsSrv.Addr(), httpPort))
	key := s.createEAB(t, "team", "--label", "lego")

	legoFor := func(path string) legoRun {
		return legoRun{
			bin: lego,
			env: clientEnv(t, "LEGO_CA_CERTIFICATES="+s.rootPEM),
			global: []string{
				"--server", s.directoryURL("team"),
				"--email", "ops@example.test", "--accept-tos",
				"--eab", "--kid", key.kid, "--hmac", key.hmac,
				"--domains", name,
				"--http", "--http.port", "127.0.0.1:" + strconv.Itoa(httpPort),
				"--path", path,
			},
			path:  path,
			first: name,
		}
	}
	first := legoFor(t.TempDir())
	first.do(t, "run")
	leaf := first.leaf(t, s.rootPEM, name)
	checkStored(t, s.dataDir, leaf.SerialNumber.Text(16), certRecord{Status: "valid"})
	checkIssuedTo(t, s.dataDir, leaf.SerialNumber.Text(16), "team", key.kid)
	s.checkEABState(t, "team", key, "1", "used")

	second := legoFor(t.TempDir())
	out, err := runClientErr(t, second.env, second.bin, append(second.global, "run")...)
	if err == nil {
		t.Errorf("lego registered a second account with single-use key %s:\n%s", key.kid, out)
	} else if !strings.Contains(out, "urn:ietf:params:acme:error:unauthorized") || !strings.Contains(out, "was already used") {
		t.Errorf("lego reusing key %s failed (%v) without the server's unauthorized problem:\n%s", key.kid, err, out)
	}

	s.checkEABState(t, "team", key, "1", "used")
	s.checkNoSecret(t, key)
	if d := time.Since(start); d > eabTestTimeout {
		t.Errorf("took %v, budget %v", d, eabTestTimeout)
	}
}
