package digicert

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/acmegate/acmegate/ca"
)

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []apiError
	}{
		{"array", `{"errors":[{"code":"not_found|order","message":"Order not found."}]}`, []apiError{{"not_found|order", "Order not found."}}},
		{"single object [ribose errors.json]", `{"errors":{"code":"not_found|route","message":"The specified route was not found."}}`, []apiError{{"not_found|route", "The specified route was not found."}}},
		{"numeric code", `{"errors":[{"code":42,"message":"x"}]}`, []apiError{{"42", "x"}}},
		{"several", `{"errors":[{"code":"a"},{"message":"b"}]}`, []apiError{{"a", ""}, {"", "b"}}},
		{"not DigiCert's shape", `<html>502 Bad Gateway</html>`, nil},
		{"empty", ``, nil},
		{"errors null", `{"errors":null}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseErrors([]byte(tt.body)), cmp.AllowUnexported(apiError{})); diff != "" {
				t.Errorf("parseErrors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	b := &Backend{apiKey: "secret-key-123456"}
	body := func(code, msg string) []byte {
		return []byte(`{"errors":[{"code":"` + code + `","message":"` + msg + `"}]}`)
	}
	tests := []struct {
		name     string
		status   int
		body     []byte
		want     ca.Kind
		upstream string
	}{
		{"bad JSON", 400, body("bad_request_format", "Bad format"), ca.Rejected, "HTTP 400 bad_request_format: Bad format"},
		{"CSR", 400, body("csr_invalid_cannot_parse", "Bad CSR"), ca.Rejected, "HTTP 400 csr_invalid_cannot_parse: Bad CSR"},
		{"CAA", 400, body("caa_check_failed|example.com", "CAA"), ca.Rejected, "HTTP 400 caa_check_failed|example.com: CAA"},
		{"validity", 400, body("cert_validity_exceeds_order_validity", "too long"), ca.Rejected, "HTTP 400 cert_validity_exceeds_order_validity: too long"},
		{"unknown product", 404, body("not_found|product", "nope"), ca.Rejected, "HTTP 404 not_found|product: nope"},
		{"permission", 403, body("access_denied|missing_permission", "no"), ca.Rejected, "HTTP 403 access_denied|missing_permission: no"},
		{"approver", 403, body("access_denied|invalid_approver", "no"), ca.Rejected, "HTTP 403 access_denied|invalid_approver: no"},
		{"bad key 401", 401, body("invalid_api_key", "Invalid key secret-key-123456"), ca.Unavailable, "HTTP 401 invalid_api_key: Invalid key [redacted]"},
		{"bad key under 403", 403, body("access_denied|invalid_api_key", "x"), ca.Unavailable, "HTTP 403 access_denied|invalid_api_key: x"},
		{"already revoked", 400, body("already_revoked", "done"), ca.AlreadyRevoked, "HTTP 400 already_revoked: done"},
		{"500", 500, body("internal_error", "oops"), ca.Unavailable, "HTTP 500 internal_error: oops"},
		{"502 from a proxy", 502, []byte("<html>Bad Gateway</html>"), ca.Unavailable, "HTTP 502"},
		{"408", 408, nil, ca.Unavailable, "HTTP 408"},
		{"3xx", 302, nil, ca.Unavailable, "HTTP 302"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := b.classify("do it", &response{status: tt.status, body: tt.body})
			if e.Kind != tt.want || e.Upstream != tt.upstream || e.Detail == "" {
				t.Errorf("classify = %v / %q / %q; want %v / %q", e.Kind, e.Upstream, e.Detail, tt.want, tt.upstream)
			}
		})
	}
}

func TestIsRateLimitedAndRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		status  int
		body    string
		header  string
		limited bool
		after   time.Duration
	}{
		{"429 documented body", 429, `{"errors":[{"code":"request_limit_exceeded","message":"Service unavailable, please limit request volume"}]}`, "", true, 0},
		{"429 bare", 429, ``, "", true, 0},
		{"code under 503", 503, `{"errors":[{"code":"request_limit_exceeded"}]}`, "", true, 0},
		{"seconds", 429, ``, "7", true, 7 * time.Second},
		{"HTTP date", 429, ``, now.Add(90 * time.Second).Format(http.TimeFormat), true, 90 * time.Second},
		{"garbage header", 429, ``, "soon", true, 0},
		{"plain 500", 500, `{"errors":[{"code":"internal_error"}]}`, "", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("Retry-After", tt.header)
			}
			r := &response{status: tt.status, body: []byte(tt.body), header: h}
			if got := isRateLimited(r); got != tt.limited {
				t.Errorf("isRateLimited = %v", got)
			}
			if got := retryAfter(h, now); got != tt.after {
				t.Errorf("retryAfter = %s, want %s", got, tt.after)
			}
		})
	}
}

func TestRefs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		ref         string
		order, cert int64
		wantErr     bool
	}{
		{"542772", 542772, 0, false},
		{"542772/456789123", 542772, 456789123, false},
		{" 7 ", 7, 0, false},
		{"", 0, 0, true},
		{"0", 0, 0, true},
		{"abc", 0, 0, true},
		{"1/x", 0, 0, true},
	} {
		o, c, err := parseRef(tt.ref)
		if (err != nil) != tt.wantErr || o != tt.order || c != tt.cert {
			t.Errorf("parseRef(%q) = %d, %d, %v", tt.ref, o, c, err)
		}
		if err == nil && makeRef(o, c) != trim(tt.ref) {
			t.Errorf("makeRef(%d, %d) = %q, want %q", o, c, makeRef(o, c), tt.ref)
		}
	}
}

func trim(s string) string { return strings.TrimSpace(s) }
