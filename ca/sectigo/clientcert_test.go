package sectigo_test

import (
	"strings"
	"testing"

	"github.com/acmegate/acmegate/ca/sectigo"
	"github.com/acmegate/acmegate/ca/sectigo/sectigotest"
)

// TestClientCertAuth: with a client certificate, requests go to /private,
// carry no password, and the whole issuance works over TLS.
func TestClientCertAuth(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{ClientCertAuth: true, Behavior: sectigotest.Behavior{PendingPolls: 1}})
	cert, err := srv.ClientCertificate()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mod  func(*sectigo.Config)
	}{
		{"own HTTP client", func(c *sectigo.Config) { c.HTTPClient = nil; c.RootCAs = srv.RootCAs() }},
		{"given HTTP client", func(c *sectigo.Config) { c.HTTPClient = srv.Client() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, srv, func(c *sectigo.Config) {
				c.Password = ""
				c.ClientCert = &cert
				tt.mod(c)
			})
			if err := b.Check(testContext(t)); err != nil {
				t.Fatalf("Check: %v", err)
			}
			res := mustIssuePending(t, b, issueRequest(t, "cc-"+strings.ReplaceAll(tt.name, " ", "-"), "mtls.example.com"))
			done, pending, err := pollUntilDone(t, b, res.Ref, 3)
			if err != nil || pending != 1 {
				t.Fatalf("Poll: %v after %d pending", err, pending)
			}
			verifyChain(t, srv, done.Chain)
		})
	}
	for _, r := range srv.Requests() {
		if !strings.HasPrefix(r.Path, "/private/api/") || r.PasswordSent || !r.ClientCert {
			t.Errorf("%s %s: password sent %v, client certificate %v", r.Method, r.Path, r.PasswordSent, r.ClientCert)
		}
	}
}

// TestClientCertAuthFailures: Check explains what is wrong.
func TestClientCertAuthFailures(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{ClientCertAuth: true})
	good, err := srv.ClientCertificate()
	if err != nil {
		t.Fatal(err)
	}
	// A certificate from another fake's CA: the handshake fails.
	other := sectigotest.Start(t, sectigotest.Config{ClientCertAuth: true})
	foreign, err := other.ClientCertificate()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mod  func(*sectigo.Config)
		want string
	}{
		{"password instead of a certificate", func(c *sectigo.Config) {}, "the login or password is wrong"},
		{"wrong login", func(c *sectigo.Config) { c.ClientCert = &good; c.Login = "someone-else" }, "the client certificate or the login was not accepted"},
		{"untrusted certificate", func(c *sectigo.Config) { c.ClientCert = &foreign }, "TLS handshake"},
		{"server not trusted", func(c *sectigo.Config) {
			c.ClientCert = &good
			c.HTTPClient = nil // the system roots do not know the fake's CA
		}, "is not trusted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, srv, tt.mod)
			err := b.Check(testContext(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check = %v, want %q", err, tt.want)
			}
		})
	}
}
