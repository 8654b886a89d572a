package admin

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/acmegate/acmegate/storage"
)

// endlessBody is a request body that never ends and counts what was read
// of it.
type endlessBody struct{ read int64 }

func (b *endlessBody) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	b.read += int64(len(p))
	return len(p), nil
}

func (b *endlessBody) Close() error { return nil }

// serveEndless sends an endless body to h at target (announced with
// length, or chunked when length is -1) and returns the answer and how
// much of the body was read.
func serveEndless(h http.Handler, method, target string, length int64, header http.Header) (*httptest.ResponseRecorder, int64) {
	body := &endlessBody{}
	req := httptest.NewRequest(method, target, nil)
	req.Body, req.ContentLength = body, length
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w, body.read
}

// TestSecurityAPIBodyLimit: every mutation of the admin API refuses a body
// announced larger than 64 KiB with 413 without reading it, and an endless
// chunked body with 413 after reading no more than the limit; a route that
// takes no body never reads it. (Security review, issue 8 item 6.)
func TestSecurityAPIBodyLimit(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	h := e.srv.Handler()
	header := http.Header{"Authorization": {"Bearer " + e.tokens[storage.RoleAdmin]}, "Content-Type": {"application/json"}}
	for _, rt := range e.srv.apiRouteTable() {
		if rt.method == http.MethodGet {
			continue
		}
		path := strings.NewReplacer("{name}", "default", "{id}", "x").Replace(apiPrefix + rt.path)
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			w, read := serveEndless(h, rt.method, e.ts.URL+path, 1<<20, header)
			if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), kindTooLarge) {
				t.Errorf("announced 1 MiB body: %d %s, want 413 %s", w.Code, w.Body, kindTooLarge)
			}
			if read != 0 {
				t.Errorf("announced 1 MiB body: %d bytes read, want none", read)
			}
			w, read = serveEndless(h, rt.method, e.ts.URL+path, -1, header)
			switch {
			case read == 0:
				t.Logf("takes no body: answered %d without reading it", w.Code)
			case read > maxBodyBytes+1:
				t.Errorf("endless body: %d bytes read, limit %d", read, maxBodyBytes)
			case w.Code != http.StatusRequestEntityTooLarge:
				t.Errorf("endless body: %d %s after reading %d bytes, want 413", w.Code, w.Body, read)
			}
		})
	}
}

// TestSecurityDashFormLimit: the login form and every form of a session
// answer an endless body with 413 after reading no more than 64 KiB.
func TestSecurityDashFormLimit(t *testing.T) {
	t.Parallel()
	e := newDashEnv(t, dashEnvOptions{})
	h := e.srv.Handler()
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	c := e.loggedIn(storage.RoleAdmin)
	session := form.Clone()
	base, _ := url.Parse(e.ts.URL + "/admin/")
	for _, ck := range c.hc.Jar.Cookies(base) {
		session.Add("Cookie", ck.String())
	}
	for _, tc := range []struct {
		path   string
		header http.Header
	}{
		{"/admin/login", form},
		{"/admin/logout", session},
		{"/admin/orders/x/approve", session},
		{"/admin/orders/x/reject", session},
		{"/admin/certificates/x/revoke", session},
		{"/admin/directories/default/eab-keys", session},
	} {
		t.Run(tc.path, func(t *testing.T) {
			for _, length := range []int64{-1, 1 << 20} {
				w, read := serveEndless(h, http.MethodPost, e.ts.URL+tc.path, length, tc.header)
				if w.Code != http.StatusRequestEntityTooLarge {
					t.Errorf("body of length %d: %d, want 413\n%s", length, w.Code, w.Body)
				}
				if read > dashMaxForm+1 {
					t.Errorf("body of length %d: %d bytes read, limit %d", length, read, dashMaxForm)
				}
			}
		})
	}
	// The session still works: the refused forms changed nothing.
	c.get("/admin/").want(t, http.StatusOK)
}
