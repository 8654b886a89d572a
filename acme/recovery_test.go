package acme_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/storage"
)

// TestIssuanceJobFinishesAnInterruptedFinalize simulates a process killed
// right after finalize moved the order to processing: the order and its
// issue job are in storage, nobody issued. The job runner must finish the
// order, once.
func TestIssuanceJobFinishesAnInterruptedFinalize(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	o, err := c.AuthorizeOrder(ctx, idsOf("crash.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	e.solve(ctx, c, o, "http-01")
	der, err := x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{"crash.example.com"}), newECKey(t))
	if err != nil {
		t.Fatal(err)
	}
	orderID := o.URI[strings.LastIndex(o.URI, "/")+1:]
	now := time.Now().UTC()
	job := &storage.Job{ID: uuid.NewString(), Kind: storage.JobIssue, Ref: orderID, RunAt: now, Deadline: now.Add(time.Hour), CreatedAt: now}
	if err := e.store.BeginFinalize(ctx, orderID, []storage.Status{storage.StatusPending}, der, job, now, nil); err != nil {
		t.Fatalf("begin finalize: %v", err)
	}
	got, err := c.GetOrder(ctx, o.URI)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != xacme.StatusProcessing && got.Status != xacme.StatusValid {
		t.Fatalf("order status after the simulated crash = %q, want processing", got.Status)
	}
	got, err = c.WaitOrder(ctx, o.URI)
	if err != nil {
		t.Fatalf("the job did not finish the order: %v", err)
	}
	if got.Status != xacme.StatusValid || got.CertURL == "" {
		t.Fatalf("order = %+v, want valid with a certificate", got)
	}
	chain, err := c.FetchCert(ctx, got.CertURL, true)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	if leaf.DNSNames[0] != "crash.example.com" {
		t.Errorf("leaf names %v", leaf.DNSNames)
	}
	if n := e.countRows(); n["certificates"] != 1 || n["jobs"] != 0 {
		t.Errorf("rows after recovery = %v, want exactly one certificate and no job left", n)
	}
}

func TestAlternateChain(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	o, err := c.AuthorizeOrder(ctx, idsOf("alt.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	e.solve(ctx, c, o, "http-01")
	der, _ := x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{"alt.example.com"}), newECKey(t))
	_, certURL, err := c.CreateOrderCert(ctx, o.FinalizeURL, der, false)
	if err != nil {
		t.Fatal(err)
	}
	alts, err := c.ListCertAlternates(ctx, certURL)
	if err != nil {
		t.Fatal(err)
	}
	if len(alts) != 1 {
		t.Fatalf("alternates = %v, want one", alts)
	}
	chain, err := c.FetchCert(ctx, alts[0], true)
	if err != nil {
		t.Fatal(err)
	}
	last, err := x509.ParseCertificate(chain[len(chain)-1])
	if err != nil {
		t.Fatal(err)
	}
	if !last.Equal(e.ca.Root()) {
		t.Errorf("the alternate chain does not end with the root")
	}
	// The raw response is a PEM chain with the right content type and a
	// Link to the alternate.
	acct, err := c.GetReg(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	raw := &rawClient{e: e, key: c.Key.(*ecdsa.PrivateKey), kid: acct.URI}
	r := raw.post(certURL, raw.jws(raw.header(certURL), nil))
	if ct := r.header.Get("Content-Type"); r.status != 200 || ct != "application/pem-certificate-chain" {
		t.Errorf("certificate download: %d %q", r.status, ct)
	}
	if b, _ := pem.Decode(r.body); b == nil || b.Type != "CERTIFICATE" {
		t.Errorf("body is not a PEM chain: %.80s", r.body)
	}
	if !strings.Contains(strings.Join(r.header.Values("Link"), ","), `rel="alternate"`) {
		t.Errorf("no Link rel=alternate: %v", r.header.Values("Link"))
	}
}

// TestShutdownFinishesInFlightJobs stops the job runner while a validation
// is running: Run waits for it, the outcome is recorded, and no lease is
// left behind. Validation within the request is off (ProcessingHold
// negative), so the validation is the job's.
func TestShutdownFinishesInFlightJobs(t *testing.T) {
	e := newEnv(t, envOptions{processingHold: -1})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	_, z, ch := e.orderChallenge(ctx, c, "shutdown.example.com", "http-01")
	e.http01.mu.Lock()
	e.http01.delay = 700 * time.Millisecond
	e.http01.mu.Unlock()
	e.provision(c, z.Identifier, false, ch)
	go func() { _, _ = c.Accept(ctx, ch) }()
	// Wait until the validation is in flight (the job is leased).
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := c.GetChallenge(ctx, ch.URI)
		if err == nil && got.Status == xacme.StatusProcessing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the challenge never became processing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	e.stopJobs()
	got, err := c.GetChallenge(ctx, ch.URI)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != xacme.StatusValid {
		t.Errorf("challenge after shutdown = %q, want valid (the in-flight job finished)", got.Status)
	}
	if n := e.countRows()["jobs"]; n != 0 {
		t.Errorf("%d jobs left after a graceful shutdown", n)
	}
}

// TestJobOfDeadInstanceIsTakenOver: an instance leased a validation job
// and died without finishing it. Once the lease expires another instance
// takes the job over and the challenge ends valid. Validation within the
// request is off (ProcessingHold negative), so the challenge POST leaves
// the validation to a job.
func TestJobOfDeadInstanceIsTakenOver(t *testing.T) {
	e := newEnv(t, envOptions{processingHold: -1})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	_, z, ch := e.orderChallenge(ctx, c, "takeover.example.com", "http-01")
	e.provision(c, z.Identifier, false, ch)
	e.stopJobs() // this instance will not run the job
	if _, err := c.Accept(ctx, ch); err != nil {
		t.Fatal(err)
	}
	// The "dead" instance holds the job with a lease it will never renew.
	leased, err := e.store.LeaseJobs(ctx, "dead-instance", 10, time.Now().UTC(), 500*time.Millisecond)
	if err != nil || len(leased) != 1 {
		t.Fatalf("lease as the dead instance: %v %v", leased, err)
	}
	cfg := e.cfg
	cfg.InstanceID = "survivor"
	cfg.JobLease = time.Second
	survivor, err := acme.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = survivor.Run(runCtx)
	}()
	defer func() { stop(); <-done }()
	got, err := c.WaitAuthorization(ctx, z.URI)
	if err != nil {
		t.Fatalf("authorization after takeover: %v", err)
	}
	if got.Status != xacme.StatusValid {
		t.Errorf("authorization = %q, want valid", got.Status)
	}
	if n := e.countRows()["jobs"]; n != 0 {
		t.Errorf("%d jobs left", n)
	}
}
