package acme

// Shared pieces of the fuzz targets of this package: signing keys, a JWS
// signer and an independent verifier built on the standard library alone
// (so a fuzz target can check go-jose's answer against a second opinion),
// and an in-process Server on SQLite with the local CA.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmegate/acmegate/ca/local"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/sqlite"
	"github.com/acmegate/acmegate/validation"
)

// fuzzBaseURL is the public URL of the fuzzed servers; requests never leave
// the process, so the host only has to be consistent.
const fuzzBaseURL = "https://acme.test"

// fuzzKey is an account key with the JWS algorithm it signs with.
type fuzzKey struct {
	name   string
	signer crypto.Signer
	alg    string
	jwk    *jose.JSONWebKey
}

// jwkJSON is the key's public JWK.
func (k *fuzzKey) jwkJSON(tb testing.TB) []byte {
	tb.Helper()
	b, err := k.jwk.MarshalJSON()
	if err != nil {
		tb.Fatalf("marshal jwk: %v", err)
	}
	return b
}

func (k *fuzzKey) thumbprint(tb testing.TB) string {
	tb.Helper()
	tp, err := thumbprint(k.jwk)
	if err != nil {
		tb.Fatalf("thumbprint: %v", err)
	}
	return tp
}

// sign signs the JWS signing input with the key's own algorithm (RFC 7518
// §3.1), whatever a header may claim.
func (k *fuzzKey) sign(tb testing.TB, input []byte) []byte {
	tb.Helper()
	switch key := k.signer.(type) {
	case *ecdsa.PrivateKey:
		size := (key.Curve.Params().BitSize + 7) / 8
		r, s, err := ecdsa.Sign(rand.Reader, key, hashFor(k.alg, input))
		if err != nil {
			tb.Fatalf("ecdsa sign: %v", err)
		}
		sig := make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
		return sig
	case *rsa.PrivateKey:
		sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, hashFor("RS256", input))
		if err != nil {
			tb.Fatalf("rsa sign: %v", err)
		}
		return sig
	case ed25519.PrivateKey:
		return ed25519.Sign(key, input)
	}
	tb.Fatalf("unknown key type %T", k.signer)
	return nil
}

func hashFor(alg string, input []byte) []byte {
	switch alg {
	case "ES384":
		h := sha512.Sum384(input)
		return h[:]
	case "ES512":
		h := sha512.Sum512(input)
		return h[:]
	}
	h := sha256.Sum256(input)
	return h[:]
}

// stdVerify is a second, independent JWS signature check (RFC 7518 §3.3,
// §3.4, RFC 8037 §3.1) on the standard library: alg must match the key's
// type and curve exactly.
func stdVerify(pub crypto.PublicKey, alg string, input, sig []byte) bool {
	switch key := pub.(type) {
	case *ecdsa.PublicKey:
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		if want == nil || key.Curve != want {
			return false
		}
		size := (want.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(key, hashFor(alg, input), r, s)
	case *rsa.PublicKey:
		return alg == "RS256" && rsa.VerifyPKCS1v15(key, crypto.SHA256, hashFor(alg, input), sig) == nil
	case ed25519.PublicKey:
		return alg == "EdDSA" && len(key) == ed25519.PublicKeySize && ed25519.Verify(key, input, sig)
	}
	return false
}

// newFuzzKeys makes one key of each kind RFC 8555 clients use. RSA key
// generation is slow, so each fuzz worker does it once.
func newFuzzKeys(tb testing.TB) []*fuzzKey {
	tb.Helper()
	var keys []*fuzzKey
	for _, c := range []struct {
		name  string
		alg   string
		curve elliptic.Curve
	}{{"P-256", "ES256", elliptic.P256()}, {"P-384", "ES384", elliptic.P384()}, {"P-521", "ES512", elliptic.P521()}} {
		k, err := ecdsa.GenerateKey(c.curve, rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, newFuzzKey(c.name, c.alg, k))
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	keys = append(keys, newFuzzKey("RSA-2048", "RS256", rk))
	_, ek, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return append(keys, newFuzzKey("Ed25519", "EdDSA", ek))
}

func newFuzzKey(name, alg string, s crypto.Signer) *fuzzKey {
	return &fuzzKey{name: name, signer: s, alg: alg, jwk: &jose.JSONWebKey{Key: s.Public(), Algorithm: alg}}
}

func newP256Key(tb testing.TB) *fuzzKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return newFuzzKey("P-256", "ES256", k)
}

// b64 is base64url without padding, the JWS encoding.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// flattened signs protected and payload (both raw, not yet encoded) with k
// and returns the flattened JSON serialization.
func flattened(tb testing.TB, k *fuzzKey, protected, payload []byte) []byte {
	tb.Helper()
	p, pl := b64(protected), b64(payload)
	sig := k.sign(tb, []byte(p+"."+pl))
	return flattenedOf(tb, p, pl, b64(sig))
}

func flattenedOf(tb testing.TB, protected, payload, sig string) []byte {
	tb.Helper()
	b, err := json.Marshal(flattenedJWS{Protected: protected, Payload: payload, Signature: sig})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// header builds an RFC 8555 §6.2 protected header: kid when kid is not
// empty, the key's jwk otherwise.
func header(tb testing.TB, k *fuzzKey, kid, nonce, url string) []byte {
	tb.Helper()
	h := map[string]any{"alg": k.alg, "url": url}
	if nonce != "" {
		h["nonce"] = nonce
	}
	if kid != "" {
		h["kid"] = kid
	} else {
		h["jwk"] = json.RawMessage(k.jwkJSON(tb))
	}
	b, err := json.Marshal(h)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fuzzServer is a whole acme.Server in process: SQLite in a temp dir, the
// local CA, and a validator that is never asked to validate (the job
// runner does not run, so challenges stay processing).
type fuzzServer struct {
	s       *Server
	h       http.Handler
	store   storage.Store
	sealer  *Sealer
	dirName string
}

func newFuzzServer(tb testing.TB, settings DirectorySettings) *fuzzServer {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "acmegate.db"))
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	backend, err := local.New(ctx, local.Config{Dir: dir})
	if err != nil {
		tb.Fatalf("local CA: %v", err)
	}
	// The validator is required but never used: nothing runs the jobs.
	v, err := validation.New(validation.Config{Resolvers: []string{"127.0.0.1:53"}, Timeout: time.Second})
	if err != nil {
		tb.Fatalf("validator: %v", err)
	}
	cat, err := CatalogOf(ctx, backend)
	if err != nil {
		tb.Fatal(err)
	}
	if err := PutConfigDirectories(ctx, st, cat, []DirectoryDefinition{{Name: "default", Settings: settings}}, time.Now().UTC()); err != nil {
		tb.Fatalf("directories: %v", err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := NewSealer(key)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(ctx, Config{
		BaseURL:   fuzzBaseURL,
		Store:     st,
		Backend:   backend,
		Validator: v,
		Sealer:    sealer,
		// Refusals are the point of fuzzing: keep the request log out.
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		ProcessingHold: -1,
	})
	if err != nil {
		tb.Fatalf("acme.New: %v", err)
	}
	return &fuzzServer{s: s, h: s.Handler(), store: st, sealer: sealer, dirName: "default"}
}

func (fs *fuzzServer) directory(tb testing.TB) *directory {
	tb.Helper()
	d, err := fs.s.dirs.get(context.Background(), fs.dirName)
	if err != nil {
		tb.Fatalf("directory: %v", err)
	}
	return d
}

// url is the absolute URL of path under the fuzzed directory.
func (fs *fuzzServer) url(path string) string { return fs.s.dirURL(fs.dirName) + path }

// joseRequest is a POST of body to url as a client sends it.
func joseRequest(url string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/jose+json")
	return r
}

// fuzzResponse is a recorded response with its body.
type fuzzResponse struct {
	status int
	header http.Header
	body   []byte
}

// post signs payload with k (by kid when kid is set, jwk otherwise) and a
// fresh nonce, sends it through the whole handler, and returns the answer.
func (fs *fuzzServer) post(tb testing.TB, k *fuzzKey, kid, url string, payload []byte) fuzzResponse {
	tb.Helper()
	body := flattened(tb, k, header(tb, k, kid, fs.s.nonces.New(), url), payload)
	rec := httptest.NewRecorder()
	fs.h.ServeHTTP(rec, joseRequest(url, body))
	return fuzzResponse{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// mustPost is post for the harness's own set-up requests, which must
// succeed with want.
func (fs *fuzzServer) mustPost(tb testing.TB, k *fuzzKey, kid, url string, payload any, want int) fuzzResponse {
	tb.Helper()
	var b []byte
	switch p := payload.(type) {
	case nil:
	case []byte:
		b = p
	default:
		var err error
		if b, err = json.Marshal(p); err != nil {
			tb.Fatal(err)
		}
	}
	resp := fs.post(tb, k, kid, url, b)
	if resp.status != want {
		tb.Fatalf("POST %s: status %d, want %d: %s", url, resp.status, want, resp.body)
	}
	return resp
}

// newAccount registers an account for k and returns its URL (the kid).
func (fs *fuzzServer) newAccount(tb testing.TB, k *fuzzKey) string {
	tb.Helper()
	resp := fs.mustPost(tb, k, "", fs.url("/new-account"), map[string]any{"termsOfServiceAgreed": true}, http.StatusCreated)
	return resp.header.Get("Location")
}

// checkProblemResponse asserts the RFC 8555 §6.7 shape of an error answer
// and returns the problem.
func checkProblemResponse(tb testing.TB, resp fuzzResponse) *Problem {
	tb.Helper()
	if ct := resp.header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Fatalf("status %d with Content-Type %q, want application/problem+json", resp.status, ct)
	}
	var p Problem
	if err := json.Unmarshal(resp.body, &p); err != nil {
		tb.Fatalf("problem body is not JSON: %v: %q", err, resp.body)
	}
	if !strings.HasPrefix(string(p.Type), "urn:ietf:params:acme:error:") {
		tb.Fatalf("problem type %q is not an ACME error URN", p.Type)
	}
	if p.Status != resp.status {
		tb.Fatalf("problem status %d, HTTP status %d", p.Status, resp.status)
	}
	if resp.header.Get("Replay-Nonce") == "" {
		tb.Fatalf("error response without Replay-Nonce (RFC 8555 §6.5)")
	}
	return &p
}
