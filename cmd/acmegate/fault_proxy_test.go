package main

// The proxies of the fault tests. Each sits on one path a fault travels and
// can act, once, at the moment a matching request passes:
//
//	acmebench ─▶ frontProxy ─▶ acmegate ─▶ challengeRelay ─▶ acmebench's http-01 responders
//	                              └──────▶ upstreamProxy ─▶ sectigotest fake
//
// frontProxy is the load balancer clients talk to; it also records every
// answer (status, problem type, Retry-After, time taken) for the checks.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// trigger is a one-shot action on the requests match accepts.
type trigger struct {
	match func(method, path string) bool
	fire  func(path string)
}

// armable holds at most one armed trigger; take disarms it as it fires.
type armable struct{ p atomic.Pointer[trigger] }

func (a *armable) arm(match func(method, path string) bool, fire func(path string)) {
	a.p.Store(&trigger{match: match, fire: fire})
}

// take returns the armed trigger if it accepts the request, disarming it.
func (a *armable) take(method, path string) *trigger {
	tr := a.p.Load()
	if tr == nil || !tr.match(method, path) || !a.p.CompareAndSwap(tr, nil) {
		return nil
	}
	return tr
}

// pathHas matches the requests whose path contains every part, in order.
func pathHas(parts ...string) func(method, path string) bool {
	return func(_, path string) bool {
		for _, p := range parts {
			i := strings.Index(path, p)
			if i < 0 {
				return false
			}
			path = path[i+len(p):]
		}
		return true
	}
}

// answer is one request through the front proxy.
type answer struct {
	method, path string
	status       int
	// at is when the answer went back to the client.
	at time.Time
	// problem is the problem document's type, for error answers.
	problem    string
	retryAfter string
	took       time.Duration
	// proxyErr is why the proxy could not get an answer from acmegate
	// (it died with the request in flight).
	proxyErr string
}

// frontProxy terminates TLS for the clients and forwards to acmegate.
// While acmegate restarts it holds new requests, retrying the connection
// for up to holdFor, as a balancer with a retry budget does, instead of
// refusing them.
type frontProxy struct {
	srv       *httptest.Server
	rp        *httputil.ReverseProxy
	transport *http.Transport
	onRequest armable

	mu      sync.Mutex
	answers []answer
}

type answerKey struct{}

const holdFor = 30 * time.Second

func newFrontProxy(t *testing.T) *frontProxy {
	t.Helper()
	p := &frontProxy{}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

// url is what clients use, and acmegate's public_url.
func (p *frontProxy) url() string { return p.srv.URL }

// certPEM is the proxy's TLS certificate, for the clients' trust.
func (p *frontProxy) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
}

// forwardTo sends requests to acmegate at addr, whose TLS root is rootPEM.
func (p *frontProxy) forwardTo(t *testing.T, addr, rootPEM string) {
	t.Helper()
	raw, err := os.ReadFile(rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		t.Fatalf("%s holds no certificate", rootPEM)
	}
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	p.transport = &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		MaxIdleConnsPerHost: 32,
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			deadline := time.Now().Add(holdFor)
			for {
				c, err := dialer.DialContext(ctx, network, a)
				if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
					return c, err
				}
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(50 * time.Millisecond):
				}
			}
		},
	}
	t.Cleanup(p.transport.CloseIdleConnections)
	target := &url.URL{Scheme: "https", Host: addr}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
			// Lets the transport send a request again on a fresh
			// connection when a pooled one turns out dead before a byte
			// of it was written, as balancers do; a nil value is not
			// sent (net/http.Transport).
			r.Out.Header["X-Idempotency-Key"] = nil
		},
		Transport: p.transport,
		ModifyResponse: func(resp *http.Response) error {
			a := resp.Request.Context().Value(answerKey{}).(*answer)
			a.status = resp.StatusCode
			a.retryAfter = resp.Header.Get("Retry-After")
			if resp.StatusCode >= 400 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					return err
				}
				var prob struct{ Type string }
				_ = json.Unmarshal(body, &prob)
				a.problem = prob.Type
				resp.Body = io.NopCloser(bytes.NewReader(body))
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			a := r.Context().Value(answerKey{}).(*answer)
			a.status, a.proxyErr = http.StatusBadGateway, err.Error()
			w.WriteHeader(http.StatusBadGateway)
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
}

func (p *frontProxy) serve(w http.ResponseWriter, r *http.Request) {
	a := &answer{method: r.Method, path: r.URL.Path}
	start := time.Now()
	if tr := p.onRequest.take(r.Method, r.URL.Path); tr != nil {
		// The request goes on: the action races it, as a crash does.
		go tr.fire(r.URL.Path)
	}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), answerKey{}, a)))
	a.at = time.Now()
	a.took = a.at.Sub(start)
	p.mu.Lock()
	p.answers = append(p.answers, *a)
	p.mu.Unlock()
}

// recorded returns the answers so far and forgets them.
func (p *frontProxy) recorded() []answer {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.answers
	p.answers = nil
	return out
}

// challengeRelay is where acmegate validates http-01 (validation.http_port):
// it asks each generator's responder in turn and answers with the first
// that knows the token. onRequest fires while acmegate waits for the answer.
type challengeRelay struct {
	srv        *httptest.Server
	responders []int
	client     *http.Client
	onRequest  armable
	served     atomic.Int64
}

func newChallengeRelay(t *testing.T, responders ...int) *challengeRelay {
	t.Helper()
	c := &challengeRelay{responders: responders, client: &http.Client{Timeout: 5 * time.Second}}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	t.Cleanup(c.client.CloseIdleConnections)
	return c
}

func (c *challengeRelay) port() int { return c.srv.Listener.Addr().(*net.TCPAddr).Port }

func (c *challengeRelay) serve(w http.ResponseWriter, r *http.Request) {
	if tr := c.onRequest.take(r.Method, r.URL.Path); tr != nil {
		tr.fire(r.URL.Path)
	}
	for _, port := range c.responders {
		resp, err := c.client.Get("http://127.0.0.1:" + strconv.Itoa(port) + r.URL.Path)
		if err != nil {
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK {
			c.served.Add(1)
			_, _ = w.Write(body)
			return
		}
	}
	http.NotFound(w, r)
}

// Outage modes of upstreamProxy, taken in turn by the requests of an
// outage.
const (
	outage500       = iota // an HTML 500 from a balancer, nothing forwarded
	outageHang             // no answer until the client gives up
	outageMalformed        // forwarded (the fake acts), answer garbled
	outageModes
)

// upstreamProxy stands between acmegate and the vendor's fake. During an
// outage it answers with the outage's modes in turn (500s, hangs,
// malformed bodies); otherwise it forwards, and onResponse fires after the
// fake has answered a matching request and before acmegate gets the
// answer.
type upstreamProxy struct {
	srv        *httptest.Server
	rp         *httputil.ReverseProxy
	onResponse armable
	outage     atomic.Pointer[[]int]
	outageN    atomic.Int64
	// faults counts the answers the outage replaced, by mode.
	faults [outageModes]atomic.Int64
}

// setOutage starts an outage answering with modes in turn; none ends it.
func (u *upstreamProxy) setOutage(modes ...int) {
	if len(modes) == 0 {
		u.outage.Store(nil)
		return
	}
	u.outage.Store(&modes)
}

func newUpstreamProxy(t *testing.T, fakeURL string) *upstreamProxy {
	t.Helper()
	target, err := url.Parse(fakeURL)
	if err != nil {
		t.Fatal(err)
	}
	u := &upstreamProxy{}
	u.rp = &httputil.ReverseProxy{
		Rewrite:  func(r *httputil.ProxyRequest) { r.SetURL(target) },
		ErrorLog: log.New(io.Discard, "", 0),
	}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(u.serve))
	u.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	u.srv.Start()
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstreamProxy) url() string { return u.srv.URL }

func (u *upstreamProxy) serve(w http.ResponseWriter, r *http.Request) {
	if modes := u.outage.Load(); modes != nil {
		mode := (*modes)[int(u.outageN.Add(1)-1)%len(*modes)]
		u.faults[mode].Add(1)
		switch mode {
		case outage500:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "<html><body><h1>500 Internal Server Error</h1></body></html>")
		case outageHang:
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
			// No answer at all: the connection is cut.
			panic(http.ErrAbortHandler)
		case outageMalformed:
			rec := httptest.NewRecorder()
			u.rp.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
			w.WriteHeader(rec.Code)
			_, _ = w.Write(append(bytes.Clone(body[:len(body)/2]), "\x00<<garbled>>{"...))
		}
		return
	}
	tr := u.onResponse.take(r.Method, r.URL.Path)
	if tr == nil {
		u.rp.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	u.rp.ServeHTTP(rec, r)
	tr.fire(r.URL.Path)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
