package admin

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// dashClient is a browser-like HTTP client: a cookie jar, no automatic
// redirects (tests look at them).
type dashClient struct {
	t    testing.TB
	e    *dashEnv
	hc   *http.Client
	base *url.URL
}

func (e *dashEnv) client() *dashClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	// ts.Client returns the same client every time: each browser gets its
	// own copy, with its own jar, over the shared transport.
	hc := *e.ts.Client()
	hc.Jar = jar
	hc.Timeout = 30 * time.Second
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	u, _ := url.Parse(e.ts.URL)
	return &dashClient{t: e.t, e: e, hc: &hc, base: u}
}

// dashResp is an answer with its body read.
type dashResp struct {
	*http.Response
	body string
}

func (c *dashClient) do(req *http.Request) *dashResp {
	c.t.Helper()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read %s: %v", req.URL, err)
	}
	return &dashResp{Response: resp, body: string(b)}
}

func (c *dashClient) get(path string) *dashResp {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.e.ctx, http.MethodGet, c.e.ts.URL+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req)
}

func (c *dashClient) post(path string, form url.Values) *dashResp {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.e.ctx, http.MethodPost, c.e.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// want fails the test unless the answer has status.
func (r *dashResp) want(t testing.TB, status int) *dashResp {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d\n%s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.main())
	}
	return r
}

// wantRedirect fails the test unless the answer is a 303 to a location
// starting with prefix.
func (r *dashResp) wantRedirect(t testing.TB, prefix string) *dashResp {
	t.Helper()
	r.want(t, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, prefix) {
		t.Fatalf("%s %s: redirect to %q, want %q…", r.Request.Method, r.Request.URL.Path, loc, prefix)
	}
	return r
}

// main is the page's main element (what a failure message shows).
func (r *dashResp) main() string {
	if m := dashBetween(r.body, "<main>", "</main>"); m != "" {
		return m
	}
	return r.body
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the page's first form.
func (r *dashResp) csrf(t testing.TB) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no csrf field on %s:\n%s", r.Request.URL.Path, r.body)
	}
	return m[1]
}

// login logs the client in with token through the login form.
func (c *dashClient) login(token string) {
	c.t.Helper()
	page := c.get("/admin/login").want(c.t, http.StatusOK)
	c.post("/admin/login", url.Values{"csrf": {page.csrf(c.t)}, "token": {token}, "next": {"/admin/"}}).wantRedirect(c.t, "/admin/")
}

// loggedIn returns a client logged in with the token of role.
func (e *dashEnv) loggedIn(role storage.Role) *dashClient {
	e.t.Helper()
	c := e.client()
	c.login(e.tokens[role])
	return c
}

// csrf returns the session's CSRF token, read from the home page.
func (c *dashClient) csrf() string {
	c.t.Helper()
	return c.get("/admin/").want(c.t, http.StatusOK).csrf(c.t)
}
