package admin

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

func TestDashPages(t *testing.T) {
	e := newDashEnv(t, dashEnvOptions{})
	now := time.Now().UTC()
	acct := e.account("default", now.Add(-48*time.Hour), "mailto:ops@example.com")
	cert := e.issued(acct, orderSpec{names: []string{"www.example.com", "example.com"}})
	failed := e.failed(acct, orderSpec{names: []string{"broken.example.com"}}, "the CA refuses broken.example.com")
	c := e.loggedIn(storage.RoleOperator)

	t.Run("home", func(t *testing.T) {
		r := c.get("/admin/").want(t, http.StatusOK)
		for _, want := range []string{"the CA refuses broken.example.com", "broken.example.com", "Pending approvals"} {
			if !strings.Contains(r.body, want) {
				t.Errorf("home lacks %q", want)
			}
		}
	})

	t.Run("orders", func(t *testing.T) {
		r := c.get("/admin/orders?status=valid").want(t, http.StatusOK)
		if !strings.Contains(r.body, cert.OrderID[:8]) || strings.Contains(r.body, failed.ID[:8]) {
			t.Errorf("status filter: %s", r.main())
		}
		r = c.get("/admin/orders?name=broken").want(t, http.StatusOK)
		if !strings.Contains(r.body, failed.ID[:8]) || strings.Contains(r.body, cert.OrderID[:8]) {
			t.Errorf("name filter: %s", r.main())
		}
		c.get("/admin/orders?status=bogus").want(t, http.StatusBadRequest)
		c.get("/admin/orders?since=yesterday").want(t, http.StatusBadRequest)
		c.get("/admin/orders?cursor=garbage").want(t, http.StatusBadRequest)
		r = c.get("/admin/orders/"+failed.ID).want(t, http.StatusOK)
		if !strings.Contains(r.body, `class="step failed"`) || !strings.Contains(r.body, "the CA refuses broken.example.com") {
			t.Errorf("failed order page:\n%s", r.main())
		}
	})

	t.Run("certificates", func(t *testing.T) {
		r := c.get("/admin/certificates?name=www.example&days=3650&sort=expiry").want(t, http.StatusOK)
		if !strings.Contains(r.body, cert.Serial[:8]) {
			t.Errorf("inventory lacks the certificate:\n%s", r.main())
		}
		if !strings.Contains(r.body, `href="/admin/certificates.csv?days=3650&amp;name=www.example&amp;sort=expiry"`) {
			t.Errorf("CSV link does not keep the filters:\n%s", r.main())
		}
		if r := c.get("/admin/certificates?days=10").want(t, http.StatusOK); strings.Contains(r.body, cert.Serial[:8]) {
			t.Errorf("a 90-day certificate is listed as expiring within 10 days")
		}
		csvResp := c.get("/admin/certificates.csv?name=www.example").want(t, http.StatusOK)
		if cd := csvResp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment; filename=") {
			t.Errorf("Content-Disposition %q", cd)
		}
		rows, err := csv.NewReader(strings.NewReader(csvResp.body)).ReadAll()
		if err != nil || len(rows) != 2 || rows[1][1] != cert.Serial {
			t.Fatalf("CSV rows %v (%v)", rows, err)
		}
		r = c.get("/admin/certificates/"+cert.ID).want(t, http.StatusOK)
		if !strings.Contains(r.body, "-----BEGIN CERTIFICATE-----") || !strings.Contains(r.body, `id="revoke"`) {
			t.Errorf("certificate page:\n%s", r.main())
		}
	})

	t.Run("revoke", func(t *testing.T) {
		aud := e.loggedIn(storage.RoleAuditor)
		aud.post("/admin/certificates/"+cert.ID+"/revoke", url.Values{"csrf": {aud.csrf()}, "reason": {"4"}}).want(t, http.StatusForbidden)
		c.post("/admin/certificates/"+cert.ID+"/revoke", url.Values{"csrf": {c.csrf()}, "reason": {"2"}}).want(t, http.StatusUnprocessableEntity)
		c.post("/admin/certificates/"+cert.ID+"/revoke", url.Values{"csrf": {c.csrf()}, "reason": {"4"}}).
			wantRedirect(t, "/admin/certificates/"+cert.ID+"?done=revoked")
		got, err := e.st.GetCertificate(e.ctx, cert.ID)
		if err != nil || got.Status != storage.StatusRevoked || got.RevocationReason != 4 {
			t.Fatalf("certificate after revocation: %+v, %v", got, err)
		}
		if n := len(e.audits(storage.AuditFilter{Action: "certificate.revoke.request", Outcome: storage.OutcomeSuccess})); n != 1 {
			t.Errorf("%d revoke request entries, want 1", n)
		}
		r := c.get("/admin/orders/"+cert.OrderID).want(t, http.StatusOK)
		if !strings.Contains(r.body, "Certificate revoked") {
			t.Errorf("revocation missing from the timeline")
		}
		c.post("/admin/certificates/"+cert.ID+"/revoke", url.Values{"csrf": {c.csrf()}, "reason": {"4"}}).want(t, http.StatusConflict)
	})

	t.Run("directories and EAB keys", func(t *testing.T) {
		r := c.get("/admin/directories").want(t, http.StatusOK)
		if !strings.Contains(r.body, "team-a") || !strings.Contains(r.body, "every order") {
			t.Errorf("directories page:\n%s", r.main())
		}
		if strings.Contains(r.body, "Create EAB key") {
			t.Errorf("an operator is offered the EAB form")
		}
		c.post("/admin/directories/team-a/eab-keys", url.Values{"csrf": {c.csrf()}, "label": {"x"}}).want(t, http.StatusForbidden)

		adm := e.loggedIn(storage.RoleAdmin)
		r = adm.get("/admin/directories").want(t, http.StatusOK)
		if !strings.Contains(r.body, "Create EAB key") {
			t.Fatalf("the admin is not offered the EAB form")
		}
		created := adm.post("/admin/directories/team-a/eab-keys", url.Values{"csrf": {r.csrf(t)}, "label": {"web team"}, "ttl": {"30d"}}).
			want(t, http.StatusCreated)
		kid := dashBetween(created.body, `id="kid">`, "<")
		hmacKey := dashBetween(created.body, `id="hmac">`, "<")
		if kid == "" || len(hmacKey) < 40 {
			t.Fatalf("creation page lacks the key:\n%s", created.body)
		}
		r = adm.get("/admin/directories").want(t, http.StatusOK)
		if !strings.Contains(r.body, kid) || !strings.Contains(r.body, "web team") {
			t.Errorf("the new key is not listed")
		}
		if strings.Contains(r.body, hmacKey) {
			t.Fatalf("the directories page shows an HMAC key")
		}
		for _, entry := range e.audits(storage.AuditFilter{}) {
			if strings.Contains(entry.Detail, hmacKey) {
				t.Fatalf("audit entry %d holds the HMAC key", entry.Seq)
			}
		}
		ok := e.audits(storage.AuditFilter{Action: "eab.create", Outcome: storage.OutcomeSuccess})
		if len(ok) != 1 || ok[0].Object != "eab:"+kid || ok[0].Directory != "team-a" {
			t.Fatalf("eab.create entries = %+v", ok)
		}
		adm.post("/admin/directories/team-a/eab-keys", url.Values{"csrf": {r.csrf(t)}, "ttl": {"forever"}}).want(t, http.StatusUnprocessableEntity)
		adm.post("/admin/directories/nope/eab-keys", url.Values{"csrf": {r.csrf(t)}}).want(t, http.StatusNotFound)
	})

	t.Run("audit log", func(t *testing.T) {
		r := c.get("/admin/audit?action=certificate.&outcome=success").want(t, http.StatusOK)
		if !strings.Contains(r.body, "certificate.issue") || strings.Contains(r.body, ">admin.login<") {
			t.Errorf("audit filter:\n%s", r.main())
		}
		r = c.get("/admin/audit?actor=token:"+e.names[storage.RoleOperator]+"&since=1d").want(t, http.StatusOK)
		if !strings.Contains(r.body, "admin.login") || strings.Contains(r.body, "certificate.issue") {
			t.Errorf("audit actor filter:\n%s", r.main())
		}
	})

	t.Run("accounts", func(t *testing.T) {
		r := c.get("/admin/accounts?directory=default").want(t, http.StatusOK)
		if !strings.Contains(r.body, acct.ID) || !strings.Contains(r.body, "mailto:ops@example.com") {
			t.Errorf("accounts page:\n%s", r.main())
		}
		r = c.get("/admin/orders?account="+acct.ID).want(t, http.StatusOK)
		if !strings.Contains(r.body, cert.OrderID[:8]) {
			t.Errorf("orders of the account")
		}
	})
}

func TestDashPagination(t *testing.T) {
	e := newDashEnv(t, dashEnvOptions{})
	acct := e.account("default", time.Now().UTC().Add(-time.Hour))
	base := time.Now().UTC().Add(-30 * time.Minute)
	for i := range dashPageSize + 7 {
		e.validOrder(acct, orderSpec{names: []string{"page.example.com"}, created: base.Add(time.Duration(i) * time.Second)})
	}
	c := e.loggedIn(storage.RoleAuditor)
	r := c.get("/admin/orders?name=page").want(t, http.StatusOK)
	if n := strings.Count(r.body, `<a href="/admin/orders/`); n != dashPageSize {
		t.Fatalf("first page has %d orders, want %d", n, dashPageSize)
	}
	m := regexp.MustCompile(`<a href="([^"]*)" rel="next"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no next link:\n%s", r.main())
	}
	next := m[1]
	if !strings.HasPrefix(next, "/admin/orders?") || !strings.Contains(next, "name=page") {
		t.Fatalf("next link %q", next)
	}
	r = c.get(strings.ReplaceAll(next, "&amp;", "&")).want(t, http.StatusOK)
	if n := strings.Count(r.body, `<a href="/admin/orders/`); n != 7 {
		t.Fatalf("second page has %d orders, want 7", n)
	}
	if strings.Contains(r.body, `rel="next"`) || !strings.Contains(r.body, "First page") {
		t.Errorf("second page links:\n%s", r.main())
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "/admin/",
		"/admin/orders?status=x":    "/admin/orders?status=x",
		"https://evil.example/":     "/admin/",
		"//evil.example":            "/admin/",
		"/admin//evil.example":      "/admin/",
		"/admin/\\evil":             "/admin/",
		"/admin/login?next=/x":      "/admin/",
		"/admin/logout":             "/admin/",
		"/admin/orders\r\nX-Bad: 1": "/admin/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// between returns the text of s between the first before and the next
// after, or "".
func dashBetween(s, before, after string) string {
	_, rest, ok := strings.Cut(s, before)
	if !ok {
		return ""
	}
	v, _, ok := strings.Cut(rest, after)
	if !ok {
		return ""
	}
	return v
}
