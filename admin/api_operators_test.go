package admin

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/notify"
	"github.com/acmegate/acmegate/storage"
)

// TestTokens: a token created through the API works at once as its role;
// listings never show a token or its hash; a revoked token stops working
// on the very next request.
func TestTokens(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	r := e.must(storage.RoleAdmin, "POST", "/tokens", map[string]any{"name": "ci-bot", "role": "operator", "ttl": "24h"}, http.StatusCreated)
	var created newTokenAnswer
	r.decode(t, &created)
	e.secrets = append(e.secrets, created.Token)
	if !strings.HasPrefix(created.Token, tokenPrefix+created.ID+"_") || created.Role != storage.RoleOperator || created.State != "active" ||
		created.CreatedBy != "token:"+e.tokenNames[storage.RoleAdmin] || created.ExpiresAt == nil {
		t.Fatalf("created token %+v", created)
	}
	e.wantAudit("token.create", storage.OutcomeSuccess, "", "token:"+created.ID, "named ci-bot with role operator")

	// It works at once, as an operator and not more.
	if r := e.call(created.Token, "GET", "/orders", nil); r.status != http.StatusOK {
		t.Fatalf("GET /orders with the new token: %d %s", r.status, r.body)
	}
	if r := e.call(created.Token, "POST", "/tokens", map[string]any{"name": "escalate", "role": "admin"}); r.status != http.StatusForbidden {
		t.Errorf("an operator token created a token: %d", r.status)
	}
	denied := e.lastAudit("token.create")
	if denied.Outcome != storage.OutcomeDenied || denied.Actor != "token:ci-bot" {
		t.Errorf("denied entry %+v", denied)
	}

	r = e.must(storage.RoleAuditor, "GET", "/tokens", nil, http.StatusOK)
	var list pageBody[TokenView]
	r.decode(t, &list)
	names := []string{}
	for _, v := range list.Items {
		names = append(names, v.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"ci-bot", "test-admin", "test-auditor", "test-operator"}) {
		t.Errorf("token names %v", names)
	}
	if strings.Contains(string(r.body), "hash") || strings.Contains(string(r.body), created.Token[len(tokenPrefix)+len(created.ID)+1:]) {
		t.Errorf("token list shows a hash or a secret: %s", r.body)
	}

	wantProblem(t, "duplicate name", e.as(storage.RoleAdmin, "POST", "/tokens", map[string]any{"name": "ci-bot", "role": "auditor"}), http.StatusConflict, kindConflict, "ci-bot")
	wantProblem(t, "bad role", e.as(storage.RoleAdmin, "POST", "/tokens", map[string]any{"name": "x", "role": "root"}), http.StatusBadRequest, kindInvalid, "role:", "root")
	wantProblem(t, "bad name", e.as(storage.RoleAdmin, "POST", "/tokens", map[string]any{"name": "a b", "role": "auditor"}), http.StatusBadRequest, kindInvalid, "name:")
	wantProblem(t, "bad ttl", e.as(storage.RoleAdmin, "POST", "/tokens", map[string]any{"name": "x", "role": "auditor", "ttl": "-1h"}), http.StatusBadRequest, kindInvalid, "ttl:")

	// Revocation takes effect on the next request, sessions of the token
	// included.
	var v TokenView
	e.must(storage.RoleAdmin, "POST", "/tokens/"+created.ID+"/revoke", nil, http.StatusOK).decode(t, &v)
	if v.State != "revoked" || v.RevokedAt == nil {
		t.Errorf("revoked token %+v", v)
	}
	r = e.call(created.Token, "GET", "/orders", nil)
	wantProblem(t, "revoked token", r, http.StatusUnauthorized, kindUnauthorized, "revoked")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
	e.wantAudit("token.revoke", storage.OutcomeSuccess, "", "token:"+created.ID, "named ci-bot")
	wantProblem(t, "revoke twice", e.as(storage.RoleAdmin, "POST", "/tokens/"+created.ID+"/revoke", nil), http.StatusConflict, kindConflict, "already revoked")

	// An expired token is refused like a revoked one.
	raw, rec, err := NewToken("short-lived", storage.RoleAuditor, "test", time.Millisecond, time.Now().UTC().Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateAdminToken(e.ctx, rec); err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, raw)
	wantProblem(t, "expired token", e.call(raw, "GET", "/orders", nil), http.StatusUnauthorized, kindUnauthorized)
}

// TestWebhooks creates a webhook (its secret once, sealed so the notifier
// can open it), lists its deliveries, and deletes it.
func TestWebhooks(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	const admin = storage.RoleAdmin
	body := map[string]any{"url": "https://hooks.example.test/acme?token=abc", "directory": "team-a", "events": []string{notify.CertificateIssued, notify.OrderFailed, notify.CertificateIssued}}
	r := e.must(admin, "POST", "/webhooks", body, http.StatusCreated)
	var w newWebhookAnswer
	r.decode(t, &w)
	e.secrets = append(e.secrets, w.Secret)
	if !strings.HasPrefix(w.Secret, webhookSecretPrefix) || len(w.Secret) < 40 || !slices.Equal(w.Events, []string{notify.CertificateIssued, notify.OrderFailed}) || w.Directory != "team-a" {
		t.Fatalf("created webhook %+v", w)
	}
	stored, err := e.st.GetWebhook(e.ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := e.srv.cfg.Sealer.Open(stored.SealedSecret, notify.WebhookSecretContext(w.ID))
	if err != nil || string(secret) != w.Secret {
		t.Fatalf("the sealed secret does not open to the one handed out: %v", err)
	}
	entry := e.wantAudit("webhook.create", storage.OutcomeSuccess, "team-a", "webhook:"+w.ID, "https://hooks.example.test/acme")
	if strings.Contains(entry.Detail, "token=abc") {
		t.Errorf("the audit detail holds the URL's query: %q", entry.Detail)
	}

	for _, tc := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"ftp", map[string]any{"url": "ftp://hooks.example.test/"}, "url:"},
		{"relative", map[string]any{"url": "/hook"}, "url:"},
		{"no url", map[string]any{}, "url:"},
		{"unknown event", map[string]any{"url": "https://h.example.test/", "events": []string{"order.created"}}, "events:"},
		{"unknown directory", map[string]any{"url": "https://h.example.test/", "directory": "nosuch"}, "directory:"},
	} {
		wantProblem(t, tc.name, e.as(admin, "POST", "/webhooks", tc.body), http.StatusBadRequest, kindInvalid, tc.want)
	}

	r = e.must(storage.RoleAuditor, "GET", "/webhooks?directory=team-a", nil, http.StatusOK)
	var list pageBody[webhookView]
	r.decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].URL != body["url"] || strings.Contains(string(r.body), w.Secret) || strings.Contains(string(r.body), "secret") {
		t.Errorf("webhook list %s", r.body)
	}

	// Deliveries are the notifier's log; the API pages them.
	now := time.Now().UTC()
	var ds []*storage.Delivery
	var jobs []*storage.Job
	for i := range 3 {
		d := &storage.Delivery{ID: fixtureID("dlv"), WebhookID: w.ID, Channel: "webhook", Target: stored.URL, Event: notify.CertificateIssued,
			Directory: "team-a", Payload: []byte(`{"type":"certificate.issued"}`), Status: storage.DeliveryPending, CreatedAt: now.Add(time.Duration(i) * time.Second), UpdatedAt: now}
		ds = append(ds, d)
		jobs = append(jobs, &storage.Job{ID: fixtureID("job"), Kind: storage.JobDeliver, Ref: d.ID, RunAt: now, Deadline: now.Add(time.Hour), CreatedAt: now})
	}
	if err := e.st.EnqueueDeliveries(e.ctx, ds, jobs); err != nil {
		t.Fatal(err)
	}
	ids, pages := e.allPages("/webhooks/" + w.ID + "/deliveries?limit=2")
	if !slices.Equal(ids, []string{ds[2].ID, ds[1].ID, ds[0].ID}) || pages != 2 {
		t.Errorf("deliveries %v over %d pages", ids, pages)
	}

	e.must(admin, "DELETE", "/webhooks/"+w.ID, nil, http.StatusNoContent)
	e.wantAudit("webhook.delete", storage.OutcomeSuccess, "team-a", "webhook:"+w.ID, "deleted webhook")
	wantProblem(t, "deleted", e.as(storage.RoleAuditor, "GET", "/webhooks/"+w.ID, nil), http.StatusNotFound, kindNotFound, w.ID)
	wantProblem(t, "delete twice", e.as(admin, "DELETE", "/webhooks/"+w.ID, nil), http.StatusNotFound, kindNotFound)
}

// TestAuditAPI lists the trail with filters and pages and verifies its
// chain.
func TestAuditAPI(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	for i := range 5 {
		e.must(storage.RoleAdmin, "POST", "/tokens", map[string]any{"name": "t" + string(rune('a'+i)), "role": "auditor"}, http.StatusCreated)
	}
	e.as(storage.RoleAuditor, "POST", "/tokens", map[string]any{"name": "nope", "role": "admin"})
	var page pageBody[AuditEntryView]
	e.must(storage.RoleAuditor, "GET", "/audit?action=token.&outcome=success&limit=3", nil, http.StatusOK).decode(t, &page)
	if len(page.Items) != 3 || page.NextCursor == "" || page.Items[0].Action != "token.create" || page.Items[0].Seq <= page.Items[1].Seq || len(page.Items[0].Hash) != 64 {
		t.Fatalf("audit page %+v", page)
	}
	seqs, _ := e.allPages("/audit?action=token.create")
	if len(seqs) != 6 {
		t.Errorf("token.create entries over all pages: %d, want 6", len(seqs))
	}
	e.must(storage.RoleAuditor, "GET", "/audit?outcome=denied&actor="+url.QueryEscape("token:test-auditor"), nil, http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].Detail == "" || page.Items[0].ClientIP != "127.0.0.1" {
		t.Errorf("denied entries %+v", page.Items)
	}
	since := url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))
	e.must(storage.RoleAuditor, "GET", "/audit?since="+since, nil, http.StatusOK).decode(t, &page)
	if len(page.Items) != 0 {
		t.Errorf("entries in the future: %+v", page.Items)
	}
	wantProblem(t, "bad outcome", e.as(storage.RoleAuditor, "GET", "/audit?outcome=maybe", nil), http.StatusBadRequest, kindInvalid, "outcome:")
	wantProblem(t, "bad cursor", e.as(storage.RoleAuditor, "GET", "/audit?cursor=bm9wZQ", nil), http.StatusBadRequest, kindInvalid, "cursor")

	var v auditVerification
	e.must(storage.RoleAuditor, "GET", "/audit/verify", nil, http.StatusOK).decode(t, &v)
	if !v.OK || v.EntriesChecked < 8 || v.Broken != nil {
		t.Errorf("verification %+v", v)
	}
}

// TestSummary shows what needs attention.
func TestSummary(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	acct := e.account("team-a")
	waiting := e.awaitingApproval(acct, "wait.example.test", time.Now().Add(time.Hour))
	failed := e.order(acct, "fail.example.test", time.Now().UTC())
	if err := e.st.FailOrder(e.ctx, failed.ID, []byte(`{"type":"urn:ietf:params:acme:error:serverInternal"}`), time.Now().UTC(), nil); err != nil {
		t.Fatal(err)
	}
	expiring := e.fakeCert("team-a", "exp.example.test", time.Now().Add(3*24*time.Hour), time.Now().UTC())
	e.fakeCert("default", "fine.example.test", time.Now().Add(300*24*time.Hour), time.Now().UTC())
	now := time.Now().UTC()
	job := &storage.Job{ID: fixtureID("job"), Kind: storage.JobIssue, Ref: failed.ID, RunAt: now.Add(-time.Second), Deadline: now.Add(time.Hour), CreatedAt: now}
	if err := e.st.BeginFinalize(e.ctx, e.order(acct, "job.example.test", now).ID, []storage.Status{storage.StatusPending}, []byte{0x30}, job, now, nil); err != nil {
		t.Fatal(err)
	}
	leased, err := e.st.LeaseJobs(e.ctx, "test", 10, now, time.Minute)
	if err != nil || len(leased) != 1 {
		t.Fatalf("lease: %v, %d jobs", err, len(leased))
	}
	if err := e.st.RetryJob(e.ctx, job.ID, "test", now.Add(time.Minute), "sectigo: 503 Service Unavailable"); err != nil {
		t.Fatal(err)
	}

	var s summaryView
	e.must(storage.RoleAuditor, "GET", "/summary", nil, http.StatusOK).decode(t, &s)
	if s.PendingApprovals.Count != 1 || s.PendingApprovals.Orders[0].ID != waiting.ID {
		t.Errorf("pending approvals %+v", s.PendingApprovals)
	}
	if s.FailedOrders.Count != 1 || s.FailedOrders.Orders[0].ID != failed.ID {
		t.Errorf("failed orders %+v", s.FailedOrders)
	}
	if s.ExpiringCertificates.Count != 1 || s.ExpiringCertificates.ByDirectory["team-a"] != 1 || s.ExpiringCertificates.Items[0].ID != expiring.ID {
		t.Errorf("expiring certificates %+v", s.ExpiringCertificates)
	}
	if s.FailingJobs.Count != 1 || len(s.FailingJobs.Jobs) != 1 || s.FailingJobs.Jobs[0].LastError != "sectigo: 503 Service Unavailable" {
		t.Errorf("failing jobs %+v", s.FailingJobs)
	}
}

// TestRequestBodies: bodies are JSON objects of known fields within 64
// KiB, and a refused mutation is audited as a failure.
func TestRequestBodies(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	const admin = storage.RoleAdmin
	wantProblem(t, "unknown field", e.as(admin, "POST", "/tokens", `{"name":"x","role":"auditor","rol":"admin"}`), http.StatusBadRequest, kindMalformed, `"rol"`)
	wantProblem(t, "wrong type", e.as(admin, "POST", "/tokens", `{"name":42,"role":"auditor"}`), http.StatusBadRequest, kindInvalid, "name:", "string")
	wantProblem(t, "not JSON", e.as(admin, "POST", "/tokens", `name=x`), http.StatusBadRequest, kindMalformed, "not valid JSON")
	wantProblem(t, "truncated", e.as(admin, "POST", "/tokens", `{"name":"x"`), http.StatusBadRequest, kindMalformed)
	wantProblem(t, "two values", e.as(admin, "POST", "/tokens", `{"name":"x","role":"auditor"} {}`), http.StatusBadRequest, kindMalformed, "more than one")
	wantProblem(t, "empty", e.as(admin, "POST", "/tokens", nil), http.StatusBadRequest, kindMalformed, "JSON object")
	big := `{"name":"x","role":"auditor","ttl":"` + strings.Repeat("1", maxBodyBytes) + `"}`
	wantProblem(t, "too large", e.as(admin, "POST", "/tokens", big), http.StatusRequestEntityTooLarge, kindTooLarge, "64 KiB")
	entry := e.lastAudit("token.create")
	if entry.Outcome != storage.OutcomeFailure || !strings.Contains(entry.Detail, "64 KiB") {
		t.Errorf("the refused body was audited as %+v", entry)
	}

	req, _ := http.NewRequestWithContext(e.ctx, "POST", e.ts.URL+apiPrefix+"/tokens", strings.NewReader(`name=x`))
	req.Header.Set("Authorization", "Bearer "+e.tokens[admin])
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("form body: %d, want 415", resp.StatusCode)
	}
	if toks, _ := e.st.ListAdminTokens(e.ctx); len(toks) != 3 {
		t.Errorf("refused requests created tokens: %d tokens", len(toks))
	}
}
