package main

// Security review (issue 8, item 6): every listener has header, read,
// write and idle timeouts and a header size cap, and speaks TLS 1.2+ with
// AEAD suites only. The servers here are built by newHTTPServer and
// serverTLS, the functions serve and listenAdmin use, with short limits
// injected; real clients misbehave against them over loopback.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/ca/local"
)

// testListener is a TLS listener served like serve's, with its client
// trust.
type testListener struct {
	addr string
	tls  *tls.Config // a client configuration trusting the server
}

// newTestCA is a local CA in a temporary directory.
func newTestLocalCA(t *testing.T) *local.CA {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ca, err := local.New(ctx, local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// startTestListener serves h over TLS on a loopback port with lim, as serve
// does: newHTTPServer, serverTLS, tls.NewListener.
func startTestListener(t *testing.T, h http.Handler, lim listenerLimits) *testListener {
	t.Helper()
	ca := newTestLocalCA(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := serverTLS(&Config{}, ca, ln.Addr())
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(h, lim, slog.New(slog.DiscardHandler))
	srv.TLSConfig = tc
	done := make(chan error, 1)
	go func() { done <- srv.Serve(tls.NewListener(ln, tc)) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	pool := x509.NewCertPool()
	pool.AddCert(ca.Root())
	return &testListener{addr: ln.Addr().String(), tls: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
}

// waitClosed reads from c until the server closes the connection, bounded
// by within; it returns what was read.
func waitClosed(t *testing.T, c net.Conn, within time.Duration) string {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(within)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %v", within)
	}
	return string(got)
}

func TestListenerLimitsAreSet(t *testing.T) {
	for name, lim := range map[string]listenerLimits{"acme": acmeListenerLimits(), "admin": adminListenerLimits()} {
		if lim.ReadHeader <= 0 || lim.Read < lim.ReadHeader || lim.Write <= 0 || lim.Idle <= 0 || lim.MaxHeaderBytes <= 0 || lim.MaxHeaderBytes > 1<<20 {
			t.Errorf("%s listener limits %+v: every one must be set", name, lim)
		}
		srv := newHTTPServer(http.NotFoundHandler(), lim, slog.New(slog.DiscardHandler))
		if srv.ReadHeaderTimeout != lim.ReadHeader || srv.ReadTimeout != lim.Read || srv.WriteTimeout != lim.Write ||
			srv.IdleTimeout != lim.Idle || srv.MaxHeaderBytes != lim.MaxHeaderBytes || srv.ErrorLog == nil {
			t.Errorf("%s: newHTTPServer did not apply %+v", name, lim)
		}
	}
	// The admin listener is built by listenAdmin: check what it built.
	ca := newTestLocalCA(t)
	cfg := &Config{Admin: AdminConfig{Listen: "127.0.0.1:0"}}
	a, err := listenAdmin(cfg, ca, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.ln.Close()
	want := adminListenerLimits()
	if a.srv.ReadHeaderTimeout != want.ReadHeader || a.srv.ReadTimeout != want.Read || a.srv.WriteTimeout != want.Write ||
		a.srv.IdleTimeout != want.Idle || a.srv.MaxHeaderBytes != want.MaxHeaderBytes {
		t.Errorf("admin listener server %+v, want limits %+v", a.srv, want)
	}
	if a.srv.TLSConfig == nil || a.srv.TLSConfig.MinVersion != tls.VersionTLS12 || len(a.srv.TLSConfig.CipherSuites) == 0 {
		t.Errorf("admin listener TLS config %+v: want newTLSConfig's", a.srv.TLSConfig)
	}
}

// TestListenerSlowClients: slow-loris clients at every stage are cut off
// by the listener's limits, long before they are done.
func TestListenerSlowClients(t *testing.T) {
	t.Parallel()
	lim := listenerLimits{ReadHeader: 300 * time.Millisecond, Read: 600 * time.Millisecond, Write: 2 * time.Second, Idle: 500 * time.Millisecond, MaxHeaderBytes: 4 << 10}
	bodyErr := make(chan error, 1)
	l := startTestListener(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			_, err := io.ReadAll(r.Body)
			bodyErr <- err
			if err != nil {
				return
			}
		}
		fmt.Fprint(w, "ok")
	}), lim)
	// Far longer than any limit, far shorter than a trickle takes.
	const bound = 15 * time.Second

	// trickle writes s one byte every 100 ms (a 300-byte header takes 30 s)
	// until a write fails, and reports how many bytes went out.
	trickle := func(c net.Conn, s string) <-chan int {
		sent := make(chan int, 1)
		go func() {
			n := 0
			for i := range len(s) {
				if _, err := c.Write([]byte{s[i]}); err != nil {
					break
				}
				n++
				time.Sleep(100 * time.Millisecond)
			}
			sent <- n
		}()
		return sent
	}
	dialTLS := func(t *testing.T) *tls.Conn {
		c, err := tls.Dial("tcp", l.addr, l.tls)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	t.Run("silent before the TLS handshake", func(t *testing.T) {
		t.Parallel()
		c, err := net.Dial("tcp", l.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		waitClosed(t, c, bound)
		t.Logf("closed after %v (limit %v)", time.Since(start).Round(time.Millisecond), lim.ReadHeader)
	})
	t.Run("headers one byte at a time", func(t *testing.T) {
		t.Parallel()
		c := dialTLS(t)
		req := "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + strings.Repeat("a", 300) + "\r\n\r\n"
		start := time.Now()
		sent := trickle(c, req)
		got := waitClosed(t, c, bound)
		elapsed := time.Since(start)
		c.Close()
		n := <-sent
		if strings.Contains(got, " 200 ") {
			t.Errorf("the trickled request was served: %q", got)
		}
		if n >= len(req) {
			t.Errorf("the whole %d-byte header was sent before the server hung up", len(req))
		}
		t.Logf("cut off after %d of %d header bytes, %v (limit %v)", n, len(req), elapsed.Round(time.Millisecond), lim.ReadHeader)
	})
	t.Run("body one byte at a time", func(t *testing.T) {
		t.Parallel()
		c := dialTLS(t)
		if _, err := fmt.Fprintf(c, "POST /body HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 300\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		sent := trickle(c, strings.Repeat("b", 300))
		select {
		case err := <-bodyErr:
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("the handler read the trickled body with error %v, want a timeout", err)
			}
		case <-time.After(bound):
			t.Fatalf("the handler was still reading the body after %v", bound)
		}
		waitClosed(t, c, bound)
		c.Close()
		if n := <-sent; n >= 300 {
			t.Errorf("the whole body was sent before the server gave up")
		}
	})
	t.Run("idle keep-alive connection", func(t *testing.T) {
		t.Parallel()
		c := dialTLS(t)
		if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("first request: %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
		}
		if err := c.SetReadDeadline(time.Now().Add(bound)); err != nil {
			t.Fatal(err)
		}
		if n, err := br.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatalf("idle connection: read %d bytes, %v; want it closed", n, err)
		} else if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the idle connection was still open after %v", bound)
		}
	})
	t.Run("oversized headers", func(t *testing.T) {
		t.Parallel()
		c := dialTLS(t)
		// Go allows MaxHeaderBytes plus 4 KiB of slack.
		req := "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + strings.Repeat("h", lim.MaxHeaderBytes+8<<10) + "\r\n\r\n"
		go func() { _, _ = io.WriteString(c, req) }()
		got := waitClosed(t, c, bound)
		if !strings.HasPrefix(got, "HTTP/1.1 431 ") {
			t.Errorf("oversized headers answered %.40q, want 431", got)
		}
	})
}

// TestListenerTLSPolicy: the TLS configuration of both listeners refuses
// TLS 1.0 and 1.1, TLS 1.2 with CBC suites only or with no curve in
// common, and accepts TLS 1.3 and TLS 1.2 with ECDHE and an AEAD.
func TestListenerTLSPolicy(t *testing.T) {
	t.Parallel()
	l := startTestListener(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }), acmeListenerLimits())
	checkTLSPolicy(t, l.addr, l.tls)
}

// checkTLSPolicy runs the TLS policy's client cases against addr; base
// trusts the server.
func checkTLSPolicy(t *testing.T, addr string, base *tls.Config) {
	t.Helper()
	cbc := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	}
	aead := newTLSConfig().CipherSuites
	for _, tc := range []struct {
		name    string
		min     uint16
		max     uint16
		suites  []uint16
		curves  []tls.CurveID
		ok      bool
		version uint16
	}{
		{name: "TLS 1.0", min: tls.VersionTLS10, max: tls.VersionTLS10},
		{name: "TLS 1.1", min: tls.VersionTLS10, max: tls.VersionTLS11},
		{name: "TLS 1.2 CBC suites only", min: tls.VersionTLS12, max: tls.VersionTLS12, suites: cbc},
		{name: "TLS 1.2 static RSA GCM only", min: tls.VersionTLS12, max: tls.VersionTLS12, suites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}},
		{name: "TLS 1.2 P-521 only", min: tls.VersionTLS12, max: tls.VersionTLS12, curves: []tls.CurveID{tls.CurveP521}},
		{name: "TLS 1.2 AES-GCM", min: tls.VersionTLS12, max: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, ok: true, version: tls.VersionTLS12},
		{name: "TLS 1.2 ChaCha20-Poly1305", min: tls.VersionTLS12, max: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, ok: true, version: tls.VersionTLS12},
		{name: "TLS 1.2 client defaults", min: tls.VersionTLS12, max: tls.VersionTLS12, ok: true, version: tls.VersionTLS12},
		{name: "TLS 1.3", min: tls.VersionTLS13, max: tls.VersionTLS13, ok: true, version: tls.VersionTLS13},
		{name: "TLS 1.3 X25519MLKEM768", min: tls.VersionTLS13, max: tls.VersionTLS13, curves: []tls.CurveID{tls.X25519MLKEM768}, ok: true, version: tls.VersionTLS13},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base.Clone()
			cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites, cfg.CurvePreferences = tc.min, tc.max, tc.suites, tc.curves
			d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c, err := d.DialContext(ctx, "tcp", addr)
			if !tc.ok {
				if err == nil {
					st := c.(*tls.Conn).ConnectionState()
					c.Close()
					t.Fatalf("handshake succeeded: version %s, suite %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
				}
				if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("the handshake timed out instead of being refused: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake refused: %v", err)
			}
			defer c.Close()
			st := c.(*tls.Conn).ConnectionState()
			if st.Version != tc.version {
				t.Errorf("negotiated %s, want %s", tls.VersionName(st.Version), tls.VersionName(tc.version))
			}
			if st.Version == tls.VersionTLS12 && !slices.Contains(aead, st.CipherSuite) {
				t.Errorf("negotiated %s, not an ECDHE AEAD suite", tls.CipherSuiteName(st.CipherSuite))
			}
		})
	}
}

// TestSecurityListenersOfTheBinary: both listeners of the real binary
// apply the TLS policy, cap request headers (431) and refuse oversized
// bodies (413) on the ACME, admin API and dashboard surfaces.
func TestSecurityListenersOfTheBinary(t *testing.T) {
	skipIfShort(t)
	s := startGate(t, &Config{})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	hc := trustingClient(t, s.rootPEM)
	adminBase := s.adminURL(t)
	adminTok := s.createToken(t, "limits-admin", "admin")
	pool := x509.NewCertPool()
	pool.AddCert(readPEMCerts(t, s.rootPEM)[0])
	listeners := map[string]string{
		"ACME":  strings.TrimPrefix(s.baseURL, "https://"),
		"admin": strings.TrimSuffix(strings.TrimPrefix(adminBase, "https://"), "/admin/"),
	}
	for name, addr := range listeners {
		t.Run(name+" TLS", func(t *testing.T) {
			checkTLSPolicy(t, addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		})
		t.Run(name+" header cap", func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/healthz", nil)
			req.Header.Set("X-Big", strings.Repeat("h", acmeListenerLimits().MaxHeaderBytes+8<<10))
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("oversized headers answered %d, want 431", resp.StatusCode)
			}
		})
	}
	big := strings.Repeat("a", 256<<10)
	for _, tc := range []struct {
		surface, url, contentType, token string
	}{
		{"ACME newAccount", s.baseURL + "/acme/default/new-account", "application/jose+json", ""},
		{"admin API", strings.TrimSuffix(adminBase, "/") + "/api/v1/tokens", "application/json", adminTok},
		{"dashboard login", adminBase + "login", "application/x-www-form-urlencoded", ""},
	} {
		t.Run(tc.surface+" body limit", func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tc.url, strings.NewReader(big))
			req.Header.Set("Content-Type", tc.contentType)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("a 256 KiB body answered %d, want 413", resp.StatusCode)
			}
		})
	}
}
