package sectigotest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// call sends one request to srv with the default credentials, changed by
// hdr, and returns the status and body.
func call(t *testing.T, srv *Server, method, path string, body any, hdr map[string]string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, srv.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("customerUri", DefaultCustomerURI)
	req.Header.Set("login", DefaultLogin)
	req.Header.Set("password", DefaultPassword)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// scmError decodes SCM's error body; ok is false for any other body.
func scmError(b []byte) (code int, ok bool) {
	var e struct {
		Code        *int   `json:"code"`
		Description string `json:"description"`
	}
	if json.Unmarshal(b, &e) != nil || e.Code == nil || e.Description == "" {
		return 0, false
	}
	return *e.Code, true
}

func csrPEM(t *testing.T, cn string, rsaKey bool) string {
	t.Helper()
	var key any
	var err error
	if rsaKey {
		key, err = rsa.GenerateKey(rand.Reader, 1024)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	srv := Start(t, Config{})
	tests := []struct {
		name     string
		path     string
		hdr      map[string]string
		status   int
		wantCode int
	}{
		{"ok", "/api/ssl/v1/types", nil, 200, 1},
		{"no headers", "/api/ssl/v1/types", map[string]string{"login": "", "password": "", "customerUri": ""}, 401, -16},
		{"wrong login", "/api/ssl/v1/types", map[string]string{"login": "x"}, 401, -16},
		{"wrong customer", "/api/ssl/v1/types", map[string]string{"customerUri": "x"}, 401, -16},
		{"wrong password", "/api/ssl/v1/types", map[string]string{"password": "x"}, 401, -970},
		{"private without certificate", "/private/api/ssl/v1/types", nil, 401, -16},
		{"not the API", "/nothing", nil, 404, 1},
		{"unknown API path", "/api/ssl/v9/whatever/else", nil, 404, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := call(t, srv, "GET", tt.path, nil, tt.hdr)
			if status != tt.status {
				t.Fatalf("status %d, want %d (%s)", status, tt.status, body)
			}
			code, ok := scmError(body)
			if tt.wantCode == 1 {
				if ok {
					t.Errorf("body %s is an SCM error", body)
				}
				return
			}
			if !ok || code != tt.wantCode {
				t.Errorf("body %s, want code %d", body, tt.wantCode)
			}
		})
	}
}

func TestEnrollValidation(t *testing.T) {
	t.Parallel()
	srv := Start(t, Config{
		Domains:      []string{"example.com"},
		CustomFields: []CustomField{{ID: 1, Name: "cc", Mandatory: true}},
	})
	good := func() map[string]any {
		return map[string]any{
			"orgId": DefaultOrgID, "certType": DefaultCertTypeID, "term": 365, "csr": csrPEM(t, "www.example.com", false),
			"subjAltNames": "www.example.com,example.com", "comments": "c", "customFields": []map[string]string{{"name": "cc", "value": "1"}},
			"numberServers": 1, "serverType": -1,
		}
	}
	tests := []struct {
		name string
		mod  func(map[string]any)
		code int // 0 = accepted
	}{
		{"accepted with legacy fields", func(map[string]any) {}, 0},
		{"department", func(m map[string]any) { m["orgId"] = DefaultDepartment }, 0},
		{"no orgId", func(m map[string]any) { delete(m, "orgId") }, -7},
		{"unknown org", func(m map[string]any) { m["orgId"] = 3 }, -1023},
		{"orgId as string", func(m map[string]any) { m["orgId"] = "1697" }, -7},
		{"no csr", func(m map[string]any) { delete(m, "csr") }, -7},
		{"garbage csr", func(m map[string]any) { m["csr"] = "not a csr!" }, -10},
		{"no certType", func(m map[string]any) { delete(m, "certType") }, -7},
		{"unknown certType", func(m map[string]any) { m["certType"] = 5 }, -39},
		{"no term", func(m map[string]any) { delete(m, "term") }, -7},
		{"bad term", func(m map[string]any) { m["term"] = 90 }, -36},
		{"small RSA key", func(m map[string]any) { m["csr"] = csrPEM(t, "www.example.com", true) }, -11},
		{"custom field missing", func(m map[string]any) { delete(m, "customFields") }, -62},
		{"name not validated", func(m map[string]any) { m["subjAltNames"] = "www.example.com,www.example.org" }, -737},
		{"subjAltNames as array", func(m map[string]any) { m["subjAltNames"] = []string{"www.example.com"} }, -7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := good()
			tt.mod(body)
			status, resp, _ := call(t, srv, "POST", "/api/ssl/v1/enroll", body, nil)
			if tt.code == 0 {
				var out struct {
					SSLID   int    `json:"sslId"`
					RenewID string `json:"renewId"`
				}
				if status != 200 || json.Unmarshal(resp, &out) != nil || out.SSLID == 0 || out.RenewID == "" {
					t.Fatalf("status %d body %s, want 200 with sslId and renewId", status, resp)
				}
				return
			}
			code, ok := scmError(resp)
			if status != 400 || !ok || code != tt.code {
				t.Errorf("status %d body %s, want 400 code %d", status, resp, tt.code)
			}
		})
	}
}

// enroll makes an enrollment for cn and returns its sslId.
func enroll(t *testing.T, srv *Server, cn string) int {
	t.Helper()
	status, body, _ := call(t, srv, "POST", "/api/ssl/v1/enroll", map[string]any{
		"orgId": DefaultOrgID, "certType": DefaultCertTypeID, "term": 365, "csr": csrPEM(t, cn, false), "subjAltNames": cn,
	}, nil)
	var out struct {
		SSLID int `json:"sslId"`
	}
	if status != 200 || json.Unmarshal(body, &out) != nil {
		t.Fatalf("enroll: %d %s", status, body)
	}
	return out.SSLID
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	srv := Start(t, Config{Behavior: Behavior{RequireApproval: true, PendingPolls: 2, PendingCode: -183}})
	id := enroll(t, srv, "life.example.com")
	path := "/api/ssl/v1/" + strconv.Itoa(id)
	collect := "/api/ssl/v1/collect/" + strconv.Itoa(id) + "?format=x509CO"
	statusOf := func() string {
		_, body, _ := call(t, srv, "GET", path, nil, nil)
		var d struct {
			Status string `json:"status"`
		}
		json.Unmarshal(body, &d)
		return d.Status
	}
	expectCode := func(method, p string, body any, want int) {
		t.Helper()
		status, resp, _ := call(t, srv, method, p, body, nil)
		if code, ok := scmError(resp); status != 400 || !ok || code != want {
			t.Fatalf("%s %s: %d %s, want 400 code %d", method, p, status, resp, want)
		}
	}
	if s := statusOf(); s != "Requested" {
		t.Fatalf("status %q, want Requested", s)
	}
	for range 3 { // awaiting approval: pending, and no poll is used up
		expectCode("GET", collect, nil, -183)
	}
	expectCode("POST", "/api/ssl/v1/revoke/"+strconv.Itoa(id), map[string]any{"reasonCode": 0, "reason": "x"}, -102)
	if st, _, _ := call(t, srv, "POST", "/api/ssl/v1/approve/"+strconv.Itoa(id), map[string]string{"message": "ok"}, nil); st != 204 {
		t.Fatalf("approve: %d", st)
	}
	expectCode("POST", "/api/ssl/v1/approve/"+strconv.Itoa(id), map[string]string{"message": "ok"}, -1112)
	if s := statusOf(); s != "Applied" {
		t.Fatalf("status %q after approval, want Applied", s)
	}
	expectCode("GET", collect, nil, -183)
	expectCode("GET", collect, nil, -183)
	expectCode("GET", "/api/ssl/v1/collect/"+strconv.Itoa(id)+"/nonsense", nil, -126)
	status, body, hdr := call(t, srv, "GET", collect, nil, nil)
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/octet-stream") || !strings.Contains(hdr.Get("Content-Disposition"), "attachment") {
		t.Fatalf("collect: %d %v", status, hdr)
	}
	if block, _ := pem.Decode(body); block == nil || srv.Certificate(id) == nil || !bytes.Equal(block.Bytes, srv.Certificate(id).Raw) {
		t.Fatalf("x509CO is not the leaf: %s", body)
	}
	if s := statusOf(); s != "Issued" {
		t.Fatalf("status %q, want Issued", s)
	}
	expectCode("POST", "/api/ssl/v1/decline/"+strconv.Itoa(id), map[string]string{"message": "no"}, -1112)
	serial := colonHex(srv.Certificate(id).SerialNumber)
	if st, _, _ := call(t, srv, "POST", "/api/ssl/v1/revoke/serial/"+serial, map[string]any{"reasonCode": "1", "reason": "key lost"}, nil); st != 204 {
		t.Fatalf("revoke by serial: %d", st)
	}
	expectCode("POST", "/api/ssl/v1/revoke/"+strconv.Itoa(id), map[string]any{"reason": "again"}, -159)
	expectCode("GET", collect, nil, -110)
	// Revocation records the serial as big.Int prints it, without the
	// leading zero byte colonHex keeps (a serial starting 0x0… failed here
	// one run in sixteen).
	want := []Revocation{{SSLID: id, Serial: strings.ToUpper(srv.Certificate(id).SerialNumber.Text(16)), ReasonCode: 1, Reason: "key lost", BySerial: true}}
	if diff := cmp.Diff(want, srv.Revocations()); diff != "" {
		t.Errorf("revocations (-want +got):\n%s", diff)
	}
	expectCode("GET", "/api/ssl/v1/424242", nil, -124)
}

// TestFormats: each collect format holds the documented certificates in
// the fake's order.
func TestFormats(t *testing.T) {
	t.Parallel()
	srv := Start(t, Config{Intermediates: 2})
	id := enroll(t, srv, "fmt.example.com")
	in := srv.Intermediates() // issuing first
	root := srv.Root()
	names := func(certs []*x509.Certificate) []string {
		var out []string
		for _, c := range certs {
			out = append(out, c.Subject.CommonName)
		}
		return out
	}
	l := "fmt.example.com"
	tests := map[string][]string{
		"x509":    {root.Subject.CommonName, in[1].Subject.CommonName, in[0].Subject.CommonName, l},
		"pem":     {root.Subject.CommonName, in[1].Subject.CommonName, in[0].Subject.CommonName, l},
		"x509R":   {l, in[0].Subject.CommonName, in[1].Subject.CommonName, root.Subject.CommonName},
		"pemia":   {l, in[0].Subject.CommonName, in[1].Subject.CommonName, root.Subject.CommonName},
		"x509CO":  {l},
		"pemco":   {l},
		"x509IO":  {root.Subject.CommonName, in[1].Subject.CommonName, in[0].Subject.CommonName},
		"x509IOR": {in[0].Subject.CommonName, in[1].Subject.CommonName, root.Subject.CommonName},
		"base64":  {root.Subject.CommonName, in[1].Subject.CommonName, in[0].Subject.CommonName, l},
		"bin":     {root.Subject.CommonName, in[1].Subject.CommonName, in[0].Subject.CommonName, l},
	}
	for format, want := range tests {
		t.Run(format, func(t *testing.T) {
			status, body, _ := call(t, srv, "GET", fmt.Sprintf("/api/ssl/v1/collect/%d/%s", id, format), nil, nil)
			if status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			var certs []*x509.Certificate
			switch format {
			case "base64", "bin":
				der := body
				if format == "base64" {
					block, _ := pem.Decode(body)
					if block == nil || block.Type != "PKCS7" {
						t.Fatalf("not a PEM PKCS7: %s", body)
					}
					der = block.Bytes
				}
				certs = parsePKCS7(t, der)
			default:
				for rest := body; ; {
					var block *pem.Block
					if block, rest = pem.Decode(rest); block == nil {
						break
					}
					c, err := x509.ParseCertificate(block.Bytes)
					if err != nil {
						t.Fatal(err)
					}
					certs = append(certs, c)
				}
			}
			if diff := cmp.Diff(want, names(certs)); diff != "" {
				t.Errorf("certificates (-want +got):\n%s", diff)
			}
		})
	}
}

// parsePKCS7 reads the certificates of a degenerate SignedData.
func parsePKCS7(t *testing.T, der []byte) []*x509.Certificate {
	t.Helper()
	var ci struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,tag:0"`
	}
	if _, err := asn1.Unmarshal(der, &ci); err != nil || !ci.ContentType.Equal(oidSignedData) {
		t.Fatalf("ContentInfo: %v %v", err, ci.ContentType)
	}
	var sd struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		ContentInfo      asn1.RawValue
		Certificates     asn1.RawValue `asn1:"tag:0"`
		SignerInfos      asn1.RawValue
	}
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		t.Fatalf("SignedData: %v", err)
	}
	certs, err := x509.ParseCertificates(sd.Certificates.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

func TestListing(t *testing.T) {
	t.Parallel()
	srv := Start(t, Config{})
	var ids []int
	for i := range 5 {
		ids = append(ids, enroll(t, srv, fmt.Sprintf("list%d.example.com", i%2)))
	}
	status, body, hdr := call(t, srv, "GET", "/api/ssl/v1?commonName=LIST1.example.com&size=1&position=1", nil, nil)
	var items []struct {
		SSLID      int      `json:"sslId"`
		CommonName string   `json:"commonName"`
		SANs       []string `json:"subjectAlternativeNames"`
		Serial     string   `json:"serialNumber"`
	}
	if status != 200 || json.Unmarshal(body, &items) != nil {
		t.Fatalf("%d %s", status, body)
	}
	if hdr.Get("X-Total-Count") != "2" || len(items) != 1 || items[0].SSLID != ids[3] || items[0].Serial == "" {
		t.Errorf("page = %s, total %s; want sslId %d of 2", body, hdr.Get("X-Total-Count"), ids[3])
	}
	serial := items[0].Serial
	_, body, _ = call(t, srv, "GET", "/api/ssl/v1?serialNumber="+strings.ToLower(strings.ReplaceAll(serial, ":", "")), nil, nil)
	if json.Unmarshal(body, &items) != nil || len(items) != 1 || items[0].SSLID != ids[3] {
		t.Errorf("by serial: %s", body)
	}
	status, body, hdr = call(t, srv, "HEAD", "/api/ssl/v1", nil, nil)
	if status != 200 || len(body) != 0 || hdr.Get("X-Total-Count") != "5" {
		t.Errorf("HEAD: %d %q total %s", status, body, hdr.Get("X-Total-Count"))
	}
}

// TestConcurrentEnrollments: ids are unique and every enrollment recorded.
func TestConcurrentEnrollments(t *testing.T) {
	t.Parallel()
	srv := Start(t, Config{})
	var wg sync.WaitGroup
	ids := make([]int, 8)
	csrs := make([]string, len(ids))
	for i := range csrs {
		csrs[i] = csrPEM(t, fmt.Sprintf("c%d.example.com", i), false)
	}
	client := srv.Client()
	for i := range ids {
		wg.Go(func() {
			// No t.Fatal here: this is not the test's goroutine.
			b, _ := json.Marshal(map[string]any{"orgId": DefaultOrgID, "certType": DefaultCertTypeID, "term": 365, "csr": csrs[i]})
			req, err := http.NewRequest("POST", srv.URL()+"/api/ssl/v1/enroll", bytes.NewReader(b))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("customerUri", DefaultCustomerURI)
			req.Header.Set("login", DefaultLogin)
			req.Header.Set("password", DefaultPassword)
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var out struct {
				SSLID int `json:"sslId"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
				t.Errorf("enroll %d: status %d, %v", i, resp.StatusCode, err)
			}
			ids[i] = out.SSLID
		})
	}
	wg.Wait()
	seen := map[int]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("sslId %d given twice", id)
		}
		seen[id] = true
	}
	if n := len(srv.Enrollments()); n != len(ids) {
		t.Errorf("%d enrollments recorded, want %d", n, len(ids))
	}
}

// TestFaults: faults are consumed in order and only by matching paths.
func TestFaults(t *testing.T) {
	t.Parallel()
	srv := Start(t, Config{})
	srv.RateLimit(2, 9*time.Second)
	srv.FailWithCode("/organization/", 1, 400, -195, "CA not available")
	for range 2 {
		status, body, hdr := call(t, srv, "GET", "/api/ssl/v1/types", nil, nil)
		if code, ok := scmError(body); status != 429 || hdr.Get("Retry-After") != "9" || !ok || code != -429 {
			t.Errorf("rate limit: %d %s %v", status, body, hdr)
		}
	}
	if status, _, _ := call(t, srv, "GET", "/api/ssl/v1/types", nil, nil); status != 200 {
		t.Errorf("after the rate limit: %d", status)
	}
	status, body, _ := call(t, srv, "GET", "/api/organization/v1", nil, nil)
	if code, ok := scmError(body); status != 400 || !ok || code != -195 {
		t.Errorf("injected -195: %d %s", status, body)
	}
	srv.CorruptNext("", 1)
	if _, body, _ := call(t, srv, "GET", "/api/organization/v1", nil, nil); json.Valid(body) {
		t.Errorf("corrupt answer is valid JSON: %s", body)
	}
	srv.FailNext(1, 503)
	if status, _, _ := call(t, srv, "GET", "/api/organization/v1", nil, nil); status != 503 {
		t.Errorf("FailNext: %d", status)
	}
}
