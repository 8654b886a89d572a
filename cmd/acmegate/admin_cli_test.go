package main

// End-to-end tests of the administration verbs (`acmegate directory …`,
// `acmegate eab …`): the built binary runs them against the database and
// CA of a running server, and the server must act on what they change.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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

const (
	// cliTimeout bounds one run of an administration verb.
	cliTimeout = 30 * time.Second
	// dirPickup bounds how long a running server may take to see a
	// directory changed in the database (its cache lives 2 s).
	dirPickup = 5 * time.Second
)

// gateServer is a running acmegate together with the configuration file
// and binary the administration verbs use against the same database.
type gateServer struct {
	bin     string
	cfgPath string
	baseURL string // https://127.0.0.1:PORT
	rootPEM string
	dataDir string
	stdout  *syncBuffer
	stderr  *syncBuffer
}

// startGate starts a freshly built acmegate and keeps what the CLI tests
// need besides its URLs: the configuration file, the binary and the
// server's log. The port is chosen up front so the URLs the CLI prints are
// the server's.
func startGate(t *testing.T, cfg *Config) *gateServer {
	t.Helper()
	s := &gateServer{bin: buildServer(t), stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	dir := t.TempDir()
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(dir, "data")
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:" + strconv.Itoa(freePort(t))
	}
	// ACMEGATE_DATABASE_URL in the environment must not move either
	// process to PostgreSQL.
	cfg.Storage.Driver = "sqlite"
	// Tests run several servers at once: the admin listener's default
	// port would be taken.
	if cfg.Admin.Listen == "" {
		cfg.Admin.Listen = "127.0.0.1:0"
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatalf("marshal config: %v", err)
	}
	s.cfgPath = filepath.Join(dir, "acmegate.yaml")
	if err := os.WriteFile(s.cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	cmd := exec.CommandContext(ctx, s.bin, "serve", "--config", s.cfgPath)
	cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start acmegate: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		defer cancel()
		if err := killGroup(cmd.Process.Pid, syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM acmegate: %v", err)
		}
		select {
		case <-exited:
			if waitErr != nil {
				t.Errorf("acmegate did not exit cleanly on SIGTERM: %v", waitErr)
			}
		case <-time.After(serverStopTimeout):
			t.Errorf("acmegate still running %v after SIGTERM; killing it", serverStopTimeout)
			cancel()
			<-exited
		}
		if t.Failed() {
			t.Logf("acmegate stdout:\n%s\nacmegate stderr:\n%s", s.stdout.String(), s.stderr.String())
		}
	})

	deadline := time.After(serverStartTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		dirURL, rootPEM := parseBanner(s.stdout.String())
		if dirURL != "" && rootPEM != "" {
			s.baseURL, s.rootPEM = strings.TrimSuffix(dirURL, "/directory"), rootPEM
			break
		}
		select {
		case <-exited:
			t.Fatalf("acmegate exited before serving: %v\n%s", waitErr, s.stderr.String())
		case <-deadline:
			t.Fatalf("acmegate printed no directory URL within %v", serverStartTimeout)
		case <-tick.C:
		}
	}
	if want := "https://" + cfg.Listen; s.baseURL != want {
		t.Fatalf("banner names %s, want %s", s.baseURL, want)
	}
	s.dataDir = cfg.DataDir
	return s
}

// directoryURL is the URL of the directory called name.
func (s *gateServer) directoryURL(name string) string {
	if name == "default" {
		return s.baseURL + "/directory"
	}
	return s.baseURL + "/acme/" + name + "/directory"
}

// cliResult is what one run of the binary produced.
type cliResult struct {
	stdout, stderr string
	code           int
}

// cli runs `acmegate ARGS --config CFG`, bounded by cliTimeout.
func (s *gateServer) cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, append(args, "--config", s.cfgPath)...)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Dir = t.TempDir()
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && ctx.Err() == nil:
		res.code = exit.ExitCode()
	default:
		t.Fatalf("acmegate %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, res.stdout, res.stderr)
	}
	return res
}

// mustCLI is cli failing the test unless the verb succeeds; it returns
// the standard output.
func (s *gateServer) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	res := s.cli(t, args...)
	if res.code != 0 {
		t.Fatalf("acmegate %s exited %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res.stdout
}

// eabKey is a key id and HMAC key as `eab create` prints them.
type eabKey struct {
	kid  string
	hmac string // base64url, as clients take it
}

// createEAB runs `eab create --directory dir EXTRA…` and parses the key.
func (s *gateServer) createEAB(t *testing.T, dir string, extra ...string) eabKey {
	t.Helper()
	out := s.mustCLI(t, append([]string{"eab", "create", "--directory", dir}, extra...)...)
	var k eabKey
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(line, "key id:"); ok {
			k.kid = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "hmac key:"); ok {
			k.hmac = strings.TrimSpace(v)
		}
	}
	if k.kid == "" || k.hmac == "" {
		t.Fatalf("eab create printed no key id or HMAC key:\n%s", out)
	}
	// RFC 8555 §7.3.4 has the binding MACed with this key: clients take it
	// as unpadded base64url, and HS256 wants at least 256 bits of it.
	if raw, err := base64.RawURLEncoding.DecodeString(k.hmac); err != nil || len(raw) < 32 {
		t.Fatalf("HMAC key %d characters long is not unpadded base64url of >= 32 bytes (%v)", len(k.hmac), err)
	}
	return k
}

// checkNoSecret fails the test if the server's output holds any of the
// HMAC keys.
func (s *gateServer) checkNoSecret(t *testing.T, keys ...eabKey) {
	t.Helper()
	out := s.stdout.String() + s.stderr.String()
	for _, k := range keys {
		if strings.Contains(out, k.hmac) {
			t.Errorf("the server's output holds the HMAC key of %s", k.kid)
		}
	}
}

// tableRow returns the whitespace-separated fields of the line of out whose
// first field is key, or nil.
func tableRow(out, key string) []string {
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == key {
			return f
		}
	}
	return nil
}

// eabState is the BOUND and STATE columns of key kid in `eab list` output
// (KEY ID, LABEL, REUSABLE, BOUND, STATE, …; labels in these tests have no
// spaces).
func eabState(t *testing.T, out, kid string) (bound, state string) {
	t.Helper()
	f := tableRow(out, kid)
	if len(f) < 5 {
		t.Fatalf("eab list has no full row for %s:\n%s", kid, out)
	}
	return f[3], f[4]
}

// checkEABState fails the test unless `eab list --directory dir` shows
// kid with bound accounts and state, and does not show its HMAC key.
func (s *gateServer) checkEABState(t *testing.T, dir string, k eabKey, bound, state string) {
	t.Helper()
	out := s.mustCLI(t, "eab", "list", "--directory", dir)
	if strings.Contains(out, k.hmac) {
		t.Errorf("eab list shows the HMAC key of %s", k.kid)
	}
	gotBound, gotState := eabState(t, out, k.kid)
	if gotBound != bound || gotState != state {
		t.Errorf("eab list: key %s bound %s state %s, want bound %s state %s\n%s", k.kid, gotBound, gotState, bound, state, out)
	}
}

// eventually retries f every 100 ms until it returns nil or within has
// passed, then fails the test with f's last error.
func eventually(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %v: %v", what, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// directoryMeta GETs the directory called name and returns its meta object
// and the HTTP status.
func (s *gateServer) directoryMeta(ctx context.Context, hc *http.Client, name string) (int, map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.directoryURL(name), nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Meta map[string]any `json:"meta"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("decode directory %s: %w", name, err)
		}
	}
	return resp.StatusCode, body.Meta, nil
}

// writeSettings writes a directory settings file and returns its path.
func writeSettings(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "settings.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCLIDirectoryAndEAB drives the directory and eab verbs of the built
// binary against a running server and checks the server acts on each
// change: a runtime directory appears, updates reach it, EAB keys bind one
// account (or many), revocation deactivates accounts, a disabled directory
// refuses new work, and bad usages fail with a message that says why.
func TestCLIDirectoryAndEAB(t *testing.T) {
	skipIfShort(t)
	s := startGate(t, &Config{
		Directories: []DirectoryConfig{{Name: "default"}},
		Log:         LogConfig{Level: "debug"},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	hc := trustingClient(t, s.rootPEM)

	if fi, err := os.Stat(filepath.Join(s.dataDir, "secrets.key")); err != nil {
		t.Errorf("sealing key: %v", err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("sealing key has mode %v, want 0600", fi.Mode().Perm())
	}

	// Ask for team2 before it exists, so the server has cached its absence.
	if code, _, err := s.directoryMeta(ctx, hc, "team2"); err != nil || code != http.StatusNotFound {
		t.Fatalf("GET team2 before it exists: status %d, %v; want 404", code, err)
	}
	eabOnly := writeSettings(t, "external_account_required: true\npolicy:\n  allowed_domains: [example.test]\n")
	out := s.mustCLI(t, "directory", "create", "team2", "--settings", eabOnly)
	for _, want := range []string{"created directory team2", s.directoryURL("team2")} {
		if !strings.Contains(out, want) {
			t.Errorf("directory create printed %q, want it to hold %q", out, want)
		}
	}
	created := time.Now()
	eventually(t, dirPickup, "the server serves team2 with externalAccountRequired", func() error {
		code, meta, err := s.directoryMeta(ctx, hc, "team2")
		if err != nil {
			return err
		}
		if code != http.StatusOK || meta["externalAccountRequired"] != true {
			return fmt.Errorf("status %d, meta %v", code, meta)
		}
		return nil
	})
	t.Logf("the server served team2 %v after it was created", time.Since(created).Round(time.Millisecond))

	out = s.mustCLI(t, "directory", "list")
	for name, want := range map[string][]string{
		"default": {"config", "enabled", "false"},
		"team2":   {"runtime", "enabled", "true"},
	} {
		row := tableRow(out, name)
		if len(row) < 4 || !slices.Equal(row[1:4], want) {
			t.Errorf("directory list row of %s: %q, want SOURCE STATE EAB %q\n%s", name, row, want, out)
		}
	}
	out = s.mustCLI(t, "directory", "show", "team2")
	for _, want := range []string{"name: team2", "source: runtime", "disabled: false", "url: " + s.directoryURL("team2"), `"external_account_required": true`, `"example.test"`} {
		if !strings.Contains(out, want) {
			t.Errorf("directory show team2 does not hold %q:\n%s", want, out)
		}
	}

	// A directory of the configuration file is changed there, not here.
	res := s.cli(t, "directory", "update", "default", "--settings", eabOnly)
	if res.code == 0 || !strings.Contains(res.stderr, "defined in the configuration file") {
		t.Errorf("directory update default: exit %d, stderr %q; want a refusal naming the configuration file", res.code, res.stderr)
	}
	if out := s.mustCLI(t, "directory", "show", "default"); strings.Contains(out, "external_account_required") {
		t.Errorf("the refused update changed default anyway:\n%s", out)
	}
	withTOS := writeSettings(t, "external_account_required: true\nterms_of_service: https://example.test/tos\npolicy:\n  allowed_domains: [example.test]\n")
	if out := s.mustCLI(t, "directory", "update", "team2", "--settings", withTOS); !strings.Contains(out, "updated directory team2") {
		t.Errorf("directory update team2 printed %q", out)
	}
	eventually(t, dirPickup, "the server serves team2's new terms of service", func() error {
		code, meta, err := s.directoryMeta(ctx, hc, "team2")
		if err != nil {
			return err
		}
		if code != http.StatusOK || meta["termsOfService"] != "https://example.test/tos" || meta["externalAccountRequired"] != true {
			return fmt.Errorf("status %d, meta %v", code, meta)
		}
		return nil
	})

	// A single-use key binds exactly one account.
	single := s.createEAB(t, "team2", "--label", "single")
	s.checkEABState(t, "team2", single, "0", "active")
	wantProblem(t, "newAccount without EAB", register(ctx, s.acmeClient(t, "team2"), nil), "externalAccountRequired", "")
	bound := s.acmeClient(t, "team2")
	if err := register(ctx, bound, &single); err != nil {
		t.Fatalf("newAccount with key %s: %v", single.kid, err)
	}
	s.checkEABState(t, "team2", single, "1", "used")
	wantProblem(t, "newAccount reusing a single-use key", register(ctx, s.acmeClient(t, "team2"), &single), "unauthorized", "already used")
	other := s.createEAB(t, "default", "--label", "elsewhere")
	wantProblem(t, "newAccount in team2 with a key of default", register(ctx, s.acmeClient(t, "team2"), &other), "unauthorized", "not known in this directory")
	if err := newOrder(ctx, bound, "a.example.test"); err != nil {
		t.Fatalf("newOrder of the bound account: %v", err)
	}

	// Revoking the key with --deactivate-accounts shuts out its account.
	out = s.mustCLI(t, "eab", "revoke", single.kid, "--deactivate-accounts")
	if !strings.Contains(out, "revoked key "+single.kid) || !strings.Contains(out, "deactivated 1 account") {
		t.Errorf("eab revoke printed %q, want the key revoked and 1 account deactivated", out)
	}
	wantProblem(t, "newOrder of the account of a revoked key", newOrder(ctx, bound, "a.example.test"), "unauthorized", "")
	s.checkEABState(t, "team2", single, "1", "revoked")
	wantProblem(t, "newAccount with a revoked key", register(ctx, s.acmeClient(t, "team2"), &single), "unauthorized", "revoked")
	if res := s.cli(t, "eab", "revoke", single.kid); res.code == 0 || !strings.Contains(res.stderr, "already revoked") {
		t.Errorf("second eab revoke: exit %d, stderr %q; want a refusal saying it is already revoked", res.code, res.stderr)
	}

	// A disabled directory takes no new accounts or orders; enabled again,
	// it does.
	shared := s.createEAB(t, "team2", "--reusable", "--label", "shared", "--expires", "1h")
	member := s.acmeClient(t, "team2")
	if err := register(ctx, member, &shared); err != nil {
		t.Fatalf("newAccount with reusable key %s: %v", shared.kid, err)
	}
	if out := s.mustCLI(t, "directory", "disable", "team2"); !strings.Contains(out, "disabled directory team2") {
		t.Errorf("directory disable printed %q", out)
	}
	eventually(t, dirPickup, "newOrder in disabled team2 is refused", func() error {
		if err := newOrder(ctx, member, "b.example.test"); !problemIs(err, "unauthorized", "disabled") {
			return fmt.Errorf("newOrder: %v", err)
		}
		return nil
	})
	wantProblem(t, "newAccount in disabled team2", register(ctx, s.acmeClient(t, "team2"), &shared), "unauthorized", "disabled")
	if row := tableRow(s.mustCLI(t, "directory", "list"), "team2"); len(row) < 3 || row[2] != "disabled" {
		t.Errorf("directory list row of team2 after disable: %q, want state disabled", row)
	}
	s.mustCLI(t, "directory", "enable", "team2")
	eventually(t, dirPickup, "newOrder in re-enabled team2 is accepted", func() error {
		return newOrder(ctx, member, "b.example.test")
	})
	// The refused newAccount bound nothing; a reusable key stays active.
	s.checkEABState(t, "team2", shared, "1", "active")

	t.Run("bad usage", func(t *testing.T) {
		unknownField := writeSettings(t, "externl_account_required: true\n")
		for _, tc := range []struct {
			name string
			args []string
			want string
		}{
			{"directory without verb", []string{"directory"}, "usage: acmegate directory"},
			{"unknown directory verb", []string{"directory", "frobnicate", "team2"}, `unknown directory command "frobnicate"`},
			{"show without name", []string{"directory", "show"}, "directory show needs a directory name"},
			{"bad directory name", []string{"directory", "create", "Team_A"}, `directory name "Team_A" must be 1-63 lower-case letters`},
			{"unknown settings field", []string{"directory", "create", "team3", "--settings", unknownField}, "externl_account_required"},
			{"existing directory", []string{"directory", "create", "team2"}, "directory team2 already exists"},
			{"unknown directory", []string{"directory", "show", "nosuch"}, "nosuch"},
			{"eab without verb", []string{"eab"}, "usage: acmegate eab"},
			{"unknown eab verb", []string{"eab", "frobnicate"}, `unknown eab command "frobnicate"`},
			{"revoke without key id", []string{"eab", "revoke"}, "eab revoke needs a key id"},
			{"key for unknown directory", []string{"eab", "create", "--directory", "nosuch"}, `no directory "nosuch"`},
			{"bad expiry", []string{"eab", "create", "--directory", "team2", "--expires", "soon"}, `invalid value "soon"`},
			{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := s.cli(t, tc.args...)
				if res.code == 0 || !strings.Contains(res.stderr, tc.want) {
					t.Errorf("acmegate %s: exit %d, stderr %q; want non-zero and %q", strings.Join(tc.args, " "), res.code, res.stderr, tc.want)
				}
			})
		}
		out := s.mustCLI(t, "directory", "list")
		for _, name := range []string{"team3", "Team_A", "nosuch"} {
			if tableRow(out, name) != nil {
				t.Errorf("a refused command created directory %s:\n%s", name, out)
			}
		}
	})

	s.checkNoSecret(t, single, other, shared)
}
