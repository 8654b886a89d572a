package validation

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/validation/validationtest"
)

const (
	testToken = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
	testThumb = "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
	// testKeyAuth is KeyAuthorization(testToken, testThumb).
	testKeyAuth = testToken + "." + testThumb
	// testDNS01 is base64url(SHA-256(testKeyAuth)), computed independently.
	testDNS01 = "LPsIwTo7o8BoG0-vjCyGQGBWSVIPxI-i_X336eUOQZo"
)

// loopback are the networks the tests allow validation to reach.
func loopback() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// testCtx bounds a test's network work.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newDNSServer(t *testing.T) *validationtest.DNSServer {
	t.Helper()
	s, err := validationtest.NewDNSServer()
	if err != nil {
		t.Fatalf("NewDNSServer: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("DNSServer.Close: %v", err)
		}
	})
	return s
}

// newValidator builds a Validator from cfg plus what tests share: dnsAddr
// as resolver (unless cfg.Resolvers is set), loopback added to the allowed
// networks when allowLoopback, a 5s timeout unless set, a silent logger.
func newValidator(t *testing.T, dnsAddr string, allowLoopback bool, cfg Config) *Validator {
	t.Helper()
	if cfg.Resolvers == nil {
		cfg.Resolvers = []string{dnsAddr}
	}
	if allowLoopback {
		cfg.AllowedNetworks = append(cfg.AllowedNetworks, loopback()...)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

// checkErr asserts err: nil when kind is "", else an *Error of that kind
// whose Detail contains every string of want.
func checkErr(t *testing.T, err error, kind Kind, want ...string) {
	t.Helper()
	if kind == "" {
		if err != nil {
			t.Fatalf("Validate: %v, want success", err)
		}
		return
	}
	var ve *Error
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v (%T), want *Error of kind %s", err, err, kind)
	}
	t.Logf("%s: %s", ve.Kind, ve.Detail)
	if ve.Kind != kind {
		t.Errorf("Kind = %s, want %s (detail: %s)", ve.Kind, kind, ve.Detail)
	}
	for _, w := range want {
		if !strings.Contains(ve.Detail, w) {
			t.Errorf("Detail %q does not mention %q", ve.Detail, w)
		}
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// silentUDP returns the address of a UDP socket that never answers.
func silentUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
