package main

// The ACME client is written here on go-jose rather than taken from
// golang.org/x/crypto/acme: x/crypto retries badNonce and 429/5xx inside
// its own calls and sleeps a default second between polls when the server
// sends no Retry-After (WaitAuthorization, WaitOrder), so neither the retries
// nor the poll interval could be counted or chosen, and one issuance would
// take at least a second whatever the server. A load generator needs to
// count every request, time every step and poll at a fixed short interval
// so that servers are compared on their own speed. What it needs of RFC 8555
// is small: JWS with jwk or kid, nonces, and a handful of resources.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	// problemPrefix starts every ACME error type (RFC 8555 §6.7).
	problemPrefix = "urn:ietf:params:acme:error:"
	badNonceType  = problemPrefix + "badNonce"
	// maxAttempts bounds the retries of one request (bad nonces, 429, 503).
	maxAttempts = 8
	// maxBody caps what is read of any response: a chain is a few KiB.
	maxBody = 1 << 20
	// defaultThrottleWait is the wait after a 429 or 503 without
	// Retry-After.
	defaultThrottleWait = time.Second
)

// directoryDoc is the directory resource (RFC 8555 §7.1.1).
type directoryDoc struct {
	NewNonce   string `json:"newNonce"`
	NewAccount string `json:"newAccount"`
	NewOrder   string `json:"newOrder"`
	Meta       struct {
		ExternalAccountRequired bool `json:"externalAccountRequired"`
	} `json:"meta"`
}

// problem is a problem document (RFC 7807, RFC 8555 §6.7), or one made up
// for a response that carries none.
type problem struct {
	Type   string `json:"type"`
	Detail string `json:"detail"`
	Status int    `json:"status"`
}

func (p *problem) Error() string {
	return fmt.Sprintf("%s: %s (HTTP %d)", p.Type, p.Detail, p.Status)
}

// counters are shared by all workers.
type counters struct {
	requests        atomic.Int64 // every HTTP request sent to the ACME server
	nonceRetries    atomic.Int64 // requests repeated after badNonce
	throttleRetries atomic.Int64 // requests repeated after 429 or 503
	polls           atomic.Int64 // POST-as-GET of an authorization or order while waiting
}

// countingTransport counts every request, retries and nonce fetches
// included, so requests per issuance is what the server really served.
type countingTransport struct {
	base http.RoundTripper
	n    *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.base.RoundTrip(r)
}

// response is a read HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// problem returns the response's problem document.
func (r *response) problem() *problem {
	p := &problem{}
	if err := json.Unmarshal(r.body, p); err != nil || p.Type == "" {
		p = &problem{Type: "http:" + strconv.Itoa(r.status), Detail: truncate(string(r.body), 200)}
	}
	p.Status = r.status
	return p
}

// client is one account's ACME client. It belongs to one worker goroutine:
// its nonce pool is not locked.
type client struct {
	hc           *http.Client
	dir          *directoryDoc
	key          *ecdsa.PrivateKey
	thumbprint   string // RFC 7638 thumbprint of the account key, base64url
	kid          string // account URL, once registered
	nonces       []string
	ctr          *counters
	maxRetryWait time.Duration
}

func newClient(hc *http.Client, dir *directoryDoc, key *ecdsa.PrivateKey, ctr *counters, maxRetryWait time.Duration) (*client, error) {
	tp, err := (&jose.JSONWebKey{Key: key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("account key thumbprint: %w", err)
	}
	return &client{hc: hc, dir: dir, key: key, thumbprint: base64.RawURLEncoding.EncodeToString(tp), ctr: ctr, maxRetryWait: maxRetryWait}, nil
}

// keyAuthorization is token.thumbprint (RFC 8555 §8.1).
func (c *client) keyAuthorization(token string) string { return token + "." + c.thumbprint }

// fetchDirectory reads the directory resource.
func fetchDirectory(ctx context.Context, hc *http.Client, url string) (*directoryDoc, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("directory %s: HTTP %d: %s", url, resp.StatusCode, truncate(string(body), 200))
	}
	d := &directoryDoc{}
	if err := json.Unmarshal(body, d); err != nil {
		return nil, fmt.Errorf("directory %s: %w", url, err)
	}
	if d.NewNonce == "" || d.NewAccount == "" || d.NewOrder == "" {
		return nil, fmt.Errorf("directory %s lacks newNonce, newAccount or newOrder", url)
	}
	return d, nil
}

// register creates the account (RFC 8555 §7.3), with an external account
// binding (§7.3.4) when eabKID is set.
func (c *client) register(ctx context.Context, eabKID string, eabHMAC []byte) error {
	req := map[string]any{"termsOfServiceAgreed": true}
	if eabKID != "" {
		eab, err := c.eabBinding(eabKID, eabHMAC)
		if err != nil {
			return err
		}
		req["externalAccountBinding"] = eab
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("newAccount: %w", err)
	}
	resp, err := c.post(ctx, c.dir.NewAccount, payload)
	if err != nil {
		return fmt.Errorf("newAccount: %w", err)
	}
	if c.kid = resp.header.Get("Location"); c.kid == "" {
		return errors.New("newAccount: no Location header")
	}
	return nil
}

// eabBinding is the inner JWS of an external account binding: the
// account's public JWK signed with the HMAC key (RFC 8555 §7.3.4).
func (c *client) eabBinding(kid string, hmacKey []byte) (json.RawMessage, error) {
	jwk, err := (&jose.JSONWebKey{Key: c.key.Public()}).MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("eab: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: hmacKey},
		&jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"kid": kid, "url": c.dir.NewAccount}})
	if err != nil {
		return nil, fmt.Errorf("eab: %w", err)
	}
	obj, err := signer.Sign(jwk)
	if err != nil {
		return nil, fmt.Errorf("eab: %w", err)
	}
	return json.RawMessage(obj.FullSerialize()), nil
}

// sign wraps payload in a flattened JWS (RFC 8555 §6.2): jwk before the
// account exists, kid after.
func (c *client) sign(payload []byte, url, nonce string) ([]byte, error) {
	opts := &jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"nonce": nonce, "url": url}}
	key := jose.SigningKey{Algorithm: jose.ES256, Key: c.key}
	if c.kid == "" {
		opts.EmbedJWK = true
	} else {
		key.Key = jose.JSONWebKey{Key: c.key, KeyID: c.kid}
	}
	signer, err := jose.NewSigner(key, opts)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return []byte(obj.FullSerialize()), nil
}

// nonce takes a nonce from the pool the responses filled, or asks newNonce
// for one (RFC 8555 §7.2).
func (c *client) nonce(ctx context.Context) (string, error) {
	if n := len(c.nonces); n > 0 {
		nonce := c.nonces[n-1]
		c.nonces = c.nonces[:n-1]
		return nonce, nil
	}
	resp, err := c.do(ctx, http.MethodHead, c.dir.NewNonce, nil, "")
	if err != nil {
		return "", fmt.Errorf("newNonce: %w", err)
	}
	if resp.status >= 400 {
		return "", resp.problem()
	}
	if n := len(c.nonces); n > 0 {
		nonce := c.nonces[n-1]
		c.nonces = c.nonces[:n-1]
		return nonce, nil
	}
	return "", &problem{Type: "acmebench:protocol", Detail: "newNonce answered without Replay-Nonce"}
}

// post sends a signed request (payload nil for POST-as-GET, RFC 8555
// §6.3) and returns a response with a status below 400. It repeats the
// request with a fresh nonce after badNonce (§6.5) and after 429 or 503
// once Retry-After has passed; a Retry-After beyond maxRetryWait ends it
// with the problem.
func (c *client) post(ctx context.Context, url string, payload []byte) (*response, error) {
	return c.postAccept(ctx, url, payload, "")
}

func (c *client) postAccept(ctx context.Context, url string, payload []byte, accept string) (*response, error) {
	if payload == nil {
		payload = []byte{}
	}
	for attempt := 1; ; attempt++ {
		nonce, err := c.nonce(ctx)
		if err != nil {
			return nil, err
		}
		body, err := c.sign(payload, url, nonce)
		if err != nil {
			return nil, err
		}
		resp, err := c.do(ctx, http.MethodPost, url, body, accept)
		if err != nil {
			return nil, err
		}
		if resp.status < 400 {
			return resp, nil
		}
		prob := resp.problem()
		if attempt >= maxAttempts {
			return nil, prob
		}
		switch {
		case prob.Type == badNonceType:
			c.ctr.nonceRetries.Add(1)
		case resp.status == http.StatusTooManyRequests || resp.status == http.StatusServiceUnavailable:
			wait, ok := retryAfter(resp.header, time.Now())
			if !ok {
				wait = defaultThrottleWait
			}
			if wait > c.maxRetryWait {
				return nil, prob
			}
			c.ctr.throttleRetries.Add(1)
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
		default:
			return nil, prob
		}
	}
}

// do sends one request and keeps the Replay-Nonce it brings.
func (c *client) do(ctx context.Context, method, url string, body []byte, accept string) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/jose+json")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read: %w", method, url, err)
	}
	if n := resp.Header.Get("Replay-Nonce"); n != "" {
		c.nonces = append(c.nonces, n)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: raw}, nil
}

// retryAfter reads Retry-After in seconds or as an HTTP date (RFC 9110
// §10.2.3).
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
