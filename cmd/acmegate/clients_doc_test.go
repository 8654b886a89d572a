package main

// docs/clients.md tested as written: the certbot, lego and Caddy recipes
// are read from the file and run against a real acmegate, with only the
// documented placeholder values swapped for the test's; the recipes for
// clients that cannot run here (cert-manager, Traefik) are at least parsed.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The values docs/clients.md writes in every recipe.
const (
	docDirectoryURL = "https://acme.example.com/acme/team/directory"
	docRootPEM      = "/etc/ssl/acmegate-root.pem"
	docName         = "www.example.com"
)

// docSection returns the text of docs/clients.md from the heading line
// "## "+title to the next "## " heading.
func docSection(t *testing.T, title string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "clients.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	head := "\n## " + title + "\n"
	i := strings.Index(s, head)
	if i < 0 {
		t.Fatalf("docs/clients.md has no section %q", title)
	}
	s = s[i+len(head):]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	return s
}

// docBlocks returns the fenced blocks of language lang in the section
// title of docs/clients.md, in order.
func docBlocks(t *testing.T, title, lang string) []string {
	t.Helper()
	s := docSection(t, title)
	var blocks []string
	open := "```" + lang + "\n"
	for {
		i := strings.Index(s, open)
		if i < 0 {
			break
		}
		s = s[i+len(open):]
		j := strings.Index(s, "```")
		if j < 0 {
			t.Fatalf("section %q: unterminated %s block", title, lang)
		}
		blocks = append(blocks, s[:j])
		s = s[j+3:]
	}
	if len(blocks) == 0 {
		t.Fatalf("section %q of docs/clients.md has no %s block", title, lang)
	}
	return blocks
}

// shellCommand is one command of a documented shell block: the variable
// assignments before it and its arguments.
type shellCommand struct {
	env  []string
	argv []string
}

// parseShell splits a documented shell block into commands. It knows what
// the recipes use and no more: comments, backslash-newline continuations,
// single and double quotes, NAME=value prefixes, and $NAME or ${NAME}
// expanded from vars (an unknown variable is an error, so a recipe cannot
// silently lose an argument).
func parseShell(block string, vars map[string]string) ([]shellCommand, error) {
	var cmds []shellCommand
	logical := strings.ReplaceAll(block, "\\\n", " ")
	for line := range strings.Lines(logical) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		words, err := shellWords(line, vars)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		var c shellCommand
		for i, w := range words {
			name, _, ok := strings.Cut(w, "=")
			if ok && len(c.argv) == 0 && isShellName(name) {
				c.env = append(c.env, w)
				continue
			}
			c.argv = words[i:]
			break
		}
		if len(c.argv) == 0 {
			return nil, fmt.Errorf("%q runs no command", line)
		}
		cmds = append(cmds, c)
	}
	return cmds, nil
}

// isShellName reports whether s is a shell variable name.
func isShellName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// shellWords splits one command line into words.
func shellWords(line string, vars map[string]string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var missing []string
	expand := func(s string) string {
		return os.Expand(s, func(name string) string {
			v, ok := vars[name]
			if !ok {
				missing = append(missing, name)
			}
			return v
		})
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'' || c == '"':
			j := strings.IndexByte(line[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unterminated %c quote", c)
			}
			quoted := line[i+1 : i+1+j]
			if c == '"' {
				quoted = expand(quoted)
			}
			cur.WriteString(quoted)
			inWord = true
			i += j + 1
		case c == '$':
			// $NAME or ${NAME} outside quotes.
			j := i + 1
			if j < len(line) && line[j] == '{' {
				k := strings.IndexByte(line[j:], '}')
				if k < 0 {
					return nil, errors.New("unterminated ${")
				}
				j += k + 1
			} else {
				for j < len(line) && isShellName(line[i+1:j+1]) {
					j++
				}
			}
			cur.WriteString(expand(line[i:j]))
			inWord = true
			i = j - 1
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("unknown variables %v", missing)
	}
	return words, nil
}

// TestClientsDocShellParser pins what parseShell understands.
func TestClientsDocShellParser(t *testing.T) {
	t.Parallel()
	cmds, err := parseShell(`# a comment
A=1 B="two words" \
prog --x "$K" '$K' ${K}z --y=$K
other
`, map[string]string{"K": "v"})
	if err != nil {
		t.Fatal(err)
	}
	want := []shellCommand{
		{env: []string{"A=1", "B=two words"}, argv: []string{"prog", "--x", "v", "$K", "vz", "--y=v"}},
		{argv: []string{"other"}},
	}
	if fmt.Sprint(cmds) != fmt.Sprint(want) {
		t.Errorf("parseShell = %q, want %q", cmds, want)
	}
	if _, err := parseShell(`prog "$UNSET"`, nil); err == nil {
		t.Error("an unknown variable parsed")
	}
}

// docRecipe is a documented recipe with the documented values replaced by
// the test's. Every documented value must occur in the recipe, so a change
// of placeholders in the docs cannot make the test run something else.
func docRecipe(t *testing.T, recipe string, replace ...string) string {
	t.Helper()
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(recipe, replace[i]) {
			t.Fatalf("the recipe does not contain %q:\n%s", replace[i], recipe)
		}
	}
	return strings.NewReplacer(replace...).Replace(recipe)
}

// docCommand parses a documented one-command shell block into the
// command, its environment and arguments; the program must be prog.
func docCommand(t *testing.T, block, prog string, vars map[string]string) shellCommand {
	t.Helper()
	cmds, err := parseShell(block, vars)
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) != 1 || cmds[0].argv[0] != prog {
		t.Fatalf("want one %s command, got %q", prog, cmds)
	}
	return cmds[0]
}

// startDocServer starts acmegate with the EAB directory "team" of the
// client EAB tests, name resolving to loopback, and returns it with a new
// EAB key.
func startDocServer(t *testing.T, name string, httpPort int, tweak func(*Config)) (*gateServer, eabKey) {
	t.Helper()
	dnsSrv := startDNS(t)
	dnsSrv.SetA(name, netip.MustParseAddr("127.0.0.1"))
	cfg := eabConfig(dnsSrv.Addr(), httpPort)
	if tweak != nil {
		tweak(cfg)
	}
	s := startGate(t, cfg)
	return s, s.createEAB(t, "team", "--label", "docs")
}

// TestClientsDocCertbot runs the certbot recipes of docs/clients.md:
// certonly with EAB, then renew.
func TestClientsDocCertbot(t *testing.T) {
	skipIfShort(t)
	certbot := requireClient(t, "certbot")
	const name = "certbot-doc.example.test"
	httpPort := freePort(t)
	s, key := startDocServer(t, name, httpPort, nil)
	vars := map[string]string{"EAB_KID": key.kid, "EAB_HMAC_KEY": key.hmac}
	replace := []string{docDirectoryURL, s.directoryURL("team"), docRootPEM, s.rootPEM, docName, name}
	blocks := docBlocks(t, "certbot", "sh")
	if len(blocks) < 2 {
		t.Fatalf("the certbot section has %d sh blocks, want certonly and renew", len(blocks))
	}

	// Where certbot keeps its state and listens are the test's; the
	// recipe's flags are all used as written.
	work := t.TempDir()
	configDir := filepath.Join(work, "config")
	local := []string{
		"--non-interactive",
		"--config-dir", configDir,
		"--work-dir", filepath.Join(work, "work"),
		"--logs-dir", filepath.Join(work, "logs"),
	}
	issue := docCommand(t, docRecipe(t, blocks[0], replace...), "certbot", vars)
	runClient(t, clientEnv(t, issue.env...), certbot, slices.Concat(issue.argv[1:], local,
		[]string{"--http-01-address", "127.0.0.1", "--http-01-port", strconv.Itoa(httpPort)})...)
	live := filepath.Join(configDir, "live", name)
	first := verifyIssued(t, readPEMCerts(t, filepath.Join(live, "fullchain.pem")), s.rootPEM, name)
	checkIssuedTo(t, s.dataDir, first.SerialNumber.Text(16), "team", key.kid)

	// The renewal recipe names only the root: the server, the port and the
	// account come from what certonly recorded. The certificate is not
	// due, so the test forces it.
	renew := docCommand(t, docRecipe(t, blocks[1], docRootPEM, s.rootPEM), "certbot", vars)
	runClient(t, clientEnv(t, renew.env...), certbot, slices.Concat(renew.argv[1:], local,
		[]string{"--force-renewal", "--no-random-sleep-on-renew"})...)
	second := verifyIssued(t, readPEMCerts(t, filepath.Join(live, "fullchain.pem")), s.rootPEM, name)
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatalf("renewal left the same certificate (serial %s)", first.SerialNumber.Text(16))
	}
	checkIssuedTo(t, s.dataDir, second.SerialNumber.Text(16), "team", key.kid)
	s.checkNoSecret(t, key)
}

// TestClientsDocLego runs the lego recipes of docs/clients.md: run with
// EAB, then renew.
func TestClientsDocLego(t *testing.T) {
	skipIfShort(t)
	lego := requireClient(t, "lego")
	const name = "lego-doc.example.test"
	httpPort := freePort(t)
	s, key := startDocServer(t, name, httpPort, nil)
	vars := map[string]string{"EAB_KID": key.kid, "EAB_HMAC_KEY": key.hmac}
	replace := []string{docDirectoryURL, s.directoryURL("team"), docRootPEM, s.rootPEM, docName, name}
	blocks := docBlocks(t, "lego", "sh")
	if len(blocks) < 2 {
		t.Fatalf("the lego section has %d sh blocks, want run and renew", len(blocks))
	}
	path := t.TempDir()
	// lego's global flags go before the command: the test's listen
	// address and state directory are inserted there.
	local := []string{"--http.port", "127.0.0.1:" + strconv.Itoa(httpPort), "--path", path}
	withLocal := func(argv []string, verb string) []string {
		i := slices.Index(argv, verb)
		if i < 0 {
			t.Fatalf("the recipe %q has no %s command", argv, verb)
		}
		return slices.Concat(argv[1:i], local, argv[i:])
	}
	leaf := func() *x509.Certificate {
		return verifyIssued(t, readPEMCerts(t, filepath.Join(path, "certificates", name+".crt")), s.rootPEM, name)
	}

	run := docCommand(t, docRecipe(t, blocks[0], replace...), "lego", vars)
	runClient(t, clientEnv(t, run.env...), lego, withLocal(run.argv, "run")...)
	first := leaf()
	checkIssuedTo(t, s.dataDir, first.SerialNumber.Text(16), "team", key.kid)

	renew := docCommand(t, docRecipe(t, blocks[1], replace...), "lego", vars)
	args := withLocal(renew.argv, "renew")
	// The recipe renews 30 days before expiry; a new certificate has 90,
	// so the test moves the threshold past it to make lego renew now.
	i := slices.Index(args, "--days")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("the renew recipe %q has no --days", renew.argv)
	}
	args[i+1] = "1000"
	runClient(t, clientEnv(t, renew.env...), lego, append(args, "--no-random-sleep")...)
	second := leaf()
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatalf("renewal left the same certificate (serial %s)", first.SerialNumber.Text(16))
	}
	checkIssuedTo(t, s.dataDir, second.SerialNumber.Text(16), "team", key.kid)
	s.checkNoSecret(t, key)
}

// caddyTimeout bounds how long Caddy may take to obtain its certificate.
const caddyTimeout = 90 * time.Second

// TestClientsDocCaddy runs Caddy with the Caddyfile of docs/clients.md and
// checks it obtains a certificate from acmegate (with EAB, over http-01 or
// tls-alpn-01 on loopback ports) and serves it.
func TestClientsDocCaddy(t *testing.T) {
	skipIfShort(t)
	caddy := requireClient(t, "caddy")
	const name = "caddy-doc.example.test"
	httpPort, httpsPort := freePort(t), freePort(t)
	s, key := startDocServer(t, name, httpPort, func(c *Config) {
		c.Validation.TLSALPNPort = httpsPort
	})

	recipe := docRecipe(t, docBlocks(t, "Caddy", "caddyfile")[0],
		docDirectoryURL, s.directoryURL("team"), docRootPEM, s.rootPEM, docName, name)
	// Test-only global options, inserted after the opening brace: loopback
	// ports instead of 80 and 443, and no admin endpoint on :2019.
	open := strings.Index(recipe, "{\n")
	if open != 0 {
		t.Fatalf("the Caddyfile does not start with a global options block:\n%s", recipe)
	}
	caddyfile := "{\n" + fmt.Sprintf("\tadmin off\n\tdefault_bind 127.0.0.1\n\thttp_port %d\n\thttps_port %d\n", httpPort, httpsPort) + recipe[2:]
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	// The Caddyfile reads the EAB key from the environment ({$NAME}), as
	// documented; Caddy keeps its certificates under XDG_DATA_HOME.
	env := clientEnv(t,
		"EAB_KID="+key.kid, "EAB_HMAC_KEY="+key.hmac,
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
	)
	out := startCaddy(t, caddy, env, cfgPath)

	leaf := caddyServedCert(t, s, name, httpsPort, out)
	checkStored(t, s.dataDir, leaf.SerialNumber.Text(16), certRecord{Status: "valid"})
	checkIssuedTo(t, s.dataDir, leaf.SerialNumber.Text(16), "team", key.kid)
	// Caddy stored what it obtained under its data directory, in a folder
	// named after the CA's host and path.
	stored, err := filepath.Glob(filepath.Join(dir, "data", "caddy", "certificates", "*", name, name+".crt"))
	if err != nil || len(stored) != 1 {
		t.Errorf("Caddy's storage holds %q (%v), want one certificate for %s", stored, err, name)
	} else if got := readPEMCerts(t, stored[0])[0]; got.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("Caddy stored serial %s but serves %s", got.SerialNumber.Text(16), leaf.SerialNumber.Text(16))
	}
	s.checkNoSecret(t, key)
}

// startCaddy runs `caddy run` on cfgPath in its own process group until
// the test ends, and returns its output.
func startCaddy(t *testing.T, caddy string, env []string, cfgPath string) *syncBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, caddy, "run", "--config", cfgPath, "--adapter", "caddyfile")
	cmd.Env = env
	cmd.Dir = filepath.Dir(cfgPath)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start caddy: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // Caddy is stopped by the cleanup; how it exits does not matter.
		close(exited)
	}()
	t.Cleanup(func() {
		if err := killGroup(cmd.Process.Pid, syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM caddy: %v", err)
		}
		select {
		case <-exited:
		case <-time.After(serverStopTimeout):
			t.Errorf("caddy still running %v after SIGTERM; killing it", serverStopTimeout)
		}
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("caddy output:\n%s", out.String())
		}
	})
	return out
}

// caddyServedCert connects to Caddy's HTTPS port for name until it serves
// a certificate that chains to acmegate's root, checks the response, and
// returns the leaf.
func caddyServedCert(t *testing.T, s *gateServer, name string, port int, caddyOut *syncBuffer) *x509.Certificate {
	t.Helper()
	rootRaw, err := os.ReadFile(s.rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootRaw) {
		t.Fatalf("%s holds no certificate", s.rootPEM)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	hc := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			// The name resolves only in the test's DNS server: dial
			// Caddy's loopback port, verify against the name.
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: name},
		},
	}
	defer hc.CloseIdleConnections()
	var chain []*x509.Certificate
	var body []byte
	eventually(t, caddyTimeout, "Caddy serves a certificate from acmegate for "+name, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+name+"/", nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			if strings.Contains(caddyOut.String(), `"error"`) {
				// Keep waiting (Caddy retries), but say what it said.
				return fmt.Errorf("%w; caddy logged errors", err)
			}
			return err
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(io.LimitReader(resp.Body, 4096))
		if err != nil {
			return err
		}
		chain = resp.TLS.PeerCertificates
		return nil
	})
	if !bytes.Contains(body, []byte("hello from "+name)) {
		t.Errorf("Caddy answered %q, want the recipe's greeting", body)
	}
	return verifyIssued(t, chain, s.rootPEM, name)
}

// TestClientsDocCertManagerYAML parses the cert-manager manifests of
// docs/clients.md: a Secret with the HMAC key and a ClusterIssuer whose
// externalAccountBinding refers to it, trusting the root through caBundle.
func TestClientsDocCertManagerYAML(t *testing.T) {
	t.Parallel()
	type secret struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name      string `yaml:"name"`
			Namespace string `yaml:"namespace"`
		} `yaml:"metadata"`
		Type       string            `yaml:"type"`
		StringData map[string]string `yaml:"stringData"`
	}
	type clusterIssuer struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			ACME struct {
				Server              string `yaml:"server"`
				Email               string `yaml:"email"`
				CABundle            string `yaml:"caBundle"`
				PrivateKeySecretRef struct {
					Name string `yaml:"name"`
				} `yaml:"privateKeySecretRef"`
				ExternalAccountBinding struct {
					KeyID        string `yaml:"keyID"`
					KeySecretRef struct {
						Name string `yaml:"name"`
						Key  string `yaml:"key"`
					} `yaml:"keySecretRef"`
				} `yaml:"externalAccountBinding"`
				Solvers []map[string]any `yaml:"solvers"`
			} `yaml:"acme"`
		} `yaml:"spec"`
	}
	block := docBlocks(t, "cert-manager", "yaml")[0]
	dec := yaml.NewDecoder(strings.NewReader(block))
	var sec secret
	var iss clusterIssuer
	for _, doc := range []any{&sec, &iss} {
		// Strict: a misspelt field would be ignored by Kubernetes' decoder
		// only with a warning, and the issuer would not do what it says.
		dec.KnownFields(true)
		if err := dec.Decode(doc); err != nil {
			t.Fatalf("cert-manager manifests: %v\n%s", err, block)
		}
	}
	if sec.APIVersion != "v1" || sec.Kind != "Secret" {
		t.Errorf("first manifest is %s %s, want v1 Secret", sec.APIVersion, sec.Kind)
	}
	if iss.APIVersion != "cert-manager.io/v1" || iss.Kind != "ClusterIssuer" {
		t.Errorf("second manifest is %s %s, want cert-manager.io/v1 ClusterIssuer", iss.APIVersion, iss.Kind)
	}
	// A ClusterIssuer reads its Secrets from the cluster resource
	// namespace, cert-manager by default.
	if sec.Metadata.Namespace != "cert-manager" {
		t.Errorf("the Secret is in namespace %q, want cert-manager", sec.Metadata.Namespace)
	}
	acme := iss.Spec.ACME
	eab := acme.ExternalAccountBinding
	if eab.KeySecretRef.Name != sec.Metadata.Name {
		t.Errorf("keySecretRef names Secret %q, the manifest defines %q", eab.KeySecretRef.Name, sec.Metadata.Name)
	}
	if _, ok := sec.StringData[eab.KeySecretRef.Key]; !ok || eab.KeySecretRef.Key == "" {
		t.Errorf("keySecretRef key %q is not in the Secret's stringData %v", eab.KeySecretRef.Key, sec.StringData)
	}
	if eab.KeyID == "" || acme.CABundle == "" || acme.PrivateKeySecretRef.Name == "" || len(acme.Solvers) == 0 {
		t.Errorf("the ClusterIssuer lacks keyID, caBundle, privateKeySecretRef or solvers: %+v", acme)
	}
	if acme.Server != docDirectoryURL {
		t.Errorf("server = %q, want the documented directory URL %s", acme.Server, docDirectoryURL)
	}
	// The kubectl recipe creates the same Secret and key.
	sh := docBlocks(t, "cert-manager", "sh")[0]
	cmds, err := parseShell(sh, map[string]string{"EAB_HMAC_KEY": "hmac"})
	if err != nil || len(cmds) != 1 {
		t.Fatalf("kubectl recipe: %v %q", err, cmds)
	}
	wantArgs := []string{"kubectl", "create", "secret", "generic", sec.Metadata.Name,
		"--namespace", sec.Metadata.Namespace, "--from-literal=" + eab.KeySecretRef.Key + "=hmac"}
	if !slices.Equal(cmds[0].argv, wantArgs) {
		t.Errorf("kubectl recipe = %q, want %q", cmds[0].argv, wantArgs)
	}
}

// TestClientsDocTraefikYAML parses the Traefik static configuration of
// docs/clients.md and checks the resolver names acmegate, the EAB key and
// an HTTP challenge on a defined entry point.
func TestClientsDocTraefikYAML(t *testing.T) {
	t.Parallel()
	var cfg struct {
		EntryPoints map[string]struct {
			Address string `yaml:"address"`
		} `yaml:"entryPoints"`
		CertificatesResolvers map[string]struct {
			ACME struct {
				CAServer string `yaml:"caServer"`
				Email    string `yaml:"email"`
				Storage  string `yaml:"storage"`
				EAB      struct {
					KID         string `yaml:"kid"`
					HMACEncoded string `yaml:"hmacEncoded"`
				} `yaml:"eab"`
				HTTPChallenge struct {
					EntryPoint string `yaml:"entryPoint"`
				} `yaml:"httpChallenge"`
			} `yaml:"acme"`
		} `yaml:"certificatesResolvers"`
	}
	block := docBlocks(t, "Traefik", "yaml")[0]
	dec := yaml.NewDecoder(strings.NewReader(block))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("Traefik configuration: %v\n%s", err, block)
	}
	r, ok := cfg.CertificatesResolvers["acmegate"]
	if !ok {
		t.Fatalf("no certificate resolver named acmegate: %+v", cfg.CertificatesResolvers)
	}
	a := r.ACME
	if a.CAServer != docDirectoryURL || a.Email == "" || a.Storage == "" || a.EAB.KID == "" || a.EAB.HMACEncoded == "" {
		t.Errorf("resolver acmegate = %+v, want caServer %s, email, storage and eab", a, docDirectoryURL)
	}
	if _, ok := cfg.EntryPoints[a.HTTPChallenge.EntryPoint]; !ok {
		t.Errorf("httpChallenge uses entry point %q, not defined in %v", a.HTTPChallenge.EntryPoint, cfg.EntryPoints)
	}
	// The root reaches lego inside Traefik through LEGO_CA_CERTIFICATES, and
	// the file mounted there is the documented root.
	sh := docBlocks(t, "Traefik", "sh")[0]
	cmds, err := parseShell(sh, nil)
	if err != nil || len(cmds) != 1 {
		t.Fatalf("docker recipe: %v %q", err, cmds)
	}
	argv := cmds[0].argv
	i := slices.Index(argv, "LEGO_CA_CERTIFICATES=/etc/traefik/acmegate-root.pem")
	if i < 1 || argv[i-1] != "-e" || !slices.Contains(argv, docRootPEM+":/etc/traefik/acmegate-root.pem:ro") {
		t.Errorf("docker recipe %q does not mount the root at LEGO_CA_CERTIFICATES", argv)
	}
}
