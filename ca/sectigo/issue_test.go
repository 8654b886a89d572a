package sectigo_test

import (
	"crypto"
	"encoding/json"
	"encoding/pem"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/sectigo"
	"github.com/acmegate/acmegate/ca/sectigo/sectigotest"
)

// TestIssueDelayedOverPolls: SCM answers "being processed", in each of the
// documented ways, for several polls, then the certificate is collected.
func TestIssueDelayedOverPolls(t *testing.T) {
	t.Parallel()
	for _, code := range []int{0, -1400, -183, -109} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			const pending = 3
			srv := sectigotest.Start(t, sectigotest.Config{Behavior: sectigotest.Behavior{PendingPolls: pending, PendingCode: code}})
			b := newBackend(t, srv, nil)
			req := issueRequest(t, "order-"+strconv.Itoa(-code), "www.example.com", "example.com")
			res := mustIssuePending(t, b, req)
			if res.RetryAfter != testPollInterval {
				t.Errorf("Issue RetryAfter = %s, want the poll interval %s", res.RetryAfter, testPollInterval)
			}
			for i := range pending {
				p, err := b.Poll(testContext(t), res.Ref)
				if err != nil {
					t.Fatalf("poll %d: %v", i+1, err)
				}
				if !p.Pending || p.Ref != res.Ref || p.RetryAfter != testPollInterval {
					t.Fatalf("poll %d = %+v, want pending on %s after %s", i+1, p, res.Ref, testPollInterval)
				}
			}
			done, err := b.Poll(testContext(t), res.Ref)
			if err != nil {
				t.Fatalf("final poll: %v", err)
			}
			if done.Pending || done.Ref != res.Ref {
				t.Fatalf("final poll = %+v, want the chain with Ref %s", done, res.Ref)
			}
			verifyChain(t, srv, done.Chain)
			leaf := done.Chain[0]
			if diff := cmp.Diff([]string{"www.example.com", "example.com"}, leaf.DNSNames); diff != "" {
				t.Errorf("leaf names (-want +got):\n%s", diff)
			}
			if leaf.Subject.CommonName != "www.example.com" {
				t.Errorf("leaf CN = %q, want the first DNS name", leaf.Subject.CommonName)
			}
			if !leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(req.CSR.PublicKey) {
				t.Error("the leaf does not certify the CSR's key")
			}
			if got := countRequests(srv, "POST", "/enroll"); got != 1 {
				t.Errorf("%d enrollments, want 1", got)
			}
		})
	}
}

// TestEnrollRequest checks what is sent: only documented fields, numbers as
// numbers, subjAltNames as a comma-separated string, the CSR as PEM, the
// order id in comments (upstream-apis.md §1.4).
func TestEnrollRequest(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{
		CustomFields: []sectigotest.CustomField{{ID: 54, Name: "costCenter", Mandatory: true}},
	})
	b := newBackend(t, srv, func(c *sectigo.Config) {
		c.CustomFields = []sectigo.CustomField{{Name: "costCenter", Value: "42"}}
	})
	req := ca.IssueRequest{
		OrderID: "ord-7",
		CSR:     newCSR(t, "api.example.com", "api.example.com"),
		// The first DNS name goes first; IP identifiers follow.
		Identifiers: []ca.Identifier{{Type: ca.IdentifierIP, Value: "192.0.2.7"}, {Type: ca.IdentifierDNS, Value: "api.example.com"}, {Type: ca.IdentifierDNS, Value: "api2.example.com"}},
		Profile:     "multi",
	}
	mustIssuePending(t, b, req)
	enr := srv.Enrollments()
	if len(enr) != 1 {
		t.Fatalf("%d enrollments, want 1", len(enr))
	}
	var fields map[string]any
	if err := json.Unmarshal(enr[0].Raw, &fields); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range fields {
			if !yield(k) {
				return
			}
		}
	})
	if diff := cmp.Diff([]string{"certType", "comments", "csr", "customFields", "orgId", "subjAltNames", "term"}, keys); diff != "" {
		t.Errorf("enroll fields (-want +got):\n%s", diff)
	}
	if fields["orgId"] != float64(sectigotest.DefaultOrgID) || fields["certType"] != float64(1019) || fields["term"] != float64(365) {
		t.Errorf("orgId, certType, term = %v, %v, %v; want numbers %d, 1019, 365", fields["orgId"], fields["certType"], fields["term"], sectigotest.DefaultOrgID)
	}
	if got, want := fields["subjAltNames"], "api.example.com,192.0.2.7,api2.example.com"; got != want {
		t.Errorf("subjAltNames = %v, want %q", got, want)
	}
	if !slices.Contains(strings.Fields(enr[0].Comments), "acmegate-order:ord-7") {
		t.Errorf("comments %q do not carry the order id", enr[0].Comments)
	}
	if block, _ := pem.Decode([]byte(enr[0].CSR)); block == nil || block.Type != "CERTIFICATE REQUEST" || string(block.Bytes) != string(req.CSR.Raw) {
		t.Errorf("csr is not the CSR in PEM: %q", enr[0].CSR)
	}
	if diff := cmp.Diff([]sectigotest.CustomFieldValue{{Name: "costCenter", Value: "42"}}, enr[0].CustomFields); diff != "" {
		t.Errorf("customFields (-want +got):\n%s", diff)
	}
	for _, r := range srv.Requests() {
		if got := r.Header.Get("customerUri"); got != sectigotest.DefaultCustomerURI {
			t.Errorf("%s %s: customerUri = %q", r.Method, r.Path, got)
		}
		if got := r.Header.Get("login"); got != sectigotest.DefaultLogin || !r.PasswordSent {
			t.Errorf("%s %s: login = %q, password sent = %v", r.Method, r.Path, got, r.PasswordSent)
		}
	}
}

// TestIssueApproval: a request that needs an SCM administrator's approval
// stays pending, with the long hint and without collect attempts, until it
// is approved.
func TestIssueApproval(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{})
	srv.SetBehavior("needs-approval.example.com", sectigotest.Behavior{RequireApproval: true, PendingPolls: 1})
	b := newBackend(t, srv, nil)
	res := mustIssuePending(t, b, issueRequest(t, "order-approval", "needs-approval.example.com"))
	for range 3 {
		p, err := b.Poll(testContext(t), res.Ref)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Pending || p.RetryAfter != testApprovalInterval {
			t.Fatalf("Poll before approval = %+v, want pending with RetryAfter %s", p, testApprovalInterval)
		}
	}
	if n := countRequests(srv, "GET", "/collect/"); n != 0 {
		t.Errorf("%d collects while awaiting approval, want 0", n)
	}
	id, _ := strconv.Atoi(res.Ref)
	if err := srv.Approve(id); err != nil {
		t.Fatal(err)
	}
	done, pending, err := pollUntilDone(t, b, res.Ref, 5)
	if err != nil {
		t.Fatalf("Poll after approval: %v", err)
	}
	if pending != 1 {
		t.Errorf("%d pending polls after approval, want 1", pending)
	}
	verifyChain(t, srv, done.Chain)
}

// TestIssueDeclined: a declined request makes a permanent error carrying
// SCM's reason, whether it is declined later or at once.
func TestIssueDeclined(t *testing.T) {
	t.Parallel()
	const reason = "Domain ownership could not be confirmed"
	tests := []struct {
		name    string
		behave  sectigotest.Behavior
		decline bool // decline through the fake after enrollment
	}{
		{"declined by an administrator", sectigotest.Behavior{RequireApproval: true}, true},
		{"declined while processing", sectigotest.Behavior{PendingPolls: 5}, true},
		{"declined at once", sectigotest.Behavior{Decline: reason}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := sectigotest.Start(t, sectigotest.Config{Behavior: tt.behave})
			b := newBackend(t, srv, nil)
			res := mustIssuePending(t, b, issueRequest(t, "order-decline", "declined.example.com"))
			if tt.decline {
				if _, err := b.Poll(testContext(t), res.Ref); err != nil {
					t.Fatalf("Poll before the decline: %v", err)
				}
				id, _ := strconv.Atoi(res.Ref)
				if err := srv.Decline(id, reason); err != nil {
					t.Fatal(err)
				}
			}
			_, err := b.Poll(testContext(t), res.Ref)
			e := caError(t, err, ca.Rejected)
			if !strings.Contains(e.Detail, reason) || !strings.Contains(e.Detail, "declined") {
				t.Errorf("Detail = %q, want the decline and its reason", e.Detail)
			}
			if !strings.Contains(e.Upstream, `"Declined"`) || !strings.Contains(e.Upstream, reason) {
				t.Errorf("Upstream = %q, want SCM's status and reason", e.Upstream)
			}
		})
	}
}

// TestIssueIdempotent: a retried Issue for the same order never enrolls
// twice, whatever happened to the first attempt.
func TestIssueIdempotent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// first runs the first attempt; it may fail.
		first func(t *testing.T, srv *sectigotest.Server, b *sectigo.Backend, req ca.IssueRequest) (ref string)
		// wantChain: the retry finds the certificate already issued.
		wantChain bool
	}{
		{
			name: "the reference was not stored",
			first: func(t *testing.T, _ *sectigotest.Server, b *sectigo.Backend, req ca.IssueRequest) string {
				return mustIssuePending(t, b, req).Ref
			},
		},
		{
			name: "the enroll answer was lost",
			first: func(t *testing.T, srv *sectigotest.Server, b *sectigo.Backend, req ca.IssueRequest) string {
				srv.CorruptNext("/enroll", 1)
				_, err := b.Issue(testContext(t), req)
				caError(t, err, ca.Unavailable)
				return strconv.Itoa(enrollmentsFor(srv, "order-1")[0].SSLID)
			},
		},
		{
			name: "the enroll answer was a 502 after SCM enrolled",
			first: func(t *testing.T, srv *sectigotest.Server, b *sectigo.Backend, req ca.IssueRequest) string {
				srv.InjectFault(sectigotest.Fault{Path: "/enroll", Handle: true, Status: 502, Body: "Bad Gateway"})
				_, err := b.Issue(testContext(t), req)
				caError(t, err, ca.Unavailable)
				return strconv.Itoa(enrollmentsFor(srv, "order-1")[0].SSLID)
			},
		},
		{
			name: "issued before the retry",
			first: func(t *testing.T, srv *sectigotest.Server, b *sectigo.Backend, req ca.IssueRequest) string {
				return mustIssuePending(t, b, req).Ref
			},
			wantChain: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pending := 2
			if tt.wantChain {
				pending = 0
			}
			srv := sectigotest.Start(t, sectigotest.Config{Behavior: sectigotest.Behavior{PendingPolls: pending}})
			b := newBackend(t, srv, nil)
			// Other certificates for the same name must not be mistaken for
			// this order's, including an order id that extends this one.
			mustIssuePending(t, b, issueRequest(t, "order-10", "www.example.com"))
			req := issueRequest(t, "order-1", "www.example.com")
			ref := tt.first(t, srv, b, req)

			res, err := b.Issue(testContext(t), req)
			if err != nil {
				t.Fatalf("retried Issue: %v", err)
			}
			if res.Ref != ref {
				t.Errorf("retried Issue Ref = %q, want the first attempt's %q", res.Ref, ref)
			}
			if tt.wantChain {
				verifyChain(t, srv, res.Chain)
			} else if !res.Pending {
				t.Errorf("retried Issue = %+v, want pending", res)
			}
			if n := len(enrollmentsFor(srv, "order-1")); n != 1 {
				t.Errorf("%d enrollments for the order, want exactly 1", n)
			}
			if n := len(srv.Enrollments()); n != 2 {
				t.Errorf("%d enrollments in all, want 2 (this order and order-10)", n)
			}
		})
	}
}

// TestIssueLookupFailureDoesNotEnroll: when SCM cannot say whether an
// earlier attempt enrolled, Issue must not enroll blindly.
func TestIssueLookupFailureDoesNotEnroll(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{})
	b := newBackend(t, srv, nil)
	srv.FailNext(1, 503) // the listing is Issue's first request
	_, err := b.Issue(testContext(t), issueRequest(t, "order-x", "www.example.com"))
	caError(t, err, ca.Unavailable)
	if n := len(srv.Enrollments()); n != 0 {
		t.Errorf("%d enrollments after a failed lookup, want 0", n)
	}
}

// TestIssueRefused covers requests refused before or by SCM.
func TestIssueRefused(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{
		Domains:      []string{"example.com"},
		CustomFields: []sectigotest.CustomField{{ID: 1, Name: "costCenter", Mandatory: true}},
	})
	good := func(c *sectigo.Config) { c.CustomFields = []sectigo.CustomField{{Name: "costCenter", Value: "1"}} }
	tests := []struct {
		name     string
		mod      func(*sectigo.Config)
		req      func(ca.IssueRequest) ca.IssueRequest
		detail   string // in Detail
		upstream string // in Upstream; "" when SCM is not asked
	}{
		{"unknown certificate type", func(c *sectigo.Config) { good(c); c.Profiles[0].CertTypeID = 9999 }, nil, "Certificate profile id is invalid", "code -39"},
		{"term not offered", func(c *sectigo.Config) { good(c); c.Profiles[0].Term = 100 }, nil, "Term is not valid", "code -36"},
		{"unknown organization", func(c *sectigo.Config) { good(c); c.OrgID = 5 }, nil, "Organization not found", "code -1023"},
		{"mandatory custom field missing", nil, nil, "costCenter", "code -62"},
		{"name not pre-validated", good, func(r ca.IssueRequest) ca.IssueRequest {
			r.Identifiers = dnsIDs("www.example.com", "www.example.org")
			return r
		}, "www.example.org", "code -737"},
		{"unknown profile", good, func(r ca.IssueRequest) ca.IssueRequest { r.Profile = "gold"; return r }, `no profile "gold"`, ""},
		{"no CSR", good, func(r ca.IssueRequest) ca.IssueRequest { r.CSR = nil; return r }, "no certificate signing request", ""},
		{"no order id", good, func(r ca.IssueRequest) ca.IssueRequest { r.OrderID = ""; return r }, "order id", ""},
		{"order id with a space", good, func(r ca.IssueRequest) ca.IssueRequest { r.OrderID = "a b"; return r }, "order id", ""},
		{"no identifiers", good, func(r ca.IssueRequest) ca.IssueRequest { r.Identifiers = nil; return r }, "no identifiers", ""},
		{"comma in a name", good, func(r ca.IssueRequest) ca.IssueRequest {
			r.Identifiers = dnsIDs("a.example.com,b.example.com")
			return r
		}, "cannot be sent", ""},
		{"notAfter before the term ends", good, func(r ca.IssueRequest) ca.IssueRequest {
			r.NotAfter = time.Now().Add(30 * 24 * time.Hour)
			return r
		}, "valid for 365 days", ""},
		{"notBefore in the future", good, func(r ca.IssueRequest) ca.IssueRequest {
			r.NotBefore = time.Now().Add(72 * time.Hour)
			return r
		}, "notBefore", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, srv, tt.mod)
			req := issueRequest(t, "refused-"+strconv.Itoa(i), "www.example.com")
			if tt.req != nil {
				req = tt.req(req)
			}
			before := countRequests(srv, "POST", "/enroll")
			_, err := b.Issue(testContext(t), req)
			e := caError(t, err, ca.Rejected)
			if !strings.Contains(e.Detail, tt.detail) {
				t.Errorf("Detail = %q, want it to contain %q", e.Detail, tt.detail)
			}
			if !strings.Contains(e.Upstream, tt.upstream) {
				t.Errorf("Upstream = %q, want it to contain %q", e.Upstream, tt.upstream)
			}
			asked := countRequests(srv, "POST", "/enroll") > before
			if asked != (tt.upstream != "") {
				t.Errorf("enroll sent = %v, want %v", asked, tt.upstream != "")
			}
		})
	}
}

// TestIssueAcceptsLongerNotAfter: a notAfter at or after the end of the
// term is honoured by the term.
func TestIssueAcceptsLongerNotAfter(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{})
	b := newBackend(t, srv, nil)
	req := issueRequest(t, "order-na", "www.example.com")
	req.NotAfter = time.Now().Add(400 * 24 * time.Hour)
	req.NotBefore = time.Now()
	mustIssuePending(t, b, req)
}

func TestProfiles(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{})
	b := newBackend(t, srv, nil)
	got, err := b.Profiles(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []ca.Profile{
		{Name: "ov", Description: "OV server certificate", Validity: 365 * 24 * time.Hour},
		{Name: "multi", Description: "OV multi-domain", Validity: 365 * 24 * time.Hour},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Profiles (-want +got):\n%s", diff)
	}
	if b.Name() != "sectigo" {
		t.Errorf("Name = %q", b.Name())
	}
	// Profile "" is the first.
	mustIssuePending(t, b, issueRequest(t, "order-default", "www.example.com"))
	if e := srv.Enrollments(); len(e) != 1 || e[0].CertType != sectigotest.DefaultCertTypeID {
		t.Errorf("default profile enrolled %+v, want cert type %d", e, sectigotest.DefaultCertTypeID)
	}
}
