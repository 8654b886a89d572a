package validation

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/acmegate/acmegate/validation/validationtest"
)

// acmeExt returns an acmeIdentifier extension for keyAuth.
func acmeExt(t *testing.T, keyAuth string, critical bool) pkix.Extension {
	t.Helper()
	sum := sha256.Sum256([]byte(keyAuth))
	der, err := asn1.Marshal(sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: validationtest.OIDACMEIdentifier(), Critical: critical, Value: der}
}

func selfSigned(t *testing.T, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	c, err := validationtest.SelfSigned(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func challengeCert(t *testing.T, identifier, keyAuth string) tls.Certificate {
	t.Helper()
	c, err := validationtest.ChallengeCert(identifier, keyAuth)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serveConns accepts on ln until the test ends and hands each connection to
// handle.
func serveConns(t *testing.T, ln net.Listener, handle func(net.Conn)) int {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().(*net.TCPAddr).Port
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	return ln
}

// tlsHandshaker serves TLS handshakes with cfg.
func tlsHandshaker(cfg *tls.Config) func(net.Conn) {
	return func(c net.Conn) { _ = tls.Server(c, cfg).Handshake() }
}

func TestTLSALPN01Certificates(t *testing.T) {
	dnsSrv := newDNSServer(t)
	dnsSrv.SetA("example.test", mustAddr("127.0.0.1"))
	srv, err := validationtest.NewTLSALPNServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	v := newValidator(t, dnsSrv.Addr(), true, Config{TLSALPNPort: srv.Port()})
	wantDigest := fmt.Sprintf("%x", sha256.Sum256([]byte(testKeyAuth)))

	tests := []struct {
		name       string
		identifier string // default example.test
		idType     string // default dns
		cert       func(t *testing.T) tls.Certificate
		noCert     bool
		kind       Kind
		want       []string
	}{
		{name: "success", cert: func(t *testing.T) tls.Certificate { return challengeCert(t, "example.test", testKeyAuth) }},
		{name: "ip identifier", identifier: "127.0.0.1", idType: IdentifierIP,
			cert: func(t *testing.T) tls.Certificate { return challengeCert(t, "127.0.0.1", testKeyAuth) }},
		{name: "wrong digest", cert: func(t *testing.T) tls.Certificate {
			return challengeCert(t, "example.test", testToken+".otherThumbprint")
		}, kind: KindUnauthorized, want: []string{"127.0.0.1:", `SNI "example.test"`, "acmeIdentifier digest", "want " + wantDigest}},
		{name: "missing extension", cert: func(t *testing.T) tls.Certificate {
			return selfSigned(t, &x509.Certificate{DNSNames: []string{"example.test"}})
		}, kind: KindUnauthorized, want: []string{"no acmeIdentifier extension (1.3.6.1.5.5.7.1.31)"}},
		{name: "extension not critical", cert: func(t *testing.T) tls.Certificate {
			return selfSigned(t, &x509.Certificate{DNSNames: []string{"example.test"},
				ExtraExtensions: []pkix.Extension{acmeExt(t, testKeyAuth, false)}})
		}, kind: KindUnauthorized, want: []string{"acmeIdentifier extension that is not marked critical"}},
		{name: "extension not an OCTET STRING", cert: func(t *testing.T) tls.Certificate {
			sum := sha256.Sum256([]byte(testKeyAuth))
			return selfSigned(t, &x509.Certificate{DNSNames: []string{"example.test"},
				ExtraExtensions: []pkix.Extension{{Id: validationtest.OIDACMEIdentifier(), Critical: true, Value: sum[:]}}})
		}, kind: KindUnauthorized, want: []string{"malformed acmeIdentifier extension", "OCTET STRING of 32 bytes"}},
		{name: "digest of the wrong size", cert: func(t *testing.T) tls.Certificate {
			der, _ := asn1.Marshal([]byte("short"))
			return selfSigned(t, &x509.Certificate{DNSNames: []string{"example.test"},
				ExtraExtensions: []pkix.Extension{{Id: validationtest.OIDACMEIdentifier(), Critical: true, Value: der}}})
		}, kind: KindUnauthorized, want: []string{"malformed acmeIdentifier extension"}},
		{name: "wrong SAN", cert: func(t *testing.T) tls.Certificate { return challengeCert(t, "other.test", testKeyAuth) },
			kind: KindUnauthorized, want: []string{`has subjectAltName [dNSName "other.test"], want exactly dNSName "example.test"`}},
		{name: "extra SAN", cert: func(t *testing.T) tls.Certificate {
			return selfSigned(t, &x509.Certificate{DNSNames: []string{"example.test", "www.example.test"},
				ExtraExtensions: []pkix.Extension{acmeExt(t, testKeyAuth, true)}})
		}, kind: KindUnauthorized, want: []string{`[dNSName "example.test", dNSName "www.example.test"]`}},
		{name: "extra SAN of a kind crypto/x509 does not surface", cert: func(t *testing.T) tls.Certificate {
			return selfSigned(t, &x509.Certificate{DNSNames: []string{"example.test"}, EmailAddresses: []string{"a@example.test"},
				ExtraExtensions: []pkix.Extension{acmeExt(t, testKeyAuth, true)}})
		}, kind: KindUnauthorized, want: []string{`[dNSName "example.test", rfc822Name]`}},
		{name: "no SAN", cert: func(t *testing.T) tls.Certificate {
			return selfSigned(t, &x509.Certificate{Subject: pkix.Name{CommonName: "example.test"},
				ExtraExtensions: []pkix.Extension{acmeExt(t, testKeyAuth, true)}})
		}, kind: KindUnauthorized, want: []string{"no subjectAltName extension"}},
		{name: "SAN case differs", cert: func(t *testing.T) tls.Certificate { return challengeCert(t, "EXAMPLE.test", testKeyAuth) }},
		{name: "ip identifier with a dNSName SAN", identifier: "127.0.0.1", idType: IdentifierIP, cert: func(t *testing.T) tls.Certificate {
			return selfSigned(t, &x509.Certificate{DNSNames: []string{"127.0.0.1"},
				ExtraExtensions: []pkix.Extension{acmeExt(t, testKeyAuth, true)}})
		}, kind: KindUnauthorized, want: []string{`SNI "1.0.0.127.in-addr.arpa"`, `[dNSName "127.0.0.1"], want exactly iPAddress 127.0.0.1`}},
		{name: "dns identifier with an iPAddress SAN", cert: func(t *testing.T) tls.Certificate {
			return challengeCert(t, "127.0.0.1", testKeyAuth)
		}, kind: KindUnauthorized, want: []string{`[iPAddress 127.0.0.1], want exactly dNSName "example.test"`}},
		{name: "no certificate for the SNI", noCert: true,
			kind: KindTLS, want: []string{`TLS handshake with 127.0.0.1:`, `(SNI "example.test") failed`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, idType := "example.test", IdentifierDNS
			if tc.identifier != "" {
				id, idType = tc.identifier, tc.idType
			}
			sni := validationtest.ServerName(id)
			srv.Delete(id)
			if !tc.noCert {
				srv.SetCertificate(sni, tc.cert(t))
			}
			before := len(srv.ServerNames())
			err := v.Validate(testCtx(t), Request{ChallengeType: ChallengeTLSALPN01, IdentifierType: idType,
				Identifier: id, Token: testToken, KeyAuthorization: testKeyAuth})
			checkErr(t, err, tc.kind, tc.want...)
			// RFC 8737 §3 / RFC 8738 §6: the SNI sent.
			if got := srv.ServerNames()[before:]; len(got) != 1 || got[0] != sni {
				t.Errorf("SNI sent = %q, want [%q]", got, sni)
			}
		})
	}
}

func TestTLSALPN01Connection(t *testing.T) {
	dnsSrv := newDNSServer(t)
	dnsSrv.SetA("example.test", mustAddr("127.0.0.1"))
	dnsSrv.SetAAAA("v6.test", mustAddr("::1"))
	goodCert := challengeCert(t, "example.test", testKeyAuth)

	tests := []struct {
		name          string
		port          func(t *testing.T) int
		identifier    string
		idType        string
		allowLoopback bool
		timeout       time.Duration
		kind          Kind
		want          []string
	}{
		{name: "no ALPN negotiated", allowLoopback: true, port: func(t *testing.T) int {
			return serveConns(t, listen(t, "127.0.0.1:0"), tlsHandshaker(&tls.Config{Certificates: []tls.Certificate{goodCert}}))
		}, kind: KindUnauthorized, want: []string{`did not negotiate the "acme-tls/1" ALPN protocol (negotiated "")`}},
		{name: "IPv6 name", identifier: "v6.test", allowLoopback: true, port: func(t *testing.T) int {
			cert := challengeCert(t, "v6.test", testKeyAuth)
			return serveConns(t, listen(t, "[::1]:0"), tlsHandshaker(&tls.Config{
				Certificates: []tls.Certificate{cert}, NextProtos: []string{"acme-tls/1"}}))
		}},
		{name: "IPv6 identifier", identifier: "::1", idType: IdentifierIP, allowLoopback: true, port: func(t *testing.T) int {
			cert := challengeCert(t, "::1", testKeyAuth)
			return serveConns(t, listen(t, "[::1]:0"), tlsHandshaker(&tls.Config{
				NextProtos: []string{"acme-tls/1"},
				GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
					// RFC 8738 §6: the reverse name of ::1.
					if want := "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"; h.ServerName != want {
						return nil, fmt.Errorf("SNI %q, want %q", h.ServerName, want)
					}
					return &cert, nil
				}}))
		}},
		{name: "not TLS", allowLoopback: true, port: func(t *testing.T) int {
			return serveConns(t, listen(t, "127.0.0.1:0"), func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n")
			})
		}, kind: KindTLS, want: []string{"TLS handshake with 127.0.0.1:", "failed"}},
		{name: "connection refused", allowLoopback: true, port: closedPort,
			kind: KindConnection, want: []string{"tls-alpn-01: could not connect to example.test port", "connection refused"}},
		{name: "handshake timeout", allowLoopback: true, timeout: 300 * time.Millisecond, port: func(t *testing.T) int {
			return serveConns(t, listen(t, "127.0.0.1:0"), func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
		}, kind: KindConnection, want: []string{"TLS handshake with 127.0.0.1:", "timed out"}},
		{name: "loopback refused by the filter", port: func(t *testing.T) int {
			return serveConns(t, listen(t, "127.0.0.1:0"), func(net.Conn) { t.Error("the filter let a connection through") })
		}, kind: KindRejectedIdentifier, want: []string{"tls-alpn-01: refusing to connect to example.test", "127.0.0.1 is loopback"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newValidator(t, dnsSrv.Addr(), tc.allowLoopback, Config{TLSALPNPort: tc.port(t), Timeout: tc.timeout})
			id, idType := "example.test", IdentifierDNS
			if tc.identifier != "" {
				id = tc.identifier
			}
			if tc.idType != "" {
				idType = tc.idType
			}
			err := v.Validate(testCtx(t), Request{ChallengeType: ChallengeTLSALPN01, IdentifierType: idType,
				Identifier: id, Token: testToken, KeyAuthorization: testKeyAuth})
			checkErr(t, err, tc.kind, tc.want...)
		})
	}
}

// TestChallengeCertShape checks validationtest.ChallengeCert against the
// RFC 8737 §3 requirements through the same checker Validate uses, so a
// change to either is caught.
func TestChallengeCertShape(t *testing.T) {
	for _, id := range []string{"example.test", "192.0.2.7", "2001:db8::7"} {
		t.Run(id, func(t *testing.T) {
			c := challengeCert(t, id, testKeyAuth)
			tg := target{Request: Request{KeyAuthorization: testKeyAuth}}
			if a, err := netip.ParseAddr(id); err == nil {
				tg.ip = a
			} else {
				tg.name = id
			}
			if err := checkChallengeCert(c.Leaf, tg); err != nil {
				t.Errorf("checkChallengeCert: %v", err)
			}
			tg.KeyAuthorization = testToken + ".x"
			if err := checkChallengeCert(c.Leaf, tg); err == nil {
				t.Error("checkChallengeCert accepted the wrong key authorization")
			}
		})
	}
}
