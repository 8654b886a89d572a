package admin

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

func TestDashSessionRequired(t *testing.T) {
	e := newDashEnv(t, dashEnvOptions{})
	c := e.client()
	for _, path := range []string{"/admin/", "/admin/orders", "/admin/orders/x", "/admin/certificates", "/admin/certificates.csv",
		"/admin/certificates/x", "/admin/directories", "/admin/audit", "/admin/accounts", "/admin/nowhere"} {
		r := c.get(path).wantRedirect(t, "/admin/login")
		if path != "/admin/" && !strings.Contains(r.Header.Get("Location"), "next="+url.QueryEscape(path)) {
			t.Errorf("%s: redirect %q does not come back to the page", path, r.Header.Get("Location"))
		}
	}
	for _, path := range []string{"/admin/orders/x/approve", "/admin/orders/x/reject", "/admin/certificates/x/revoke",
		"/admin/directories/default/eab-keys", "/admin/logout"} {
		c.post(path, url.Values{"reason": {"x"}}).wantRedirect(t, "/admin/login")
	}
	if n := len(e.audits(storage.AuditFilter{Action: "order."})); n != 0 {
		t.Errorf("%d order audit entries without a session", n)
	}
}

func TestDashLogin(t *testing.T) {
	e := newDashEnv(t, dashEnvOptions{})
	c := e.client()

	page := c.get("/admin/login").want(t, http.StatusOK)
	loginCSRF := page.csrf(t)

	t.Run("wrong token", func(t *testing.T) {
		loginCSRF := loginCSRF
		for _, tok := range []string{"nonsense", "acmegate_x_y", e.tokens[storage.RoleOperator] + "x"} {
			r := c.post("/admin/login", url.Values{"csrf": {loginCSRF}, "token": {tok}}).want(t, http.StatusUnauthorized)
			// The form comes back with a fresh pre-session token.
			loginCSRF = r.csrf(t)
			if !strings.Contains(r.body, "That token was not accepted.") {
				t.Errorf("no generic error on the form:\n%s", r.main())
			}
			if strings.Contains(r.body, tok) {
				t.Errorf("the refused token is echoed back")
			}
			if _, err := r.Request.Cookie(sessionCookie); err == nil {
				t.Errorf("a session cookie came with a refused login")
			}
		}
		denied := e.audits(storage.AuditFilter{Action: actionLogin, Outcome: storage.OutcomeDenied})
		if len(denied) != 3 {
			t.Fatalf("%d denied login entries, want 3", len(denied))
		}
		if denied[0].Actor != "anonymous" || strings.Contains(denied[0].Detail, "acmegate_") {
			t.Errorf("denied login entry = %+v", denied[0])
		}
		c.get("/admin/").wantRedirect(t, "/admin/login")
	})

	t.Run("no or wrong CSRF token", func(t *testing.T) {
		tok := e.tokens[storage.RoleOperator]
		c.post("/admin/login", url.Values{"token": {tok}}).want(t, http.StatusForbidden)
		c.post("/admin/login", url.Values{"token": {tok}, "csrf": {"AAAA" + loginCSRF[4:]}}).want(t, http.StatusForbidden)
		// A token minted for another browser's cookie does not pass.
		other := e.client()
		otherCSRF := other.get("/admin/login").want(t, http.StatusOK).csrf(t)
		c.post("/admin/login", url.Values{"token": {tok}, "csrf": {otherCSRF}}).want(t, http.StatusForbidden)
		c.get("/admin/").wantRedirect(t, "/admin/login")
	})

	t.Run("success", func(t *testing.T) {
		loginCSRF := c.get("/admin/login").want(t, http.StatusOK).csrf(t)
		c.post("/admin/login", url.Values{"csrf": {loginCSRF}, "token": {e.tokens[storage.RoleOperator]}, "next": {"/admin/orders?status=valid"}}).
			wantRedirect(t, "/admin/orders?status=valid")
		home := c.get("/admin/").want(t, http.StatusOK)
		if !strings.Contains(home.body, "Needs attention") || !strings.Contains(home.body, e.names[storage.RoleOperator]) {
			t.Errorf("home page after login:\n%s", home.body)
		}
		ok := e.audits(storage.AuditFilter{Action: actionLogin, Outcome: storage.OutcomeSuccess})
		if len(ok) != 1 || ok[0].Actor != "token:"+e.names[storage.RoleOperator] {
			t.Fatalf("login success entries = %+v", ok)
		}
		// The login page sends a live session home.
		c.get("/admin/login").wantRedirect(t, "/admin/")
	})

	t.Run("no open redirect", func(t *testing.T) {
		c2 := e.client()
		for _, next := range []string{"https://evil.example/", "//evil.example/admin/", "/admin//evil.example", "/elsewhere", "/admin/login"} {
			loginCSRF := c2.get("/admin/login").want(t, http.StatusOK).csrf(t)
			r := c2.post("/admin/login", url.Values{"csrf": {loginCSRF}, "token": {e.tokens[storage.RoleAuditor]}, "next": {next}}).want(t, http.StatusSeeOther)
			if loc := r.Header.Get("Location"); loc != "/admin/" {
				t.Errorf("next %q: redirect to %q, want /admin/", next, loc)
			}
			c2 = e.client()
		}
	})
}

func TestDashLogoutAndRevokedToken(t *testing.T) {
	e := newDashEnv(t, dashEnvOptions{})

	c := e.loggedIn(storage.RoleOperator)
	csrf := c.csrf()
	c.post("/admin/logout", url.Values{}).want(t, http.StatusForbidden)
	c.get("/admin/").want(t, http.StatusOK)
	c.post("/admin/logout", url.Values{"csrf": {csrf}}).wantRedirect(t, "/admin/login")
	c.get("/admin/").wantRedirect(t, "/admin/login")
	if n := len(e.audits(storage.AuditFilter{Action: actionLogout, Outcome: storage.OutcomeSuccess})); n != 1 {
		t.Errorf("%d logout entries, want 1", n)
	}

	// Revoking the token ends its sessions on their next request.
	name := "dash-short-lived"
	tok := e.newToken(name, storage.RoleAdmin)
	c = e.client()
	c.login(tok)
	c.get("/admin/orders").want(t, http.StatusOK)
	rec, err := e.srv.Authenticate(e.ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.RevokeAdminToken(e.ctx, rec.ID, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	r := c.get("/admin/orders").wantRedirect(t, "/admin/login")
	cleared := false
	for _, ck := range r.Cookies() {
		if ck.Name == sessionCookie && ck.MaxAge < 0 {
			cleared = true
		}
	}
	if !cleared {
		t.Errorf("the dead session's cookie was not cleared: %v", r.Header["Set-Cookie"])
	}
}

func TestDashSecurityHeaders(t *testing.T) {
	e := newDashEnv(t, dashEnvOptions{})
	anon := e.client()
	c := e.loggedIn(storage.RoleAuditor)
	check := func(r *dashResp) {
		t.Helper()
		h := r.Header
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "script-src 'none'") ||
			!strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", r.Request.URL.Path, csp)
		}
		for k, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
			"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", r.Request.URL.Path, k, got, want)
			}
		}
	}
	check(anon.get("/admin/login").want(t, http.StatusOK))
	check(anon.get("/admin/").want(t, http.StatusSeeOther))
	check(anon.post("/admin/login", url.Values{}).want(t, http.StatusForbidden))
	for _, path := range []string{"/admin/", "/admin/orders", "/admin/certificates", "/admin/certificates.csv", "/admin/directories",
		"/admin/audit", "/admin/accounts"} {
		r := c.get(path).want(t, http.StatusOK)
		check(r)
		if strings.HasSuffix(path, ".csv") {
			continue
		}
		if strings.Contains(strings.ToLower(r.body), "<script") || strings.Contains(r.body, " style=") || strings.Contains(r.body, "<style") {
			t.Errorf("%s has script or inline style", path)
		}
	}
	check(c.get("/admin/nowhere").want(t, http.StatusNotFound))
	check(c.get("/admin/orders/nope").want(t, http.StatusNotFound))
	css := c.get("/admin/static/style.css").want(t, http.StatusOK)
	check(css)
	if ct := css.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("style sheet Content-Type %q", ct)
	}
	check(c.get("/admin/static/").want(t, http.StatusNotFound))
	check(c.post("/admin/orders/x/approve", url.Values{}).want(t, http.StatusForbidden))
}

func TestDashApprovalForms(t *testing.T) {
	e := newDashEnv(t, dashEnvOptions{})
	acct := e.account("team-a", time.Now().UTC().Add(-time.Hour))
	deadline := time.Now().UTC().Add(48 * time.Hour)
	o := e.awaitingApproval(acct, orderSpec{names: []string{"app.example.com"}}, deadline)
	path := "/admin/orders/" + o.ID

	t.Run("CSRF missing or wrong", func(t *testing.T) {
		c := e.loggedIn(storage.RoleOperator)
		c.post(path+"/approve", url.Values{}).want(t, http.StatusForbidden)
		c.post(path+"/approve", url.Values{"csrf": {"forged"}}).want(t, http.StatusForbidden)
		// Another session's token is not this session's.
		other := e.loggedIn(storage.RoleAdmin).csrf()
		c.post(path+"/reject", url.Values{"csrf": {other}, "reason": {"no"}}).want(t, http.StatusForbidden)
		if got := e.order(o.ID); got.Approval != storage.ApprovalPending {
			t.Fatalf("approval %s after forged forms", got.Approval)
		}
		denied := e.audits(storage.AuditFilter{Object: "order:" + o.ID, Outcome: storage.OutcomeDenied})
		if len(denied) != 3 {
			t.Errorf("%d denied entries, want 3: %+v", len(denied), denied)
		}
	})

	t.Run("auditor", func(t *testing.T) {
		c := e.loggedIn(storage.RoleAuditor)
		page := c.get(path).want(t, http.StatusOK)
		if strings.Contains(page.body, "/approve") || strings.Contains(page.body, "/reject") {
			t.Errorf("the auditor's order page offers the decision forms")
		}
		// The auditor forges the form with its own valid CSRF token.
		c.post(path+"/approve", url.Values{"csrf": {page.csrf(t)}}).want(t, http.StatusForbidden)
		c.post(path+"/reject", url.Values{"csrf": {page.csrf(t)}, "reason": {"no"}}).want(t, http.StatusForbidden)
		if got := e.order(o.ID); got.Approval != storage.ApprovalPending {
			t.Fatalf("approval %s after the auditor's forms", got.Approval)
		}
		denied := e.audits(storage.AuditFilter{Action: "order.approve", Actor: "token:" + e.names[storage.RoleAuditor]})
		if len(denied) != 1 || denied[0].Outcome != storage.OutcomeDenied || denied[0].Object != "order:"+o.ID {
			t.Fatalf("auditor approve entries = %+v", denied)
		}
	})

	t.Run("reject needs a reason", func(t *testing.T) {
		c := e.loggedIn(storage.RoleOperator)
		r := c.post(path+"/reject", url.Values{"csrf": {c.csrf()}, "reason": {"  "}}).want(t, http.StatusUnprocessableEntity)
		if !strings.Contains(r.body, "A rejection needs a reason") {
			t.Errorf("no explanation:\n%s", r.main())
		}
		if got := e.order(o.ID); got.Approval != storage.ApprovalPending {
			t.Fatalf("approval %s after a reasonless rejection", got.Approval)
		}
	})

	t.Run("approve", func(t *testing.T) {
		c := e.loggedIn(storage.RoleOperator)
		page := c.get(path).want(t, http.StatusOK)
		if !strings.Contains(page.body, `id="approve"`) {
			t.Fatalf("no approve form for an operator:\n%s", page.body)
		}
		c.post(path+"/approve", url.Values{"csrf": {page.csrf(t)}, "reason": {"change CHG-42"}}).wantRedirect(t, path+"?done=approved")
		got := e.waitOrder(o.ID)
		if got.Approval != storage.ApprovalApproved || got.ApprovalBy != e.names[storage.RoleOperator] || got.Status != storage.StatusValid {
			t.Fatalf("order after approval: status %s approval %s by %q", got.Status, got.Approval, got.ApprovalBy)
		}
		ok := e.audits(storage.AuditFilter{Action: "order.approve", Outcome: storage.OutcomeSuccess})
		if len(ok) != 1 || ok[0].Directory != "team-a" || !strings.Contains(ok[0].Detail, "CHG-42") {
			t.Fatalf("approve entries = %+v", ok)
		}
		page = c.get(path+"?done=approved").want(t, http.StatusOK)
		for _, want := range []string{"The order was approved", "Approved by " + e.names[storage.RoleOperator], "reason: change CHG-42",
			"Certificate issued", "Awaiting approval", "app.example.com: validated"} {
			if !strings.Contains(page.body, want) {
				t.Errorf("order page lacks %q", want)
			}
		}
		// Deciding again is refused, and audited as a failure.
		r := c.post(path+"/reject", url.Values{"csrf": {page.csrf(t)}, "reason": {"too late"}}).want(t, http.StatusConflict)
		if !strings.Contains(r.body, "not awaiting approval") {
			t.Errorf("second decision:\n%s", r.main())
		}
		if n := len(e.audits(storage.AuditFilter{Action: "order.reject", Outcome: storage.OutcomeFailure})); n != 1 {
			t.Errorf("%d failed reject entries, want 1", n)
		}
	})

	t.Run("reject", func(t *testing.T) {
		o2 := e.awaitingApproval(acct, orderSpec{names: []string{"other.example.com"}}, deadline)
		c := e.loggedIn(storage.RoleAdmin)
		c.post("/admin/orders/"+o2.ID+"/reject", url.Values{"csrf": {c.csrf()}, "reason": {"not our domain"}}).
			wantRedirect(t, "/admin/orders/"+o2.ID+"?done=rejected")
		got := e.order(o2.ID)
		if got.Status != storage.StatusInvalid || got.Approval != storage.ApprovalRejected || got.ApprovalReason != "not our domain" {
			t.Fatalf("order after rejection: %+v", got)
		}
		page := c.get("/admin/orders/"+o2.ID).want(t, http.StatusOK)
		if !strings.Contains(page.body, `class="step failed"`) || !strings.Contains(page.body, "Rejected by "+e.names[storage.RoleAdmin]) {
			t.Errorf("rejection not marked failed on the timeline:\n%s", page.body)
		}
	})
}

func TestDashEscapesHostileNames(t *testing.T) {
	e := newDashEnv(t, dashEnvOptions{})
	const hostile = `<script>x</script>.example.com`
	const escaped = `&lt;script&gt;x&lt;/script&gt;.example.com`
	acct := e.account("team-a", time.Now().UTC().Add(-time.Hour), "mailto:<b>x</b>@example.com")
	o := e.awaitingApproval(acct, orderSpec{names: []string{hostile}}, time.Now().UTC().Add(time.Hour))
	if err := e.st.AppendOrderEvents(e.ctx, &storage.OrderEvent{OrderID: o.ID, At: time.Now().UTC(), Kind: "note",
		Actor: `<img src=x onerror=alert(1)>`, Detail: `"><script>y</script>`}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.AppendAudit(e.ctx, &storage.AuditEntry{At: time.Now().UTC(), Actor: "account:x", Action: "order.create",
		Object: "order:" + o.ID, Outcome: storage.OutcomeSuccess, Detail: "names " + hostile}); err != nil {
		t.Fatal(err)
	}
	c := e.loggedIn(storage.RoleOperator)
	for _, path := range []string{"/admin/", "/admin/orders", "/admin/orders?name=script", "/admin/orders/" + o.ID, "/admin/audit",
		"/admin/accounts", "/admin/orders?name=" + url.QueryEscape(hostile)} {
		r := c.get(path).want(t, http.StatusOK)
		if strings.Contains(r.body, "<script>") || strings.Contains(r.body, "<img") || strings.Contains(r.body, "<b>x") {
			t.Errorf("%s carries raw markup from stored data", path)
		}
		if path != "/admin/accounts" && !strings.Contains(r.body, escaped) {
			t.Errorf("%s does not show the hostile name escaped", path)
		}
	}
}
