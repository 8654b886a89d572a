package main

// Security review (issue 8, item 6): no secret in any log line. One run of
// the real binary uses every kind of secret acmegate handles, through the
// paths that use it, and then everything an operator or attacker could
// read is searched for each secret in every encoding it could take.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca/digicert/digicerttest"
	"github.com/acmegate/acmegate/ca/sectigo/sectigotest"
	"github.com/acmegate/acmegate/notify"
)

// randomSecret is prefix and 24 random hex digits: a value no output can
// hold by coincidence.
func randomSecret(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// secretForms are the strings whose presence in a text reveals secret: the
// secret itself, its hex (either case), and its base64 in the standard and
// URL alphabets at each of the three alignments it can have inside a
// longer encoded text (an encoded header or request body), trimmed to the
// characters that do not depend on the neighbouring bytes. A secret that
// is itself unpadded base64url (an EAB HMAC key) also has the forms of
// the bytes it encodes.
func secretForms(secret string) []string {
	forms := []string{secret}
	add := func(b []byte) {
		forms = append(forms, hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)))
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			for k := range 3 {
				s := enc.EncodeToString(append(make([]byte, k), b...))
				// The first block mixes in the k fake bytes, the last one
				// the bytes that follow in a real text.
				if start, end := 4, len(s)-4; end-start >= 12 {
					forms = append(forms, s[start:end])
				}
			}
		}
	}
	add([]byte(secret))
	if raw, err := base64.RawURLEncoding.DecodeString(secret); err == nil && len(raw) >= 16 {
		forms = append(forms, string(raw))
		add(raw)
	}
	return forms
}

// leakFinder collects named texts and reports any that holds a secret.
type leakFinder struct {
	secrets map[string]string // what → secret
	texts   map[string]string // where → content
}

func (f *leakFinder) text(where, content string) {
	if f.texts == nil {
		f.texts = map[string]string{}
	}
	f.texts[where] += content
}

// leaks lists where each secret was found, in any of its forms.
func (f *leakFinder) leaks() []string {
	var out []string
	for what, secret := range f.secrets {
		forms := secretForms(secret)
		for where, content := range f.texts {
			for _, form := range forms {
				if strings.Contains(content, form) {
					out = append(out, fmt.Sprintf("%s holds the %s (as %q)", where, what, form))
					break
				}
			}
		}
	}
	return out
}

// startAuthSMTP is a loopback SMTP relay with STARTTLS (certificate cert)
// that accepts mail after AUTH PLAIN with user and password; it returns
// its address and a function returning how many mails arrived after a
// successful login.
func startAuthSMTP(t *testing.T, cert *tls.Certificate, user, password string) (addr string, mails func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &authSession{user: user, password: password, delivered: func() { mu.Lock(); n++; mu.Unlock() }}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// authSession is one SMTP session of startAuthSMTP.
type authSession struct {
	user, password string
	authed         bool
	delivered      func()
}

func (s *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *authSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user != s.user || password != s.password {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *authSession) Mail(string, *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	return nil
}

func (s *authSession) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (s *authSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.delivered()
	return nil
}

func (s *authSession) Reset()        {}
func (s *authSession) Logout() error { return nil }

// writePEMCert writes c as a PEM file and returns its path.
func writePEMCert(t *testing.T, c *x509.Certificate) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// dumpDatabase returns every row of every table of the SQLite database in
// dataDir as text (blobs as their bytes).
func dumpDatabase(t *testing.T, dataDir string) string {
	t.Helper()
	dsn := (&url.URL{Scheme: "file", Path: filepath.Join(dataDir, "acmegate.db"),
		RawQuery: url.Values{"_busy_timeout": {"5000"}, "_query_only": {"1"}}.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, table := range tables {
		rows, err := db.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out.WriteString(table)
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				fmt.Fprintf(&out, "\t%v", v)
			}
			out.WriteString("\n")
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			t.Fatal(err)
		}
	}
	return out.String()
}

// TestSecuritySecretsNeverLogged runs the real binary with EAB, admin
// tokens, a webhook secret, an SMTP password and Sectigo and DigiCert
// credentials, each used for real: an EAB-bound account issues through
// the local CA, Sectigo and DigiCert; e-mail goes out through an SMTP
// relay that demands the password over STARTTLS; webhooks are delivered
// signed; tokens log in to the dashboard and call the API; bad tokens and
// bad bindings are refused. Then the server's stdout and stderr, every
// CLI output (except the one-time answer that hands a secret out), every
// admin API list and detail, the dashboard pages and every row of the
// database (audit log included) are searched for each secret, raw, hex
// and base64.
func TestSecuritySecretsNeverLogged(t *testing.T) {
	skipIfShort(t)
	var f leakFinder
	f.secrets = map[string]string{}
	scmPassword := randomSecret(t, "scm-password-")
	dcKey := randomSecret(t, "dc-api-key-")
	smtpPassword := randomSecret(t, "smtp-password-")
	f.secrets["Sectigo password"] = scmPassword
	f.secrets["DigiCert API key"] = dcKey
	f.secrets["SMTP password"] = smtpPassword

	scm := sectigotest.Start(t, sectigotest.Config{Password: scmPassword, Behavior: sectigotest.Behavior{PendingPolls: 1}})
	dc := digicerttest.Start(t, digicerttest.Config{APIKey: dcKey, Domains: []string{"example.com"}})
	relayCA := newTestLocalCA(t)
	relayCert, err := relayCA.ServerCertificate([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	smtpAddr, mails := startAuthSMTP(t, relayCert, "acmegate", smtpPassword)
	smtpHost, smtpPortText, _ := net.SplitHostPort(smtpAddr)
	smtpPort, _ := strconv.Atoi(smtpPortText)

	var (
		hookMu     sync.Mutex
		hookSecret string
		hookOK     int
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hookMu.Lock()
		defer hookMu.Unlock()
		if notify.VerifySignature([]byte(hookSecret), r.Header.Get(notify.HeaderTimestamp), body, r.Header.Get(notify.HeaderSignature)) {
			hookOK++
		}
	}))
	defer hook.Close()

	s := startGate(t, &Config{
		Backends: []BackendConfig{
			{Name: "scm", Type: "sectigo", CAFile: writePEMCert(t, scm.Root()), Sectigo: &SectigoBackendConfig{
				BaseURL: scm.URL(), CustomerURI: sectigotest.DefaultCustomerURI, Login: sectigotest.DefaultLogin,
				PasswordFile: secretFile(t, scmPassword), OrgID: sectigotest.DefaultOrgID,
				Profiles:     []SectigoProfileYAML{{Name: "ov", CertTypeID: sectigotest.DefaultCertTypeID, Term: 365}},
				PollInterval: 200 * time.Millisecond,
			}},
			{Name: "dc", Type: "digicert", CAFile: serverCertPEM(t, dc.URL()), DigiCert: &DigiCertBackendConfig{
				BaseURL: dc.URL(), APIKeyFile: secretFile(t, dcKey), OrgID: digicerttest.DefaultOrganizationID,
				Profiles: []DigiCertProfileYAML{{Name: "ov", Product: "ssl_basic", ValidityDays: 199}},
			}},
		},
		Directories: []DirectoryConfig{{Name: "team", DirectorySettings: acme.DirectorySettings{
			ExternalAccountRequired: true,
			Policy:                  acme.PolicySettings{SkipValidation: true, AllowedDomains: []string{"example.com"}},
			Profiles: []acme.ProfileSettings{
				{Name: "local", Backend: "local", Product: "default"},
				{Name: "scm", Backend: "scm", Product: "ov"},
				{Name: "dc", Backend: "dc", Product: "ov"},
			},
		}}},
		Notifications: NotificationsConfig{
			SMTP: NotifySMTPConfig{Host: smtpHost, Port: smtpPort, Username: "acmegate", PasswordFile: secretFile(t, smtpPassword),
				From: "acmegate@example.com", StartTLS: "required", CAFile: relayCA.RootPEMPath()},
			Email: NotifyEmailConfig{Recipients: []string{"pki@example.com"}, Events: []string{notify.CertificateIssued}},
		},
		Log: LogConfig{Level: "debug"},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	hc := trustingClient(t, s.rootPEM)
	base := s.adminURL(t)

	// Every CLI run's output is searched, except the standard output of
	// the verbs that hand a new secret out, once.
	cli := func(handsOut bool, args ...string) cliResult {
		t.Helper()
		res := s.cli(t, args...)
		if res.code != 0 {
			t.Fatalf("acmegate %s exited %d\n%s\n%s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
		}
		where := "acmegate " + strings.Join(args, " ")
		f.text(where+" (stderr)", res.stderr)
		if !handsOut {
			f.text(where+" (stdout)", res.stdout)
		}
		return res
	}
	tokenOf := func(out string) string {
		for line := range strings.Lines(out) {
			if v, ok := strings.CutPrefix(line, "token:"); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("no token in %q", out)
		return ""
	}
	adminTok := tokenOf(cli(true, "token", "create", "--name", "sec-admin", "--role", "admin").stdout)
	f.secrets["admin token"] = adminTok
	f.secrets["admin token's secret part"] = adminTok[strings.LastIndex(adminTok, "_")+1:]
	eabOut := cli(true, "eab", "create", "--directory", "team", "--label", "sec").stdout
	var eab eabKey
	for line := range strings.Lines(eabOut) {
		if v, ok := strings.CutPrefix(line, "key id:"); ok {
			eab.kid = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "hmac key:"); ok {
			eab.hmac = strings.TrimSpace(v)
		}
	}
	if eab.kid == "" || eab.hmac == "" {
		t.Fatalf("eab create printed %q", eabOut)
	}
	f.secrets["EAB HMAC key (CLI)"] = eab.hmac

	// The API hands out an operator token, a second EAB key and the
	// webhook secret, once each.
	var opCreated struct{ Token string }
	if code := adminAPI(ctx, t, hc, base, adminTok, "POST", "/tokens", map[string]any{"name": "sec-operator", "role": "operator"}, &opCreated); code != http.StatusCreated || opCreated.Token == "" {
		t.Fatalf("create token: %d", code)
	}
	f.secrets["operator token"] = opCreated.Token
	var apiEAB struct {
		KeyID   string `json:"key_id"`
		HMACKey string `json:"hmac_key"`
	}
	if code := adminAPI(ctx, t, hc, base, adminTok, "POST", "/directories/team/eab-keys", map[string]any{"label": "api"}, &apiEAB); code != http.StatusCreated || apiEAB.HMACKey == "" {
		t.Fatalf("create EAB key: %d %+v", code, apiEAB)
	}
	f.secrets["EAB HMAC key (API)"] = apiEAB.HMACKey
	var created struct{ ID, Secret string }
	if code := adminAPI(ctx, t, hc, base, adminTok, "POST", "/webhooks", map[string]any{"url": hook.URL + "/hook"}, &created); code != http.StatusCreated || created.Secret == "" {
		t.Fatalf("create webhook: %d", code)
	}
	hookMu.Lock()
	hookSecret = created.Secret
	hookMu.Unlock()
	f.secrets["webhook secret"] = created.Secret

	// Refusals are where secrets tend to end up in messages: a wrong
	// token (a real id, a wrong secret), a binding MACed with a wrong key.
	badTok := adminTok[:strings.LastIndex(adminTok, "_")+1] + randomSecret(t, "x")
	f.secrets["rejected token"] = badTok[strings.LastIndex(badTok, "_")+1:]
	if code := adminAPI(ctx, t, hc, base, badTok, "GET", "/tokens", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("a wrong token answered %d", code)
	}
	wrongKey := make([]byte, 32)
	_, _ = rand.Read(wrongKey)
	f.secrets["rejected EAB key"] = base64.RawURLEncoding.EncodeToString(wrongKey)
	if err := register(ctx, s.acmeClient(t, "team"), &eabKey{kid: eab.kid, hmac: base64.RawURLEncoding.EncodeToString(wrongKey)}); !problemIs(err, "unauthorized", "") {
		t.Errorf("a binding with a wrong key: %v", err)
	}

	// The EAB-bound account issues through every backend.
	c := s.acmeClient(t, "team")
	if err := register(ctx, c, &eab); err != nil {
		t.Fatalf("register with EAB: %v", err)
	}
	for _, profile := range []string{"local", "scm", "dc"} {
		name := profile + ".example.com"
		order, err := c.AuthorizeOrder(ctx, xacme.DomainIDs(name), xacme.WithOrderIssuanceProfile(xacme.ProfileName(profile)))
		if err != nil {
			t.Fatalf("order through %s: %v", profile, err)
		}
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, key)
		if _, _, err := c.CreateOrderCert(ctx, order.FinalizeURL, csr, true); err != nil {
			t.Fatalf("issue through %s: %v", profile, err)
		}
	}
	// The second EAB key binds an account too.
	if err := register(ctx, s.acmeClient(t, "team"), &eabKey{kid: apiEAB.KeyID, hmac: apiEAB.HMACKey}); err != nil {
		t.Fatalf("register with the API's EAB key: %v", err)
	}
	eventually(t, 30*time.Second, "signed webhooks and authenticated e-mail for the three certificates", func() error {
		hookMu.Lock()
		ok := hookOK
		hookMu.Unlock()
		if ok < 3 || mails() < 3 {
			return fmt.Errorf("%d signed webhooks, %d mails", ok, mails())
		}
		return nil
	})

	// The operator's token is used for the dashboard: login, a form.
	jar := newJarClient(t, hc)
	loginPage := jar.do(ctx, "GET", base+"login", nil)
	csrf := csrfOf(t, loginPage)
	if home := jar.do(ctx, "POST", base+"login", url.Values{"csrf": {csrf}, "token": {opCreated.Token}, "next": {"/admin/"}}); strings.Contains(home, `name="token"`) {
		t.Fatalf("dashboard login with the operator token failed:\n%s", home)
	}
	for _, page := range []string{"", "orders", "certificates", "directories", "accounts", "audit"} {
		f.text("dashboard /admin/"+page, jar.do(ctx, "GET", base+page, nil))
	}

	// Every CLI verb that reads.
	cli(false, "token", "list")
	cli(false, "eab", "list", "--directory", "team")
	cli(false, "audit", "list", "--limit", "100000")
	cli(false, "audit", "list", "--limit", "100000", "--format", "json")
	cli(false, "audit", "verify")
	cli(false, "backend", "check", "scm")
	cli(false, "backend", "check", "dc")
	cli(false, "directory", "list")

	// Every API read.
	api := func(path string) map[string]any {
		var v map[string]any
		if code := adminAPI(ctx, t, hc, base, adminTok, "GET", path, nil, &v); code != http.StatusOK {
			t.Errorf("GET %s: %d", path, code)
		}
		raw, _ := json.Marshal(v)
		f.text("API GET "+path, string(raw))
		return v
	}
	ids := func(v map[string]any) []string {
		var out []string
		items, _ := v["items"].([]any)
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				if id, ok := m["id"].(string); ok {
					out = append(out, id)
				} else if id, ok := m["key_id"].(string); ok {
					out = append(out, id)
				}
			}
		}
		return out
	}
	api("/summary")
	api("/directories")
	api("/directories/team")
	for _, id := range ids(api("/directories/team/eab-keys")) {
		api("/eab-keys/" + id)
	}
	for _, id := range ids(api("/tokens")) {
		api("/tokens/" + id)
	}
	for _, id := range ids(api("/webhooks")) {
		api("/webhooks/" + id)
		api("/webhooks/" + id + "/deliveries")
	}
	for _, id := range ids(api("/accounts")) {
		api("/accounts/" + id)
	}
	for _, id := range ids(api("/orders")) {
		api("/orders/" + id)
	}
	api("/certificates")
	api("/audit?limit=1000")
	api("/audit/verify")

	f.text("the server's standard output", s.stdout.String())
	f.text("the server's log", s.stderr.String())
	f.text("the database", dumpDatabase(t, s.dataDir))
	raw, err := os.ReadFile(s.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	f.text("the configuration file", string(raw))
	total := 0
	for _, c := range f.texts {
		total += len(c)
	}
	t.Logf("searched %d texts (%d bytes) for %d secrets", len(f.texts), total, len(f.secrets))
	for _, leak := range f.leaks() {
		t.Error(leak)
	}

	// The search finds what it looks for: secrets placed in a text on
	// purpose, raw and encoded, are found.
	for name, text := range map[string]string{
		"raw":                adminTok,
		"base64 in a header": base64.StdEncoding.EncodeToString([]byte("\x00acmegate\x00" + smtpPassword)),
		"hex of the HMAC": func() string {
			b, _ := base64.RawURLEncoding.DecodeString(eab.hmac)
			return "k=" + hex.EncodeToString(b)
		}(),
	} {
		probe := leakFinder{secrets: f.secrets}
		probe.text(name, text)
		if len(probe.leaks()) == 0 {
			t.Errorf("the search does not find a secret put in a text on purpose (%s)", name)
		}
	}
}

// jarClient is a browser-like HTTP client: cookies kept, redirects
// followed.
type jarClient struct {
	t  *testing.T
	hc *http.Client
}

func newJarClient(t *testing.T, base *http.Client) *jarClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := *base
	hc.Jar = jar
	return &jarClient{t: t, hc: &hc}
}

// do sends a GET, or a form POST when form is not nil, and returns the body.
func (c *jarClient) do(ctx context.Context, method, u string, form url.Values) string {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return string(b)
}

// csrfOf is the value of the first form's csrf field in page.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	const marker = `name="csrf" value="`
	i := strings.Index(page, marker)
	if i < 0 {
		t.Fatalf("no csrf field in the page:\n%s", page)
	}
	rest := page[i+len(marker):]
	return rest[:strings.IndexByte(rest, '"')]
}
