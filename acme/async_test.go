package acme_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/local"
)

// slowCA is an asynchronous backend: it accepts a submission, stays pending
// for a number of polls, then issues through a local CA, or refuses. It is
// idempotent on the order id, as upstream backends must be.
type slowCA struct {
	*local.CA
	pendingPolls int
	reject       string

	mu          sync.Mutex
	byOrder     map[string]string
	requests    map[string]ca.IssueRequest
	polls       map[string]int
	submissions int
}

func newSlowCA(t *testing.T, pendingPolls int, reject string) *slowCA {
	inner, err := local.New(context.Background(), local.Config{Dir: t.TempDir(), CommonName: "slow upstream"})
	if err != nil {
		t.Fatal(err)
	}
	return &slowCA{CA: inner, pendingPolls: pendingPolls, reject: reject,
		byOrder: map[string]string{}, requests: map[string]ca.IssueRequest{}, polls: map[string]int{}}
}

func (s *slowCA) Name() string      { return "slow" }
func (s *slowCA) Synchronous() bool { return false }

func (s *slowCA) Issue(_ context.Context, req ca.IssueRequest) (ca.IssueResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ref, ok := s.byOrder[req.OrderID]; ok {
		return ca.IssueResult{Pending: true, Ref: ref, RetryAfter: 100 * time.Millisecond}, nil
	}
	s.submissions++
	ref := fmt.Sprintf("upstream-%d", s.submissions)
	s.byOrder[req.OrderID], s.requests[ref] = ref, req
	return ca.IssueResult{Pending: true, Ref: ref, RetryAfter: 100 * time.Millisecond}, nil
}

func (s *slowCA) Poll(ctx context.Context, ref string) (ca.IssueResult, error) {
	s.mu.Lock()
	s.polls[ref]++
	n, req := s.polls[ref], s.requests[ref]
	s.mu.Unlock()
	if s.reject != "" {
		return ca.IssueResult{}, &ca.Error{Kind: ca.Rejected, Detail: s.reject, Upstream: "code 42: " + s.reject}
	}
	if n <= s.pendingPolls {
		return ca.IssueResult{Pending: true, Ref: ref, RetryAfter: 100 * time.Millisecond}, nil
	}
	res, err := s.CA.Issue(ctx, req)
	res.Ref = ref
	return res, err
}

func slowDirs() []acme.DirectoryDefinition {
	return []acme.DirectoryDefinition{{Name: "slow", Settings: acme.DirectorySettings{
		Profiles: []acme.ProfileSettings{{Name: "upstream", Backend: "slow", Product: "default"}},
	}}}
}

func TestAsyncBackendPendingOverSeveralPolls(t *testing.T) {
	upstream := newSlowCA(t, 3, "")
	e := newEnv(t, envOptions{dirs: slowDirs(), backends: []ca.Backend{upstream}})
	ctx := testCtx(t)
	c, err := e.dirClient(ctx, "slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.AuthorizeOrder(ctx, idsOf("async.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	e.solve(ctx, c, o, "http-01")
	der, _ := x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{"async.example.com"}), newECKey(t))
	chain, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, der, true)
	if err != nil {
		t.Fatalf("finalize through the async backend: %v", err)
	}
	leaf, _ := x509.ParseCertificate(chain[0])
	if leaf.Issuer.CommonName != upstream.Intermediate().Subject.CommonName {
		t.Errorf("issued by %q, want the upstream", leaf.Issuer.CommonName)
	}
	upstream.mu.Lock()
	subs, polls := upstream.submissions, upstream.polls["upstream-1"]
	upstream.mu.Unlock()
	if subs != 1 || polls != 4 {
		t.Errorf("%d submissions and %d polls, want 1 and 4", subs, polls)
	}
	id := o.URI[strings.LastIndex(o.URI, "/")+1:]
	ord, err := e.store.GetOrder(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ord.UpstreamRef != "upstream-1" {
		t.Errorf("order's upstream reference = %q", ord.UpstreamRef)
	}
	events, _ := e.store.ListOrderEvents(ctx, id, nil)
	var kinds []string
	for _, ev := range events {
		kinds = append(kinds, ev.Kind)
	}
	if !strings.Contains(strings.Join(kinds, ","), "submitted,issued") {
		t.Errorf("timeline %v lacks submitted then issued", kinds)
	}
}

func TestAsyncBackendRejection(t *testing.T) {
	upstream := newSlowCA(t, 0, "the domain failed the vendor's review")
	e := newEnv(t, envOptions{dirs: slowDirs(), backends: []ca.Backend{upstream}})
	ctx := testCtx(t)
	c, err := e.dirClient(ctx, "slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.AuthorizeOrder(ctx, idsOf("refused.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	e.solve(ctx, c, o, "http-01")
	der, _ := x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{"refused.example.com"}), newECKey(t))
	_, _, err = c.CreateOrderCert(ctx, o.FinalizeURL, der, true)
	if err == nil {
		t.Fatal("finalize through a refusing backend succeeded")
	}
	got, err := c.GetOrder(ctx, o.URI)
	if err != nil {
		t.Fatal(err)
	}
	var pe *xacme.Error
	if got.Status != xacme.StatusInvalid || !errors.As(got.Error, &pe) || pe.ProblemType != "urn:ietf:params:acme:error:unauthorized" || !strings.Contains(pe.Detail, "the domain failed the vendor's review") {
		t.Errorf("order = %s with error %v, want invalid, unauthorized, with the vendor's reason", got.Status, got.Error)
	}
	id := o.URI[strings.LastIndex(o.URI, "/")+1:]
	ord, err := e.store.GetOrder(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ord.Status != "invalid" || !strings.Contains(string(ord.Error), "the domain failed the vendor's review") || !strings.Contains(string(ord.Error), "unauthorized") {
		t.Errorf("order = %s with error %s, want invalid carrying the vendor's reason", ord.Status, ord.Error)
	}
}
