package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
)

// adminURL is the admin URL the server printed ("…/admin/").
func (s *gateServer) adminURL(t *testing.T) string {
	t.Helper()
	for line := range strings.Lines(s.stdout.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "admin:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("the server printed no admin URL:\n%s", s.stdout.String())
	return ""
}

// adminAPI calls the admin API at base (the printed admin URL) with a
// bearer token and decodes a JSON answer into out (unless nil).
func adminAPI(ctx context.Context, t *testing.T, hc *http.Client, base, tok, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+"/api/v1"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// createToken runs `token create` and returns the printed token.
func (s *gateServer) createToken(t *testing.T, name, role string, extra ...string) string {
	t.Helper()
	out := s.mustCLI(t, append([]string{"token", "create", "--name", name, "--role", role}, extra...)...)
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(line, "token:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("token create printed no token:\n%s", out)
	return ""
}

func TestAdminConfig(t *testing.T) {
	cfg, err := loadConfig(writeConfig(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Admin.Listen != "127.0.0.1:14001" || cfg.Admin.OnACMEListener || cfg.Admin.SessionLifetime != 8*time.Hour {
		t.Errorf("admin defaults = %+v", cfg.Admin)
	}
	for _, tc := range []struct{ body, want string }{
		{"admin:\n  listen: off\n", ""},
		{"admin:\n  listen: 0.0.0.0:8443\n  session_lifetime: 30m\n", ""},
		{"admin:\n  listen: localhost\n", "admin.listen"},
		{"admin:\n  session_lifetime: 10s\n", "admin.session_lifetime"},
		{"admin:\n  lisen: off\n", "lisen"},
	} {
		_, err := loadConfig(writeConfig(t, tc.body))
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("config %q: %v, want an error holding %q", tc.body, err, tc.want)
		}
	}
}

func TestWithAdmin(t *testing.T) {
	acmeH := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(201) })
	adminH := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(202) })
	h := withAdmin(acmeH, adminH)
	for path, want := range map[string]int{
		"/admin": 202, "/admin/": 202, "/admin/api/v1/orders": 202, "/directory": 201, "/administrator": 201, "/acme/admin/directory": 201,
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != want {
			t.Errorf("%s went to %d, want %d", path, w.Code, want)
		}
	}
}

// TestAdminApprovalFlow: through the real binary, an order of a directory
// that requires approval waits for an operator; the operator approves it
// through the admin listener with a token made by the CLI, the client
// gets its certificate, and the operator revokes it.
func TestAdminApprovalFlow(t *testing.T) {
	skipIfShort(t)
	s := startGate(t, &Config{
		Directories: []DirectoryConfig{{Name: "gated", DirectorySettings: acme.DirectorySettings{
			RequireApproval: true,
			Policy:          acme.PolicySettings{SkipValidation: true, AllowedDomains: []string{"gated.test"}},
		}}},
		Log: LogConfig{Level: "debug"},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	hc := trustingClient(t, s.rootPEM)
	base := s.adminURL(t)
	if !strings.HasPrefix(base, "https://127.0.0.1:") || strings.HasPrefix(base, s.baseURL) {
		t.Fatalf("admin URL %q: want its own https listener", base)
	}
	opTok := s.createToken(t, "night-operator", "operator")
	audTok := s.createToken(t, "auditor-1", "auditor")

	c := s.acmeClient(t, "gated")
	if err := register(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	order, err := c.AuthorizeOrder(ctx, xacme.DomainIDs("www.gated.test"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"www.gated.test"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		der [][]byte
		err error
	}
	issued := make(chan result, 1)
	go func() {
		der, _, err := c.CreateOrderCert(ctx, order.FinalizeURL, csr, true)
		issued <- result{der, err}
	}()

	var pending struct {
		Items []struct {
			ID       string `json:"id"`
			Approval struct{ State string }
		} `json:"items"`
	}
	eventually(t, 20*time.Second, "the order awaits approval", func() error {
		if code := adminAPI(ctx, t, hc, base, audTok, "GET", "/orders?approval=pending&directory=gated", nil, &pending); code != 200 || len(pending.Items) != 1 {
			return fmt.Errorf("status %d, %d pending orders", code, len(pending.Items))
		}
		return nil
	})
	id := pending.Items[0].ID
	if code := adminAPI(ctx, t, hc, base, audTok, "POST", "/orders/"+id+"/approve", nil, nil); code != http.StatusForbidden {
		t.Errorf("an auditor approved: %d", code)
	}
	select {
	case r := <-issued:
		t.Fatalf("the order completed before anyone approved it: %v", r.err)
	default:
	}
	if code := adminAPI(ctx, t, hc, base, opTok, "POST", "/orders/"+id+"/approve", map[string]string{"reason": "CHG-7"}, nil); code != 200 {
		t.Fatalf("approve: %d", code)
	}
	var r result
	select {
	case r = <-issued:
	case <-ctx.Done():
		t.Fatal("no certificate after the approval")
	}
	if r.err != nil || len(r.der) == 0 {
		t.Fatalf("certificate after approval: %v", r.err)
	}
	leaf, err := x509.ParseCertificate(r.der[0])
	if err != nil || leaf.DNSNames[0] != "www.gated.test" {
		t.Fatalf("issued leaf: %v", err)
	}

	var certs struct {
		Items []struct {
			ID, Serial, Status string
		} `json:"items"`
	}
	if code := adminAPI(ctx, t, hc, base, audTok, "GET", "/certificates?directory=gated", nil, &certs); code != 200 || len(certs.Items) != 1 || certs.Items[0].Serial != leaf.SerialNumber.Text(16) {
		t.Fatalf("inventory of gated: %d %+v", code, certs)
	}
	var revoked struct{ Status string }
	if code := adminAPI(ctx, t, hc, base, opTok, "POST", "/certificates/"+certs.Items[0].ID+"/revoke", map[string]any{"reason": "superseded"}, &revoked); code != 200 || revoked.Status != "revoked" {
		t.Errorf("revoke: %d %+v", code, revoked)
	}
	out := s.mustCLI(t, "audit", "list", "--actor", "token:night-operator")
	for _, action := range []string{"order.approve", "certificate.revoke.request"} {
		if !strings.Contains(out, action) {
			t.Errorf("audit list of the operator lacks %s:\n%s", action, out)
		}
	}
	if out := s.mustCLI(t, "audit", "list", "--action", "order.approve"); !strings.Contains(out, "denied") || !strings.Contains(out, "token:auditor-1") {
		t.Errorf("the auditor's refused approval is not in the trail:\n%s", out)
	}
	for _, tok := range []string{opTok, audTok} {
		if strings.Contains(s.stdout.String()+s.stderr.String(), tok) {
			t.Error("the server's output holds a token")
		}
	}
}

// TestAdminOnACMEListener: with on_acme_listener the API is served on the
// ACME listener, under /admin/api/v1, and ACME still works beside it.
func TestAdminOnACMEListener(t *testing.T) {
	skipIfShort(t)
	s := startGate(t, &Config{Admin: AdminConfig{OnACMEListener: true}})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	hc := trustingClient(t, s.rootPEM)
	base := s.adminURL(t)
	if base != s.baseURL+"/admin/" {
		t.Fatalf("admin URL %q, want %s/admin/", base, s.baseURL)
	}
	tok := s.createToken(t, "ops", "auditor")
	var summary map[string]any
	if code := adminAPI(ctx, t, hc, base, tok, "GET", "/summary", nil, &summary); code != 200 || summary["pending_approvals"] == nil {
		t.Errorf("summary on the ACME listener: %d %v", code, summary)
	}
	if code := adminAPI(ctx, t, hc, base, "nope", "GET", "/summary", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("summary without a valid token: %d", code)
	}
	if code, _, err := s.directoryMeta(ctx, hc, "default"); err != nil || code != 200 {
		t.Errorf("ACME directory beside the admin API: %d %v", code, err)
	}
}
