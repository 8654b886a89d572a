package validation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestKeyAuthorization(t *testing.T) {
	if got := KeyAuthorization(testToken, testThumb); got != testKeyAuth {
		t.Errorf("KeyAuthorization = %q, want %q", got, testKeyAuth)
	}
	if got := DNS01Value(testKeyAuth); got != testDNS01 {
		t.Errorf("DNS01Value = %q, want %q", got, testDNS01)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		err  string
	}{
		{name: "explicit", cfg: Config{Resolvers: []string{"127.0.0.1:53"}, HTTPPort: 8080, TLSALPNPort: 8443, Timeout: time.Second}},
		{name: "bad resolver", cfg: Config{Resolvers: []string{"localhost"}}, err: "not an \"ip:port\""},
		{name: "bad HTTP port", cfg: Config{Resolvers: []string{"127.0.0.1"}, HTTPPort: 70000}, err: "HTTPPort 70000 out of range"},
		{name: "bad TLS-ALPN port", cfg: Config{Resolvers: []string{"127.0.0.1"}, TLSALPNPort: -1}, err: "TLSALPNPort -1 out of range"},
		{name: "negative timeout", cfg: Config{Resolvers: []string{"127.0.0.1"}, Timeout: -time.Second}, err: "negative"},
		{name: "bad allowed network", cfg: Config{Resolvers: []string{"127.0.0.1"}, AllowedNetworks: []netip.Prefix{{}}}, err: "not a valid prefix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := New(tc.cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("New = %v, want error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.httpPort != 8080 || v.tlsALPNPort != 8443 || v.timeout != time.Second {
				t.Errorf("ports, timeout = %d, %d, %v", v.httpPort, v.tlsALPNPort, v.timeout)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		v, err := New(Config{Resolvers: []string{"127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		if v.httpPort != 80 || v.httpsPort != 443 || v.tlsALPNPort != 443 || v.timeout != 10*time.Second || v.log == nil {
			t.Errorf("defaults: http %d https %d tls-alpn %d timeout %v", v.httpPort, v.httpsPort, v.tlsALPNPort, v.timeout)
		}
		if got := v.Resolver().timeout; got != 5*time.Second {
			t.Errorf("query timeout %v, want 5s", got)
		}
	})
}

// TestValidateCanceled checks an abandoned attempt is told apart from a
// failed one.
func TestValidateCanceled(t *testing.T) {
	dnsSrv := newDNSServer(t)
	dnsSrv.SetA("example.test", mustAddr("127.0.0.1"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	v := newValidator(t, dnsSrv.Addr(), true, Config{HTTPPort: serverPort(t, srv)})
	ctx, cancel := context.WithCancel(testCtx(t))
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := v.Validate(ctx, Request{ChallengeType: ChallengeHTTP01, IdentifierType: IdentifierDNS, Identifier: "example.test",
		Token: testToken, KeyAuthorization: testKeyAuth})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Validate = %v, want an *Error wrapping context.Canceled", err)
	}
	checkErr(t, err, KindConnection, "abandoned")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Validate returned %v after the cancel", d)
	}
}

// TestValidateConcurrent runs validations of every method at once against
// one Validator (run with -race).
func TestValidateConcurrent(t *testing.T) {
	dnsSrv := newDNSServer(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Each name serves the key authorization of its own token.
		token := strings.TrimPrefix(r.URL.Path, "/.well-known/acme-challenge/")
		io.WriteString(w, KeyAuthorization(token, testThumb))
	}))
	defer srv.Close()
	v := newValidator(t, dnsSrv.Addr(), true, Config{HTTPPort: serverPort(t, srv)})
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		name := fmt.Sprintf("host%d.example.test", i)
		token := fmt.Sprintf("token%d", i)
		keyAuth := KeyAuthorization(token, testThumb)
		dnsSrv.SetA(name, mustAddr("127.0.0.1"))
		dnsSrv.SetTXT("_acme-challenge."+name, DNS01Value(keyAuth))
		for _, ct := range []string{ChallengeHTTP01, ChallengeDNS01} {
			wg.Go(func() {
				err := v.Validate(testCtx(t), Request{ChallengeType: ct, IdentifierType: IdentifierDNS,
					Identifier: name, Token: token, KeyAuthorization: keyAuth})
				if err != nil {
					errs <- fmt.Errorf("%s %s: %w", ct, name, err)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
