package validation

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/acmegate/acmegate/validation/validationtest"
)

// The DNS-rebinding tests play an attacker whose zone answers an address
// validation may use to one query and a forbidden one to the next. A real
// public address cannot be served from a test, so 127.0.0.2 stands in for
// it: the validator allows 127.0.0.2/32 only, and 127.0.0.1 (loopback, still
// refused) is the internal service the attacker aims at. Both listen on the
// same port, so only the address decides which one a connection reaches;
// and the victim even answers correctly, so only the address check can tell.

var (
	vettedAddr = netip.MustParseAddr("127.0.0.2")
	victimAddr = netip.MustParseAddr("127.0.0.1")
)

// rebindConfig returns a Config that allows the vetted address only.
func rebindConfig(cfg Config) Config {
	cfg.AllowedNetworks = append(cfg.AllowedNetworks, netip.PrefixFrom(vettedAddr, 32))
	return cfg
}

// listenTwin listens on the vetted and the victim address with one port.
func listenTwin(t *testing.T) (vetted, victim net.Listener, port int) {
	t.Helper()
	var err error
	for range 20 {
		vetted = listen(t, netip.AddrPortFrom(vettedAddr, 0).String())
		port = vetted.Addr().(*net.TCPAddr).Port
		victim, err = net.Listen("tcp", netip.AddrPortFrom(victimAddr, uint16(port)).String())
		if err == nil {
			return vetted, victim, port
		}
		vetted.Close() // the port is taken on 127.0.0.1: try another
	}
	t.Fatalf("no port free on both %s and %s: %v", vettedAddr, victimAddr, err)
	return nil, nil, 0
}

// serveHTTP serves handler on ln until the test ends.
func serveHTTP(t *testing.T, ln net.Listener, handler http.Handler) {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
}

// aQueries counts the A questions the server received for name.
func aQueries(s *validationtest.DNSServer, name string) int {
	n := 0
	for _, q := range s.Queries() {
		if q.Type == dns.TypeA && q.Name == dns.CanonicalName(name) {
			n++
		}
	}
	return n
}

func TestHTTP01Rebinding(t *testing.T) {
	vettedLn, victimLn, port := listenTwin(t)
	var victimHits atomic.Int32
	serveHTTP(t, victimLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		victimHits.Add(1)
		io.WriteString(w, testKeyAuth)
	}))
	// The vetted server redirects three times on the same host, then to
	// other.test, a second rebinding name, which serves the answer.
	serveHTTP(t, vettedLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next := map[string]string{
			challengePath: "/hop/1",
			"/hop/1":      "/hop/2",
			"/hop/2":      "/hop/3",
			"/hop/3":      fmt.Sprintf("http://other.test:%d/final", port),
		}
		switch {
		case next[r.URL.Path] != "":
			http.Redirect(w, r, next[r.URL.Path], http.StatusFound)
		case r.URL.Path == "/final" && strings.HasPrefix(r.Host, "other.test:"):
			io.WriteString(w, testKeyAuth)
		default:
			http.NotFound(w, r)
		}
	}))
	vetted, victim := []netip.Addr{vettedAddr}, []netip.Addr{victimAddr}
	req := Request{ChallengeType: ChallengeHTTP01, IdentifierType: IdentifierDNS, Identifier: "rebind.test",
		Token: testToken, KeyAuthorization: testKeyAuth}

	t.Run("one resolution per host for the whole attempt", func(t *testing.T) {
		dnsSrv := newDNSServer(t)
		dnsSrv.RotateA("rebind.test", vetted, victim)
		dnsSrv.RotateA("other.test", vetted, victim)
		v := newValidator(t, dnsSrv.Addr(), false, rebindConfig(Config{HTTPPort: port}))
		// Five requests to rebind.test and other.test, yet one A query
		// each: every connection went to the address the first answer
		// gave, which the filter checked.
		checkErr(t, v.Validate(testCtx(t), req), "")
		for _, name := range []string{"rebind.test", "other.test"} {
			if n := aQueries(dnsSrv, name); n != 1 {
				t.Errorf("%d A queries for %s, want 1", n, name)
			}
		}
	})

	t.Run("attempts alternating between answers", func(t *testing.T) {
		dnsSrv := newDNSServer(t)
		dnsSrv.RotateA("rebind.test", vetted, victim)
		dnsSrv.SetA("other.test", vettedAddr)
		v := newValidator(t, dnsSrv.Addr(), false, rebindConfig(Config{HTTPPort: port}))
		for i := range 4 {
			err := v.Validate(testCtx(t), req)
			if i%2 == 0 {
				checkErr(t, err, "")
			} else {
				checkErr(t, err, KindRejectedIdentifier, "refusing to connect to rebind.test", "127.0.0.1 is loopback")
			}
		}
	})

	t.Run("redirect target rebinding between the check and the connection", func(t *testing.T) {
		dnsSrv := newDNSServer(t)
		dnsSrv.SetA("rebind.test", vettedAddr)
		// The first answer passes the redirect check; were the dial to
		// resolve again, it would get the victim.
		dnsSrv.RotateA("other.test", vetted, victim, victim)
		v := newValidator(t, dnsSrv.Addr(), false, rebindConfig(Config{HTTPPort: port}))
		checkErr(t, v.Validate(testCtx(t), req), "")
		if n := aQueries(dnsSrv, "other.test"); n != 1 {
			t.Errorf("%d A queries for other.test, want 1", n)
		}
	})

	t.Run("redirect target answering the victim", func(t *testing.T) {
		dnsSrv := newDNSServer(t)
		dnsSrv.SetA("rebind.test", vettedAddr)
		dnsSrv.SetA("other.test", victimAddr)
		v := newValidator(t, dnsSrv.Addr(), false, rebindConfig(Config{HTTPPort: port}))
		checkErr(t, v.Validate(testCtx(t), req), KindConnection,
			"redirect from http://rebind.test:", "to http://other.test:", "refused: 127.0.0.1 is loopback")
	})

	t.Run("unreachable allowed address first", func(t *testing.T) {
		// 192.0.2.1 (TEST-NET-1) is allowed here and routes nowhere: the
		// attempt fails on it rather than falling back to a second
		// resolution.
		dnsSrv := newDNSServer(t)
		dnsSrv.RotateA("rebind.test", []netip.Addr{mustAddr("192.0.2.1")}, victim)
		cfg := rebindConfig(Config{HTTPPort: port, Timeout: time.Second})
		cfg.AllowedNetworks = append(cfg.AllowedNetworks, netip.MustParsePrefix("192.0.2.1/32"))
		v := newValidator(t, dnsSrv.Addr(), false, cfg)
		checkErr(t, v.Validate(testCtx(t), req), KindConnection, "could not connect to rebind.test port", "192.0.2.1:")
		if n := aQueries(dnsSrv, "rebind.test"); n != 1 {
			t.Errorf("%d A queries for rebind.test, want 1", n)
		}
	})

	if n := victimHits.Load(); n != 0 {
		t.Errorf("the victim got %d requests, want none", n)
	}
}

func TestTLSALPN01Rebinding(t *testing.T) {
	vettedLn, victimLn, port := listenTwin(t)
	cert := challengeCert(t, "rebind.test", testKeyAuth)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{acmeTLS1}}
	var victimConns atomic.Int32
	serveConns(t, victimLn, func(c net.Conn) {
		victimConns.Add(1)
		tlsHandshaker(cfg)(c)
	})
	serveConns(t, vettedLn, tlsHandshaker(cfg))

	dnsSrv := newDNSServer(t)
	dnsSrv.RotateA("rebind.test", []netip.Addr{vettedAddr}, []netip.Addr{victimAddr})
	v := newValidator(t, dnsSrv.Addr(), false, rebindConfig(Config{TLSALPNPort: port}))
	req := Request{ChallengeType: ChallengeTLSALPN01, IdentifierType: IdentifierDNS, Identifier: "rebind.test",
		Token: testToken, KeyAuthorization: testKeyAuth}
	for i := range 4 {
		err := v.Validate(testCtx(t), req)
		if i%2 == 0 {
			checkErr(t, err, "")
		} else {
			checkErr(t, err, KindRejectedIdentifier, "tls-alpn-01: refusing to connect to rebind.test", "127.0.0.1 is loopback")
		}
	}
	if n := aQueries(dnsSrv, "rebind.test"); n != 4 {
		t.Errorf("%d A queries, want one per attempt (4)", n)
	}
	if n := victimConns.Load(); n != 0 {
		t.Errorf("the victim got %d connections, want none", n)
	}
}
