package acme_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/local"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/sqlite"
)

// Validation within the challenge request, finalization in one step and
// the batched "downloaded" events: the hot path's three transitions and
// the ways off it.

// challengeResponse is a challenge object as the server sends it.
type challengeResponse struct {
	Status    string `json:"status"`
	Validated string `json:"validated"`
	Error     *struct {
		Type string `json:"type"`
	} `json:"error"`
}

// answer POSTs {} to the challenge at u, as a client answering it does.
func (r *rawClient) answer(u string) (challengeResponse, *rawResponse) {
	r.e.t.Helper()
	resp := r.post(u, r.jws(r.header(u), []byte(`{}`)))
	var ch challengeResponse
	if resp.status != http.StatusOK {
		r.e.t.Fatalf("challenge POST: %d %s", resp.status, resp.body)
	}
	if err := json.Unmarshal(resp.body, &ch); err != nil {
		r.e.t.Fatalf("challenge response %s: %v", resp.body, err)
	}
	return ch, resp
}

// rawFor is a raw client speaking for c's account.
func (e *env) rawFor(ctx context.Context, c *xacme.Client) *rawClient {
	e.t.Helper()
	acct, err := c.GetReg(ctx, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return &rawClient{e: e, key: c.Key.(*ecdsa.PrivateKey), kid: acct.URI}
}

// authzEvents lists the timeline events of authorization z.
func (e *env) authzEvents(ctx context.Context, z *xacme.Authorization, kind string) []*storage.OrderEvent {
	e.t.Helper()
	all, err := e.store.ListOrderEvents(ctx, "", []string{lastSegment(z.URI)})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*storage.OrderEvent
	for _, ev := range all {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// TestChallengeSettledWithinRequest: a validation that finishes in time is
// recorded by the client's POST itself, which answers valid (or invalid
// for a failure no retry mends) without Retry-After; no job is created,
// and the event and audit entry carry the request's id and client address.
func TestChallengeSettledWithinRequest(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	raw := e.rawFor(ctx, c)

	_, z, ch := e.orderChallenge(ctx, c, "inline.example.com", "http-01")
	e.provision(c, z.Identifier, false, ch)
	got, resp := raw.answer(ch.URI)
	if got.Status != "valid" || got.Validated == "" || resp.header.Get("Retry-After") != "" {
		t.Fatalf("answered challenge: %s Retry-After %q, want valid without Retry-After", resp.body, resp.header.Get("Retry-After"))
	}
	if n := e.countRows()["jobs"]; n != 0 {
		t.Errorf("%d jobs after a validation within the request, want none", n)
	}
	evs := e.authzEvents(ctx, z, acme.EventValidated)
	if len(evs) != 1 || evs[0].RequestID != resp.header.Get(acme.RequestIDHeader) {
		t.Errorf("validated events %+v, want one with the request id %q", evs, resp.header.Get(acme.RequestIDHeader))
	}
	trail := e.auditTrail(ctx, storage.AuditFilter{Action: acme.AuditChallengeValidate})
	if len(trail) != 1 || trail[0].ClientIP != "127.0.0.1" || trail[0].Outcome != storage.OutcomeSuccess || trail[0].Object != "challenge:"+lastSegment(ch.URI) {
		t.Errorf("challenge.validate entries %v, want one success from 127.0.0.1", details(trail))
	}
	if z, err := c.GetAuthorization(ctx, z.URI); err != nil || z.Status != xacme.StatusValid {
		t.Errorf("authorization %+v %v, want valid", z, err)
	}

	// The wrong key authorization is a definite failure: invalid at once.
	_, z, ch = e.orderChallenge(ctx, c, "wrong.example.com", "http-01")
	e.dns.SetA("wrong.example.com", netip.MustParseAddr("127.0.0.1"))
	e.http01.set(ch.Token, "not-the-key-authorization")
	got, resp = raw.answer(ch.URI)
	if got.Status != "invalid" || got.Error == nil || resp.header.Get("Retry-After") != "" {
		t.Fatalf("wrongly answered challenge: %s, want invalid with its problem", resp.body)
	}
	if n := e.countRows()["jobs"]; n != 0 {
		t.Errorf("%d jobs after a failed validation within the request, want none", n)
	}
	if evs := e.authzEvents(ctx, z, acme.EventValidationFailed); len(evs) != 1 {
		t.Errorf("validation-failed events %+v, want one", evs)
	}
}

// TestChallengeTransientFailureBecomesAJob: a transient failure within the
// request (the name does not resolve yet) leaves the challenge processing
// with a job that retries within the retry window; once the name
// resolves, the job's attempt makes it valid and records it, without a
// client address.
func TestChallengeTransientFailureBecomesAJob(t *testing.T) {
	e := newEnv(t, envOptions{retryWindow: 20 * time.Second})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	raw := e.rawFor(ctx, c)
	_, z, ch := e.orderChallenge(ctx, c, "later.example.com", "http-01")
	ka, err := c.HTTP01ChallengeResponse(ch.Token)
	if err != nil {
		t.Fatal(err)
	}
	e.http01.set(ch.Token, ka) // but no address for the name yet
	got, resp := raw.answer(ch.URI)
	if got.Status != "processing" || resp.header.Get("Retry-After") == "" {
		t.Fatalf("challenge after a transient failure: %s Retry-After %q, want processing with Retry-After", resp.body, resp.header.Get("Retry-After"))
	}
	e.dns.SetA("later.example.com", netip.MustParseAddr("127.0.0.1"))
	if z, err := c.WaitAuthorization(ctx, z.URI); err != nil || z.Status != xacme.StatusValid {
		t.Fatalf("authorization %+v %v, want valid after the retry", z, err)
	}
	trail := e.auditTrail(ctx, storage.AuditFilter{Action: acme.AuditChallengeValidate})
	if len(trail) != 1 || trail[0].Outcome != storage.OutcomeSuccess || trail[0].ClientIP != "" {
		t.Errorf("challenge.validate entries %v, want one success, by the job (no client address)", details(trail))
	}
	if evs := e.authzEvents(ctx, z, acme.EventValidated); len(evs) != 1 || evs[0].RequestID != "" {
		t.Errorf("validated events %+v, want one, by the job", evs)
	}
	waitNoJobs(t, e)
}

// TestChallengeOutOfTimeBecomesAJob: a validation slower than
// ProcessingHold is not cut short into a failure; the job validates again
// at once, with the whole ValidationTimeout.
func TestChallengeOutOfTimeBecomesAJob(t *testing.T) {
	e := newEnv(t, envOptions{processingHold: 300 * time.Millisecond})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	raw := e.rawFor(ctx, c)
	_, z, ch := e.orderChallenge(ctx, c, "slow.example.com", "http-01")
	e.provision(c, z.Identifier, false, ch)
	e.http01.mu.Lock()
	e.http01.delay = 700 * time.Millisecond
	e.http01.mu.Unlock()
	// Processing, not valid: the request did not wait for the attempt to
	// finish (nor record a failure for it).
	got, resp := raw.answer(ch.URI)
	if got.Status != "processing" || resp.header.Get("Retry-After") == "" {
		t.Fatalf("challenge after the time ran out: %s, want processing with Retry-After", resp.body)
	}
	if z, err := c.WaitAuthorization(ctx, z.URI); err != nil || z.Status != xacme.StatusValid {
		t.Fatalf("authorization %+v %v, want valid by the job", z, err)
	}
	waitNoJobs(t, e)
}

// TestChallengeAnsweredTwiceAtOnce: two POSTs racing on one challenge both
// validate; one FinishChallenge records the outcome and the other, refused,
// answers with the stored state. One event and one audit entry result.
func TestChallengeAnsweredTwiceAtOnce(t *testing.T) {
	var cs *countingStore
	e := newEnv(t, envOptions{open: func() storage.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "acmegate.db"))
		if err != nil {
			t.Fatal(err)
		}
		cs = &countingStore{Store: st, calls: map[string]int{}}
		return cs
	}})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	raw := e.rawFor(ctx, c)
	_, z, ch := e.orderChallenge(ctx, c, "twice.example.com", "http-01")
	e.provision(c, z.Identifier, false, ch)
	// Both requests are inside their validation at the same time.
	e.http01.mu.Lock()
	e.http01.delay = 500 * time.Millisecond
	e.http01.mu.Unlock()
	bodies := [2][]byte{raw.jws(raw.header(ch.URI), []byte(`{}`)), raw.jws(raw.header(ch.URI), []byte(`{}`))}
	cs.snapshot()
	var wg sync.WaitGroup
	var got [2]challengeResponse
	for i := range 2 {
		wg.Go(func() {
			resp := raw.post(ch.URI, bodies[i])
			if resp.status != http.StatusOK || json.Unmarshal(resp.body, &got[i]) != nil {
				t.Errorf("challenge POST %d: %d %s", i, resp.status, resp.body)
			}
		})
	}
	wg.Wait()
	for i, g := range got {
		if g.Status != "valid" {
			t.Errorf("POST %d answered %q, want valid (its own outcome or the stored one)", i, g.Status)
		}
	}
	if n := cs.snapshot()["FinishChallenge"]; n != 2 {
		t.Errorf("%d FinishChallenge calls, want 2 (both requests validated)", n)
	}
	if trail := e.auditTrail(ctx, storage.AuditFilter{Action: acme.AuditChallengeValidate}); len(trail) != 1 {
		t.Errorf("challenge.validate entries %v, want one", details(trail))
	}
	if evs := e.authzEvents(ctx, z, acme.EventValidated); len(evs) != 1 {
		t.Errorf("validated events %+v, want one", evs)
	}
}

// TestChallengeClientGoneMidValidation: a client that disconnects while its
// validation runs leaves the challenge pending with nothing recorded, no
// job and no audit entry; it answers the challenge again and succeeds.
func TestChallengeClientGoneMidValidation(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	raw := e.rawFor(ctx, c)
	_, z, ch := e.orderChallenge(ctx, c, "gone.example.com", "http-01")
	e.provision(c, z.Identifier, false, ch)
	e.http01.mu.Lock()
	e.http01.delay = time.Second
	e.http01.mu.Unlock()

	reqCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, ch.URI, strings.NewReader(string(raw.jws(raw.header(ch.URI), []byte(`{}`)))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/jose+json")
	// The client gives up after 200ms. Its transport may still hand it the
	// answer the server wrote on seeing it leave (net/http uses a
	// response racing the cancellation): that answer is the challenge as
	// it stands, pending.
	if resp, err := e.client.Do(req); err == nil {
		var got challengeResponse
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &got) != nil || got.Status != "pending" {
			t.Fatalf("the request ended with %d %s, want it abandoned or answered pending", resp.StatusCode, b)
		}
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("client: %v", err)
	}
	// The abandoned attempt ends once the responder answers (1s); after
	// that, nothing may have been recorded.
	time.Sleep(1500 * time.Millisecond)
	got, err := e.store.GetChallenge(ctx, lastSegment(ch.URI))
	if err != nil || got.Status != storage.StatusPending {
		t.Fatalf("challenge after the client left: %+v %v, want pending", got, err)
	}
	if n := e.countRows()["jobs"]; n != 0 {
		t.Errorf("%d jobs after the client left, want none", n)
	}
	if trail := e.auditTrail(ctx, storage.AuditFilter{Action: acme.AuditChallengeValidate}); len(trail) != 0 {
		t.Errorf("challenge.validate entries %v after the client left, want none", details(trail))
	}

	e.http01.mu.Lock()
	e.http01.delay = 0
	e.http01.mu.Unlock()
	if again, resp := raw.answer(ch.URI); again.Status != "valid" {
		t.Fatalf("answered again: %s, want valid", resp.body)
	}
}

// waitNoJobs waits until the job runner has completed every job.
func waitNoJobs(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.countRows()["jobs"] != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs left", e.countRows()["jobs"])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gatedCA is a synchronous backend (the local CA under another name) whose
// Issue can be made to fail, or to wait until several calls are in.
type gatedCA struct {
	*local.CA
	mu sync.Mutex
	// fail is returned by the next Issue calls, as many as failures.
	fail     error
	failures int
	// barrier, when set, holds every Issue until it is closed.
	barrier chan struct{}
	calls   int
}

func newGatedCA(t *testing.T) *gatedCA {
	inner, err := local.New(context.Background(), local.Config{Dir: t.TempDir(), CommonName: "gated"})
	if err != nil {
		t.Fatal(err)
	}
	return &gatedCA{CA: inner}
}

func (g *gatedCA) Name() string { return "gated" }

func (g *gatedCA) Issue(ctx context.Context, req ca.IssueRequest) (ca.IssueResult, error) {
	g.mu.Lock()
	g.calls++
	barrier := g.barrier
	var err error
	if g.failures > 0 {
		g.failures--
		err = g.fail
	}
	g.mu.Unlock()
	if barrier != nil {
		select {
		case <-barrier:
		case <-ctx.Done():
			return ca.IssueResult{}, ctx.Err()
		}
	}
	if err != nil {
		return ca.IssueResult{}, err
	}
	return g.CA.Issue(ctx, req)
}

func (g *gatedCA) callCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls
}

// gatedEnv is an environment whose directory "gated" issues through g.
func gatedEnv(t *testing.T, g *gatedCA) (*env, *xacme.Client, context.Context) {
	e := newEnv(t, envOptions{backends: []ca.Backend{g}, dirs: []acme.DirectoryDefinition{{Name: "gated", Settings: acme.DirectorySettings{
		Profiles: []acme.ProfileSettings{{Name: "gated", Backend: "gated", Product: local.DefaultProfile}},
	}}}})
	ctx := testCtx(t)
	c, err := e.dirClient(ctx, "gated", nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, c, ctx
}

// readyOrder orders name in c's directory and solves it.
func (e *env) readyOrder(ctx context.Context, c *xacme.Client, name string) *xacme.Order {
	e.t.Helper()
	o, err := c.AuthorizeOrder(ctx, idsOf(name))
	if err != nil {
		e.t.Fatal(err)
	}
	e.solve(ctx, c, o, "http-01")
	return o
}

// TestFinalizeTwiceAtOnce: two finalizations of one order racing with a
// synchronous CA both issue; one FinalizeOrder records its certificate and
// the other, refused, answers with the stored order. The loser's
// certificate is never stored nor sent.
func TestFinalizeTwiceAtOnce(t *testing.T) {
	g := newGatedCA(t)
	g.barrier = make(chan struct{})
	e, c, ctx := gatedEnv(t, g)
	o := e.readyOrder(ctx, c, "race.example.com")
	raw := e.rawFor(ctx, c)
	ro, _ := raw.get(o.URI)
	der, err := x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{"race.example.com"}), newECKey(t))
	if err != nil {
		t.Fatal(err)
	}
	bodies := [2][]byte{}
	for i := range bodies {
		bodies[i] = raw.jws(raw.header(ro.Finalize), []byte(`{"csr":"`+b64(der)+`"}`))
	}
	var wg sync.WaitGroup
	var got [2]rawOrder
	for i := range 2 {
		wg.Go(func() {
			resp := raw.post(ro.Finalize, bodies[i])
			if resp.status != http.StatusOK || json.Unmarshal(resp.body, &got[i]) != nil {
				t.Errorf("finalize %d: %d %s", i, resp.status, resp.body)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.callCount() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d Issue calls, want both finalizations inside Issue", g.callCount())
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(g.barrier)
	wg.Wait()
	for i, o := range got {
		if o.Status != "valid" || o.Certificate == "" || o.Certificate != got[0].Certificate {
			t.Errorf("finalize %d answered %+v, want the valid order with the one certificate", i, o)
		}
	}
	if n := e.countRows()["certificates"]; n != 1 {
		t.Errorf("%d certificates stored, want 1", n)
	}
	if trail := e.auditTrail(ctx, storage.AuditFilter{Action: acme.AuditCertificateIssue}); len(trail) != 1 {
		t.Errorf("certificate.issue entries %v, want one", details(trail))
	}
}

// TestFinalizeSynchronousFailureFallsBackToJob: when the synchronous CA
// fails, finalize answers processing and the issuance job retries; a
// refusal no retry mends makes the order invalid at once.
func TestFinalizeSynchronousFailureFallsBackToJob(t *testing.T) {
	g := newGatedCA(t)
	g.fail, g.failures = ca.Errorf(ca.Unavailable, "the HSM is busy"), 1
	e, c, ctx := gatedEnv(t, g)
	raw := e.rawFor(ctx, c)

	o := e.readyOrder(ctx, c, "retry.example.com")
	ro, _ := raw.get(o.URI)
	resp := raw.finalize(ro, "retry.example.com")
	var fin rawOrder
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &fin) != nil || fin.Status != "processing" || resp.header.Get("Retry-After") == "" {
		t.Fatalf("finalize while the CA fails: %d %s, want processing with Retry-After", resp.status, resp.body)
	}
	if done, err := c.WaitOrder(ctx, o.URI); err != nil || done.Status != xacme.StatusValid || done.CertURL == "" {
		t.Fatalf("order after the job's retry: %+v %v, want valid", done, err)
	}
	waitNoJobs(t, e)

	g.mu.Lock()
	g.fail, g.failures = ca.Errorf(ca.Rejected, "names of this kind are not issued"), 1
	g.mu.Unlock()
	o = e.readyOrder(ctx, c, "refused.example.com")
	ro, _ = raw.get(o.URI)
	resp = raw.finalize(ro, "refused.example.com")
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &fin) != nil || fin.Status != "invalid" {
		t.Fatalf("finalize refused by the CA: %d %s, want the invalid order", resp.status, resp.body)
	}
	waitNoJobs(t, e)
}

// TestDownloadEventsAreBatched: the "downloaded" event is not written by
// the download; Run appends it within a batch interval, and a shutdown
// appends what is still buffered.
func TestDownloadEventsAreBatched(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	downloads := func(orderID string) int {
		t.Helper()
		evs, err := e.store.ListOrderEvents(ctx, orderID, nil)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range evs {
			if ev.Kind == acme.EventDownloaded {
				n++
				if ev.At.IsZero() || !strings.HasPrefix(ev.Actor, "account:") || ev.RequestID == "" {
					t.Errorf("downloaded event %+v lacks its time, actor or request id", ev)
				}
			}
		}
		return n
	}
	orderOf := func(name string) string {
		t.Helper()
		leaf := e.issue(ctx, c, "http-01", newECKey(t), name)[0]
		cert, err := e.store.GetCertificateBySerial(ctx, leaf.SerialNumber.Text(16))
		if err != nil {
			t.Fatal(err)
		}
		return cert.OrderID
	}

	// Run appends it within a batch interval or so.
	id := orderOf("batched.example.com")
	deadline := time.Now().Add(5 * time.Second)
	for downloads(id) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the downloaded event was never appended")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A shutdown right after a download appends it.
	id = orderOf("shutdown.example.com")
	e.stopJobs()
	if n := downloads(id); n != 1 {
		t.Errorf("%d downloaded events after the shutdown, want 1", n)
	}
}
