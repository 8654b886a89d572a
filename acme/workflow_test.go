package acme_test

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
)

// rawAccount registers a raw client in directory dir.
func (e *env) rawAccount(dir string) *rawClient {
	e.t.Helper()
	raw := e.rawClient()
	u := e.url + "/acme/" + dir + "/new-account"
	r := raw.post(u, raw.jws(raw.header(u), []byte(`{"termsOfServiceAgreed":true}`)))
	if r.status != 201 {
		e.t.Fatalf("new account in %s: %d %s", dir, r.status, r.body)
	}
	raw.kid = r.header.Get("Location")
	return raw
}

type rawOrder struct {
	Status         string
	Authorizations []string
	Finalize       string
	Certificate    string
	Profile        string
	Replaces       string
	Error          *struct{ Type, Detail string }
}

// rawReadyOrder creates an order for a pre-validated name (ready at once)
// and returns its URL and object.
func (r *rawClient) order(dir string, body string) (string, rawOrder, *rawResponse) {
	r.e.t.Helper()
	u := r.e.url + "/acme/" + dir + "/new-order"
	resp := r.post(u, r.jws(r.header(u), []byte(body)))
	var o rawOrder
	_ = json.Unmarshal(resp.body, &o)
	return resp.header.Get("Location"), o, resp
}

func (r *rawClient) get(u string) (rawOrder, *rawResponse) {
	resp := r.post(u, r.jws(r.header(u), nil))
	var o rawOrder
	_ = json.Unmarshal(resp.body, &o)
	return o, resp
}

func (r *rawClient) finalize(o rawOrder, name string) *rawResponse {
	r.e.t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{name}), newECKey(r.e.t))
	if err != nil {
		r.e.t.Fatal(err)
	}
	return r.post(o.Finalize, r.jws(r.header(o.Finalize), []byte(`{"csr":"`+b64(der)+`"}`)))
}

func approvalDirs() []acme.DirectoryDefinition {
	return []acme.DirectoryDefinition{{Name: "gated", Settings: acme.DirectorySettings{
		RequireApproval: true,
		Policy:          acme.PolicySettings{PreValidatedDomains: []string{"corp.example"}},
	}}}
}

func (e *env) approvals() *acme.Approvals {
	return &acme.Approvals{Store: e.store}
}

func TestApprovalWorkflow(t *testing.T) {
	e := newEnv(t, envOptions{dirs: approvalDirs()})
	ctx := testCtx(t)
	raw := e.rawAccount("gated")

	// Approved: processing with a long Retry-After, then issued.
	u, o, _ := raw.order("gated", `{"identifiers":[{"type":"dns","value":"ok.corp.example"}]}`)
	if o.Status != "ready" {
		t.Fatalf("order = %s", o.Status)
	}
	r := raw.finalize(o, "ok.corp.example")
	var fin rawOrder
	_ = json.Unmarshal(r.body, &fin)
	if r.status != 200 || fin.Status != "processing" || r.header.Get("Retry-After") != "30" {
		t.Fatalf("finalize: %d %s Retry-After %q, want processing with Retry-After 30", r.status, r.body, r.header.Get("Retry-After"))
	}
	pending, err := e.approvals().Pending(ctx, "gated")
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending approvals: %v %v", pending, err)
	}
	orderID := pending[0].ID
	if !strings.HasSuffix(u, orderID) {
		t.Fatalf("pending order %s is not %s", orderID, u)
	}
	if err := e.approvals().Approve(ctx, orderID, "alice", "ticket CHG-1"); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if err := e.approvals().Approve(ctx, orderID, "alice", ""); err == nil {
		t.Error("approving twice succeeded")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := raw.get(u)
		if got.Status == "valid" && got.Certificate != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("approved order never became valid: %+v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Rejected: invalid with an unauthorized problem carrying the reason.
	u2, o2, _ := raw.order("gated", `{"identifiers":[{"type":"dns","value":"no.corp.example"}]}`)
	raw.finalize(o2, "no.corp.example")
	id2 := u2[strings.LastIndex(u2, "/")+1:]
	if err := e.approvals().Reject(ctx, id2, "bob", ""); err == nil {
		t.Error("a rejection without a reason was accepted")
	}
	if err := e.approvals().Reject(ctx, id2, "bob", "not our hostname scheme"); err != nil {
		t.Fatalf("reject: %v", err)
	}
	got, _ := raw.get(u2)
	if got.Status != "invalid" || got.Error == nil || got.Error.Type != "urn:ietf:params:acme:error:unauthorized" || !strings.Contains(got.Error.Detail, "not our hostname scheme") {
		t.Errorf("rejected order = %+v", got)
	}
	if err := e.approvals().Approve(ctx, id2, "alice", ""); err == nil {
		t.Error("approving a rejected order succeeded")
	}
}

func TestOrderTimeline(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	o, err := c.AuthorizeOrder(ctx, idsOf("timeline.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	e.solve(ctx, c, o, "http-01")
	der, _ := x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{"timeline.example.com"}), newECKey(t))
	chain, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, der, true)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(chain[0])
	if err := c.RevokeCert(ctx, nil, leaf.Raw, xacme.CRLReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	id := o.URI[strings.LastIndex(o.URI, "/")+1:]
	ord, err := e.store.GetOrder(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// The downloaded event is buffered until the next batch.
	if err := e.srv.FlushTimeline(ctx); err != nil {
		t.Fatal(err)
	}
	events, err := e.store.ListOrderEvents(ctx, id, ord.AuthzIDs)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range events {
		kinds = append(kinds, ev.Kind)
		if ev.At.IsZero() || ev.Actor == "" {
			t.Errorf("event %+v lacks a time or an actor", ev)
		}
	}
	want := []string{acme.EventCreated, acme.EventValidated, acme.EventFinalizeRequested, acme.EventIssued, acme.EventDownloaded, acme.EventRevoked}
	if !slices.Equal(kinds, want) {
		t.Errorf("timeline = %v, want %v", kinds, want)
	}
}

// ariCertID computes the RFC 9773 identifier independently of the server.
func ariCertID(c *x509.Certificate) string {
	serial := c.SerialNumber.Bytes()
	if serial[0]&0x80 != 0 {
		serial = append([]byte{0}, serial...)
	}
	return base64.RawURLEncoding.EncodeToString(c.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(serial)
}

func TestRenewalInfoAndReplaces(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	key := newECKey(t)
	c := e.newClient(ctx, key)
	chain := e.issue(ctx, c, "http-01", newECKey(t), "ari.example.com")
	leaf := chain[0]
	id := ariCertID(leaf)

	resp, err := e.client.Get(e.url + "/acme/default/renewal-info/" + id)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		SuggestedWindow struct{ Start, End time.Time } `json:"suggestedWindow"`
	}
	err = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("renewalInfo: %d %v Retry-After %q", resp.StatusCode, err, resp.Header.Get("Retry-After"))
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	twoThirds := leaf.NotBefore.Add(life * 2 / 3)
	if info.SuggestedWindow.Start.After(twoThirds) || info.SuggestedWindow.End.Before(twoThirds) || !info.SuggestedWindow.Start.Before(info.SuggestedWindow.End) {
		t.Errorf("window %v–%v does not surround two thirds of the lifetime (%v)", info.SuggestedWindow.Start, info.SuggestedWindow.End, twoThirds)
	}
	// Unknown and malformed identifiers.
	bogus := base64.RawURLEncoding.EncodeToString(leaf.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(big.NewInt(12345).Bytes())
	for path, status := range map[string]int{bogus: 404, "not-an-id": 400} {
		r, err := e.client.Get(e.url + "/acme/default/renewal-info/" + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != status {
			t.Errorf("renewalInfo/%s: %d, want %d", path, r.StatusCode, status)
		}
	}

	// replaces: accepted once, then alreadyReplaced; another account's
	// certificate is refused.
	acct, err := c.GetReg(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	raw := &rawClient{e: e, key: key, kid: acct.URI}
	_, o, r := raw.order("default", `{"identifiers":[{"type":"dns","value":"ari.example.com"}],"replaces":"`+id+`"}`)
	if r.status != 201 || o.Replaces != id {
		t.Fatalf("order replacing: %d %s", r.status, r.body)
	}
	_, _, r = raw.order("default", `{"identifiers":[{"type":"dns","value":"ari.example.com"}],"replaces":"`+id+`"}`)
	if r.status != 409 || r.problem.Type != "urn:ietf:params:acme:error:alreadyReplaced" {
		t.Errorf("second replacement: %d %s", r.status, r.body)
	}
	stranger := e.rawAccount("default")
	_, _, r = stranger.order("default", `{"identifiers":[{"type":"dns","value":"ari.example.com"}],"replaces":"`+id+`"}`)
	if r.status != 403 || r.problem.Type != "urn:ietf:params:acme:error:unauthorized" {
		t.Errorf("replacing another account's certificate: %d %s", r.status, r.body)
	}

	// Revoked (or flagged) certificates get a window in the past.
	cert, err := e.store.GetCertificateBySerial(ctx, leaf.SerialNumber.Text(16))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetRenewEarly(ctx, cert.ID, true); err != nil {
		t.Fatal(err)
	}
	resp, err = e.client.Get(e.url + "/acme/default/renewal-info/" + id)
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if !info.SuggestedWindow.End.Before(time.Now()) {
		t.Errorf("flagged certificate's window %v–%v is not in the past", info.SuggestedWindow.Start, info.SuggestedWindow.End)
	}
}

func TestRateLimits(t *testing.T) {
	dirs := []acme.DirectoryDefinition{{Name: "limited", Settings: acme.DirectorySettings{
		RateLimits: acme.RateLimitSettings{AccountOrdersPerHour: 2, AccountPendingAuthorizations: 3},
	}}}
	e := newEnv(t, envOptions{dirs: dirs})
	raw := e.rawAccount("limited")
	for i := range 2 {
		_, _, r := raw.order("limited", `{"identifiers":[{"type":"dns","value":"r`+string(rune('a'+i))+`.example.com"}]}`)
		if r.status != 201 {
			t.Fatalf("order %d: %d %s", i, r.status, r.body)
		}
	}
	before := e.countRows()
	_, _, r := raw.order("limited", `{"identifiers":[{"type":"dns","value":"rz.example.com"}]}`)
	if r.status != 429 || r.problem.Type != "urn:ietf:params:acme:error:rateLimited" || r.header.Get("Retry-After") == "" || !strings.Contains(r.problem.Detail, "new orders per hour per account") {
		t.Errorf("third order: %d %s Retry-After %q", r.status, r.body, r.header.Get("Retry-After"))
	}
	if after := e.countRows(); after["orders"] != before["orders"] {
		t.Errorf("a refused order was stored")
	}
	// Another account is not limited by this one's orders.
	other := e.rawAccount("limited")
	if _, _, r := other.order("limited", `{"identifiers":[{"type":"dns","value":"other.example.com"}]}`); r.status != 201 {
		t.Errorf("other account: %d %s", r.status, r.body)
	}
	// Pending authorizations: the first account holds 2, newAuthz adds a 3rd, the 4th is refused.
	u := e.url + "/acme/limited/new-authz"
	if r := raw.post(u, raw.jws(raw.header(u), []byte(`{"identifier":{"type":"dns","value":"pa.example.com"}}`))); r.status != 201 {
		t.Fatalf("newAuthz: %d %s", r.status, r.body)
	}
	r = raw.post(u, raw.jws(raw.header(u), []byte(`{"identifier":{"type":"dns","value":"pb.example.com"}}`)))
	if r.status != 429 || !strings.Contains(r.problem.Detail, "pending authorizations") {
		t.Errorf("fourth pending authorization: %d %s", r.status, r.body)
	}
}
