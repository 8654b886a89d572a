package sectigo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/acmegate/acmegate/ca"
)

// SCM error codes the client acts on (upstream-apis.md §1.2, §1.5, §1.6).
const (
	codeNotIssued      = -102  // only issued certificates can be revoked
	codeRevoked        = -110  // certificate revoked, cannot be downloaded
	codeWrongSSLID     = -124  // wrong SSL certificate id
	codeAlreadyRevoked = -159  // already revoked
	codeRevokedSMIME   = -192  // revoked, seen for S/MIME collects
	codeCANotAvailable = -195  // CA not available now, retry later
	codeCertNotFound   = -5101 // certificate not found
)

// pendingCodes are the collect answers that mean "not issued yet, poll
// again" (upstream-apis.md §1.5, client rule): 0 "Being processed by
// Sectigo", -1400, -183 "Certificate is not collectable", -109 "not
// available now".
var pendingCodes = map[int64]bool{0: true, -1400: true, -183: true, -109: true}

// credentialCodes mean the login, password or customer URI is wrong: -16
// unknown user, -970 incorrect login credentials.
var credentialCodes = map[int64]bool{-16: true, -970: true}

// privilegeCodes mean the administrator lacks a privilege: -3, -25, -37.
var privilegeCodes = map[int64]bool{-3: true, -25: true, -37: true}

// maxRetryAfter caps an upstream's Retry-After hint, so that a bogus header
// cannot park a job for a year.
const maxRetryAfter = 6 * time.Hour

// statusError is the cause (ca.Error.Err) of an error built from an HTTP
// answer: its status and SCM's error body, for the callers that act on a
// particular code and for Check's explanations.
type statusError struct {
	Status int
	// HasCode reports that the body was SCM's JSON error; Code 0 is a real
	// code ("Being processed by Sectigo").
	HasCode     bool
	Code        int64
	Description string
}

// Error is short: the ca.Error it causes already quotes SCM's words in
// Upstream.
func (e *statusError) Error() string {
	if e.HasCode {
		return fmt.Sprintf("sectigo: HTTP %d, code %d", e.Status, e.Code)
	}
	return fmt.Sprintf("sectigo: HTTP %d", e.Status)
}

// words is the answer as SCM put it: status, code and description.
func (e *statusError) words() string {
	if e.HasCode {
		return fmt.Sprintf("HTTP %d, code %d: %s", e.Status, e.Code, e.Description)
	}
	return fmt.Sprintf("HTTP %d", e.Status)
}

// decodeStatus reads SCM's error body, {"code":…,"description":…}
// (upstream-apis.md §1.2), when there is one.
func (c *client) decodeStatus(r *response) *statusError {
	se := &statusError{Status: r.status}
	body := bytes.TrimSpace(r.body)
	if len(body) == 0 || body[0] != '{' {
		return se
	}
	var fields map[string]json.RawMessage
	var ae apiError
	if json.Unmarshal(body, &fields) != nil || json.Unmarshal(body, &ae) != nil {
		return se
	}
	_, hasCode := fields["code"]
	_, hasDesc := fields["description"]
	if !hasCode && !hasDesc {
		return se
	}
	se.HasCode = true
	se.Code = int64(ae.Code)
	se.Description = c.redact(oneLine(string(ae.Description), 512))
	return se
}

// statusError classifies a non-2xx answer (upstream-apis.md §1.2): 429, 5xx,
// 408 and code -195 are temporary; bad credentials or privileges are
// temporary too, since the operator fixes them and nothing about the order
// is wrong; any other 4xx carrying SCM's error body is SCM refusing the
// request, a permanent Rejected with SCM's code and description; a 4xx
// without that body is not SCM speaking (a proxy, a wrong BaseURL) and is
// temporary.
func (c *client) statusError(op string, r *response) *ca.Error {
	se := c.decodeStatus(r)
	e := &ca.Error{Kind: ca.Unavailable, Upstream: c.excerpt(r), Err: se}
	switch {
	case r.status == http.StatusTooManyRequests:
		e.Detail = "Sectigo Certificate Manager is rate-limiting acmegate"
		e.RetryAfter = retryAfter(r.header, c.now())
	case r.status >= 500:
		e.Detail = fmt.Sprintf("Sectigo Certificate Manager failed (HTTP %d) while trying to %s", r.status, op)
		e.RetryAfter = retryAfter(r.header, c.now())
	case se.HasCode && se.Code == codeCANotAvailable:
		e.Detail = "the CA behind Sectigo Certificate Manager is not available now"
		e.RetryAfter = retryAfter(r.header, c.now())
	case r.status == http.StatusRequestTimeout:
		e.Detail = "Sectigo Certificate Manager timed out while trying to " + op
	case r.status == http.StatusUnauthorized || (se.HasCode && credentialCodes[se.Code]):
		e.Detail = "Sectigo Certificate Manager did not accept acmegate's credentials"
	case r.status == http.StatusForbidden || (se.HasCode && privilegeCodes[se.Code]):
		e.Detail = "the Sectigo Certificate Manager account acmegate uses may not " + op
	case !se.HasCode:
		e.Detail = fmt.Sprintf("unexpected HTTP %d from Sectigo Certificate Manager while trying to %s", r.status, op)
	default:
		e.Kind = ca.Rejected
		e.Detail = fmt.Sprintf("Sectigo Certificate Manager refused to %s: %s", op, se.Description)
	}
	return e
}

// excerpt is the upstream's own words for ca.Error.Upstream: SCM's code and
// description, or the start of a body that is not SCM's error JSON.
func (c *client) excerpt(r *response) string {
	se := c.decodeStatus(r)
	if se.HasCode {
		return se.words()
	}
	s := fmt.Sprintf("HTTP %d", r.status)
	if text := c.redact(oneLine(string(r.body), 200)); text != "" {
		s += ": " + text
	}
	return s
}

// redact removes the credentials from upstream text before it reaches an
// error or a log: a server that echoes its request headers must not put the
// password into the order timeline. The login is redacted when it is long
// enough not to mangle ordinary words.
func (c *client) redact(s string) string {
	if c.password != "" {
		s = strings.ReplaceAll(s, c.password, "[redacted]")
	}
	if len(c.login) >= 4 {
		s = strings.ReplaceAll(s, c.login, "[redacted]")
	}
	return s
}

// oneLine makes s printable on one line and at most max bytes.
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// retryAfter reads Retry-After, delay-seconds or an HTTP-date (RFC 9110
// §10.2.3), capped at maxRetryAfter. Zero means none or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, maxRetryAfter))
}

// hasCode reports whether err carries one of SCM's error codes.
func hasCode(err error, codes ...int64) bool {
	var se *statusError
	if !errors.As(err, &se) || !se.HasCode {
		return false
	}
	return slices.Contains(codes, se.Code)
}
