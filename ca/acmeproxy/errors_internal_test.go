package acmeproxy

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/ca"
)

func TestClassify(t *testing.T) {
	problem := func(status int, typ string, h http.Header) error {
		return &acme.Error{StatusCode: status, ProblemType: problemPrefix + typ, Detail: "upstream says " + typ, Header: h}
	}
	tests := []struct {
		name     string
		err      error
		kind     ca.Kind
		retry    time.Duration
		upstream bool
	}{
		{name: "rejectedIdentifier", err: problem(400, "rejectedIdentifier", nil), kind: ca.Rejected, upstream: true},
		{name: "unauthorized", err: problem(403, "unauthorized", nil), kind: ca.Rejected, upstream: true},
		{name: "caa", err: problem(403, "caa", nil), kind: ca.Rejected, upstream: true},
		{name: "badCSR", err: problem(400, "badCSR", nil), kind: ca.Rejected, upstream: true},
		{name: "rateLimited", err: problem(429, "rateLimited", http.Header{"Retry-After": {"120"}}), kind: ca.Unavailable, retry: 2 * time.Minute, upstream: true},
		{name: "5xx", err: problem(503, "serverInternal", http.Header{"Retry-After": {"7"}}), kind: ca.Unavailable, retry: 7 * time.Second, upstream: true},
		{name: "alreadyRevoked", err: problem(400, "alreadyRevoked", nil), kind: ca.AlreadyRevoked, upstream: true},
		{name: "invalid order", err: &acme.OrderError{Status: "invalid", Problem: &acme.Error{ProblemType: problemPrefix + "caa", Detail: "CAA forbids"}}, kind: ca.Rejected, upstream: true},
		{name: "failed authorization", err: &acme.AuthorizationError{Identifier: "example.com", Errors: []error{errors.New("no TXT")}}, kind: ca.Rejected, upstream: true},
		{name: "timeout", err: context.DeadlineExceeded, kind: ca.Unavailable},
		{name: "network", err: errors.New("dial tcp: connection refused"), kind: ca.Unavailable},
		{name: "already classified", err: ca.Errorf(ca.Rejected, "no"), kind: ca.Rejected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := classify(tc.err, "testing")
			var ce *ca.Error
			if !errors.As(err, &ce) {
				t.Fatalf("classify = %T %v, want *ca.Error", err, err)
			}
			if ce.Kind != tc.kind || ce.RetryAfter != tc.retry || (ce.Upstream != "") != tc.upstream {
				t.Errorf("classify = kind %s retry %s upstream %q, want %s %s upstream=%v", ce.Kind, ce.RetryAfter, ce.Upstream, tc.kind, tc.retry, tc.upstream)
			}
		})
	}
}
