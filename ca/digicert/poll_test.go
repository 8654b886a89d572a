package digicert_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/digicert"
	"github.com/acmegate/acmegate/ca/digicert/digicerttest"
)

func TestPollChainOrder(t *testing.T) {
	t.Parallel()
	for _, rootFirst := range []bool{false, true} {
		name := map[bool]string{false: "bundle leaf first", true: "bundle root first"}[rootFirst]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, digicerttest.Config{Mode: digicerttest.ModePending, RootFirstBundles: rootFirst}, nil)
			ctx := testContext(t)
			res, err := f.b.Issue(ctx, issueRequest(t, "order-chain"))
			if err != nil {
				t.Fatal(err)
			}
			r, err := f.b.Poll(ctx, res.Ref)
			if err != nil {
				t.Fatal(err)
			}
			checkChain(t, f.fake, r.Chain, "example.com", "www.example.com")
			if !r.Chain[0].Equal(f.fake.OrdersWithComment(digicert.OrderComment("order-chain"))[0].Leaf) {
				t.Error("chain[0] is not the order's certificate")
			}
		})
	}
}

func TestPollErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ref    func(issued string) string
		setup  func(*digicerttest.Server)
		want   ca.Kind
		detail string
	}{
		{"not a reference", func(string) string { return "order-17" }, nil, ca.Rejected, "not a DigiCert order reference"},
		{"unknown order", func(string) string { return "1" }, nil, ca.Rejected, "no such order"},
		{"500", nil, func(s *digicerttest.Server) { s.FailNext(1, 500, digicerttest.Match{}) }, ca.Unavailable, "HTTP 500"},
		{"503", nil, func(s *digicerttest.Server) { s.FailNext(1, 503, digicerttest.Match{}) }, ca.Unavailable, "HTTP 503"},
		{"malformed order info", nil, func(s *digicerttest.Server) { s.MalformNext(1, digicerttest.Match{}) }, ca.Unavailable, "not the expected JSON"},
		{"malformed bundle", nil, func(s *digicerttest.Server) {
			s.MalformNext(1, digicerttest.Match{PathPrefix: "/certificate/"})
		}, ca.Unavailable, "unusable"},
		{"slow", nil, func(s *digicerttest.Server) { s.SetDelay(5*time.Second, digicerttest.Match{}) }, ca.Unavailable, "could not reach"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, digicerttest.Config{Mode: digicerttest.ModeImmediate}, nil)
			res, err := f.b.Issue(testContext(t), issueRequest(t, "order-poll"))
			if err != nil {
				t.Fatal(err)
			}
			ref := res.Ref
			if tt.ref != nil {
				ref = tt.ref(res.Ref)
			}
			if tt.setup != nil {
				tt.setup(f.fake)
			}
			ctx, cancel := context.WithTimeout(testContext(t), 500*time.Millisecond)
			defer cancel()
			_, err = f.b.Poll(ctx, ref)
			e := wantKind(t, err, tt.want)
			if !strings.Contains(e.Error(), tt.detail) {
				t.Errorf("error %q does not say %q", e.Error(), tt.detail)
			}
		})
	}
}

// TestMalformedAnswersNeverPanic truncates every answer of each operation
// in turn: each must fail cleanly.
func TestMalformedAnswersNeverPanic(t *testing.T) {
	t.Parallel()
	f := newFixture(t, digicerttest.Config{Mode: digicerttest.ModeImmediate}, nil)
	ctx := testContext(t)
	res, err := f.b.Issue(ctx, issueRequest(t, "order-malformed"))
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]func() error{
		"Issue": func() error { _, err := f.b.Issue(ctx, issueRequest(t, "order-malformed-2")); return err },
		"Poll":  func() error { _, err := f.b.Poll(ctx, res.Ref); return err },
		"Revoke": func() error {
			return f.b.Revoke(ctx, res.Chain[0], ca.ReasonSuperseded)
		},
		"ListProducts":      func() error { _, err := f.b.ListProducts(ctx); return err },
		"ListOrganizations": func() error { _, err := f.b.ListOrganizations(ctx); return err },
		"ListOrders":        func() error { _, err := f.b.ListOrders(ctx, digicert.OrderFilter{}); return err },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			f.fake.MalformNext(1, digicerttest.Match{})
			err := op()
			if err == nil {
				t.Fatal("a truncated answer was accepted")
			}
			wantKind(t, err, ca.Unavailable)
		})
	}
}
