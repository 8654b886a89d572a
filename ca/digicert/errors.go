package digicert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acmegate/acmegate/ca"
)

// apiError is one entry of DigiCert's error body
// {"errors":[{"code":"…","message":"…"}]} [DC:errors.html].
type apiError struct {
	Code    string
	Message string
}

// String is "code: message", or whichever half is present.
func (e apiError) String() string {
	switch {
	case e.Code == "":
		return e.Message
	case e.Message == "":
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// is reports whether the code is code, or code followed by a "|qualifier"
// (not_found|order is not_found) [DC:errors.html].
func (e apiError) is(code string) bool {
	return e.Code == code || strings.HasPrefix(e.Code, code+"|")
}

// qualifier is the part after "|" ("order" in not_found|order).
func (e apiError) qualifier() string {
	_, q, _ := strings.Cut(e.Code, "|")
	return q
}

// parseErrors decodes an error body tolerantly: "errors" may be an array
// or, as one public fixture shows, a single object [ribose errors.json];
// codes may be numbers. A body that is not DigiCert's shape yields nothing.
func parseErrors(body []byte) []apiError {
	var top struct {
		Errors json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(body, &top) != nil || len(top.Errors) == 0 {
		return nil
	}
	type raw struct {
		Code    json.RawMessage `json:"code"`
		Message json.RawMessage `json:"message"`
	}
	var list []raw
	if bytes.HasPrefix(bytes.TrimSpace(top.Errors), []byte("{")) {
		var one raw
		if json.Unmarshal(top.Errors, &one) != nil {
			return nil
		}
		list = []raw{one}
	} else if json.Unmarshal(top.Errors, &list) != nil || len(list) == 0 {
		return nil
	}
	out := make([]apiError, 0, len(list))
	for _, r := range list {
		out = append(out, apiError{Code: jsonText(r.Code), Message: jsonText(r.Message)})
	}
	return out
}

// jsonText renders a JSON string or number as text.
func jsonText(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	return string(v)
}

// firstWith returns the first error whose code is code.
func firstWith(errs []apiError, code string) (apiError, bool) {
	for _, e := range errs {
		if e.is(code) {
			return e, true
		}
	}
	return apiError{}, false
}

// upstreamText is the upstream's words for ca.Error.Upstream: the HTTP
// status and every code and message.
func upstreamText(status int, errs []apiError) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		parts = append(parts, e.String())
	}
	s := "HTTP " + strconv.Itoa(status)
	if len(parts) > 0 {
		s += " " + strings.Join(parts, "; ")
	}
	return s
}

// classify turns a non-2xx answer into a ca.Error. action says what the
// backend was doing ("place the order"), for the subscriber's Detail.
//
// client faults are 4xx, service faults 5xx [DC:errors.html]:
//   - 429 and request_limit_exceeded are handled before this (rateLimited);
//   - 5xx, 408 and anything outside 4xx are Unavailable: retry later;
//   - 401 (a bad or missing key; CertCentral's exact answer is unconfirmed)
//     is Unavailable too: the operator must fix the key, and orders should
//     wait for that rather than fail;
//   - every other 4xx is Rejected: sending the same request again cannot
//     succeed (bad CSR, CAA, unknown product, missing permission, …);
//   - an already_revoked code is AlreadyRevoked.
func (b *Backend) classify(action string, r *response) *ca.Error {
	errs := parseErrors(r.body)
	e := &ca.Error{Upstream: b.redact(upstreamText(r.status, errs))}
	first := apiError{}
	if len(errs) > 0 {
		first = errs[0]
	}
	said := b.redact(first.Message)
	if said == "" {
		said = b.redact(first.Code)
	}
	if said == "" {
		said = http.StatusText(r.status)
	}
	keyRefused := slices.ContainsFunc(errs, func(e apiError) bool { return strings.Contains(e.Code, "invalid_api_key") })
	_, revoked := firstWith(errs, "already_revoked")
	switch {
	case r.status == http.StatusUnauthorized || keyRefused:
		e.Kind = ca.Unavailable
		e.Detail = fmt.Sprintf("DigiCert CertCentral refused acmegate's API key while trying to %s; the operator must check the configured key", action)
	case r.status >= 500 || r.status == http.StatusRequestTimeout || r.status < 400:
		e.Kind = ca.Unavailable
		e.Detail = fmt.Sprintf("DigiCert CertCentral could not %s (HTTP %d); will retry", action, r.status)
	case revoked:
		e.Kind = ca.AlreadyRevoked
		e.Detail = "DigiCert CertCentral reports the certificate is already revoked"
	case r.status == http.StatusForbidden:
		e.Kind = ca.Rejected
		e.Detail = fmt.Sprintf("DigiCert CertCentral does not allow acmegate's API key to %s: %s", action, said)
	case r.status == http.StatusNotFound:
		e.Kind = ca.Rejected
		what := first.qualifier()
		if what == "" {
			what = "resource"
		}
		e.Detail = fmt.Sprintf("DigiCert CertCentral could not %s: no such %s (%s)", action, what, said)
	default:
		e.Kind = ca.Rejected
		e.Detail = fmt.Sprintf("DigiCert CertCentral refused to %s: %s", action, said)
	}
	return e
}

// isRateLimited reports whether an answer is DigiCert's rate-limit answer:
// 429, or request_limit_exceeded under any status [DC:rate-limits.html].
func isRateLimited(r *response) bool {
	if r.status == http.StatusTooManyRequests {
		return true
	}
	if r.status < 400 {
		return false
	}
	_, ok := firstWith(parseErrors(r.body), "request_limit_exceeded")
	return ok
}

// rateLimited backs the limiter off and returns the Unavailable error that
// tells the caller when to come back.
func (b *Backend) rateLimited(r *response) *ca.Error {
	d := b.limiter.block(retryAfter(r.header, b.now()))
	b.log.Warn("DigiCert rate limit reached; backing off", "retry_after", d)
	return &ca.Error{
		Kind:       ca.Unavailable,
		Detail:     "DigiCert CertCentral rate limit reached; will retry",
		Upstream:   b.redact(upstreamText(r.status, parseErrors(r.body))),
		RetryAfter: d,
	}
}

// retryAfter parses a Retry-After header (seconds or HTTP date, RFC 9110
// §10.2.3); zero when absent or unusable. CertCentral documents none, so
// this is usually zero and the limiter's Backoff applies.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// redact removes the API key from text the backend did not write itself
// (upstream messages, transport errors) before it reaches an error or a
// log: an upstream or proxy that echoes request headers must not make the
// key leak through acmegate.
func (b *Backend) redact(s string) string {
	if b.apiKey == "" || !strings.Contains(s, b.apiKey) {
		return s
	}
	return strings.ReplaceAll(s, b.apiKey, "[redacted]")
}

// redactedError wraps an error whose text may hold the key; errors.Is and
// errors.As still see the cause.
type redactedError struct {
	err error
	b   *Backend
}

func (e *redactedError) Error() string { return e.b.redact(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }

func (b *Backend) redactErr(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{err: err, b: b}
}
