package sectigo_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/sectigo"
	"github.com/acmegate/acmegate/ca/sectigo/sectigotest"
)

// TestRateLimitStorm: every 429 is temporary with SCM's Retry-After, nothing
// is enrolled while it lasts, and exactly one enrollment follows.
func TestRateLimitStorm(t *testing.T) {
	t.Parallel()
	const storm = 4
	srv := sectigotest.Start(t, sectigotest.Config{})
	b := newBackend(t, srv, nil)
	srv.RateLimit(storm, 42*time.Second)
	req := issueRequest(t, "order-429", "www.example.com")
	for i := range storm {
		_, err := b.Issue(testContext(t), req)
		e := caError(t, err, ca.Unavailable)
		if e.RetryAfter != 42*time.Second {
			t.Errorf("attempt %d: RetryAfter = %s, want 42s", i+1, e.RetryAfter)
		}
		if !strings.Contains(e.Detail, "rate-limiting") {
			t.Errorf("attempt %d: Detail = %q", i+1, e.Detail)
		}
	}
	if n := len(srv.Enrollments()); n != 0 {
		t.Fatalf("%d enrollments during the storm", n)
	}
	res := mustIssuePending(t, b, req)
	if _, err := b.Issue(testContext(t), req); err != nil {
		t.Fatalf("Issue after the storm: %v", err)
	}
	if n := len(enrollmentsFor(srv, "order-429")); n != 1 {
		t.Errorf("%d enrollments, want 1 (ref %s)", n, res.Ref)
	}
}

// TestUpstreamFailures: 5xx, -195, malformed answers and timeouts are
// temporary; none panics.
func TestUpstreamFailures(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name      string
		inject    func(srv *sectigotest.Server)
		detail    string
		upstream  string
		retry     time.Duration
		timeoutMs int
	}{
		{"503 page", func(s *sectigotest.Server) { s.FailNext(1, 503) }, "HTTP 503", "503 Service Unavailable", 0, 0},
		{"500 with Retry-After date", func(s *sectigotest.Server) {
			s.InjectFault(sectigotest.Fault{Status: 500, Header: http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, Body: "oops"})
		}, "HTTP 500", "HTTP 500: oops", 90 * time.Second, 0},
		{"CA not available", func(s *sectigotest.Server) {
			s.FailWithCode("/api/ssl/v1/", 1, 400, -195, "CA is not available now, please try again later")
		}, "not available", "code -195", 0, 0},
		{"corrupt details", func(s *sectigotest.Server) { s.CorruptNext("/api/ssl/v1/", 1) }, "cannot read", "", 0, 0},
		{"corrupt certificate", func(s *sectigotest.Server) { s.CorruptNext("/collect/", 1) }, "cannot be read", "", 0, 0},
		{"JSON where the certificate should be", func(s *sectigotest.Server) {
			s.InjectFault(sectigotest.Fault{Path: "/collect/", Status: 200, Body: `{"status":"ok"}`})
		}, "JSON instead of a certificate", "", 0, 0},
		{"slow answer", func(s *sectigotest.Server) { s.SlowDown(1, 2*time.Second) }, "did not answer in time", "", 0, 200},
		{"unknown 404", func(s *sectigotest.Server) {
			s.InjectFault(sectigotest.Fault{Status: 404, Body: "<html>Not Found</html>"})
		}, "unexpected HTTP 404", "Not Found", 0, 0},
		{"credentials refused", func(s *sectigotest.Server) {
			s.FailWithCode("", 1, 401, -16, "Unknown user")
		}, "credentials", "code -16", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sectigotest.Start(t, sectigotest.Config{})
			b := newBackend(t, srv, func(c *sectigo.Config) {
				c.Clock = func() time.Time { return now }
				if tt.timeoutMs > 0 {
					c.Timeout = time.Duration(tt.timeoutMs) * time.Millisecond
				}
			})
			res := mustIssuePending(t, b, issueRequest(t, "order-1", "www.example.com"))
			tt.inject(srv)
			_, err := b.Poll(testContext(t), res.Ref)
			e := caError(t, err, ca.Unavailable)
			if !strings.Contains(e.Detail, tt.detail) {
				t.Errorf("Detail = %q, want it to contain %q", e.Detail, tt.detail)
			}
			if !strings.Contains(e.Upstream, tt.upstream) {
				t.Errorf("Upstream = %q, want it to contain %q", e.Upstream, tt.upstream)
			}
			if e.RetryAfter != tt.retry {
				t.Errorf("RetryAfter = %s, want %s", e.RetryAfter, tt.retry)
			}
			// The fault was one request long: the next poll succeeds.
			done, _, err := pollUntilDone(t, b, res.Ref, 3)
			if err != nil {
				t.Fatalf("Poll after the fault: %v", err)
			}
			verifyChain(t, srv, done.Chain)
		})
	}
}

// TestPollRefusals: references SCM does not know, and certificates it
// revoked before they were collected.
func TestPollRefusals(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{})
	b := newBackend(t, srv, nil)
	for _, ref := range []string{"", "abc", "-4", "1.5"} {
		_, err := b.Poll(testContext(t), ref)
		caError(t, err, ca.Rejected)
	}
	_, err := b.Poll(testContext(t), "99999")
	e := caError(t, err, ca.Rejected)
	if !strings.Contains(e.Detail, "no certificate request 99999") || !strings.Contains(e.Upstream, "-124") {
		t.Errorf("unknown sslId: Detail %q, Upstream %q", e.Detail, e.Upstream)
	}

	res := mustIssuePending(t, b, issueRequest(t, "order-revoked", "www.example.com"))
	done, _, err := pollUntilDone(t, b, res.Ref, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Revoke(testContext(t), done.Chain[0], ca.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	_, err = b.Poll(testContext(t), res.Ref)
	e = caError(t, err, ca.Rejected)
	if !strings.Contains(e.Detail, "revoked") {
		t.Errorf("revoked: Detail %q", e.Detail)
	}
	id, _ := strconv.Atoi(res.Ref)
	if st, _ := srv.Status(id); st != "Revoked" {
		t.Errorf("fake status %q", st)
	}
}
