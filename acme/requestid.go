package acme

import (
	"crypto/rand"
	"net"
	"net/http"
)

// Request ids tie together the log event of a request, the timeline events
// it caused and what a client or a proxy in front of the server reports. A
// proxy's id is kept so one id follows the request end to end; anything
// else is replaced, so a client cannot inject log-breaking text.

// RequestIDHeader carries the request id, in both directions.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an accepted incoming request id.
const maxRequestIDLen = 64

// requestID returns the request's incoming id when it is acceptable (1–64
// characters of [A-Za-z0-9._-]), else a fresh random one.
func requestID(r *http.Request) string {
	if id := r.Header.Get(RequestIDHeader); validRequestID(id) {
		return id
	}
	// 26 base32 characters: 130 bits, no I/O besides the random source.
	return rand.Text()
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// clientIP is the address of the request's peer. Forwarding headers are
// ignored on purpose: without a list of trusted proxies they are whatever
// the client wants the audit trail to say.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
