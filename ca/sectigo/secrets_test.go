package sectigo_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/sectigo"
	"github.com/acmegate/acmegate/ca/sectigo/sectigotest"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCredentialsNeverLeak drives every failure path, including an upstream
// that echoes the credentials back, and checks that neither the password
// nor the login appears in any error or log line.
func TestCredentialsNeverLeak(t *testing.T) {
	t.Parallel()
	const (
		login    = "api-login-7c1e"
		password = "S3cr3t-Pa55w0rd!"
		wrongPW  = "Wr0ng-Pa55w0rd?"
	)
	srv := sectigotest.Start(t, sectigotest.Config{Login: login, Password: password})
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	withCreds := func(pw string, mod func(*sectigo.Config)) *sectigo.Backend {
		return newBackend(t, srv, func(c *sectigo.Config) {
			c.Login, c.Password, c.Logger = login, pw, logger
			if mod != nil {
				mod(c)
			}
		})
	}
	b := withCreds(password, nil)
	echo := fmt.Sprintf("request headers: login=%s password=%s", login, password)

	var errs []error
	collect := func(err error) {
		if err == nil {
			t.Error("a failure scenario did not fail")
			return
		}
		errs = append(errs, err)
	}
	ctx := testContext(t)

	// Wrong credentials, through Check and Issue.
	bad := withCreds(wrongPW, nil)
	collect(bad.Check(ctx))
	_, err := bad.Issue(ctx, issueRequest(t, "leak-0", "www.example.com"))
	collect(err)

	// Upstream failures around an enrollment.
	res := mustIssuePending(t, b, issueRequest(t, "leak-1", "www.example.com"))
	failures := []func(){
		func() { srv.RateLimit(1, time.Second) },
		func() { srv.FailNext(1, 502) },
		func() { srv.CorruptNext("/api/ssl/v1/", 1) },
		func() { srv.FailWithCode("", 1, 400, -7, echo) },
		func() { srv.FailWithCode("", 1, 401, -16, echo) },
		func() { srv.InjectFault(sectigotest.Fault{Status: 500, Body: "<pre>" + echo + "</pre>"}) },
		func() { srv.InjectFault(sectigotest.Fault{Status: 200, Body: echo}) },
		func() {
			srv.InjectFault(sectigotest.Fault{Path: "/collect/", Status: 200, Body: "-----BEGIN CERTIFICATE-----\n" + echo})
		},
	}
	for _, inject := range failures {
		inject()
		_, err := b.Poll(ctx, res.Ref)
		collect(err)
	}
	srv.FailWithCode("", 1, 400, -7, echo)
	collect(b.Check(ctx))

	// A decline whose reason quotes the credentials.
	decl := mustIssuePending(t, b, issueRequest(t, "leak-2", "declined.example.com"))
	id, _ := strconv.Atoi(decl.Ref)
	if err := srv.Decline(id, echo); err != nil {
		t.Fatal(err)
	}
	_, err = b.Poll(ctx, decl.Ref)
	collect(err)

	// A timeout, and a refused enrollment and revocation.
	slow := withCreds(password, func(c *sectigo.Config) { c.Timeout = 100 * time.Millisecond })
	srv.SlowDown(1, time.Second)
	_, err = slow.Poll(ctx, res.Ref)
	collect(err)
	termless := withCreds(password, func(c *sectigo.Config) { c.Profiles[0].Term = 3 })
	_, err = termless.Issue(ctx, issueRequest(t, "leak-3", "www.example.com"))
	collect(err)
	done, _, err := pollUntilDone(t, b, res.Ref, 3)
	if err != nil {
		t.Fatal(err)
	}
	collect(b.Revoke(ctx, done.Chain[0], ca.ReasonCACompromise))
	srv.FailWithCode("/revoke/", 1, 400, -7, echo)
	collect(b.Revoke(ctx, done.Chain[0], ca.ReasonKeyCompromise))

	if len(errs) < 15 {
		t.Fatalf("only %d errors collected", len(errs))
	}
	redacted := 0
	for i, err := range errs {
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			for _, secret := range []string{password, wrongPW, login} {
				if strings.Contains(s, secret) {
					t.Errorf("error %d reveals %q: %s", i, secret, s)
				}
			}
		}
		if strings.Contains(err.Error(), "[redacted]") {
			redacted++
		}
	}
	if redacted == 0 {
		t.Error("no error showed the echoed text redacted; the echo scenarios did not reach the errors")
	}
	out := logs.String()
	if !strings.Contains(out, "sectigo request") {
		t.Fatal("nothing was logged; the log check would prove nothing")
	}
	for _, secret := range []string{password, wrongPW, login} {
		if strings.Contains(out, secret) {
			t.Errorf("the log reveals %q", secret)
		}
	}
}
