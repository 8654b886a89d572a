package validation

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// TestServerAddresses checks validation never connects to the server's own
// listening addresses, even inside AllowedNetworks: not for the identifier,
// not after a redirect, not by tls-alpn-01.
func TestServerAddresses(t *testing.T) {
	// The "server" listens on 127.0.0.1:port; a subscriber's web server
	// listens on 127.0.0.2 with the same port.
	subscriberLn, selfLn, port := listenTwin(t)
	var selfHits atomic.Int32
	serveHTTP(t, selfLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		selfHits.Add(1)
		io.WriteString(w, testKeyAuth)
	}))
	serveHTTP(t, subscriberLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == challengePath {
			http.Redirect(w, r, fmt.Sprintf("http://self.test:%d/x", port), http.StatusFound)
			return
		}
		http.NotFound(w, r)
	}))
	dnsSrv := newDNSServer(t)
	dnsSrv.SetA("self.test", victimAddr)
	dnsSrv.SetA("subscriber.test", vettedAddr)
	self := netip.AddrPortFrom(victimAddr, uint16(port))

	tests := []struct {
		name       string
		server     []netip.AddrPort
		identifier string
		kind       Kind
		want       []string
	}{
		{name: "identifier on the server's address", server: []netip.AddrPort{self}, identifier: "self.test",
			kind: KindRejectedIdentifier, want: []string{"refusing to connect to self.test", self.String() + " is an address this server listens on"}},
		{name: "IPv4-mapped server address", server: []netip.AddrPort{netip.MustParseAddrPort(fmt.Sprintf("[::ffff:127.0.0.1]:%d", port))},
			identifier: "self.test", kind: KindRejectedIdentifier, want: []string{"is an address this server listens on"}},
		{name: "server listening on every IPv4 address", server: []netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port))},
			identifier: "self.test", kind: KindRejectedIdentifier,
			want: []string{self.String() + " is a local address of this server, which listens on port " + fmt.Sprint(port) + " of every address"}},
		{name: "server listening on every address, subscriber on another loopback address",
			server:     []netip.AddrPort{netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(port))},
			identifier: "subscriber.test", kind: KindRejectedIdentifier, want: []string{"127.0.0.2:", "is a local address of this server"}},
		{name: "redirect to the server", server: []netip.AddrPort{self}, identifier: "subscriber.test",
			kind: KindConnection, want: []string{"to http://self.test:", "refused: " + self.String() + " is an address this server listens on"}},
		{name: "server on another port", server: []netip.AddrPort{netip.AddrPortFrom(victimAddr, uint16(port+1))}, identifier: "self.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := selfHits.Load()
			v := newValidator(t, dnsSrv.Addr(), true, Config{HTTPPort: port, ServerAddresses: tc.server})
			err := v.Validate(testCtx(t), Request{ChallengeType: ChallengeHTTP01, IdentifierType: IdentifierDNS,
				Identifier: tc.identifier, Token: testToken, KeyAuthorization: testKeyAuth})
			checkErr(t, err, tc.kind, tc.want...)
			if tc.kind != "" {
				var se *SelfAddressError
				if !errors.As(err, &se) {
					t.Errorf("Validate = %v, want it to unwrap to a *SelfAddressError", err)
				}
				if n := selfHits.Load() - before; n != 0 {
					t.Errorf("the server itself got %d requests, want none", n)
				}
			}
		})
	}

	t.Run("tls-alpn-01", func(t *testing.T) {
		cert := challengeCert(t, "self.test", testKeyAuth)
		var conns atomic.Int32
		tlsPort := serveConns(t, listen(t, "127.0.0.1:0"), func(c net.Conn) {
			conns.Add(1)
			tlsHandshaker(&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{acmeTLS1}})(c)
		})
		tlsSelf := netip.AddrPortFrom(victimAddr, uint16(tlsPort))
		v := newValidator(t, dnsSrv.Addr(), true, Config{TLSALPNPort: tlsPort, ServerAddresses: []netip.AddrPort{tlsSelf}})
		err := v.Validate(testCtx(t), Request{ChallengeType: ChallengeTLSALPN01, IdentifierType: IdentifierDNS,
			Identifier: "self.test", Token: testToken, KeyAuthorization: testKeyAuth})
		checkErr(t, err, KindRejectedIdentifier, "tls-alpn-01: refusing to connect to self.test", tlsSelf.String()+" is an address this server listens on")
		if n := conns.Load(); n != 0 {
			t.Errorf("the server itself got %d connections, want none", n)
		}
	})
}

// TestServerAddressesControl checks the socket-level hook refuses the
// server's own addresses too, including an interface address when the
// server listens on every address.
func TestServerAddressesControl(t *testing.T) {
	v := newValidator(t, "127.0.0.1:53", true, Config{
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")},
		ServerAddresses: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:14000"), netip.MustParseAddrPort("[::]:443")},
	})
	for addr, ok := range map[string]bool{
		"127.0.0.1:14000":        false,
		"127.0.0.1:14001":        true,
		"127.0.0.9:443":          false, // loopback is local
		"[::1]:443":              false,
		"[::ffff:127.0.0.1]:443": false,
		"[::1]:80":               true,
		"93.184.215.14:443":      true, // not an address of this host
	} {
		if err := v.controlDial("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("controlDial(%q) = %v, want allowed=%v", addr, err, ok)
		}
	}

	t.Run("interface address", func(t *testing.T) {
		local := nonLoopbackAddr(t)
		if err := v.controlDial("tcp", netip.AddrPortFrom(local, 443).String(), nil); err == nil ||
			!strings.Contains(err.Error(), "is a local address of this server") {
			t.Errorf("controlDial(%s:443) = %v, want refused as a local address", local, err)
		}
		if err := v.controlDial("tcp", netip.AddrPortFrom(local, 80).String(), nil); err != nil {
			t.Errorf("controlDial(%s:80) = %v, want allowed", local, err)
		}
	})
}

// nonLoopbackAddr returns an address of one of this host's interfaces that
// is not loopback.
func nonLoopbackAddr(t *testing.T) netip.Addr {
	t.Helper()
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatalf("InterfaceAddrs: %v", err)
	}
	for _, ia := range ifAddrs {
		if n, ok := ia.(*net.IPNet); ok {
			if a, ok := netip.AddrFromSlice(n.IP); ok && !a.Unmap().IsLoopback() && !a.IsLinkLocalUnicast() {
				return a.Unmap()
			}
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this host has no non-loopback interface address")
	}
	t.Skip("this host has no non-loopback interface address")
	return netip.Addr{}
}

func TestNewServerAddresses(t *testing.T) {
	for _, ap := range []netip.AddrPort{{}, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)} {
		if _, err := New(Config{Resolvers: []string{"127.0.0.1"}, ServerAddresses: []netip.AddrPort{ap}}); err == nil {
			t.Errorf("New accepted server address %v", ap)
		}
	}
}
