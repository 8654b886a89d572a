package acme_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/sqlite"
)

// scrape is what a Prometheus server read from /metrics.
type scrape map[string]*dto.MetricFamily

// scrapeMetrics reads url as Prometheus does, over HTTP in the text format.
func scrapeMetrics(t *testing.T, url string) scrape {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams
}

// value is the value of the series of name with exactly labels: a counter's
// or gauge's value, a histogram's sample count. ok is false when there is
// no such series.
func (s scrape) value(name string, labels map[string]string) (float64, bool) {
	fam, ok := s[name]
	if !ok {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// labelValues lists the values label takes in the series of name.
func (s scrape) labelValues(name, label string) []string {
	var out []string
	for _, m := range s[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out = append(out, l.GetValue())
			}
		}
	}
	return out
}

// TestMetricsOfAnIssuance: after a full issuance, a refused nonce and a
// rate-limited order, a scrape of a real registry over HTTP shows each
// counter moved under the right labels, and the store collector reports the
// certificate expiring and the queued job.
func TestMetricsOfAnIssuance(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, envOptions{metrics: acme.NewMetrics(reg), dirs: []acme.DirectoryDefinition{{Name: "limited", Settings: acme.DirectorySettings{
		RateLimits: acme.RateLimitSettings{AccountOrdersPerHour: 1},
		Policy:     acme.PolicySettings{PreValidatedDomains: []string{"corp.example"}},
	}}}})
	reg.MustRegister(acme.NewStoreCollector(e.store, nil))
	metrics := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(metrics.Close)
	ctx := testCtx(t)

	// A full issuance of a certificate that expires in 10 days.
	c := e.newClient(ctx, nil)
	o, err := c.AuthorizeOrder(ctx, idsOf("metrics.example.com"), xacme.WithOrderNotAfter(time.Now().Add(10*24*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	e.solve(ctx, c, o, "http-01")
	der, err := x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{"metrics.example.com"}), newECKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, der, true); err != nil {
		t.Fatal(err)
	}

	// A forged nonce.
	raw := e.rawClient()
	u := e.url + "/acme/default/new-account"
	h := raw.header(u)
	h["nonce"] = "Zm9yZ2Vk"
	if r := raw.post(u, raw.jws(h, []byte(`{"termsOfServiceAgreed":true}`))); r.problem.Type != "urn:ietf:params:acme:error:badNonce" {
		t.Fatalf("forged nonce: %d %s", r.status, r.body)
	}

	// A second order within the hour where one is allowed.
	lim := e.rawAccount("limited")
	if _, _, r := lim.order("limited", `{"identifiers":[{"type":"dns","value":"a.corp.example"}]}`); r.status != 201 {
		t.Fatalf("first order: %d %s", r.status, r.body)
	}
	if _, _, r := lim.order("limited", `{"identifiers":[{"type":"dns","value":"b.corp.example"}]}`); r.status != 429 {
		t.Fatalf("second order: %d %s, want 429", r.status, r.body)
	}

	// A notification waiting far in the future: a queued job.
	now := time.Now().UTC()
	if err := e.store.EnqueueDeliveries(ctx,
		[]*storage.Delivery{{ID: "d-queued", Channel: "webhook", Target: "https://127.0.0.1:1/hook", Event: "certificate.issued",
			Payload: []byte(`{}`), Status: storage.DeliveryPending, CreatedAt: now, UpdatedAt: now}},
		[]*storage.Job{{ID: uuid.NewString(), Kind: storage.JobDeliver, Ref: "d-queued", RunAt: now.Add(time.Hour), Deadline: now.Add(2 * time.Hour), CreatedAt: now}},
	); err != nil {
		t.Fatal(err)
	}

	s := scrapeMetrics(t, metrics.URL)
	type want struct {
		name   string
		labels map[string]string
		min    float64
		max    float64 // 0: same as min
	}
	for _, w := range []want{
		{"acmegate_http_requests_total", map[string]string{"endpoint": "new-order", "code": "201"}, 2, 0},
		{"acmegate_http_requests_total", map[string]string{"endpoint": "new-order", "code": "429"}, 1, 0},
		{"acmegate_http_requests_total", map[string]string{"endpoint": "finalize", "code": "200"}, 1, 0},
		{"acmegate_http_requests_total", map[string]string{"endpoint": "new-account", "code": "400"}, 1, 0},
		{"acmegate_http_request_duration_seconds", map[string]string{"endpoint": "finalize"}, 1, 0},
		{"acmegate_http_request_duration_seconds", map[string]string{"endpoint": "challenge"}, 1, 0},
		{"acmegate_issuance_duration_seconds", map[string]string{"backend": "local"}, 1, 0},
		{"acmegate_validations_total", map[string]string{"type": "http-01", "outcome": "valid"}, 1, 0},
		{"acmegate_upstream_request_duration_seconds", map[string]string{"backend": "local", "operation": "issue"}, 1, 0},
		// newAccount ×2, newOrder, authz, challenge, finalize, order, certificate; newAccount and newOrder ×2 raw.
		{"acmegate_nonce_redemptions_total", map[string]string{"outcome": "ok"}, 10, 1000},
		{"acmegate_nonce_redemptions_total", map[string]string{"outcome": "bad"}, 1, 0},
		{"acmegate_rate_limited_total", map[string]string{"limit": "account_orders_per_hour"}, 1, 0},
		{"acmegate_certificates_expiring", map[string]string{"directory": "default", "within": "30d"}, 1, 0},
		{"acmegate_jobs", map[string]string{"kind": "deliver", "state": "queued"}, 1, 0},
		{"acmegate_jobs", map[string]string{"kind": "deliver", "state": "running"}, 0, 0},
		{"acmegate_jobs", map[string]string{"kind": "deliver", "state": "failing"}, 0, 0},
	} {
		got, ok := s.value(w.name, w.labels)
		hi := w.max
		if hi == 0 {
			hi = w.min
		}
		if !ok || got < w.min || got > hi {
			t.Errorf("%s%v = %v (present %v), want %v..%v", w.name, w.labels, got, ok, w.min, hi)
		}
	}
	if got, ok := s.value("acmegate_certificates_expiring", map[string]string{"directory": "default", "within": "7d"}); ok && got != 0 {
		t.Errorf("certificates expiring within 7 days = %v, want 0", got)
	}
	if _, ok := s["acmegate_upstream_errors_total"]; ok {
		t.Errorf("upstream errors counted after a clean issuance: %v", s["acmegate_upstream_errors_total"])
	}
	// Endpoint labels are route names: bounded, never a path with ids.
	routes := map[string]bool{"directory": true, "new-nonce": true, "new-account": true, "account": true, "account-orders": true,
		"key-change": true, "new-order": true, "new-authz": true, "order": true, "finalize": true, "authz": true, "challenge": true,
		"certificate": true, "certificate-alternate": true, "revoke-cert": true, "renewal-info": true, "not-found": true}
	for _, name := range []string{"acmegate_http_requests_total", "acmegate_http_request_duration_seconds"} {
		for _, v := range s.labelValues(name, "endpoint") {
			if !routes[v] || strings.Contains(v, "/") {
				t.Errorf("%s has endpoint %q, not a route name", name, v)
			}
		}
	}
}

// TestStoreCollectorReportsStoreErrors: a database that does not answer
// makes the scrape report an error, not panic.
func TestStoreCollectorReportsStoreErrors(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "closed.db"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(acme.NewStoreCollector(st, nil))
	_, err = reg.Gather()
	if err == nil || !strings.Contains(err.Error(), "count jobs") || !strings.Contains(err.Error(), "list directories") {
		t.Fatalf("Gather error = %v, want the store's errors", err)
	}
	// A scrape that continues on errors still answers with the rest.
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_other", Help: "Another metric."}))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("scrape = %s, want 200 with ContinueOnError", resp.Status)
	}
}

// TestNewMetricsWithoutRegistry: NewMetrics works without a registry, and
// registering twice in one registry is the wiring mistake it reports. (A
// server without metrics is what every other test runs.)
func TestNewMetricsWithoutRegistry(t *testing.T) {
	if acme.NewMetrics(nil) == nil {
		t.Fatal("NewMetrics(nil) = nil")
	}
	reg := prometheus.NewRegistry()
	acme.NewMetrics(reg)
	defer func() {
		if recover() == nil {
			t.Error("registering the metrics twice in one registry did not panic")
		}
	}()
	acme.NewMetrics(reg)
}
