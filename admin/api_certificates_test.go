package admin

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/csv"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// fakeCert imports an inventory row without a real chain (listings and
// exports never parse it).
func (e *apiEnv) fakeCert(dir, name string, notAfter, created time.Time) *storage.Certificate {
	e.t.Helper()
	serial := make([]byte, 16)
	_, _ = rand.Read(serial)
	c := &storage.Certificate{ID: fixtureID("cert"), Directory: dir, Serial: new(big.Int).SetBytes(serial).Text(16),
		Issuer: "CN=Test", Names: []string{name}, NotBefore: notAfter.Add(-90 * 24 * time.Hour), NotAfter: notAfter,
		ChainPEM: []byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"), Backend: "local", Status: storage.StatusValid, CreatedAt: created}
	if err := e.st.ImportCertificate(e.ctx, c); err != nil {
		e.t.Fatalf("ImportCertificate: %v", err)
	}
	return c
}

// TestCertificates lists the inventory with its filters and pages, shows
// a certificate and its PEM, revokes it through the protocol layer, and
// exports CSV.
func TestCertificates(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	now := time.Now().UTC()
	soon := e.cert("team-a", []string{"soon.example.test", "www.soon.example.test"}, now.Add(5*24*time.Hour))
	later := e.cert("team-a", []string{"later.example.test"}, now.Add(20*24*time.Hour))
	far := e.cert("default", []string{"far.example.test"}, now.Add(200*24*time.Hour))
	gone := e.cert("default", []string{"gone.example.test"}, now.Add(-24*time.Hour))

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"sort=expiry", []string{gone.ID, soon.ID, later.ID, far.ID}},
		{"expiring_within_days=30&sort=expiry", []string{soon.ID, later.ID}},
		{"expiring_before=" + url.QueryEscape(now.Add(10*24*time.Hour).Format(time.RFC3339)) + "&sort=expiry", []string{gone.ID, soon.ID}},
		{"directory=default&sort=expiry", []string{gone.ID, far.ID}},
		{"name=SOON&sort=expiry", []string{soon.ID}},
		{"status=revoked", nil},
	} {
		if got, _ := e.allPages("/certificates?" + tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("certificates?%s = %v, want %v", tc.query, got, tc.want)
		}
	}
	wantProblem(t, "both expiry filters", e.as("auditor", "GET", "/certificates?expiring_within_days=3&expiring_before=2030-01-01T00:00:00Z", nil),
		http.StatusBadRequest, kindInvalid, "expiring_within_days:", "not both")
	wantProblem(t, "bad days", e.as("auditor", "GET", "/certificates?expiring_within_days=-1", nil), http.StatusBadRequest, kindInvalid, "expiring_within_days:")
	wantProblem(t, "bad sort", e.as("auditor", "GET", "/certificates?sort=name", nil), http.StatusBadRequest, kindInvalid, "sort:")

	// One certificate, with its chain; the chain alone as PEM.
	var v CertificateView
	e.must("auditor", "GET", "/certificates/"+soon.ID, nil, http.StatusOK).decode(t, &v)
	if v.Serial != soon.Serial || v.DaysLeft != 4 && v.DaysLeft != 5 || v.ChainPEM != string(soon.ChainPEM) || !slices.Equal(v.Names, soon.Names) {
		t.Errorf("certificate %+v", v)
	}
	r := e.must("auditor", "GET", "/certificates/"+soon.ID+"/pem", nil, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "application/pem-certificate-chain" {
		t.Errorf("PEM Content-Type %q", ct)
	}
	block, _ := pem.Decode(r.body)
	if block == nil {
		t.Fatalf("PEM answer is not PEM: %q", r.body)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil || leaf.SerialNumber.Text(16) != soon.Serial {
		t.Fatalf("PEM leaf: %v, serial %v", err, leaf)
	}

	// Revocation goes through the protocol layer, which asks the CA.
	wantProblem(t, "CA-only reason", e.as("operator", "POST", "/certificates/"+soon.ID+"/revoke", map[string]any{"reason": 2}),
		http.StatusBadRequest, kindInvalid, "reason:", "1 (keyCompromise)")
	wantProblem(t, "unknown reason name", e.as("operator", "POST", "/certificates/"+soon.ID+"/revoke", map[string]any{"reason": "lostIt"}),
		http.StatusBadRequest, kindInvalid, "reason:", "lostIt")
	wantProblem(t, "reason of a wrong type", e.as("operator", "POST", "/certificates/"+soon.ID+"/revoke", map[string]any{"reason": true}),
		http.StatusBadRequest, kindInvalid, "reason:")
	e.must("operator", "POST", "/certificates/"+soon.ID+"/revoke", map[string]any{"reason": "keyCompromise"}, http.StatusOK).decode(t, &v)
	if v.Status != storage.StatusRevoked || v.RevocationReason == nil || *v.RevocationReason != 1 || v.RevokedAt == nil {
		t.Errorf("revoked certificate %+v", v)
	}
	entry := e.lastAudit("certificate.revoke.request")
	if entry.Outcome != storage.OutcomeSuccess || entry.Directory != "team-a" || entry.Object != "certificate:"+soon.ID ||
		entry.Actor != "token:"+e.tokenNames["operator"] || !strings.Contains(entry.Detail, "reason 1") {
		t.Errorf("revocation audit entry %+v", entry)
	}
	// The protocol layer audits the CA's confirmation with the operator as
	// the actor.
	confirmed := e.auditEntries(storage.AuditFilter{Action: "certificate.revoke", Actor: "token:" + e.tokenNames["operator"]})
	if len(confirmed) != 1 {
		t.Errorf("protocol audit entries of the revocation: %+v", confirmed)
	}
	wantProblem(t, "revoke twice", e.as("operator", "POST", "/certificates/"+soon.ID+"/revoke", nil), http.StatusConflict, kindConflict, "already revoked")
	if got, _ := e.allPages("/certificates?status=revoked"); !slices.Equal(got, []string{soon.ID}) {
		t.Errorf("revoked certificates = %v", got)
	}

	// CSV export: the same filters, every page, a header line.
	r = e.must("auditor", "GET", "/certificates.csv?sort=expiry&directory=team-a", nil, http.StatusOK)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") || !strings.Contains(r.header.Get("Content-Disposition"), "attachment") {
		t.Errorf("CSV headers %v", r.header)
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v\n%s", err, r.body)
	}
	if len(rows) != 3 || !slices.Equal(rows[0], certificateCSVHeader) || rows[1][0] != soon.ID || rows[2][0] != later.ID ||
		rows[1][3] != "soon.example.test www.soon.example.test" || rows[1][4] != "revoked" || rows[1][15] != "1" {
		t.Errorf("CSV rows %q", rows)
	}
	wantProblem(t, "CSV with a cursor", e.as("auditor", "GET", "/certificates.csv?limit=2", nil), http.StatusBadRequest, kindInvalid, "cursor")
	r = e.must("auditor", "GET", "/certificates.csv?directory=nosuch", nil, http.StatusOK)
	if rows, _ := csv.NewReader(strings.NewReader(string(r.body))).ReadAll(); len(rows) != 1 {
		t.Errorf("empty export has %d rows, want the header only", len(rows))
	}
}

// TestCertificatesExportManyPages streams an export longer than one page
// of the store.
func TestCertificatesExportManyPages(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	now := time.Now().UTC()
	const n = reportPageSize + 37
	want := map[string]bool{}
	for i := range n {
		c := e.fakeCert("team-a", fmt.Sprintf("h%04d.example.test", i), now.Add(time.Duration(i)*time.Hour), now.Add(-time.Duration(i)*time.Second))
		want[c.ID] = true
	}
	r := e.must("auditor", "GET", "/certificates.csv", nil, http.StatusOK)
	rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n+1 {
		t.Fatalf("export has %d rows, want %d and a header", len(rows)-1, n)
	}
	for _, row := range rows[1:] {
		if !want[row[0]] {
			t.Fatalf("row %q is unknown or repeated", row)
		}
		delete(want, row[0])
	}
	// The reports read the same pages.
	got, err := ExpiringCertificates(e.ctx, e.st, now, 30, "team-a")
	if err != nil || len(got) != 30*24 {
		t.Errorf("ExpiringCertificates over 30 days: %d, %v; want %d", len(got), err, 30*24)
	}
	for i := 1; i < len(got); i++ {
		if got[i].NotAfter.Before(got[i-1].NotAfter) {
			t.Fatalf("expiring certificates are not soonest first at %d", i)
		}
	}
	issued, err := IssuedCertificates(e.ctx, e.st, now.Add(-100*time.Second), "")
	if err != nil || len(issued) != 101 {
		t.Errorf("IssuedCertificates of the last 100 s: %d, %v; want 101", len(issued), err)
	}
}
