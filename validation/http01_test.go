package validation

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const challengePath = "/.well-known/acme-challenge/" + testToken

func serverPort(t *testing.T, s *httptest.Server) int {
	t.Helper()
	return s.Listener.Addr().(*net.TCPAddr).Port
}

func respond(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func redirectTo(location string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == challengePath {
			http.Redirect(w, r, location, http.StatusFound)
			return
		}
		io.WriteString(w, testKeyAuth)
	}
}

// redirectChain redirects the challenge URL to /hop/1, /hop/1 to /hop/2 ...
// and serves the key authorization at /hop/n: n redirects in all.
func redirectChain(n int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hop := 0
		if s, ok := strings.CutPrefix(r.URL.Path, "/hop/"); ok {
			hop, _ = strconv.Atoi(s)
		}
		if hop < n {
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", hop+1), http.StatusFound)
			return
		}
		io.WriteString(w, testKeyAuth)
	}
}

func TestHTTP01(t *testing.T) {
	dnsSrv := newDNSServer(t)
	dnsSrv.SetA("example.test", mustAddr("127.0.0.1"))
	dnsSrv.SetA("private.test", mustAddr("10.0.0.1"))
	dnsSrv.SetA("mixed.test", mustAddr("10.0.0.1"), mustAddr("127.0.0.1"))
	dnsSrv.SetTXT("noaddr.test", "no addresses here")
	dnsSrv.SetRcode("servfail.test", 2)

	// The https end of the redirect case; its port stands in for 443.
	tlsSrv := httptest.NewTLSServer(respond(http.StatusOK, testKeyAuth))
	defer tlsSrv.Close()
	httpsPort := serverPort(t, tlsSrv)

	tests := []struct {
		name       string
		identifier string // default "example.test"
		idType     string // default "dns"
		handler    http.HandlerFunc
		timeout    time.Duration
		kind       Kind
		want       []string
	}{
		{name: "success", handler: respond(http.StatusOK, testKeyAuth)},
		{name: "trailing whitespace ignored", handler: respond(http.StatusOK, testKeyAuth+" \r\n\t\n")},
		{name: "leading whitespace", handler: respond(http.StatusOK, " "+testKeyAuth),
			kind: KindIncorrectResponse, want: []string{`returned " ` + testToken}},
		{name: "wrong body", handler: respond(http.StatusOK, "wrong"),
			kind: KindIncorrectResponse, want: []string{`127.0.0.1:`, `returned "wrong"`, challengePath, "want the key authorization"}},
		{name: "key authorization of another token", handler: respond(http.StatusOK, "other."+testThumb),
			kind: KindIncorrectResponse, want: []string{`"other.` + testThumb + `"`}},
		{name: "body too large", handler: respond(http.StatusOK, testKeyAuth+strings.Repeat(" x", 1000)),
			kind: KindIncorrectResponse, want: []string{"more than 1024 bytes"}},
		{name: "404", handler: http.NotFound,
			kind: KindUnauthorized, want: []string{"HTTP 404", challengePath, "want 200"}},
		{name: "500 with the right body", handler: respond(http.StatusInternalServerError, testKeyAuth),
			kind: KindUnauthorized, want: []string{"HTTP 500"}},
		{name: "redirect on the same host", handler: redirectTo("/somewhere/else")},
		{name: "10 redirects", handler: redirectChain(10)},
		{name: "11 redirects", handler: redirectChain(11),
			kind: KindConnection, want: []string{"too many redirects", "gave up after 10", "/hop/11"}},
		{name: "redirect loop", handler: redirectTo(challengePath),
			kind: KindConnection, want: []string{"too many redirects"}},
		{name: "redirect to a forbidden port", handler: redirectTo("http://example.test:8081/x"),
			kind: KindConnection, want: []string{"http://example.test:8081/x", "port 8081 is not allowed"}},
		{name: "redirect to https on a forbidden port", handler: redirectTo("https://example.test:8443/x"),
			kind: KindConnection, want: []string{"port 8443 is not allowed for https"}},
		{name: "redirect to https", handler: redirectTo(fmt.Sprintf("https://example.test:%d/ok", httpsPort))},
		{name: "redirect to ftp", handler: redirectTo("ftp://example.test/x"),
			kind: KindConnection, want: []string{"ftp://example.test/x", "only http and https"}},
		{name: "redirect to a private address", handler: redirectTo("http://private.test/x"),
			kind: KindConnection, want: []string{"redirect from http://example.test:", "to http://private.test/x refused", "10.0.0.1 is private (RFC 1918)"}},
		{name: "redirect to a private IP literal", handler: redirectTo("http://192.168.1.1/x"),
			kind: KindConnection, want: []string{"to http://192.168.1.1/x refused", "192.168.1.1 is private"}},
		{name: "redirect to cloud metadata (link-local)", handler: redirectTo("http://169.254.169.254/latest/meta-data/"),
			kind: KindConnection, want: []string{"refused: 169.254.169.254 is link-local"}},
		{name: "redirect to a unique-local IPv6 literal", handler: redirectTo("http://[fd00::1]/x"),
			kind: KindConnection, want: []string{"refused: fd00::1 is unique local"}},
		{name: "redirect to the unspecified address", handler: redirectTo("http://0.0.0.0/x"),
			kind: KindConnection, want: []string{"refused: 0.0.0.0 is \"this network\""}},
		{name: "redirect to an IPv6 unspecified address", handler: redirectTo("http://[::]/x"),
			kind: KindConnection, want: []string{"refused: :: is unspecified"}},
		{name: "redirect to multicast", handler: redirectTo("http://224.0.0.1/x"),
			kind: KindConnection, want: []string{"refused: 224.0.0.1 is multicast"}},
		{name: "redirect to an IPv4-mapped private address", handler: redirectTo("http://[::ffff:10.1.2.3]/x"),
			kind: KindConnection, want: []string{"refused: 10.1.2.3 is private"}},
		{name: "redirect to http on port 443", handler: redirectTo("http://example.test:443/x"),
			kind: KindConnection, want: []string{"port 443 is not allowed for http"}},
		{name: "redirect to https on port 80", handler: redirectTo("https://example.test:80/x"),
			kind: KindConnection, want: []string{"port 80 is not allowed for https"}},
		{name: "redirect to file", handler: redirectTo("file:///etc/passwd"),
			kind: KindConnection, want: []string{"file:///etc/passwd", "only http and https"}},
		{name: "redirect to gopher", handler: redirectTo("gopher://example.test:70/x"),
			kind: KindConnection, want: []string{"only http and https"}},
		{name: "redirect to a missing name", handler: redirectTo("http://nx.test/x"),
			kind: KindDNS, want: []string{"nx.test", "NXDOMAIN", "to http://nx.test/x"}},
		{name: "NXDOMAIN", identifier: "nx.test", handler: respond(http.StatusOK, testKeyAuth),
			kind: KindDNS, want: []string{"nx.test", "does not exist"}},
		{name: "SERVFAIL", identifier: "servfail.test", handler: respond(http.StatusOK, testKeyAuth),
			kind: KindDNS, want: []string{"servfail.test", "SERVFAIL"}},
		{name: "no addresses", identifier: "noaddr.test", handler: respond(http.StatusOK, testKeyAuth),
			kind: KindDNS, want: []string{"no A or AAAA records found for noaddr.test"}},
		{name: "refused address skipped", identifier: "mixed.test", handler: respond(http.StatusOK, testKeyAuth)},
		{name: "ip identifier", identifier: "127.0.0.1", idType: IdentifierIP, handler: respond(http.StatusOK, testKeyAuth)},
		{name: "ip identifier wrong body", identifier: "127.0.0.1", idType: IdentifierIP, handler: respond(http.StatusOK, "nope"),
			kind: KindIncorrectResponse, want: []string{`returned "nope"`, "http://127.0.0.1:"}},
		{name: "timeout", timeout: 300 * time.Millisecond, handler: func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}, kind: KindConnection, want: []string{"timed out (limit 300ms)", challengePath}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			v := newValidator(t, dnsSrv.Addr(), true, Config{HTTPPort: serverPort(t, srv), Timeout: tc.timeout})
			v.httpsPort = httpsPort
			r := Request{ChallengeType: ChallengeHTTP01, IdentifierType: IdentifierDNS, Identifier: "example.test",
				Token: testToken, KeyAuthorization: testKeyAuth}
			if tc.identifier != "" {
				r.Identifier = tc.identifier
			}
			if tc.idType != "" {
				r.IdentifierType = tc.idType
			}
			start := time.Now()
			checkErr(t, v.Validate(testCtx(t), r), tc.kind, tc.want...)
			if tc.timeout > 0 && time.Since(start) > 10*tc.timeout {
				t.Errorf("Validate took %v with Timeout %v", time.Since(start), tc.timeout)
			}
		})
	}
}

// TestHTTP01Request checks what the validation request looks like.
func TestHTTP01Request(t *testing.T) {
	dnsSrv := newDNSServer(t)
	dnsSrv.SetA("example.test", mustAddr("127.0.0.1"))
	type seen struct{ host, path, ua string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Host, r.URL.Path, r.UserAgent()}
		io.WriteString(w, testKeyAuth)
	}))
	defer srv.Close()
	port := serverPort(t, srv)
	// A proxy in the environment must not be used: this one would fail
	// every request.
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("NO_PROXY", "")
	v := newValidator(t, dnsSrv.Addr(), true, Config{HTTPPort: port})
	err := v.Validate(testCtx(t), Request{ChallengeType: ChallengeHTTP01, IdentifierType: IdentifierDNS,
		Identifier: "Example.TEST", Token: testToken, KeyAuthorization: testKeyAuth})
	checkErr(t, err, "")
	s := <-got
	if want := fmt.Sprintf("example.test:%d", port); s.host != want {
		t.Errorf("Host = %q, want %q", s.host, want)
	}
	if s.path != challengePath {
		t.Errorf("path = %q, want %q", s.path, challengePath)
	}
	if !strings.HasPrefix(s.ua, "acmegate") {
		t.Errorf("User-Agent = %q, want acmegate's", s.ua)
	}
}

// TestHTTP01IPv6 validates over ::1, by IP identifier and by AAAA record.
func TestHTTP01IPv6(t *testing.T) {
	dnsSrv := newDNSServer(t)
	dnsSrv.SetAAAA("v6.test", mustAddr("::1"))
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("listen on ::1: %v", err)
	}
	var hosts atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts.Store(r.Host)
		io.WriteString(w, testKeyAuth)
	}))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	port := serverPort(t, srv)
	v := newValidator(t, dnsSrv.Addr(), true, Config{HTTPPort: port})
	for _, tc := range []struct{ idType, id, host string }{
		{IdentifierIP, "::1", fmt.Sprintf("[::1]:%d", port)},
		{IdentifierDNS, "v6.test", fmt.Sprintf("v6.test:%d", port)},
	} {
		t.Run(tc.id, func(t *testing.T) {
			err := v.Validate(testCtx(t), Request{ChallengeType: ChallengeHTTP01, IdentifierType: tc.idType,
				Identifier: tc.id, Token: testToken, KeyAuthorization: testKeyAuth})
			checkErr(t, err, "")
			if h := hosts.Load(); h != tc.host {
				t.Errorf("Host = %v, want %s", h, tc.host)
			}
		})
	}
}

// TestHTTP01Unreachable covers the connection failures and the address
// filter; the filter must refuse before any connection is made.
func TestHTTP01Unreachable(t *testing.T) {
	dnsSrv := newDNSServer(t)
	dnsSrv.SetA("example.test", mustAddr("127.0.0.1"))
	dnsSrv.SetAAAA("example.test", mustAddr("::1"))
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, testKeyAuth)
	}))
	defer srv.Close()

	tests := []struct {
		name          string
		port          int
		allowLoopback bool
		idType, id    string
		kind          Kind
		want          []string
	}{
		{name: "connection refused", port: closedPort(t), allowLoopback: true, idType: IdentifierIP, id: "127.0.0.1",
			kind: KindConnection, want: []string{"could not connect to 127.0.0.1", "connection refused"}},
		{name: "connection refused on every address", port: closedPort(t), allowLoopback: true, idType: IdentifierDNS, id: "example.test",
			kind: KindConnection, want: []string{"could not connect to example.test port", "[::1]:", "127.0.0.1:", "connection refused"}},
		{name: "loopback name refused", port: serverPort(t, srv), idType: IdentifierDNS, id: "example.test",
			kind: KindRejectedIdentifier, want: []string{"example.test", "127.0.0.1 is loopback", "::1 is loopback"}},
		{name: "loopback ip refused", port: serverPort(t, srv), idType: IdentifierIP, id: "127.0.0.1",
			kind: KindRejectedIdentifier, want: []string{"127.0.0.1 is loopback (RFC 1122) 127.0.0.0/8, not in the allowed networks"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newValidator(t, dnsSrv.Addr(), tc.allowLoopback, Config{HTTPPort: tc.port})
			err := v.Validate(testCtx(t), Request{ChallengeType: ChallengeHTTP01, IdentifierType: tc.idType,
				Identifier: tc.id, Token: testToken, KeyAuthorization: testKeyAuth})
			checkErr(t, err, tc.kind, tc.want...)
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server got %d requests, want none", n)
	}
}

// TestHTTP01AddressFanOut checks at most the first usable IPv6 and IPv4
// addresses are dialed, however many the zone lists.
func TestHTTP01AddressFanOut(t *testing.T) {
	dnsSrv := newDNSServer(t)
	var v4 []netip.Addr
	for i := 3; i < 40; i++ {
		v4 = append(v4, netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}))
	}
	dnsSrv.SetA("many.test", append([]netip.Addr{mustAddr("10.0.0.1")}, v4...)...)
	dnsSrv.SetAAAA("many.test", mustAddr("::1"), mustAddr("::1"))
	v := newValidator(t, dnsSrv.Addr(), true, Config{HTTPPort: closedPort(t)})
	err := v.Validate(testCtx(t), Request{ChallengeType: ChallengeHTTP01, IdentifierType: IdentifierDNS,
		Identifier: "many.test", Token: testToken, KeyAuthorization: testKeyAuth})
	checkErr(t, err, KindConnection, "could not connect to many.test port", "[::1]:", "127.0.0.3:", "connection refused")
	var ve *Error
	if errors.As(err, &ve) && strings.Count(ve.Detail, "connection refused") != 2 {
		t.Errorf("Detail %q: want exactly two addresses tried", ve.Detail)
	}
}
