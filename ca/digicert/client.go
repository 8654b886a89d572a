package digicert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/acmegate/acmegate/ca"
)

// maxResponseBody caps what the backend reads of one answer: a full order
// list page (1000 orders) is well under it.
const maxResponseBody = 16 << 20

// response is one API answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// call makes one API call: it waits for the rate limiter, sends in as JSON
// (when not nil) with the X-DC-DEVKEY header, and returns a 2xx answer.
// Everything else becomes a *ca.Error: transport failures and 5xx are
// Unavailable, 429 backs off, 4xx are classified by classify. For an HTTP
// error the answer is returned too, for callers that treat a status
// specially. accept is the Accept header.
func (b *Backend) call(ctx context.Context, action, method, path string, query url.Values, in any, accept string) (*response, error) {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("digicert: encode request: %w", err)
		}
		body = bytes.NewReader(data)
	}
	// path holds ids, hex serials and validated product names only:
	// URL.String escapes whatever needs it.
	u := *b.base
	u.Path = b.base.Path + path
	u.RawPath = ""
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("digicert: build request: %w", err)
	}
	// Header names and Content-Type as every DigiCert example sends them
	// (§2.1); the key is never logged.
	req.Header.Set("X-DC-DEVKEY", b.apiKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "acmegate")

	if err := b.limiter.wait(ctx); err != nil {
		return nil, err
	}
	start := b.now()
	resp, err := b.http.Do(req)
	if err != nil {
		b.log.DebugContext(ctx, "DigiCert call failed", "method", method, "path", path, "error", b.redact(err.Error()))
		return nil, &ca.Error{Kind: ca.Unavailable, Detail: fmt.Sprintf("could not reach DigiCert CertCentral to %s; will retry", action), Err: b.redactErr(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return nil, &ca.Error{Kind: ca.Unavailable, Detail: fmt.Sprintf("DigiCert CertCentral's answer to %s was cut off; will retry", action), Err: b.redactErr(err)}
	}
	if len(data) > maxResponseBody {
		return nil, &ca.Error{Kind: ca.Unavailable, Detail: fmt.Sprintf("DigiCert CertCentral's answer to %s is larger than %d bytes", action, maxResponseBody)}
	}
	b.log.DebugContext(ctx, "DigiCert call", "method", method, "path", path, "status", resp.StatusCode, "duration", b.now().Sub(start))
	r := &response{status: resp.StatusCode, header: resp.Header, body: data}
	switch {
	case isRateLimited(r):
		return r, b.rateLimited(r)
	case r.status/100 != 2:
		return r, b.classify(action, r)
	}
	return r, nil
}

// callJSON is call followed by decoding a JSON answer into out. An answer
// that does not decode is Unavailable: the call may well have taken effect
// (an order placed), and only a retry, which looks before it leaps, can
// tell.
func (b *Backend) callJSON(ctx context.Context, action, method, path string, query url.Values, in, out any) (*response, error) {
	r, err := b.call(ctx, action, method, path, query, in, "application/json")
	if err != nil {
		return r, err
	}
	if out != nil && len(bytes.TrimSpace(r.body)) > 0 {
		if err := json.Unmarshal(r.body, out); err != nil {
			return r, &ca.Error{Kind: ca.Unavailable,
				Detail: fmt.Sprintf("DigiCert CertCentral's answer to %s is not the expected JSON; will retry", action),
				Err:    b.redactErr(err)}
		}
	}
	return r, nil
}

// keyedMutex serializes work per key (an acmegate order id), so that two
// concurrent Issue calls for one order in this process cannot both decide
// to place it. Entries are dropped when unused.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

// lock locks key and returns the unlock function.
func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
