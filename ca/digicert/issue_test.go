package digicert_test

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/digicert"
	"github.com/acmegate/acmegate/ca/digicert/digicerttest"
)

func TestIssueImmediate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, digicerttest.Config{Mode: digicerttest.ModeImmediate}, nil)
	res, err := f.b.Issue(testContext(t), issueRequest(t, "order-immediate"))
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if res.Pending || res.Ref == "" {
		t.Fatalf("result = %+v, want a chain and a Ref", res)
	}
	checkChain(t, f.fake, res.Chain, "example.com", "www.example.com")

	orders := f.fake.OrdersWithComment(digicert.OrderComment("order-immediate"))
	if len(orders) != 1 {
		t.Fatalf("%d upstream orders carry the order id, want 1", len(orders))
	}
	o := orders[0]
	want := digicerttest.Order{Product: "ssl_basic", OrganizationID: digicerttest.DefaultOrganizationID,
		CommonName: "example.com", DNSNames: []string{"www.example.com"}, ValidityDays: 199}
	got := digicerttest.Order{Product: o.Product, OrganizationID: o.OrganizationID, CommonName: o.CommonName, DNSNames: o.DNSNames, ValidityDays: o.ValidityDays}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order sent (-want +got):\n%s", diff)
	}
	if !res.Chain[0].Equal(o.Leaf) {
		t.Error("the chain's leaf is not the certificate DigiCert issued")
	}
	for _, r := range f.fake.Requests() {
		if len(r.UnknownFields) > 0 {
			t.Errorf("%s %s sent undocumented fields %v", r.Method, r.Path, r.UnknownFields)
		}
		if !r.KeyPresent || r.ContentType != "application/json" {
			t.Errorf("%s %s: key present %v, Content-Type %q", r.Method, r.Path, r.KeyPresent, r.ContentType)
		}
	}
}

func TestIssueNamesProfilesValidity(t *testing.T) {
	t.Parallel()
	f := newFixture(t, digicerttest.Config{}, nil)
	now := time.Now()
	tests := []struct {
		name        string
		ids         []ca.Identifier
		profile     string
		notAfter    time.Time
		wantProduct string
		wantCN      string
		wantOthers  []string
		wantDays    int
	}{
		{"default profile", dnsIDs("a.example.com"), "", time.Time{}, "ssl_basic", "a.example.com", nil, 199},
		{"named profile", dnsIDs("b.example.com", "c.example.com"), "private", time.Time{}, "private_ssl_plus", "b.example.com", []string{"c.example.com"}, 365},
		{"shorter notAfter", dnsIDs("d.example.com"), "ov", now.Add(90 * 24 * time.Hour), "ssl_basic", "d.example.com", nil, 90},
		{"IP first: common name is the first DNS name",
			[]ca.Identifier{{Type: ca.IdentifierIP, Value: "192.0.2.7"}, {Type: ca.IdentifierDNS, Value: "e.example.com"}},
			"private", time.Time{}, "private_ssl_plus", "e.example.com", []string{"192.0.2.7"}, 365},
		{"duplicates dropped", dnsIDs("f.example.com", "F.example.com", "*.f.example.com"), "", time.Time{}, "ssl_basic", "f.example.com", []string{"*.f.example.com"}, 199},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "names-" + tt.name
			res, err := f.b.Issue(testContext(t), ca.IssueRequest{OrderID: id, CSR: newCSR(t), Identifiers: tt.ids, Profile: tt.profile, NotAfter: tt.notAfter})
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			o := f.fake.OrdersWithComment(digicert.OrderComment(id))[0]
			got := []any{o.Product, o.CommonName, o.DNSNames, o.ValidityDays}
			want := []any{tt.wantProduct, tt.wantCN, tt.wantOthers, tt.wantDays}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			for _, ip := range res.Chain[0].IPAddresses {
				if !ip.Equal(net.ParseIP("192.0.2.7")) {
					t.Errorf("unexpected IP SAN %s", ip)
				}
			}
		})
	}
}

func TestIssueRefusesBeforeCallingDigiCert(t *testing.T) {
	t.Parallel()
	f := newFixture(t, digicerttest.Config{}, nil)
	now := time.Now()
	tests := []struct {
		name string
		req  ca.IssueRequest
		want string
	}{
		{"unknown profile", ca.IssueRequest{OrderID: "x", CSR: newCSR(t), Identifiers: dnsIDs("a.example"), Profile: "gold"}, `no profile "gold"`},
		{"no CSR", ca.IssueRequest{OrderID: "x", Identifiers: dnsIDs("a.example")}, "no certificate signing request"},
		{"no identifiers", ca.IssueRequest{OrderID: "x", CSR: newCSR(t)}, "no identifiers"},
		{"unsupported identifier", ca.IssueRequest{OrderID: "x", CSR: newCSR(t), Identifiers: []ca.Identifier{{Type: "email", Value: "a@b"}}}, `identifier type "email"`},
		{"no order id", ca.IssueRequest{CSR: newCSR(t), Identifiers: dnsIDs("a.example")}, "order id"},
		{"validity too long", ca.IssueRequest{OrderID: "x", CSR: newCSR(t), Identifiers: dnsIDs("a.example"), NotAfter: now.Add(400 * 24 * time.Hour)}, "exceeds"},
		{"notAfter passed", ca.IssueRequest{OrderID: "x", CSR: newCSR(t), Identifiers: dnsIDs("a.example"), NotAfter: now.Add(-time.Hour)}, "has passed"},
		{"future notBefore", ca.IssueRequest{OrderID: "x", CSR: newCSR(t), Identifiers: dnsIDs("a.example"), NotBefore: now.Add(48 * time.Hour)}, "starts in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.b.Issue(testContext(t), tt.req)
			e := wantKind(t, err, ca.Rejected)
			if !strings.Contains(e.Detail, tt.want) {
				t.Errorf("detail %q does not say %q", e.Detail, tt.want)
			}
		})
	}
	if n := len(f.fake.Requests()); n != 0 {
		t.Errorf("DigiCert received %d requests for refused orders", n)
	}
}

func TestIssueUpstreamRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(*digicerttest.Server)
		edit   func(*digicert.Config)
		want   ca.Kind
		detail string
	}{
		{"CAA forbids", func(s *digicerttest.Server) { s.FailCAA("www.example.com") }, nil, ca.Rejected, "CAA"},
		{"product unknown upstream", nil, func(c *digicert.Config) { c.Profiles = []digicert.ProfileMap{{Name: "x", Product: "ssl_gold"}} }, ca.Rejected, "no such product"},
		{"organization unknown", nil, func(c *digicert.Config) { c.OrgID = 999 }, ca.Rejected, "no such organization"},
		{"5xx on placement", func(s *digicerttest.Server) {
			s.FailNext(1, 500, digicerttest.Match{Method: "POST"})
		}, nil, ca.Unavailable, "HTTP 500"},
		{"5xx on lookup", func(s *digicerttest.Server) {
			s.FailNext(1, 502, digicerttest.Match{Method: "GET"})
		}, nil, ca.Unavailable, "HTTP 502"},
		{"bad key", nil, func(c *digicert.Config) { c.APIKey = "wrong-key" }, ca.Unavailable, "API key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, digicerttest.Config{}, tt.edit)
			if tt.setup != nil {
				tt.setup(f.fake)
			}
			_, err := f.b.Issue(testContext(t), issueRequest(t, "refused"))
			e := wantKind(t, err, tt.want)
			if !strings.Contains(e.Detail, tt.detail) {
				t.Errorf("detail %q does not say %q", e.Detail, tt.detail)
			}
		})
	}
}

func TestIssuePendingOverPolls(t *testing.T) {
	t.Parallel()
	f := newFixture(t, digicerttest.Config{Mode: digicerttest.ModePending, PendingPolls: 3}, nil)
	ctx := testContext(t)
	res, err := f.b.Issue(ctx, issueRequest(t, "order-pending"))
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if !res.Pending || res.Ref == "" || res.Chain != nil {
		t.Fatalf("Issue result = %+v, want Pending with a Ref", res)
	}
	for i := range 3 {
		r, err := f.b.Poll(ctx, res.Ref)
		if err != nil || !r.Pending || r.Chain != nil {
			t.Fatalf("poll %d = %+v, %v; want Pending", i+1, r, err)
		}
	}
	r, err := f.b.Poll(ctx, res.Ref)
	if err != nil {
		t.Fatalf("final poll: %v", err)
	}
	if r.Pending {
		t.Fatal("still pending after the fake's pending polls")
	}
	checkChain(t, f.fake, r.Chain, "example.com", "www.example.com")
	if !strings.HasPrefix(r.Ref, res.Ref+"/") {
		t.Errorf("issued Ref %q does not extend %q with the certificate id", r.Ref, res.Ref)
	}
	// A later poll of the same Ref gives the same certificate.
	again, err := f.b.Poll(ctx, r.Ref)
	if err != nil || !again.Chain[0].Equal(r.Chain[0]) {
		t.Errorf("re-poll = %v; same leaf: %v", err, err == nil && again.Chain[0].Equal(r.Chain[0]))
	}
}

func TestIssueApprovalAndRejection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		decide func(*digicerttest.Server, int) error
		reason string
	}{
		{"approved", func(s *digicerttest.Server, id int) error { return s.Approve(id) }, ""},
		{"rejected", func(s *digicerttest.Server, id int) error {
			return s.Reject(id, "Domain example.com is not allowed for this division")
		}, "Domain example.com is not allowed for this division"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, digicerttest.Config{Mode: digicerttest.ModeNeedsApproval}, nil)
			ctx := testContext(t)
			res, err := f.b.Issue(ctx, issueRequest(t, "order-approval"))
			if err != nil || !res.Pending {
				t.Fatalf("Issue = %+v, %v; want Pending", res, err)
			}
			if r, err := f.b.Poll(ctx, res.Ref); err != nil || !r.Pending {
				t.Fatalf("poll before the decision = %+v, %v; want Pending", r, err)
			}
			o := f.fake.OrdersWithComment(digicert.OrderComment("order-approval"))[0]
			if o.Status != digicerttest.StatusNeedsApproval {
				t.Fatalf("upstream status = %q, want needs_approval", o.Status)
			}
			if err := tt.decide(f.fake, o.ID); err != nil {
				t.Fatal(err)
			}
			r, err := f.b.Poll(ctx, res.Ref)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("poll after approval: %v", err)
				}
				checkChain(t, f.fake, r.Chain, "example.com", "www.example.com")
				return
			}
			e := wantKind(t, err, ca.Rejected)
			if !strings.Contains(e.Detail, tt.reason) || !strings.Contains(e.Upstream, tt.reason) {
				t.Errorf("error %q / upstream %q lacks the approver's reason", e.Detail, e.Upstream)
			}
		})
	}
}

func TestIssueIdempotent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mode digicerttest.Mode
		// first breaks the first attempt; it returns whether that
		// attempt must fail.
		first func(*digicerttest.Server) bool
	}{
		{"retry of a pending order", digicerttest.ModePending, func(*digicerttest.Server) bool { return false }},
		{"retry of an issued order", digicerttest.ModeImmediate, func(*digicerttest.Server) bool { return false }},
		{"answer to the placement lost (malformed)", digicerttest.ModePending, func(s *digicerttest.Server) bool {
			s.MalformNext(1, digicerttest.Match{Method: "POST"})
			return true
		}},
		{"placement answered too slowly", digicerttest.ModeImmediate, func(s *digicerttest.Server) bool {
			// A slow answer that the client gives up on: the fake has
			// placed the order before it stalls.
			s.SetDelay(3*time.Second, digicerttest.Match{Method: "POST"})
			return true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, digicerttest.Config{Mode: tt.mode}, func(c *digicert.Config) {
				cl := *c.HTTPClient
				cl.Timeout = time.Second
				c.HTTPClient = &cl
			})
			ctx := testContext(t)
			mustFail := tt.first(f.fake)
			first, err := f.b.Issue(ctx, issueRequest(t, "order-idem"))
			if mustFail {
				wantKind(t, err, ca.Unavailable)
				f.fake.SetDelay(0, digicerttest.Match{})
			} else if err != nil {
				t.Fatalf("first Issue: %v", err)
			}
			second, err := f.b.Issue(ctx, issueRequest(t, "order-idem"))
			if err != nil {
				t.Fatalf("second Issue: %v", err)
			}
			if n := len(f.fake.OrdersWithComment(digicert.OrderComment("order-idem"))); n != 1 {
				t.Fatalf("%d upstream orders for one acmegate order, want 1", n)
			}
			if !mustFail && first.Ref != second.Ref && !strings.HasPrefix(second.Ref, first.Ref+"/") {
				t.Errorf("Refs differ: %q then %q", first.Ref, second.Ref)
			}
			if !mustFail && first.Chain != nil && !first.Chain[0].Equal(second.Chain[0]) {
				t.Error("the retry returned another certificate")
			}
		})
	}
}

func TestIssueIdempotentConcurrent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, digicerttest.Config{Mode: digicerttest.ModePending, PendingPolls: 100}, nil)
	ctx := testContext(t)
	const n = 4
	refs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := f.b.Issue(ctx, issueRequest(t, "order-race"))
			refs[i], errs[i] = res.Ref, err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || refs[i] != refs[0] {
			t.Errorf("Issue %d = %q, %v; want %q", i, refs[i], errs[i], refs[0])
		}
	}
	if got := len(f.fake.Orders()); got != 1 {
		t.Errorf("%d upstream orders, want 1", got)
	}
	// Another acmegate order for the same names is another DigiCert order.
	if _, err := f.b.Issue(ctx, issueRequest(t, "order-race-2")); err != nil {
		t.Fatal(err)
	}
	if got := len(f.fake.Orders()); got != 2 {
		t.Errorf("%d upstream orders after a second acmegate order, want 2", got)
	}
}

func TestIssueIdempotencyWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t, digicerttest.Config{Mode: digicerttest.ModePending}, nil)
	ctx := testContext(t)
	if _, err := f.b.Issue(ctx, issueRequest(t, "order-old")); err != nil {
		t.Fatal(err)
	}
	// A backend whose clock is past the window no longer sees that order.
	later := newFixtureSharing(t, f, func(c *digicert.Config) {
		c.Clock = func() time.Time { return time.Now().Add(digicert.DefaultIdempotencyWindow + time.Hour) }
	})
	if _, err := later.Issue(ctx, issueRequest(t, "order-old")); err != nil {
		t.Fatal(err)
	}
	if n := len(f.fake.OrdersWithComment(digicert.OrderComment("order-old"))); n != 2 {
		t.Errorf("%d orders, want 2: the first is outside the idempotency window", n)
	}
}

// newFixtureSharing returns another backend for f's fake.
func newFixtureSharing(t *testing.T, f *fixture, edit func(*digicert.Config)) *digicert.Backend {
	t.Helper()
	cfg := digicert.Config{
		BaseURL: f.fake.URL(), APIKey: f.fake.APIKey(), OrgID: digicerttest.DefaultOrganizationID,
		Profiles:   []digicert.ProfileMap{{Name: "ov", Product: "ssl_basic"}},
		HTTPClient: f.fake.Client(),
	}
	edit(&cfg)
	b, err := digicert.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
