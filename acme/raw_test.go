package acme_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// rawClient speaks ACME by hand so tests can send exactly the malformed and
// hostile requests a real client never would.
type rawClient struct {
	e   *env
	key *ecdsa.PrivateKey
	kid string
}

func (e *env) rawClient() *rawClient { return &rawClient{e: e, key: newECKey(e.t)} }

func (r *rawClient) jwk() json.RawMessage {
	b, err := json.Marshal(jose.JSONWebKey{Key: r.key.Public()})
	if err != nil {
		r.e.t.Fatal(err)
	}
	return b
}

func (r *rawClient) nonce() string {
	r.e.t.Helper()
	resp, err := r.e.client.Head(r.e.url + "/acme/default/new-nonce")
	if err != nil {
		r.e.t.Fatal(err)
	}
	resp.Body.Close()
	n := resp.Header.Get("Replay-Nonce")
	if n == "" {
		r.e.t.Fatal("newNonce returned no Replay-Nonce")
	}
	return n
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signES256 signs protected.payload with the client key (RFC 7518 §3.4).
func (r *rawClient) signES256(protected, payload string) string {
	h := sha256.Sum256([]byte(protected + "." + payload))
	s1, s2, err := ecdsa.Sign(rand.Reader, r.key, h[:])
	if err != nil {
		r.e.t.Fatal(err)
	}
	sig := make([]byte, 64)
	s1.FillBytes(sig[:32])
	s2.FillBytes(sig[32:])
	return b64(sig)
}

// jws builds a flattened JWS with the given header fields and payload
// (nil payload = POST-as-GET).
func (r *rawClient) jws(header map[string]any, payload []byte) []byte {
	hb, err := json.Marshal(header)
	if err != nil {
		r.e.t.Fatal(err)
	}
	prot := b64(hb)
	pl := b64(payload)
	body, _ := json.Marshal(map[string]string{"protected": prot, "payload": pl, "signature": r.signES256(prot, pl)})
	return body
}

// header returns a standard header for url: kid when the client has an
// account, jwk otherwise.
func (r *rawClient) header(url string) map[string]any {
	h := map[string]any{"alg": "ES256", "nonce": r.nonce(), "url": url}
	if r.kid != "" {
		h["kid"] = r.kid
	} else {
		h["jwk"] = r.jwk()
	}
	return h
}

type rawResponse struct {
	status  int
	header  http.Header
	body    []byte
	problem struct {
		Type        string `json:"type"`
		Detail      string `json:"detail"`
		Status      int    `json:"status"`
		Subproblems []struct {
			Type       string `json:"type"`
			Detail     string `json:"detail"`
			Identifier *struct {
				Type  string `json:"type"`
				Value string `json:"value"`
			} `json:"identifier"`
		} `json:"subproblems"`
		Algorithms []string `json:"algorithms"`
	}
}

func (r *rawClient) send(method, url, contentType string, body []byte) *rawResponse {
	r.e.t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		r.e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := r.e.client.Do(req)
	if err != nil {
		r.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := &rawResponse{status: resp.StatusCode, header: resp.Header}
	out.body, _ = io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") == "application/problem+json" {
		if err := json.Unmarshal(out.body, &out.problem); err != nil {
			r.e.t.Fatalf("problem document is not JSON: %v: %s", err, out.body)
		}
	}
	return out
}

func (r *rawClient) post(url string, body []byte) *rawResponse {
	return r.send(http.MethodPost, url, "application/jose+json", body)
}

// register creates the client's account and remembers its kid.
func (r *rawClient) register() {
	r.e.t.Helper()
	url := r.e.url + "/acme/default/new-account"
	resp := r.post(url, r.jws(r.header(url), []byte(`{"termsOfServiceAgreed":true}`)))
	if resp.status != http.StatusCreated {
		r.e.t.Fatalf("newAccount: %d %s", resp.status, resp.body)
	}
	r.kid = resp.header.Get("Location")
}

// signWith signs with another key, for tests that need a foreign signer.
func signWith(t *testing.T, key crypto.Signer, alg jose.SignatureAlgorithm, header map[string]any, payload []byte) []byte {
	t.Helper()
	opts := &jose.SignerOptions{}
	for k, v := range header {
		opts.WithHeader(jose.HeaderKey(k), v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(obj.FullSerialize())
}
