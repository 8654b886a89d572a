package validation

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// trickle is how often a slow responder sends its next byte.
const trickle = 50 * time.Millisecond

// slowResponder serves every connection on a fresh 127.0.0.1 port: it reads
// the request head, then lets respond have the connection. hungUp is closed
// once respond returned an error, which the responders here do only when the
// validator closed the connection.
func slowResponder(t *testing.T, respond func(c net.Conn) error) (port int, hungUp <-chan struct{}) {
	t.Helper()
	done := make(chan struct{})
	var once sync.Once
	port = serveConns(t, listen(t, "127.0.0.1:0"), func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		if err := respond(c); err != nil {
			once.Do(func() { close(done) })
		}
	})
	return port, done
}

// silence says nothing and returns when the peer hangs up (or the
// connection deadline of serveConns passes).
func silence(c net.Conn) error {
	if _, err := io.Copy(io.Discard, c); err != nil {
		return err
	}
	return io.EOF
}

// trickleForever writes head, then b once per trickle until a write fails.
func trickleForever(head, b string) func(net.Conn) error {
	return func(w net.Conn) error {
		if _, err := io.WriteString(w, head); err != nil {
			return err
		}
		for {
			time.Sleep(trickle)
			if _, err := io.WriteString(w, b); err != nil {
				return err
			}
		}
	}
}

// TestHTTP01SlowResponders checks a responder that never completes its
// answer holds the validation no longer than Config.Timeout: the attempt
// ends with a connection problem naming the limit, and the connection is
// closed.
func TestHTTP01SlowResponders(t *testing.T) {
	const timeout = 500 * time.Millisecond
	tests := []struct {
		name    string
		respond func(net.Conn) error
	}{
		{name: "status line one byte at a time", respond: trickleForever("H", "T")},
		{name: "headers never end", respond: trickleForever("HTTP/1.1 200 OK\r\nX-Slow: ", "a")},
		{name: "body one byte at a time", respond: trickleForever("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", "x")},
		{name: "chunked body never ends", respond: trickleForever("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "1\r\n \r\n")},
		{name: "100 Continue forever", respond: trickleForever("", "HTTP/1.1 100 Continue\r\n\r\n")},
		{name: "silence", respond: silence},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			port, hungUp := slowResponder(t, tc.respond)
			v := newValidator(t, "127.0.0.1:53", true, Config{HTTPPort: port, Timeout: timeout})
			err := validateWithin(t, v, 5*timeout, Request{ChallengeType: ChallengeHTTP01, IdentifierType: IdentifierIP,
				Identifier: "127.0.0.1", Token: testToken, KeyAuthorization: testKeyAuth})
			checkErr(t, err, KindConnection, "timed out (limit 500ms)", "127.0.0.1:")
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Validate = %v, want it to unwrap to context.DeadlineExceeded", err)
			}
			waitHungUp(t, hungUp)
		})
	}
}

// TestHTTP01EndlessBody checks a responder streaming without end is cut off
// at the body limit, long before the timeout.
func TestHTTP01EndlessBody(t *testing.T) {
	port, hungUp := slowResponder(t, func(w net.Conn) error {
		if _, err := io.WriteString(w, "HTTP/1.1 200 OK\r\n\r\n"); err != nil {
			return err
		}
		chunk := []byte(testKeyAuth + strings.Repeat(" x", 1000))
		for {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
	})
	v := newValidator(t, "127.0.0.1:53", true, Config{HTTPPort: port, Timeout: 10 * time.Second})
	err := validateWithin(t, v, 5*time.Second, Request{ChallengeType: ChallengeHTTP01, IdentifierType: IdentifierIP,
		Identifier: "127.0.0.1", Token: testToken, KeyAuthorization: testKeyAuth})
	checkErr(t, err, KindIncorrectResponse, fmt.Sprintf("more than %d bytes", maxHTTPBody))
	waitHungUp(t, hungUp)
}

// waitHungUp waits (boundedly) for the responder to see the validator close
// the connection: no socket outlives the attempt.
func waitHungUp(t *testing.T, hungUp <-chan struct{}) {
	t.Helper()
	select {
	case <-hungUp:
	case <-time.After(4 * time.Second): // before serveConns' 5s connection deadline
		t.Error("the validator did not close the connection")
	}
}

// TestHTTP01HugeHeader checks the response header is capped.
func TestHTTP01HugeHeader(t *testing.T) {
	port, _ := slowResponder(t, func(w net.Conn) error {
		_, err := io.WriteString(w, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", 2*maxHTTPHeader)+"\r\n\r\n"+testKeyAuth)
		return err
	})
	v := newValidator(t, "127.0.0.1:53", true, Config{HTTPPort: port})
	err := validateWithin(t, v, 5*time.Second, Request{ChallengeType: ChallengeHTTP01, IdentifierType: IdentifierIP,
		Identifier: "127.0.0.1", Token: testToken, KeyAuthorization: testKeyAuth})
	checkErr(t, err, KindConnection, "response headers exceeded")
}

// TestTLSSlowResponders checks a TLS peer that accepts the connection and
// then says nothing, or trickles, holds neither tls-alpn-01 nor an http-01
// redirect to https beyond Config.Timeout.
func TestTLSSlowResponders(t *testing.T) {
	const timeout = 500 * time.Millisecond
	silentTLS := func(c net.Conn) { _ = silence(c) }
	// A TLS record header, then its body one byte at a time.
	tricklingTLS := func(c net.Conn) {
		_, _ = c.Write([]byte{0x16, 0x03, 0x03, 0x40, 0x00})
		for {
			time.Sleep(trickle)
			if _, err := c.Write([]byte{0}); err != nil {
				return
			}
		}
	}
	for name, handle := range map[string]func(net.Conn){"silent": silentTLS, "trickling": tricklingTLS} {
		t.Run("tls-alpn-01 "+name, func(t *testing.T) {
			t.Parallel()
			port := serveConns(t, listen(t, "127.0.0.1:0"), handle)
			v := newValidator(t, "127.0.0.1:53", true, Config{TLSALPNPort: port, Timeout: timeout})
			err := validateWithin(t, v, 5*timeout, Request{ChallengeType: ChallengeTLSALPN01, IdentifierType: IdentifierIP,
				Identifier: "127.0.0.1", Token: testToken, KeyAuthorization: testKeyAuth})
			checkErr(t, err, KindConnection, "TLS handshake with 127.0.0.1:", "timed out (limit 500ms)")
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Validate = %v, want it to unwrap to context.DeadlineExceeded", err)
			}
		})
		t.Run("http-01 redirect to https "+name, func(t *testing.T) {
			t.Parallel()
			httpsPort := serveConns(t, listen(t, "127.0.0.1:0"), handle)
			httpPort, _ := slowResponder(t, func(w net.Conn) error {
				_, err := fmt.Fprintf(w, "HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1:%d/x\r\nContent-Length: 0\r\n\r\n", httpsPort)
				return err
			})
			v := newValidator(t, "127.0.0.1:53", true, Config{HTTPPort: httpPort, Timeout: timeout})
			v.httpsPort = httpsPort
			err := validateWithin(t, v, 5*timeout, Request{ChallengeType: ChallengeHTTP01, IdentifierType: IdentifierIP,
				Identifier: "127.0.0.1", Token: testToken, KeyAuthorization: testKeyAuth})
			checkErr(t, err, KindConnection, fmt.Sprintf("https://127.0.0.1:%d/x", httpsPort), "timed out (limit 500ms)")
		})
	}
}

// validateWithin runs v.Validate(r) and fails the test if it has not
// returned within limit: a generous bound on "the attempt ends at
// Config.Timeout", so a worker is never held by a slow peer.
func validateWithin(t *testing.T, v *Validator, limit time.Duration, r Request) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- v.Validate(testCtx(t), r) }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("Validate still running after %v with Timeout %v", limit, v.timeout)
		return nil
	}
}
