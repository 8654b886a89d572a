package validation

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

const (
	// maxRedirects is how many redirects http-01 follows, as Boulder does.
	maxRedirects = 10
	// maxHTTPBody caps what is read of an http-01 response. A key
	// authorization is under 100 bytes; the margin is for trailing
	// whitespace.
	maxHTTPBody = 1 << 10
	// maxHTTPHeader caps the response header.
	maxHTTPHeader = 16 << 10
	// maxQuoted caps how much of a wrong answer a Detail quotes.
	maxQuoted = 100
	userAgent = "acmegate-validation/1"
)

// validateHTTP01 implements RFC 8555 §8.3 (and RFC 8738 §4 for IP
// identifiers): GET http://{identifier}/.well-known/acme-challenge/{token}
// must answer 200 with the key authorization.
func (v *Validator) validateHTTP01(ctx context.Context, t target) *Error {
	host := t.host()
	if v.httpPort != 80 {
		host = net.JoinHostPort(host, strconv.Itoa(v.httpPort))
	} else if t.ip.Is6() {
		host = "[" + host + "]"
	}
	u := &url.URL{Scheme: "http", Host: host, Path: "/.well-known/acme-challenge/" + t.Token}

	a := &httpAttempt{v: v, resolved: map[string][]netip.Addr{}}
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		a.mu.Lock()
		a.remote = info.Conn.RemoteAddr().String()
		a.mu.Unlock()
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, u.String(), nil)
	if err != nil {
		return failf(KindMalformed, err, "http-01: cannot build a request for %s", u)
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*") // some web application firewalls refuse requests without one
	client := &http.Client{Transport: a.transport(), CheckRedirect: a.checkRedirect}
	resp, err := client.Do(req)
	if err != nil {
		return v.httpError(err, u.String())
	}
	defer resp.Body.Close()
	a.mu.Lock()
	from := a.remote
	a.mu.Unlock()
	final := resp.Request.URL.String()

	// RFC 8555 §8.3: the response must be a successful one.
	if resp.StatusCode != http.StatusOK {
		return failf(KindUnauthorized, nil, "http-01: %s returned HTTP %d for %s, want 200", from, resp.StatusCode, final)
	}
	// Read at most maxHTTPBody bytes: a response is a key authorization,
	// not a download. The read ends with the attempt's deadline too, so a
	// body trickled byte by byte holds nothing longer than Config.Timeout.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPBody+1))
	if err != nil {
		return failf(KindConnection, err, "http-01: reading the response of %s for %s failed: %s", from, final, v.netErrDetail(err))
	}
	if len(body) > maxHTTPBody {
		return failf(KindIncorrectResponse, nil, "http-01: %s returned more than %d bytes for %s, want the key authorization", from, maxHTTPBody, final)
	}
	// RFC 8555 §8.3: "The server SHOULD ignore whitespace characters at the
	// end of the body."
	got := strings.TrimRightFunc(string(body), unicode.IsSpace)
	if got != t.KeyAuthorization {
		return failf(KindIncorrectResponse, nil, "http-01: %s returned %s for %s, want the key authorization %q",
			from, quote(got), final, t.KeyAuthorization)
	}
	return nil
}

// httpAttempt is the state of one http-01 attempt. It resolves each host
// once and connects only to addresses vetted from that one resolution,
// however many redirects come back to the host: a zone with a short TTL
// cannot answer a public address to the check and a private one to the
// connection, or to the next hop (DNS rebinding).
type httpAttempt struct {
	v        *Validator
	mu       sync.Mutex
	resolved map[string][]netip.Addr // by lowercase host without final dot
	remote   string                  // the address that answered last, for the Detail
}

// addrs returns the addresses of host, resolving it on first use.
func (a *httpAttempt) addrs(ctx context.Context, host string) ([]netip.Addr, *Error) {
	key := strings.TrimSuffix(strings.ToLower(host), ".")
	a.mu.Lock()
	addrs, ok := a.resolved[key]
	a.mu.Unlock()
	if ok {
		return addrs, nil
	}
	addrs, ferr := a.v.resolveHost(ctx, ChallengeHTTP01, host)
	if ferr != nil {
		return nil, ferr
	}
	a.mu.Lock()
	a.resolved[key] = addrs
	a.mu.Unlock()
	return addrs, nil
}

// transport returns the attempt's transport: dialing only vetted addresses
// from the attempt's resolutions, never through a proxy, no connection
// reuse, and no certificate verification on https redirects, as Let's
// Encrypt does. It is built per attempt: keeping nothing between attempts
// means each one resolves afresh.
func (a *httpAttempt) transport() *http.Transport {
	return &http.Transport{
		Proxy:       nil,
		DialContext: a.dial,
		TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, // http-01 proves control over plain HTTP; an https redirect adds nothing to check
			MinVersion:         tls.VersionTLS12,
		},
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxHTTPHeader,
	}
}

// dial is the transport's DialContext.
func (a *httpAttempt) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, err
	}
	addrs, ferr := a.addrs(ctx, host)
	if ferr != nil {
		return nil, ferr // not a typed nil: the *Error reaches httpError
	}
	usable, ferr := a.v.usableAddrs(ChallengeHTTP01, host, port, addrs)
	if ferr != nil {
		return nil, ferr
	}
	conn, ferr := a.v.connect(ctx, ChallengeHTTP01, host, port, usable)
	if ferr != nil {
		return nil, ferr
	}
	return conn, nil
}

// checkRedirect is the http.Client redirect policy. RFC 8555 §8.3: "The
// server SHOULD follow redirects when dereferencing the URL", but only to
// http on port 80 (or the configured HTTPPort) and https on 443, at most
// maxRedirects times, and only to addresses validation may connect to, as
// Let's Encrypt does. Every refusal is a connection problem, as in
// Boulder: the identifier is fine, its server pointed somewhere validation
// does not go.
func (a *httpAttempt) checkRedirect(req *http.Request, via []*http.Request) error {
	v := a.v
	from := via[len(via)-1].URL.String()
	if len(via) > maxRedirects {
		return failf(KindConnection, nil, "http-01: too many redirects: gave up after %d, the last from %s to %s", maxRedirects, from, req.URL)
	}
	u := req.URL
	var allowed []int
	switch u.Scheme {
	case "http":
		allowed = []int{80, v.httpPort}
	case "https":
		allowed = []int{443, v.httpsPort}
	default:
		return failf(KindConnection, nil, "http-01: redirect from %s to %s refused: only http and https are followed", from, u)
	}
	host := u.Hostname()
	if host == "" {
		return failf(KindConnection, nil, "http-01: redirect from %s to %s refused: no host", from, u)
	}
	port := allowed[0]
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return failf(KindConnection, err, "http-01: redirect from %s to %s refused: bad port %q", from, u, p)
		}
		port = n
	}
	if !slices.Contains(allowed, port) {
		return failf(KindConnection, nil, "http-01: redirect from %s to %s refused: port %d is not allowed for %s (only %s)",
			from, u, port, u.Scheme, portList(allowed))
	}
	// Vet the target before following: the addresses resolved here are
	// the ones dial connects to.
	addrs, ferr := a.addrs(req.Context(), host)
	if ferr != nil {
		return failf(ferr.Kind, ferr.Err, "%s (after a redirect from %s to %s)", ferr.Detail, from, u)
	}
	if usable, refused, first := v.vetAddrs(port, addrs); len(usable) == 0 {
		return failf(KindConnection, first, "http-01: redirect from %s to %s refused: %s", from, u, strings.Join(refused, "; "))
	}
	return nil
}

func portList(ports []int) string {
	if ports[0] == ports[1] {
		return strconv.Itoa(ports[0])
	}
	return fmt.Sprintf("%d and %d", ports[0], ports[1])
}

// httpError turns an http.Client error for the challenge URL start into
// an *Error.
func (v *Validator) httpError(err error, start string) *Error {
	target := start
	var ue *url.Error
	if errors.As(err, &ue) {
		target = ue.URL // the request that failed, maybe a redirect target
	}
	var ve *Error
	if errors.As(err, &ve) { // from dialTCP or checkRedirect, already precise
		if target != start && !strings.Contains(ve.Detail, target) {
			return failf(ve.Kind, ve.Err, "%s (after a redirect from %s to %s)", ve.Detail, start, target)
		}
		return ve
	}
	if ue != nil {
		err = ue.Err
	}
	var (
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		certErr  *tls.CertificateVerificationError
		x509Err  x509.CertificateInvalidError
	)
	if errors.As(err, &recErr) || errors.As(err, &alertErr) || errors.As(err, &certErr) || errors.As(err, &x509Err) ||
		strings.HasPrefix(err.Error(), "tls: ") {
		return failf(KindTLS, err, "http-01: TLS handshake for %s failed: %v", target, err)
	}
	return failf(KindConnection, err, "http-01: fetching %s failed: %s", target, v.netErrDetail(err))
}

// netErrDetail is netErrDetail naming the attempt's time limit on a
// timeout.
func (v *Validator) netErrDetail(err error) string {
	detail := netErrDetail(err)
	if detail == "timed out" {
		detail = fmt.Sprintf("timed out (limit %v)", v.timeout)
	}
	return detail
}

// quote renders a subscriber-provided value for a Detail, truncated.
func quote(s string) string {
	if len(s) > maxQuoted {
		return fmt.Sprintf("%q (truncated, %d bytes)", s[:maxQuoted], len(s))
	}
	return fmt.Sprintf("%q", s)
}
