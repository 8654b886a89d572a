package digicerttest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// call makes one request to the fake and returns status and body.
func call(t *testing.T, s *Server, method, path, key string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-DC-DEVKEY", key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

func csrPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func orderBody(t *testing.T, cn string) map[string]any {
	return map[string]any{
		"certificate":    map[string]any{"common_name": cn, "dns_names": []string{"www." + cn}, "csr": csrPEM(t), "signature_hash": "sha256"},
		"organization":   map[string]any{"id": DefaultOrganizationID},
		"order_validity": map[string]any{"days": 90},
		"comments":       "test order",
	}
}

func TestErrorAnswers(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	key := s.APIKey()
	tests := []struct {
		name         string
		method, path string
		key          string
		body         any
		wantStatus   int
		wantCode     string
	}{
		{"missing key", "GET", "/product", "", nil, 401, "invalid_api_key"},
		{"wrong key", "GET", "/product", "nope", nil, 401, "invalid_api_key"},
		{"unknown route", "GET", "/nothing/here", key, nil, 404, "not_found|route"},
		{"unknown product", "POST", "/order/certificate/ssl_gold", key, orderBody(t, "example.com"), 404, "not_found|product"},
		{"bad JSON", "POST", "/order/certificate/ssl_basic", key, `{"certificate":`, 400, "bad_request_format"},
		{"missing common_name", "POST", "/order/certificate/ssl_basic", key, func() any {
			b := orderBody(t, "example.com")
			b["certificate"].(map[string]any)["common_name"] = ""
			return b
		}(), 400, "missing_param|common_name"},
		{"garbage CSR", "POST", "/order/certificate/ssl_basic", key, func() any {
			b := orderBody(t, "example.com")
			b["certificate"].(map[string]any)["csr"] = "not a csr"
			return b
		}(), 400, "csr_invalid_cannot_parse"},
		{"unknown order", "GET", "/order/certificate/1", key, nil, 404, "not_found|order"},
		{"download unknown", "GET", "/certificate/1/download/format/pem_all", key, nil, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, s, tt.method, tt.path, tt.key, tt.body)
			if status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", status, tt.wantStatus, body)
			}
			var got struct {
				Errors []apiError `json:"errors"`
			}
			if err := json.Unmarshal(body, &got); err != nil || len(got.Errors) != 1 {
				t.Fatalf("body %s is not DigiCert's error shape: %v", body, err)
			}
			if got.Errors[0].Code != tt.wantCode || got.Errors[0].Message == "" {
				t.Errorf("error = %+v, want code %q with a message", got.Errors[0], tt.wantCode)
			}
		})
	}
}

func TestRateLimitAnswer(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{RateLimits: []RateWindow{{Requests: 2, Per: time.Minute}}, RetryAfter: 3 * time.Second})
	for i := range 2 {
		if status, body := call(t, s, "GET", "/product", s.APIKey(), nil); status != 200 {
			t.Fatalf("call %d: %d %s", i, status, body)
		}
	}
	status, body := call(t, s, "GET", "/product", s.APIKey(), nil)
	want := `{"errors":[{"code":"request_limit_exceeded","message":"Service unavailable, please limit request volume"}]}`
	if status != 429 || string(body) != want {
		t.Fatalf("third call = %d %s, want 429 %s", status, body, want)
	}
	// Another key has its own windows.
	if status, _ := call(t, s, "GET", "/product", "other", nil); status != 401 {
		t.Errorf("other key = %d, want 401 (not rate limited)", status)
	}
}

func TestImmediateOrderAndDownloads(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	status, body := call(t, s, "POST", "/order/certificate/ssl_basic", s.APIKey(), orderBody(t, "example.com"))
	if status != 201 {
		t.Fatalf("order: %d %s", status, body)
	}
	var placed struct {
		ID            int `json:"id"`
		CertificateID int `json:"certificate_id"`
		Requests      []struct {
			ID     int    `json:"id"`
			Status string `json:"status"`
		} `json:"requests"`
		Chain []chainCert `json:"certificate_chain"`
	}
	if err := json.Unmarshal(body, &placed); err != nil {
		t.Fatal(err)
	}
	if placed.ID == 0 || placed.CertificateID == 0 || len(placed.Requests) != 1 || placed.Requests[0].Status != "approved" {
		t.Fatalf("order answer = %s", body)
	}
	var cns []string
	for _, c := range placed.Chain {
		cns = append(cns, c.SubjectCommonName)
		if !strings.Contains(c.PEM, "\r\n") {
			t.Errorf("PEM of %s does not use CRLF", c.SubjectCommonName)
		}
	}
	if diff := cmp.Diff([]string{"example.com", IntermediateCommonName, RootCommonName}, cns); diff != "" {
		t.Errorf("certificate_chain names (-want +got):\n%s", diff)
	}
	o := s.Orders()[0]
	if diff := cmp.Diff([]string{"example.com", "www.example.com"}, o.Leaf.DNSNames); diff != "" {
		t.Errorf("leaf SANs (-want +got):\n%s", diff)
	}

	tests := []struct {
		format string
		want   []string // subject CNs in order
	}{
		{FormatPEMAll, []string{"example.com", IntermediateCommonName, RootCommonName}},
		{FormatPEMNoRoot, []string{"example.com", IntermediateCommonName}},
		{FormatPEMNoIntermediate, []string{"example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			status, body := call(t, s, "GET", "/certificate/"+itoa(placed.CertificateID)+"/download/format/"+tt.format, s.APIKey(), nil)
			if status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			if diff := cmp.Diff(tt.want, pemNames(t, body)); diff != "" {
				t.Errorf("bundle (-want +got):\n%s", diff)
			}
			status, byOrder := call(t, s, "GET", "/certificate/download/order/"+itoa(placed.ID)+"/format/"+tt.format, s.APIKey(), nil)
			if status != 200 || !bytes.Equal(body, byOrder) {
				t.Errorf("download by order = %d, differs from download by certificate id", status)
			}
		})
	}
	t.Run("p7b", func(t *testing.T) {
		status, body := call(t, s, "GET", "/certificate/"+itoa(placed.CertificateID)+"/download/format/p7b", s.APIKey(), nil)
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		if got := p7bCount(t, body); got != 3 {
			t.Errorf("p7b holds %d certificates, want 3", got)
		}
	})
	t.Run("zip format refused", func(t *testing.T) {
		if status, _ := call(t, s, "GET", "/certificate/"+itoa(placed.CertificateID)+"/download/format/default", s.APIKey(), nil); status != 400 {
			t.Errorf("status = %d, want 400", status)
		}
	})
}

func TestPendingAndApprovalModes(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{Mode: ModePending, PendingPolls: 2})
	_, body := call(t, s, "POST", "/order/certificate/ssl_basic", s.APIKey(), orderBody(t, "example.com"))
	if strings.Contains(string(body), "certificate_chain") {
		t.Fatalf("pending order answered a chain: %s", body)
	}
	id := itoa(s.Orders()[0].ID)
	var statuses []string
	for range 3 {
		_, body := call(t, s, "GET", "/order/certificate/"+id, s.APIKey(), nil)
		var o struct{ Status string }
		if err := json.Unmarshal(body, &o); err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, o.Status)
	}
	if diff := cmp.Diff([]string{"pending", "pending", "issued"}, statuses); diff != "" {
		t.Errorf("statuses over polls (-want +got):\n%s", diff)
	}

	s.SetMode(ModeNeedsApproval)
	s.SetPendingPolls(0)
	call(t, s, "POST", "/order/certificate/ssl_basic", s.APIKey(), orderBody(t, "example.org"))
	o := s.Orders()[1]
	if o.Status != StatusNeedsApproval {
		t.Fatalf("status = %q, want needs_approval", o.Status)
	}
	// Approving through the API, as an approver's key would.
	status, body := call(t, s, "PUT", "/request/"+itoa(o.RequestID)+"/status", s.APIKey(), map[string]string{"status": "approved", "processor_comment": "ok"})
	if status != 204 {
		t.Fatalf("approve: %d %s", status, body)
	}
	_, body = call(t, s, "GET", "/order/certificate/"+itoa(o.ID), s.APIKey(), nil)
	if !strings.Contains(string(body), `"status":"issued"`) {
		t.Errorf("after approval the order is not issued: %s", body)
	}
}

func TestRevokeVariants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		needApproval bool
		skip         bool
		wantStatus   int
		wantRecord   string
	}{
		{"skip_approval honoured", false, true, 204, StatusRevoked},
		{"no skip_approval", false, false, 201, "pending"},
		{"key without admin rights", true, true, 201, "pending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(t, Config{RevokeNeedsApproval: tt.needApproval})
			call(t, s, "POST", "/order/certificate/ssl_basic", s.APIKey(), orderBody(t, "example.com"))
			o := s.Orders()[0]
			status, body := call(t, s, "PUT", "/certificate/"+itoa(o.CertificateID)+"/revoke", s.APIKey(), map[string]any{"comment": "bye", "skip_approval": tt.skip})
			if status != tt.wantStatus {
				t.Fatalf("revoke = %d %s, want %d", status, body, tt.wantStatus)
			}
			revs := s.Revocations()
			if len(revs) != 1 || revs[0].Status != tt.wantRecord || revs[0].Comments != "bye" {
				t.Fatalf("revocations = %+v", revs)
			}
			if status == 201 {
				var rq struct{ Type, Status string }
				if err := json.Unmarshal(body, &rq); err != nil || rq.Type != "revoke" || rq.Status != "pending" {
					t.Errorf("201 body = %s", body)
				}
				if err := s.Approve(o.ID); err != nil {
					t.Fatal(err)
				}
				if got := s.Revocations()[0].Status; got != StatusRevoked {
					t.Errorf("after approval revocation status = %q", got)
				}
			}
			if got := s.Orders()[0].Status; got != StatusRevoked {
				t.Errorf("order status = %q, want revoked", got)
			}
		})
	}
}

func TestListOrdersFiltersAndUnknownFields(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	for _, cn := range []string{"a.example.com", "b.example.com", "a.example.com"} {
		b := orderBody(t, cn)
		b["surprise"] = true
		call(t, s, "POST", "/order/certificate/ssl_basic", s.APIKey(), b)
	}
	_, body := call(t, s, "GET", "/order/certificate?filters%5Bcommon_name%5D=a.example.com&limit=1&offset=1", s.APIKey(), nil)
	var list struct {
		Orders []struct{ ID int } `json:"orders"`
		Page   struct{ Total, Limit, Offset int }
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	if list.Page.Total != 2 || list.Page.Limit != 1 || list.Page.Offset != 1 || len(list.Orders) != 1 || list.Orders[0].ID != s.Orders()[2].ID {
		t.Errorf("list = %s", body)
	}
	var unknown []string
	for _, r := range s.Requests() {
		unknown = append(unknown, r.UnknownFields...)
	}
	if diff := cmp.Diff([]string{"surprise", "surprise", "surprise"}, unknown); diff != "" {
		t.Errorf("unknown fields (-want +got):\n%s", diff)
	}
}

func TestInjectedFaults(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	s.FailNext(1, 503, Match{Method: "GET", PathPrefix: "/product"})
	if status, _ := call(t, s, "GET", "/organization", s.APIKey(), nil); status != 200 {
		t.Errorf("unmatched request failed: %d", status)
	}
	if status, body := call(t, s, "GET", "/product", s.APIKey(), nil); status != 503 || !strings.Contains(string(body), "service_unavailable") {
		t.Errorf("matched request = %d %s, want 503", status, body)
	}
	if status, _ := call(t, s, "GET", "/product", s.APIKey(), nil); status != 200 {
		t.Errorf("fault outlived its count: %d", status)
	}
	s.MalformNext(1, Match{})
	_, body := call(t, s, "GET", "/product", s.APIKey(), nil)
	if json.Valid(body) {
		t.Errorf("malformed answer is valid JSON: %s", body)
	}
}

func pemNames(t *testing.T, data []byte) []string {
	t.Helper()
	var out []string
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c.Subject.CommonName)
	}
}

// p7bCount parses a degenerate PKCS #7 SignedData and counts its
// certificates.
func p7bCount(t *testing.T, der []byte) int {
	t.Helper()
	var ci struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue `asn1:"explicit,tag:0"`
	}
	if _, err := asn1.Unmarshal(der, &ci); err != nil {
		t.Fatalf("ContentInfo: %v", err)
	}
	var sd struct {
		Version      int
		Digests      asn1.RawValue
		Content      asn1.RawValue
		Certificates asn1.RawValue `asn1:"tag:0"`
		Signers      asn1.RawValue
	}
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		t.Fatalf("SignedData: %v", err)
	}
	certs, err := x509.ParseCertificates(sd.Certificates.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return len(certs)
}

func itoa(n int) string { return strconv.Itoa(n) }
