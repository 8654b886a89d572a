package main

// faultEnv: one acmegate process (SQLite or PostgreSQL) behind the fault
// proxies, with the local CA in the "default" directory and, optionally,
// the Sectigo fake behind a "vendor" directory, ready for acmebench.

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca/sectigo/sectigotest"
)

// faultOptions shape a faultEnv.
type faultOptions struct {
	postgres bool
	// sectigo adds the "vendor" directory, whose profile issues through
	// the Sectigo fake behind upstreamProxy; pendingPolls is how many
	// collects the fake answers "being processed" first.
	sectigo      bool
	pendingPolls int
	// sectigoTimeout bounds one call to the fake (backend timeout).
	sectigoTimeout time.Duration
	// issuanceDeadline is limits.issuance_deadline (0: the default).
	issuanceDeadline time.Duration
	// responders are the acmebench -http-port of each generator the test
	// will run: the http-01 relay asks them.
	responders []int
	// tweak changes the configuration last.
	tweak func(*Config)
}

type faultEnv struct {
	t     *testing.T
	cfg   *Config
	in    *instance
	front *frontProxy
	relay *challengeRelay
	up    *upstreamProxy
	fake  *sectigotest.Server
	db    faultDB
	// trust is acmebench's -ca-root: the front proxy's certificate, the
	// local root and the fake's root (the chains it verifies).
	trust    string
	benchBin string
	// crashed receives what a trigger killed the server during.
	crashed chan string

	mu sync.Mutex
	// downs are the times the server was down: from just before a kill
	// to the end of its restart.
	downs   []downtime
	killing time.Time
}

type downtime struct{ from, to time.Time }

func startFaultEnv(t *testing.T, o faultOptions) *faultEnv {
	t.Helper()
	e := &faultEnv{t: t, crashed: make(chan string, 4)}
	dns := startWildcardDNS(t)
	e.relay = newChallengeRelay(t, o.responders...)
	e.front = newFrontProxy(t)
	dir := t.TempDir()
	port := freePort(t)
	e.cfg = &Config{
		DataDir:   filepath.Join(dir, "data"),
		Listen:    "127.0.0.1:" + strconv.Itoa(port),
		PublicURL: e.front.url(),
		Storage:   StorageConfig{Driver: "sqlite"},
		Validation: ValidationConfig{
			Resolvers:       []string{dns.addr},
			HTTPPort:        e.relay.port(),
			AllowedNetworks: []string{"127.0.0.0/8"},
			Timeout:         5 * time.Second,
			RetryWindow:     10 * time.Second,
		},
		Directories: []DirectoryConfig{{Name: "default"}},
		Limits:      LimitsConfig{JobLease: 2 * time.Second, IssuanceDeadline: o.issuanceDeadline},
		Log:         LogConfig{Level: "warn"},
		Admin:       AdminConfig{Listen: adminOff},
	}
	if o.postgres {
		dbURL := freshDatabase(t)
		e.cfg.Storage = StorageConfig{Driver: "postgres", URL: dbURL}
	}
	if o.sectigo {
		e.fake = sectigotest.Start(t, sectigotest.Config{Behavior: sectigotest.Behavior{PendingPolls: o.pendingPolls}})
		e.up = newUpstreamProxy(t, e.fake.URL())
		e.cfg.Backends = []BackendConfig{{Name: "scm", Type: "sectigo", Sectigo: &SectigoBackendConfig{
			BaseURL: e.up.url(), CustomerURI: sectigotest.DefaultCustomerURI, Login: sectigotest.DefaultLogin,
			PasswordFile: secretFile(t, sectigotest.DefaultPassword), OrgID: sectigotest.DefaultOrgID,
			Profiles:     []SectigoProfileYAML{{Name: "ov", CertTypeID: sectigotest.DefaultCertTypeID, Term: 365}},
			PollInterval: 200 * time.Millisecond, Timeout: o.sectigoTimeout,
		}}}
		e.cfg.Directories = append(e.cfg.Directories, DirectoryConfig{Name: "vendor", DirectorySettings: acme.DirectorySettings{
			Profiles: []acme.ProfileSettings{{Name: "ov", Backend: "scm", Product: "ov"}},
		}})
	}
	if o.tweak != nil {
		o.tweak(e.cfg)
	}
	e.db = sqliteFaultDB(e.cfg.DataDir)
	if e.cfg.Storage.Driver == "postgres" {
		e.db = postgresFaultDB(e.cfg.Storage.URL)
	}
	raw, err := yaml.Marshal(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "acmegate.yaml")
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	e.in = &instance{t: t, bin: buildServer(t), cfgPath: cfgPath, addr: e.cfg.Listen}
	e.in.start()
	t.Cleanup(func() {
		if err := e.in.signal(syscall.SIGTERM); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("acmegate stderr:\n%s", truncateLog(strings.Join(e.in.logs, "\n--- killed and restarted ---\n"), 30000))
		}
	})
	rootPEM := filepath.Join(e.cfg.DataDir, "root.pem")
	e.front.forwardTo(t, e.cfg.Listen, rootPEM)
	root, err := os.ReadFile(rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	trust := [][]byte{e.front.certPEM(), root}
	if e.fake != nil {
		trust = append(trust, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.fake.Root().Raw}))
	}
	e.trust = filepath.Join(dir, "trust.pem")
	if err := os.WriteFile(e.trust, bytes.Join(trust, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	e.benchBin = buildBench(t)
	return e
}

// directoryURL is the URL clients use for directory name.
func (e *faultEnv) directoryURL(name string) string {
	if name == "default" {
		return e.front.url() + "/directory"
	}
	return e.front.url() + "/acme/" + name + "/directory"
}

// bench starts a generator on directory dir whose http-01 responder
// listens on port (one of faultOptions.responders).
func (e *faultEnv) bench(label, dir string, port int, extra ...string) *benchProc {
	e.t.Helper()
	args := []string{"-directory", e.directoryURL(dir), "-ca-root", e.trust, "-challenge", "http-01",
		"-http-port", strconv.Itoa(port), "-domain-suffix", label + ".fault.test", "-label", label}
	return startBench(e.t, e.benchBin, label, 4*time.Minute, append(args, extra...)...)
}

// crash kills the server with SIGKILL and reports it on e.crashed; the
// proxies' triggers call it from their own goroutines.
func (e *faultEnv) crash(during string) {
	e.mu.Lock()
	e.killing = time.Now()
	e.mu.Unlock()
	if err := e.in.signal(syscall.SIGKILL); err != nil {
		during += " (" + err.Error() + ")"
	}
	// A balancer notices a dead backend's connections; requests must not
	// be sent down them after the restart.
	e.front.transport.CloseIdleConnections()
	e.crashed <- during
}

// restartAfterCrash waits (bounded) for a trigger's crash and starts the
// server again on the same data.
func (e *faultEnv) restartAfterCrash(what string, within time.Duration) {
	e.t.Helper()
	select {
	case got := <-e.crashed:
		e.t.Logf("killed with SIGKILL during %s", got)
	case <-time.After(within):
		e.t.Fatalf("no %s happened within %v to kill the server during", what, within)
	}
	start := time.Now()
	e.in.start()
	e.mu.Lock()
	e.downs = append(e.downs, downtime{from: e.killing, to: time.Now()})
	e.mu.Unlock()
	e.t.Logf("restarted in %v", time.Since(start).Round(10*time.Millisecond))
}

// checkLostOnlyWhileDown asserts that every request the front proxy could
// not get an answer to ended while the server was down: a restarted
// server answers everything. It returns how many there were.
func (e *faultEnv) checkLostOnlyWhileDown(answers []answer) int {
	e.t.Helper()
	e.mu.Lock()
	downs := slices.Clone(e.downs)
	e.mu.Unlock()
	lost := 0
	for _, a := range answers {
		if a.proxyErr == "" {
			continue
		}
		lost++
		if !slices.ContainsFunc(downs, func(d downtime) bool { return !a.at.Before(d.from) && !a.at.After(d.to) }) {
			e.t.Errorf("%s %s got no answer (%s) at %s, while the server was up (down: %v)",
				a.method, a.path, a.proxyErr, a.at.Format("15:04:05.000"), downs)
		}
	}
	return lost
}

// submissions counts the fake's enrollments per acmegate order, from the
// order marker the Sectigo backend writes into the comments.
func (e *faultEnv) submissions() map[string]int {
	out := map[string]int{}
	for _, en := range e.fake.Enrollments() {
		_, rest, ok := strings.Cut(en.Comments, "acmegate-order:")
		if !ok {
			out["(no order marker: "+en.Comments+")"]++
			continue
		}
		out[strings.Fields(rest)[0]]++
	}
	return out
}

func truncateLog(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
