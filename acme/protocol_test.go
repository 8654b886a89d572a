package acme_test

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmegate/acmegate/acme"
)

const (
	typeMalformed    = "urn:ietf:params:acme:error:malformed"
	typeUnauthorized = "urn:ietf:params:acme:error:unauthorized"
)

// The hostile requests once tested here are cases of TestHostileCatalogue
// (hostile_test.go), which checks each of them more closely.

func TestBadSignatureAlgorithmListsAlgorithms(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.rawClient()
	u := e.url + "/acme/default/new-account"
	h := c.header(u)
	h["alg"] = "none"
	hb, _ := json.Marshal(h)
	body, _ := json.Marshal(map[string]string{"protected": b64(hb), "payload": b64([]byte(`{}`)), "signature": ""})
	r := c.post(u, body)
	if len(r.problem.Algorithms) == 0 || !strings.Contains(strings.Join(r.problem.Algorithms, ","), "ES256") {
		t.Errorf("algorithms = %v, want the accepted list", r.problem.Algorithms)
	}
}

func TestRejectedIdentifiersHaveSubproblems(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.rawClient()
	c.register()
	u := e.url + "/acme/default/new-order"
	before := e.countRows()
	r := c.post(u, c.jws(c.header(u), []byte(`{"identifiers":[
		{"type":"dns","value":"ok.example.com"},
		{"type":"dns","value":"bad..example.com"},
		{"type":"dns","value":"*.*.example.com"},
		{"type":"email","value":"a@example.com"}]}`)))
	if r.status != 400 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	got := map[string]string{}
	for _, sp := range r.problem.Subproblems {
		if sp.Identifier == nil {
			t.Fatalf("subproblem without identifier: %+v", sp)
		}
		got[sp.Identifier.Value] = sp.Type
	}
	want := map[string]string{
		"bad..example.com": "urn:ietf:params:acme:error:malformed",
		"*.*.example.com":  "urn:ietf:params:acme:error:malformed",
		"a@example.com":    "urn:ietf:params:acme:error:unsupportedIdentifier",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("subproblem for %q = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["ok.example.com"]; ok {
		t.Error("the acceptable identifier got a subproblem")
	}
	if r.problem.Type != "urn:ietf:params:acme:error:compound" {
		t.Errorf("top-level type = %q, want compound", r.problem.Type)
	}
	if after := e.countRows(); !maps.Equal(before, after) {
		t.Errorf("storage changed: %v → %v", before, after)
	}
}

func TestFinalizeWithExtraNameIsBadCSR(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	o, err := c.AuthorizeOrder(ctx, idsOf("csr.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	e.solve(ctx, c, o, "http-01")
	der, err := x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{"csr.example.com", "extra.example.com"}), newECKey(t))
	if err != nil {
		t.Fatal(err)
	}
	before := e.countRows()
	_, _, err = c.CreateOrderCert(ctx, o.FinalizeURL, der, true)
	assertProblem(t, err, "urn:ietf:params:acme:error:badCSR", 400)
	if !strings.Contains(err.Error(), "extra.example.com") {
		t.Errorf("detail does not name the extra name: %v", err)
	}
	if after := e.countRows(); !maps.Equal(before, after) {
		t.Errorf("storage changed: %v → %v", before, after)
	}
	// The account key cannot be the certificate key.
	der, _ = x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{"csr.example.com"}), c.Key)
	_, _, err = c.CreateOrderCert(ctx, o.FinalizeURL, der, true)
	assertProblem(t, err, "urn:ietf:params:acme:error:badCSR", 400)
	// The order is still ready and finalizes with a good CSR.
	der, _ = x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{"csr.example.com"}), newECKey(t))
	if _, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, der, true); err != nil {
		t.Fatalf("finalize with a good CSR: %v", err)
	}
	// Finalizing twice is orderNotReady.
	_, _, err = c.CreateOrderCert(ctx, o.FinalizeURL, der, false)
	assertProblem(t, err, "urn:ietf:params:acme:error:orderNotReady", 403)
}

func TestNewNonceAndDirectory(t *testing.T) {
	e := newEnv(t, envOptions{settings: acme.DirectorySettings{TermsOfService: "https://example.com/tos", Website: "https://example.com", CAAIdentities: []string{"example.com"}}})
	for _, m := range []struct {
		method string
		status int
	}{{http.MethodHead, 200}, {http.MethodGet, 204}} {
		req, _ := http.NewRequest(m.method, e.url+"/acme/default/new-nonce", nil)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != m.status || resp.Header.Get("Replay-Nonce") == "" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s newNonce: %d nonce=%q cache=%q", m.method, resp.StatusCode, resp.Header.Get("Replay-Nonce"), resp.Header.Get("Cache-Control"))
		}
		if !strings.Contains(resp.Header.Get("Link"), `rel="index"`) {
			t.Errorf("%s newNonce has no Link rel=index", m.method)
		}
	}
	resp, err := e.client.Get(e.url + "/directory")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var dir struct {
		NewNonce, NewAccount, NewOrder, NewAuthz, RevokeCert, KeyChange string
		Meta                                                            struct {
			TermsOfService          string   `json:"termsOfService"`
			Website                 string   `json:"website"`
			CAAIdentities           []string `json:"caaIdentities"`
			ExternalAccountRequired *bool    `json:"externalAccountRequired"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&dir); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"newNonce": dir.NewNonce, "newAccount": dir.NewAccount, "newOrder": dir.NewOrder, "newAuthz": dir.NewAuthz, "revokeCert": dir.RevokeCert, "keyChange": dir.KeyChange} {
		if !strings.HasPrefix(v, e.url+"/acme/default/") {
			t.Errorf("%s = %q", name, v)
		}
	}
	if dir.Meta.TermsOfService != "https://example.com/tos" || dir.Meta.Website != "https://example.com" || len(dir.Meta.CAAIdentities) != 1 || dir.Meta.ExternalAccountRequired == nil {
		t.Errorf("meta = %+v", dir.Meta)
	}
}

func TestNewAccountExistingKeyAndTerms(t *testing.T) {
	e := newEnv(t, envOptions{settings: acme.DirectorySettings{TermsOfService: "https://example.com/tos"}})
	c := e.rawClient()
	u := e.url + "/acme/default/new-account"
	r := c.post(u, c.jws(c.header(u), []byte(`{}`)))
	if r.status != 400 || !strings.Contains(r.problem.Detail, "terms of service") {
		t.Errorf("without agreeing to the terms: %d %s", r.status, r.body)
	}
	c.register()
	r = c.post(u, c.jws(map[string]any{"alg": "ES256", "nonce": c.nonce(), "url": u, "jwk": c.jwk()}, []byte(`{"termsOfServiceAgreed":true}`)))
	if r.status != 200 || r.header.Get("Location") != c.kid {
		t.Errorf("existing key: %d Location %q, want 200 %q", r.status, r.header.Get("Location"), c.kid)
	}
	r = c.post(u, c.jws(map[string]any{"alg": "ES256", "nonce": c.nonce(), "url": u, "jwk": c.jwk()}, []byte(`{"onlyReturnExisting":true}`)))
	if r.status != 200 || r.header.Get("Location") != c.kid {
		t.Errorf("onlyReturnExisting: %d Location %q", r.status, r.header.Get("Location"))
	}
	// Contact update.
	r = c.post(c.kid, c.jws(c.header(c.kid), []byte(`{"contact":["mailto:new@example.org"]}`)))
	if r.status != 200 || !strings.Contains(string(r.body), "new@example.org") {
		t.Errorf("contact update: %d %s", r.status, r.body)
	}
}

func TestOrdersListIsPaginated(t *testing.T) {
	e := newEnv(t, envOptions{pageSize: 2})
	c := e.rawClient()
	c.register()
	u := e.url + "/acme/default/new-order"
	made := map[string]bool{}
	for i := range 5 {
		r := c.post(u, c.jws(c.header(u), fmt.Appendf(nil, `{"identifiers":[{"type":"dns","value":"o%d.example.com"}]}`, i)))
		if r.status != 201 {
			t.Fatalf("new order: %d %s", r.status, r.body)
		}
		made[r.header.Get("Location")] = true
	}
	seen := map[string]bool{}
	next := c.kid + "/orders"
	pages := 0
	for next != "" {
		pages++
		r := c.post(next, c.jws(c.header(next), nil))
		if r.status != 200 {
			t.Fatalf("orders page: %d %s", r.status, r.body)
		}
		var list struct{ Orders []string }
		if err := json.Unmarshal(r.body, &list); err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Orders {
			if seen[o] {
				t.Errorf("order %s listed twice", o)
			}
			seen[o] = true
		}
		next = ""
		for _, l := range r.header.Values("Link") {
			if strings.Contains(l, `rel="next"`) {
				next = strings.TrimSuffix(strings.TrimPrefix(strings.Split(l, ";")[0], "<"), ">")
			}
		}
	}
	if pages != 3 || !maps.Equal(seen, made) {
		t.Errorf("pages = %d, orders seen %d of %d", pages, len(seen), len(made))
	}
}

func TestKeyChangeInnerJWSRules(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.rawClient()
	c.register()
	u := e.url + "/acme/default/key-change"
	newKey := newECKey(t)
	oldJWK := c.jwk()
	inner := func(url, account string, old json.RawMessage) []byte {
		payload, _ := json.Marshal(map[string]any{"account": account, "oldKey": old})
		return signWith(t, newKey, jose.ES256, map[string]any{"url": url, "jwk": jose.JSONWebKey{Key: newKey.Public()}}, payload)
	}
	cases := []struct {
		name  string
		inner []byte
		want  string
	}{
		{"inner url differs", inner(e.url+"/acme/default/new-order", c.kid, oldJWK), typeMalformed},
		{"inner account differs", inner(u, e.url+"/acme/default/account/other", oldJWK), typeUnauthorized},
		{"oldKey is not the account key", inner(u, c.kid, json.RawMessage(must(json.Marshal(jose.JSONWebKey{Key: newECKey(t).Public()})))), typeUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.post(u, c.jws(c.header(u), tc.inner))
			if r.problem.Type != tc.want {
				t.Errorf("got %d %q %s, want %q", r.status, r.problem.Type, r.problem.Detail, tc.want)
			}
		})
	}
	r := c.post(u, c.jws(c.header(u), inner(u, c.kid, oldJWK)))
	if r.status != 200 {
		t.Fatalf("valid key change: %d %s", r.status, r.body)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t, envOptions{})
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := e.client.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	// With the database closed, the instance is alive but not ready.
	e.stopJobs()
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := e.client.Get(e.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("GET /readyz with the database closed = %d, want 503", resp.StatusCode)
	}
}
