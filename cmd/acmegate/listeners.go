package main

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"
)

// listenerLimits bound what one client may hold of a listener's time and
// memory, so a client that sends slowly (slow loris), never finishes its
// request, or sends enormous headers costs a connection for a bounded time
// and never unbounded memory. Request bodies are capped by the handlers
// (acme: limits.max_body_bytes; admin: 64 KiB).
type listenerLimits struct {
	// ReadHeader bounds the TLS handshake and reading the request line and
	// headers.
	ReadHeader time.Duration
	// Read bounds reading a whole request, body included.
	Read time.Duration
	// Write bounds the time from the end of the request headers to the end
	// of the response.
	Write time.Duration
	// Idle bounds how long a keep-alive connection waits for its next
	// request.
	Idle time.Duration
	// MaxHeaderBytes caps the request line and headers.
	MaxHeaderBytes int
}

// acmeListenerLimits are the ACME listener's limits. Its requests are small
// JWS documents, and a certificate download is a few KiB.
func acmeListenerLimits() listenerLimits {
	return listenerLimits{
		ReadHeader:     10 * time.Second,
		Read:           30 * time.Second,
		Write:          60 * time.Second,
		Idle:           120 * time.Second,
		MaxHeaderBytes: 64 << 10,
	}
}

// adminListenerLimits are the admin listener's limits: the ACME
// listener's, but a response may take longer, for a CSV export of a large
// inventory or a 30-second CPU profile.
func adminListenerLimits() listenerLimits {
	l := acmeListenerLimits()
	l.Write = 5 * time.Minute
	return l
}

// newHTTPServer is the http.Server of a listener: every listener acmegate
// opens is built here, so none goes without limits.
func newHTTPServer(h http.Handler, lim listenerLimits, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeader,
		ReadTimeout:       lim.Read,
		WriteTimeout:      lim.Write,
		IdleTimeout:       lim.Idle,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// newTLSConfig is the TLS configuration every listener starts from: TLS 1.2
// or 1.3 only; under TLS 1.2, only forward-secret ECDHE key exchange with an
// AEAD cipher (AES-GCM, ChaCha20-Poly1305), so no CBC mode (Lucky13-style
// padding oracles) and no static RSA key exchange; key exchange on X25519,
// P-256 or P-384, with the hybrid post-quantum groups preferred by clients
// that offer them. TLS 1.3 suites are all AEAD and not configurable.
func newTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{
			tls.X25519MLKEM768, tls.SecP256r1MLKEM768,
			tls.X25519, tls.CurveP256, tls.CurveP384,
		},
	}
}
