package digicert_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/digicert"
	"github.com/acmegate/acmegate/ca/digicert/digicerttest"
)

// TestAPIKeyNeverLeaks drives every failure path against a fake that
// quotes the X-DC-DEVKEY it received in its error messages, and checks
// that the key appears in no error string and no log line.
func TestAPIKeyNeverLeaks(t *testing.T) {
	t.Parallel()
	const wrongKey = "wrong-key-5f0e1d2c3b4a69788796a5b4c3d2e1f0"
	scenarios := []struct {
		name  string
		key   string // "" = the fake's key
		setup func(*digicerttest.Server)
	}{
		{"refused key", wrongKey, nil},
		{"5xx", "", func(s *digicerttest.Server) { s.FailNext(100, http.StatusInternalServerError, digicerttest.Match{}) }},
		{"429", "", func(s *digicerttest.Server) { s.FailNext(100, http.StatusTooManyRequests, digicerttest.Match{}) }},
		{"malformed", "", func(s *digicerttest.Server) { s.MalformNext(100, digicerttest.Match{}) }},
		{"slow", "", func(s *digicerttest.Server) { s.SetDelay(3*time.Second, digicerttest.Match{}) }},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			var key string
			f := newFixture(t, digicerttest.Config{Mode: digicerttest.ModeImmediate}, func(c *digicert.Config) {
				if sc.key != "" {
					c.APIKey = sc.key
				}
				key = c.APIKey
			})
			f.fake.EchoKeyInErrors(true)
			ctx := testContext(t)
			issued, err := f.b.Issue(ctx, issueRequest(t, "order-secret"))
			f.note(err)
			if sc.setup != nil {
				sc.setup(f.fake)
			}
			run := func(op func(context.Context) error) {
				ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				defer cancel()
				f.note(op(ctx))
			}
			run(func(ctx context.Context) error {
				_, err := f.b.Issue(ctx, issueRequest(t, "order-secret-2"))
				return err
			})
			run(func(ctx context.Context) error { _, err := f.b.Poll(ctx, "542779"); return err })
			if issued.Chain != nil {
				run(func(ctx context.Context) error { return f.b.Revoke(ctx, issued.Chain[0], ca.ReasonSuperseded) })
			}
			run(func(ctx context.Context) error { _, err := f.b.ListProducts(ctx); return err })
			run(func(ctx context.Context) error { _, err := f.b.ListOrders(ctx, digicert.OrderFilter{}); return err })
			run(f.b.Check)

			if len(f.errs) == 0 {
				t.Fatal("the scenario produced no error to inspect")
			}
			for _, err := range f.errs {
				if strings.Contains(err.Error(), key) {
					t.Errorf("error leaks the API key: %v", err)
				}
			}
			if logs := f.logs.String(); strings.Contains(logs, key) {
				t.Errorf("logs leak the API key:\n%s", logs)
			}
		})
	}
}

// TestFakeEchoesKey makes sure the leak test above can fail: the fake does
// put the key in its messages, so only the backend's redaction keeps it
// out.
func TestFakeEchoesKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, digicerttest.Config{}, func(c *digicert.Config) { c.APIKey = "echo-me-0123456789" })
	f.fake.EchoKeyInErrors(true)
	_, err := f.b.ListProducts(testContext(t))
	e := wantKind(t, err, ca.Unavailable)
	if !strings.Contains(e.Upstream, "[redacted]") {
		t.Errorf("upstream text %q shows no redaction of the echoed key", e.Upstream)
	}
}
