package validationtest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// TLSALPNServer is a tls-alpn-01 responder on 127.0.0.1: it negotiates
// acme-tls/1 and presents, for each SNI, the certificate set for it. A
// handshake for an unknown SNI fails. Point validation.Config.TLSALPNPort
// at Port. All methods are safe for concurrent use.
type TLSALPNServer struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	cert map[string]*tls.Certificate // by SNI
	snis []string
}

// NewTLSALPNServer starts a TLSALPNServer on 127.0.0.1 with a free port.
// Close stops it.
func NewTLSALPNServer() (*TLSALPNServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("validationtest: listen: %w", err)
	}
	s := &TLSALPNServer{ln: ln, cert: map[string]*tls.Certificate{}}
	s.wg.Go(s.acceptLoop)
	return s, nil
}

// Addr returns "127.0.0.1:port".
func (s *TLSALPNServer) Addr() string { return s.ln.Addr().String() }

// Port returns the port, for validation.Config.TLSALPNPort.
func (s *TLSALPNServer) Port() int {
	return s.ln.Addr().(*net.TCPAddr).Port
}

// Close stops the server and waits for its connections to end.
func (s *TLSALPNServer) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// Set makes the server answer tls-alpn-01 for identifier (a DNS name or an
// IP address) with the challenge certificate for keyAuth.
func (s *TLSALPNServer) Set(identifier, keyAuth string) error {
	cert, err := ChallengeCert(identifier, keyAuth)
	if err != nil {
		return err
	}
	s.SetCertificate(ServerName(identifier), cert)
	return nil
}

// SetCertificate presents cert to handshakes whose SNI is serverName (for
// an IP identifier, its reverse name: see ServerName). Tests use it for
// deliberately wrong certificates.
func (s *TLSALPNServer) SetCertificate(serverName string, cert tls.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cert[strings.ToLower(serverName)] = &cert
}

// Delete stops answering for identifier.
func (s *TLSALPNServer) Delete(identifier string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cert, ServerName(identifier))
}

// ServerNames returns the SNI of every handshake attempted so far, in order.
func (s *TLSALPNServer) ServerNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.snis...)
}

func (s *TLSALPNServer) acceptLoop() {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{ACMETLS1Protocol},
		GetCertificate: s.getCertificate,
	}
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.wg.Go(func() {
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			tc := tls.Server(conn, cfg)
			// RFC 8737 §3: once the handshake is done the validator
			// closes; nothing else is served.
			if err := tc.Handshake(); err == nil {
				_ = tc.Close()
			}
		})
	}
}

func (s *TLSALPNServer) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := strings.ToLower(hello.ServerName)
	s.snis = append(s.snis, name)
	if c, ok := s.cert[name]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("validationtest: no challenge certificate for SNI %q", name)
}
