package acme_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
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

// TestSecurityBodyLimit: every POST route of the ACME handler answers an
// endless body with 413 and a malformed problem, having read no more than
// the limit (64 KiB by default) plus the one byte that proves it exceeded.
// (Security review, issue 8 item 6.)
func TestSecurityBodyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	const limit = 64 << 10
	for _, path := range []string{
		"/acme/default/new-account", "/acme/default/account/x", "/acme/default/account/x/orders",
		"/acme/default/key-change", "/acme/default/new-order", "/acme/default/new-authz",
		"/acme/default/order/x", "/acme/default/order/x/finalize", "/acme/default/authz/x",
		"/acme/default/chall/x", "/acme/default/cert/x", "/acme/default/cert/x/1", "/acme/default/revoke-cert",
	} {
		t.Run(path, func(t *testing.T) {
			body := &endlessBody{}
			req := httptest.NewRequest(http.MethodPost, "https://127.0.0.1"+path, nil)
			req.Body, req.ContentLength = body, -1
			req.Header.Set("Content-Type", "application/jose+json")
			w := httptest.NewRecorder()
			e.handler.ServeHTTP(w, req)
			var p struct{ Type string }
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				t.Fatalf("answer %d %q: %v", w.Code, w.Body, err)
			}
			if w.Code != http.StatusRequestEntityTooLarge || p.Type != "urn:ietf:params:acme:error:malformed" {
				t.Errorf("answer %d %s, want 413 malformed", w.Code, p.Type)
			}
			if body.read > limit+1 {
				t.Errorf("read %d bytes of the body, limit %d", body.read, limit)
			}
		})
	}
}
