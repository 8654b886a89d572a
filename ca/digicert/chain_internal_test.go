package digicert

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/digicert/digicerttest"
)

// hierarchy makes root → intermediate → leaves, all self-made.
type hierarchy struct {
	root, inter *x509.Certificate
	leaves      []*x509.Certificate
}

func newHierarchy(t *testing.T, leaves int) hierarchy {
	t.Helper()
	mk := func(cn string, serial int64, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IsCA: isCA, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, key
	}
	root, rootKey := mk("Root", 1, true, nil, nil)
	inter, interKey := mk("Intermediate", 2, true, root, rootKey)
	h := hierarchy{root: root, inter: inter}
	for i := range leaves {
		leaf, _ := mk("leaf"+strconv.Itoa(i), int64(0x0100+i), false, inter, interKey)
		h.leaves = append(h.leaves, leaf)
	}
	return h
}

func subjects(cs []*x509.Certificate) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Subject.CommonName)
	}
	return strings.Join(out, ",")
}

func TestBuildChain(t *testing.T) {
	t.Parallel()
	h := newHierarchy(t, 2)
	leaf := h.leaves[0]
	tests := []struct {
		name    string
		certs   []*x509.Certificate
		serial  string
		want    string
		wantErr string
	}{
		{"leaf first", []*x509.Certificate{leaf, h.inter, h.root}, "", "leaf0,Intermediate", ""},
		{"root first", []*x509.Certificate{h.root, h.inter, leaf}, "", "leaf0,Intermediate", ""},
		{"shuffled", []*x509.Certificate{h.inter, leaf, h.root}, "", "leaf0,Intermediate", ""},
		{"no root", []*x509.Certificate{h.inter, leaf}, "", "leaf0,Intermediate", ""},
		{"leaf only", []*x509.Certificate{leaf}, "", "", "issuer of \"leaf0\""},
		{"two leaves, no hint", []*x509.Certificate{leaf, h.leaves[1], h.inter}, "", "", "2 unrelated"},
		{"two leaves, serial hint", []*x509.Certificate{h.leaves[1], leaf, h.inter}, "0100", "leaf0,Intermediate", ""},
		{"hint with colons", []*x509.Certificate{h.leaves[1], leaf, h.inter}, "01:01", "leaf1,Intermediate", ""},
		{"only CA certificates", []*x509.Certificate{h.root}, "", "", "no end-entity"},
		{"nothing", nil, "", "", "no certificates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := buildChain(tt.certs, tt.serial)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("buildChain = %s, %v; want error %q", subjects(got), err, tt.wantErr)
				}
				return
			}
			if err != nil || subjects(got) != tt.want {
				t.Errorf("buildChain = %s, %v; want %s", subjects(got), err, tt.want)
			}
		})
	}
}

func TestParseCertificates(t *testing.T) {
	t.Parallel()
	h := newHierarchy(t, 1)
	pemOf := func(c *x509.Certificate) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	tests := []struct {
		name  string
		data  string
		want  int
		isErr bool
	}{
		{"PEM bundle", pemOf(h.leaves[0]) + pemOf(h.inter), 2, false},
		{"CRLF PEM", strings.ReplaceAll(pemOf(h.leaves[0])+pemOf(h.inter), "\n", "\r\n"), 2, false},
		{"other blocks skipped", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" + pemOf(h.inter), 1, false},
		{"bare base64", base64.StdEncoding.EncodeToString(h.inter.Raw), 1, false},
		{"raw DER", string(h.inter.Raw), 1, false},
		{"garbage", "<html>oops</html>", 0, true},
		{"corrupt PEM", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCertificates([]byte(tt.data))
			if (err != nil) != tt.isErr || len(got) != tt.want {
				t.Errorf("parseCertificates = %d certs, %v", len(got), err)
			}
		})
	}
}

// TestListingPages makes the backend page through a list longer than one
// page.
func TestListingPages(t *testing.T) {
	t.Parallel()
	fake := digicerttest.Start(t, digicerttest.Config{Mode: digicerttest.ModePending, PendingPolls: 100})
	b, err := New(Config{
		BaseURL: fake.URL(), APIKey: fake.APIKey(), OrgID: digicerttest.DefaultOrganizationID,
		Profiles: []ProfileMap{{Name: "ov", Product: "ssl_basic"}}, HTTPClient: fake.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	b.pageSize = 2
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(csrDER)
	for i := range 5 {
		// Same names every time: the idempotency lookup must page through
		// all earlier orders too.
		req := issueReq("order-"+strconv.Itoa(i), csr)
		if _, err := b.Issue(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	again, err := b.Issue(ctx, issueReq("order-0", csr))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Orders()); n != 5 {
		t.Fatalf("%d orders, want 5 (order-0 reused)", n)
	}
	if want := makeRef(int64(fake.Orders()[0].ID), 0); again.Ref != want {
		t.Errorf("order-0 again = %q, want %q", again.Ref, want)
	}
	all, err := b.ListOrders(ctx, OrderFilter{})
	if err != nil || len(all) != 5 {
		t.Fatalf("ListOrders = %d orders, %v", len(all), err)
	}
	var offsets []string
	for _, r := range fake.Requests() {
		if r.Path == digicerttest.BasePath+"/order/certificate" && strings.Contains(r.RawQuery, "limit=2") {
			offsets = append(offsets, r.RawQuery[strings.Index(r.RawQuery, "offset="):])
		}
	}
	if last := offsets[len(offsets)-3:]; strings.Join(last, " ") != "offset=0 offset=2 offset=4" {
		t.Errorf("ListOrders pages = %v", last)
	}
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func issueReq(id string, csr *x509.CertificateRequest) ca.IssueRequest {
	return ca.IssueRequest{OrderID: id, CSR: csr, Identifiers: []ca.Identifier{{Type: ca.IdentifierDNS, Value: "paged.example.com"}}}
}
