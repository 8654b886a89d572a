package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// faultProxy stands between the generator and acmegate as a load
// balancer would, and while faults are on answers some POSTs itself with
// badNonce, 429 or 503 (Retry-After: 0) instead of forwarding them.
type faultProxy struct {
	srv    *httptest.Server
	proxy  atomic.Pointer[httputil.ReverseProxy]
	faults atomic.Bool
	posts  atomic.Int64
	// injected counts the fault answers by kind.
	badNonces, throttled atomic.Int64
}

func newFaultProxy(t *testing.T) *faultProxy {
	t.Helper()
	p := &faultProxy{}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

// forwardTo sends requests on to target, trusting rootPEM.
func (p *faultProxy) forwardTo(t *testing.T, target, rootPEM string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(raw)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	p.proxy.Store(&httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(u); r.Out.Host = r.In.Host },
		Transport: tr,
	})
}

func (p *faultProxy) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
}

func (p *faultProxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && p.faults.Load() {
		// Two in five POSTs fail: never more than two in a row for a
		// worker, well within the generator's retry budget.
		switch n := p.posts.Add(1); n % 5 {
		case 1:
			p.badNonces.Add(1)
			writeProblem(w, http.StatusBadRequest, "badNonce")
			return
		case 3:
			p.throttled.Add(1)
			w.Header().Set("Retry-After", "0")
			if n%2 == 0 {
				writeProblem(w, http.StatusTooManyRequests, "rateLimited")
			} else {
				writeProblem(w, http.StatusServiceUnavailable, "serverInternal")
			}
			return
		}
	}
	p.proxy.Load().ServeHTTP(w, r)
}

func writeProblem(w http.ResponseWriter, status int, typ string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"urn:ietf:params:acme:error:%s","detail":"injected by the test proxy","status":%d}`, typ, status)
}

// TestAgainstAcmegate runs the generator against the acmegate binary of
// this tree on SQLite with its local CA, one server for every case: real
// http-01 and dns-01 validation through the generator's responders, a
// pre-validated directory, a directory that refuses the names, one that
// requires EAB, and a proxy in front that injects bad nonces and 429/503.
func TestAgainstAcmegate(t *testing.T) {
	skipIfShort(t)
	bin := buildGate(t)
	httpPort, dnsPort := freePort(t), freePort(t)
	proxy := newFaultProxy(t)
	gatePort := freePort(t)
	cfg := fmt.Sprintf(`data_dir: %s
listen: 127.0.0.1:%d
public_url: %s
admin:
  listen: "off"
log:
  level: warn
storage:
  driver: sqlite
validation:
  resolvers: ["127.0.0.1:%d"]
  http_port: %d
  allowed_networks: ["127.0.0.0/8"]
  timeout: 5s
  retry_window: 5s
directories:
  - name: default
  - name: pre
    policy:
      pre_validated_domains: [bench.test]
  - name: deny
    policy:
      allowed_domains: [elsewhere.test]
  - name: eab
    external_account_required: true
`, t.TempDir(), gatePort, proxy.srv.URL, dnsPort, httpPort)
	g := startGate(t, bin, cfg)
	proxy.forwardTo(t, "https://127.0.0.1:"+strconv.Itoa(gatePort), g.rootPEM)
	rootPEM, err := os.ReadFile(g.rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	trust := writeTrust(t, rootPEM, proxy.certPEM())
	base := func(dir string, extra ...string) []string {
		return append([]string{"-directory", g.directory(dir), "-ca-root", trust,
			"-http-port", strconv.Itoa(httpPort), "-dns-port", strconv.Itoa(dnsPort)}, extra...)
	}

	var http01PerIssuance float64
	t.Run("http-01", func(t *testing.T) {
		r := runBench(t, base("default", "-c", "4", "-n", "24", "-warmup", "4", "-label", "acmegate",
			"-server-pid", strconv.Itoa(g.pid))...)
		checkClean(t, r, 24)
		rep := r.report
		// newOrder, authorization, challenge, finalize, certificate: five
		// at the least; a few polls and nonce fetches may add to it.
		if rep.RequestsPerIssuance < 5 || rep.RequestsPerIssuance > 12 {
			t.Errorf("%.2f requests per issuance, want 5 to 12", rep.RequestsPerIssuance)
		}
		if rep.Label != "acmegate" || rep.Concurrency != 4 || rep.Warmup != 4 || rep.Challenge != "http-01" {
			t.Errorf("report echoes label %q c=%d warmup=%d challenge %q", rep.Label, rep.Concurrency, rep.Warmup, rep.Challenge)
		}
		s := rep.Server
		if s == nil || len(s.PIDs) != 1 || s.PIDs[0] != g.pid || s.PeakRSSKiB <= 0 || s.RSSAfterKiB <= 0 || s.CPUMs < 0 {
			t.Errorf("server stats %+v for pid %d", s, g.pid)
		}
		if !strings.Contains(r.stdout, "challenge") || !strings.Contains(r.stdout, "issuances/s") {
			t.Errorf("no human-readable table:\n%s", r.stdout)
		}
		http01PerIssuance = rep.RequestsPerIssuance
	})

	t.Run("dns-01", func(t *testing.T) {
		r := runBench(t, base("default", "-c", "2", "-n", "10", "-challenge", "dns-01", "-key", "rsa2048")...)
		checkClean(t, r, 10)
		if r.report.Key != "rsa2048" {
			t.Errorf("key %q", r.report.Key)
		}
	})

	t.Run("pre-validated", func(t *testing.T) {
		r := runBench(t, base("pre", "-c", "2", "-n", "10", "-challenge", "none")...)
		checkClean(t, r, 10)
		// The authorizations come back valid: no challenge is posted.
		if got := r.report.RequestsPerIssuance; got >= http01PerIssuance || got < 4 {
			t.Errorf("%.2f requests per issuance without challenges, %.2f with http-01", got, http01PerIssuance)
		}
	})

	t.Run("bounded by duration", func(t *testing.T) {
		r := runBench(t, base("pre", "-c", "2", "-n", "1000000", "-duration", "300ms", "-challenge", "none")...)
		rep := r.report
		if r.code != 0 || rep.Failures != 0 || rep.Issuances == 0 || rep.Issuances >= 1000000 {
			t.Fatalf("exit %d, %d issued, %d failed\n%s", r.code, rep.Issuances, rep.Failures, r.stderr)
		}
		if rep.ElapsedS < 0.3 || rep.LimitN != 1000000 || rep.LimitDurationS != 0.3 {
			t.Errorf("elapsed %.3fs with limits n=%d duration=%.1fs", rep.ElapsedS, rep.LimitN, rep.LimitDurationS)
		}
	})

	t.Run("refused names", func(t *testing.T) {
		r := runBench(t, base("deny", "-c", "2", "-n", "6")...)
		rep := r.report
		if r.code != 1 || rep.Issuances != 0 || rep.Failures != 6 {
			t.Fatalf("exit %d, %d issued, %d failed; want exit 1 and 6 failures\n%s", r.code, rep.Issuances, rep.Failures, r.stdout)
		}
		total := 0
		for typ, n := range rep.Errors {
			if !strings.HasPrefix(typ, problemPrefix) {
				t.Errorf("error type %q (%d) is not an ACME problem type", typ, n)
			}
			total += n
		}
		if total != 6 || !strings.Contains(r.stdout, "errors:") {
			t.Errorf("errors %v, want 6 failures by problem type\n%s", rep.Errors, r.stdout)
		}
	})

	t.Run("external account binding", func(t *testing.T) {
		if r := runBenchRaw(t, base("eab", "-n", "1")...); r.code != 1 || !strings.Contains(r.stderr, "external account") {
			t.Fatalf("without -eab-kid: exit %d, stderr %s", r.code, r.stderr)
		}
		// One reusable key binds every worker's account.
		var kid, hmac string
		for line := range strings.Lines(g.cli(t, "eab", "create", "--directory", "eab", "--reusable")) {
			if v, ok := strings.CutPrefix(line, "key id:"); ok {
				kid = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "hmac key:"); ok {
				hmac = strings.TrimSpace(v)
			}
		}
		if kid == "" || hmac == "" {
			t.Fatal("eab create printed no key")
		}
		r := runBench(t, base("eab", "-c", "3", "-n", "6", "-eab-kid", kid, "-eab-hmac", hmac)...)
		checkClean(t, r, 6)
		if strings.Contains(r.stdout+r.stderr, hmac) {
			t.Error("the HMAC key appears in the output")
		}
	})

	t.Run("bad nonces and throttling", func(t *testing.T) {
		proxy.faults.Store(true)
		defer proxy.faults.Store(false)
		r := runBench(t, base("default", "-c", "2", "-n", "10")...)
		checkClean(t, r, 10)
		rep := r.report
		// The report counts the measured flows; the proxy also answered
		// some of the account registrations before them.
		if rep.NonceRetries == 0 || rep.ThrottleRetries == 0 ||
			rep.NonceRetries > proxy.badNonces.Load() || rep.ThrottleRetries > proxy.throttled.Load() {
			t.Errorf("counted %d nonce and %d throttle retries; the proxy injected %d and %d",
				rep.NonceRetries, rep.ThrottleRetries, proxy.badNonces.Load(), proxy.throttled.Load())
		}
		if rep.RequestsPerIssuance <= http01PerIssuance {
			t.Errorf("%.2f requests per issuance with retries, %.2f without", rep.RequestsPerIssuance, http01PerIssuance)
		}
	})
}
