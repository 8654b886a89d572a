package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/notify"
)

// TestServeWiresOperatorsSurfaces: the real binary sends signed webhooks
// for what happens to orders, counts what it does on /metrics of the admin
// listener, answers /readyz there, and tags timeline steps with the id of
// the request that caused them.
func TestServeWiresOperatorsSurfaces(t *testing.T) {
	skipIfShort(t)
	type delivery struct {
		event notify.Event
		ok    bool
	}
	var (
		mu       sync.Mutex
		received []delivery
		secret   string
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev notify.Event
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		defer mu.Unlock()
		ok := notify.VerifySignature([]byte(secret), r.Header.Get(notify.HeaderTimestamp), body, r.Header.Get(notify.HeaderSignature))
		received = append(received, delivery{ev, ok})
	}))
	defer hook.Close()

	s := startGate(t, &Config{
		Directories: []DirectoryConfig{{Name: "obs", DirectorySettings: acme.DirectorySettings{
			Policy: acme.PolicySettings{SkipValidation: true, AllowedDomains: []string{"obs.test"}},
		}}},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	hc := trustingClient(t, s.rootPEM)
	base := s.adminURL(t)
	adminTok := s.createToken(t, "wiring-admin", "admin")

	var created struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if code := adminAPI(ctx, t, hc, base, adminTok, "POST", "/webhooks", map[string]any{"url": hook.URL + "/hook", "directory": "obs"}, &created); code != http.StatusCreated || created.Secret == "" {
		t.Fatalf("create webhook: %d %+v", code, created)
	}
	mu.Lock()
	secret = created.Secret
	mu.Unlock()

	c := s.acmeClient(t, "obs")
	if err := register(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	order, err := c.AuthorizeOrder(ctx, xacme.DomainIDs("www.obs.test"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"www.obs.test"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	der, _, err := c.CreateOrderCert(ctx, order.FinalizeURL, csr, true)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		t.Fatal(err)
	}

	eventually(t, 20*time.Second, "a signed certificate.issued webhook", func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range received {
			if d.event.Type == notify.CertificateIssued {
				if !d.ok {
					return fmt.Errorf("the signature does not verify")
				}
				if d.event.Serial != leaf.SerialNumber.Text(16) || d.event.Directory != "obs" {
					return fmt.Errorf("event %+v is not about the issued certificate", d.event)
				}
				return nil
			}
		}
		return fmt.Errorf("%d deliveries, none certificate.issued", len(received))
	})
	var deliveries struct {
		Items []struct{ Status, Event string } `json:"items"`
	}
	eventually(t, 10*time.Second, "the delivery logged as delivered", func() error {
		if code := adminAPI(ctx, t, hc, base, adminTok, "GET", "/webhooks/"+created.ID+"/deliveries", nil, &deliveries); code != 200 {
			return fmt.Errorf("deliveries: %d", code)
		}
		for _, d := range deliveries.Items {
			if d.Event == notify.CertificateIssued && d.Status == "delivered" {
				return nil
			}
		}
		return fmt.Errorf("deliveries %+v", deliveries.Items)
	})

	root := strings.TrimSuffix(base, "/admin/")
	get := func(path string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", root+path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, metrics := get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`acmegate_http_requests_total{code="201",endpoint="new-order"}`,
		`acmegate_issuance_duration_seconds_count{backend="local"} 1`,
		`acmegate_certificates_expiring{directory="obs",within="30d"} 0`,
		`acmegate_jobs{kind="deliver",state="queued"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}

	var detail struct {
		Timeline []struct {
			Kind      string `json:"kind"`
			RequestID string `json:"request_id"`
		} `json:"timeline"`
	}
	if code := adminAPI(ctx, t, hc, base, adminTok, "GET", "/orders/"+order.URI[strings.LastIndex(order.URI, "/")+1:], nil, &detail); code != 200 {
		t.Fatalf("order: %d", code)
	}
	for _, e := range detail.Timeline {
		if e.Kind == acme.EventCreated && e.RequestID == "" {
			t.Errorf("the order's creation step has no request id: %+v", detail.Timeline)
		}
	}
	if len(detail.Timeline) == 0 {
		t.Error("the order has no timeline")
	}
}
