package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"
	"gopkg.in/yaml.v3"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca/sectigo/sectigotest"
)

// TestKillBetweenSubmissionAndCollection: acmegate is SIGKILLed while an
// order sits at Sectigo (submitted, not yet collected) and started again.
// The client still gets its certificate and exactly one enrollment exists
// upstream.
func TestKillBetweenSubmissionAndCollection(t *testing.T) {
	skipIfShort(t)
	const name = "kill.example.test"
	fake := sectigotest.Start(t, sectigotest.Config{Behavior: sectigotest.Behavior{PendingPolls: 5}})
	dnsSrv := startDNS(t)
	dnsSrv.SetA(name, netip.MustParseAddr("127.0.0.1"))
	var tokens sync.Map
	responder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v, ok := tokens.Load(strings.TrimPrefix(r.URL.Path, "/.well-known/acme-challenge/")); ok {
			fmt.Fprint(w, v)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(responder.Close)

	dir := t.TempDir()
	port := freePort(t)
	cfg := &Config{
		DataDir: filepath.Join(dir, "data"),
		Listen:  "127.0.0.1:" + strconv.Itoa(port),
		Storage: StorageConfig{Driver: "sqlite"},
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
			Resolvers: []string{dnsSrv.Addr()}, HTTPPort: responder.Listener.Addr().(*net.TCPAddr).Port,
			AllowedNetworks: []string{"127.0.0.0/8"}, Timeout: 5 * time.Second,
		},
		Limits: LimitsConfig{JobLease: 2 * time.Second},
		Log:    LogConfig{Level: "info"},
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "acmegate.yaml")
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	in := &instance{t: t, bin: buildServer(t), cfgPath: cfgPath, addr: cfg.Listen}
	in.start()
	t.Cleanup(func() {
		if err := in.signal(syscall.SIGTERM); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("acmegate stderr:\n%s", strings.Join(in.logs, "\n--- restarted ---\n"))
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c := &xacme.Client{Key: key, DirectoryURL: "https://" + cfg.Listen + "/acme/vendor/directory",
		HTTPClient: trustingClient(t, filepath.Join(cfg.DataDir, "root.pem"))}
	if _, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	o, err := c.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "dns", Value: name}})
	if err != nil {
		t.Fatal(err)
	}
	z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range z.Challenges {
		if ch.Type != "http-01" {
			continue
		}
		ka, _ := c.HTTP01ChallengeResponse(ch.Token)
		tokens.Store(ch.Token, ka)
		if _, err := c.Accept(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.WaitAuthorization(ctx, z.URI); err != nil {
		t.Fatal(err)
	}
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, certKey)
	finalized := make(chan error, 1)
	go func() {
		// The client keeps polling through the crash, as certbot would
		// retry after connection errors.
		for {
			_, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
			if err == nil || ctx.Err() != nil {
				finalized <- err
				return
			}
			var pe *xacme.Error
			if errors.As(err, &pe) && pe.ProblemType == "urn:ietf:params:acme:error:orderNotReady" {
				// Finalized before the crash: wait for the order instead.
				_, err = c.WaitOrder(ctx, o.URI)
				if err == nil {
					finalized <- nil
					return
				}
			}
			time.Sleep(300 * time.Millisecond)
		}
	}()
	// Wait until the order is at Sectigo, then kill acmegate mid-flight.
	deadline := time.Now().Add(20 * time.Second)
	for len(fake.Enrollments()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the order never reached Sectigo")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := in.signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	in.start()
	if err := <-finalized; err != nil {
		t.Fatalf("the client did not get its certificate across the crash: %v", err)
	}
	if n := len(fake.Enrollments()); n != 1 {
		t.Errorf("%d enrollments at Sectigo after the crash, want exactly 1", n)
	}
}
