package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/acmegate/acmegate/ca/digicert/digicerttest"
	"github.com/acmegate/acmegate/ca/sectigo/sectigotest"
)

func secretFile(t *testing.T, value string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBackendCheck runs `acmegate backend check` against the fakes, with
// good and bad credentials: a plain-words explanation, never the secret.
func TestBackendCheck(t *testing.T) {
	scm := sectigotest.Start(t, sectigotest.Config{})
	dc := digicerttest.Start(t, digicerttest.Config{})
	for _, tc := range []struct {
		name, yaml, secret, want string
		ok                       bool
	}{
		{"sectigo", "type: sectigo\n    sectigo:\n      base_url: " + scm.URL() + "\n      customer_uri: " + sectigotest.DefaultCustomerURI + "\n      login: " + sectigotest.DefaultLogin + "\n      org_id: " + strconv.Itoa(sectigotest.DefaultOrgID) + "\n      profiles: [{name: ov, cert_type_id: 1018, term: 365}]\n      password_file: ",
			sectigotest.DefaultPassword, "reachable", true},
		{"sectigo", "type: sectigo\n    sectigo:\n      base_url: " + scm.URL() + "\n      customer_uri: " + sectigotest.DefaultCustomerURI + "\n      login: " + sectigotest.DefaultLogin + "\n      org_id: " + strconv.Itoa(sectigotest.DefaultOrgID) + "\n      profiles: [{name: ov, cert_type_id: 1018, term: 365}]\n      password_file: ",
			"wrong-password-123", "password", false},
		{"digicert", "type: digicert\n    digicert:\n      base_url: " + dc.URL() + "\n      org_id: " + strconv.Itoa(digicerttest.DefaultOrganizationID) + "\n      profiles: [{name: ov, product: ssl_basic, validity_days: 199}]\n      api_key_file: ",
			dc.APIKey(), "reachable", true},
		{"digicert", "type: digicert\n    digicert:\n      base_url: " + dc.URL() + "\n      org_id: " + strconv.Itoa(digicerttest.DefaultOrganizationID) + "\n      profiles: [{name: ov, product: ssl_basic, validity_days: 199}]\n      api_key_file: ",
			"not-the-key-0000", "key", false},
	} {
		t.Run(tc.name+map[bool]string{true: "/good", false: "/bad"}[tc.ok], func(t *testing.T) {
			cfg, err := loadConfig(writeConfig(t, "backends:\n  - name: "+tc.name+"\n    "+tc.yaml+secretFile(t, tc.secret)+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			// The fakes serve TLS with their own roots: only their clients
			// trust them.
			var out bytes.Buffer
			err = runBackendWith(context.Background(), cfg, []string{"check", tc.name}, &out, map[string]*http.Client{"sectigo": scm.Client(), "digicert": dc.Client()}[tc.name])
			switch {
			case tc.ok && (err != nil || !strings.Contains(out.String(), tc.want)):
				t.Errorf("check: %v %q", err, out.String())
			case !tc.ok && (err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.want)):
				t.Errorf("check with bad credentials: %v, want an explanation mentioning %q", err, tc.want)
			case !tc.ok && strings.Contains(err.Error(), tc.secret):
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestBackendCAFile: a vendor API whose TLS certificate is not in the
// system roots is trusted through ca_file.
func TestBackendCAFile(t *testing.T) {
	dc := digicerttest.Start(t, digicerttest.Config{})
	cfg, err := loadConfig(writeConfig(t, "backends:\n  - name: digicert\n    type: digicert\n    ca_file: "+serverCertPEM(t, dc.URL())+
		"\n    digicert:\n      base_url: "+dc.URL()+"\n      org_id: "+strconv.Itoa(digicerttest.DefaultOrganizationID)+
		"\n      profiles: [{name: ov, product: ssl_basic, validity_days: 199}]\n      api_key_file: "+secretFile(t, dc.APIKey())+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runBackend(context.Background(), cfg, []string{"check", "digicert"}, &out); err != nil || !strings.Contains(out.String(), "reachable") {
		t.Errorf("check through ca_file: %v %q", err, out.String())
	}
	cfg.Backends[0].CAFile = ""
	if err := runBackend(context.Background(), cfg, []string{"check", "digicert"}, &out); err == nil {
		t.Error("check without ca_file trusted the fake's certificate")
	}
}
