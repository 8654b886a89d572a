package acme

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/storage"
)

// Prometheus metrics. Every label takes values from a small fixed set
// (route names, status codes, backend names, challenge types, limit names,
// directory names): never a raw path, an identifier or an id, which would
// make the number of series unbounded.

// Metrics are the server's Prometheus metrics. A nil *Metrics records
// nothing, so call sites need no checks.
type Metrics struct {
	httpRequests     *prometheus.CounterVec
	httpDuration     *prometheus.HistogramVec
	issuance         *prometheus.HistogramVec
	validations      *prometheus.CounterVec
	upstreamDuration *prometheus.HistogramVec
	upstreamErrors   *prometheus.CounterVec
	nonces           *prometheus.CounterVec
	rateLimited      *prometheus.CounterVec
	accountLookups   *prometheus.CounterVec
}

// Upstream CA operations (label "operation").
const (
	opIssue  = "issue"
	opPoll   = "poll"
	opRevoke = "revoke"
)

// NewMetrics creates the metrics and registers them with reg (none when reg
// is nil). It panics, as prometheus.MustRegister does, if they are already
// registered there: that is a wiring mistake, not a run-time condition.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	// Issuance through an upstream CA can take hours (a human approving at
	// the CA); local issuance takes milliseconds.
	issuanceBuckets := []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}
	upstreamBuckets := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	m := &Metrics{
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "acmegate_http_requests_total",
			Help: "ACME HTTP requests by endpoint (route name) and status code.",
		}, []string{"endpoint", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "acmegate_http_request_duration_seconds",
			Help:    "Time to answer an ACME HTTP request, by endpoint (route name).",
			Buckets: prometheus.DefBuckets,
		}, []string{"endpoint"}),
		issuance: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "acmegate_issuance_duration_seconds",
			Help:    "Time from an accepted finalize (or an approval) to the certificate being stored, by CA backend.",
			Buckets: issuanceBuckets,
		}, []string{"backend"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "acmegate_validations_total",
			Help: "Challenge validation attempts by challenge type and outcome (valid, invalid, retry).",
		}, []string{"type", "outcome"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "acmegate_upstream_request_duration_seconds",
			Help:    "Duration of calls to CA backends by backend and operation (issue, poll, revoke).",
			Buckets: upstreamBuckets,
		}, []string{"backend", "operation"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "acmegate_upstream_errors_total",
			Help: "Failed calls to CA backends by backend and operation (issue, poll, revoke).",
		}, []string{"backend", "operation"}),
		nonces: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "acmegate_nonce_redemptions_total",
			Help: "Nonce redemptions by outcome: ok, or bad (missing, malformed, forged, expired or reused).",
		}, []string{"outcome"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "acmegate_rate_limited_total",
			Help: "Requests refused by a rate limit, by limit name.",
		}, []string{"limit"}),
		accountLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "acmegate_account_cache_lookups_total",
			Help: "Account lookups of kid-signed requests by outcome: hit, miss, or off (the account change feed is not running, nothing is cached).",
		}, []string{"outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.httpRequests, m.httpDuration, m.issuance, m.validations,
			m.upstreamDuration, m.upstreamErrors, m.nonces, m.rateLimited, m.accountLookups)
	}
	return m
}

func (m *Metrics) request(endpoint string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(endpoint).Observe(d.Seconds())
}

func (m *Metrics) issued(backend string, d time.Duration) {
	if m == nil {
		return
	}
	m.issuance.WithLabelValues(backend).Observe(max(d, 0).Seconds())
}

func (m *Metrics) validation(typ storage.ChallengeType, outcome string) {
	if m == nil {
		return
	}
	m.validations.WithLabelValues(string(typ), outcome).Inc()
}

// upstream records one call to a backend. A CA saying the certificate is
// already revoked answered correctly; it is not an error of the CA.
func (m *Metrics) upstream(backend, op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.upstreamDuration.WithLabelValues(backend, op).Observe(d.Seconds())
	if err != nil && !errors.Is(err, ca.AlreadyRevoked) {
		m.upstreamErrors.WithLabelValues(backend, op).Inc()
	}
}

func (m *Metrics) nonce(ok bool) {
	if m == nil {
		return
	}
	outcome := "ok"
	if !ok {
		outcome = "bad"
	}
	m.nonces.WithLabelValues(outcome).Inc()
}

// accountLookup records an account cache lookup: hit, miss or off.
func (m *Metrics) accountLookup(outcome string) {
	if m == nil {
		return
	}
	m.accountLookups.WithLabelValues(outcome).Inc()
}

func (m *Metrics) rateLimit(limit string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(limit).Inc()
}

// storeScrapeTimeout bounds the queries of one scrape of the store
// collector, so a slow database cannot hang Prometheus' scrape.
const storeScrapeTimeout = 3 * time.Second

// expiryWindows are the "certificates expiring within" gauges.
var expiryWindows = [...]struct {
	label string
	d     time.Duration
}{{"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}}

// storeCollector reports what the database holds, read at scrape time.
// CollectorStore is what NewStoreCollector reads.
type CollectorStore interface {
	storage.InventoryStore
	storage.DirectoryStore
}

type storeCollector struct {
	store    CollectorStore
	clock    Clock
	jobs     *prometheus.Desc
	expiring *prometheus.Desc
}

// NewStoreCollector returns a collector that, at every scrape, reads from
// store the background jobs queued, running and failing by kind
// (acmegate_jobs) and the valid certificates expiring within 7 and 30 days
// by directory (acmegate_certificates_expiring; the 30-day count includes
// the 7-day one). The queries are bounded by a few seconds; a failing query
// is reported to the registry as an invalid metric rather than a panic.
// clock defaults to the system clock.
func NewStoreCollector(store CollectorStore, clock Clock) prometheus.Collector {
	if clock == nil {
		clock = systemClock{}
	}
	return &storeCollector{
		store: store,
		clock: clock,
		jobs: prometheus.NewDesc("acmegate_jobs",
			"Background jobs by kind and state: queued (waiting or lease expired), running (leased), failing (failed at least once).",
			[]string{"kind", "state"}, nil),
		expiring: prometheus.NewDesc("acmegate_certificates_expiring",
			"Valid certificates whose notAfter lies within the window (7d, 30d) from now, by directory.",
			[]string{"directory", "within"}, nil),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.expiring
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), storeScrapeTimeout)
	defer cancel()
	now := c.clock.Now()
	jobs, err := c.store.CountJobs(ctx, now)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.jobs, fmt.Errorf("count jobs: %w", err))
	} else {
		// Every kind is reported, zero included, so that a dashboard's
		// query and an alert on "failing > 0" see a series at all times.
		for _, kind := range []storage.JobKind{storage.JobValidate, storage.JobIssue, storage.JobRevoke, storage.JobDeliver} {
			if _, ok := jobs[kind]; !ok {
				jobs[kind] = storage.JobCounts{}
			}
		}
		for kind, n := range jobs {
			k := string(kind)
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n.Queued), k, "queued")
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n.Running), k, "running")
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n.Failing), k, "failing")
		}
	}
	// Every directory gets a series, zero included.
	dirs, err := c.store.ListDirectories(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.expiring, fmt.Errorf("list directories: %w", err))
		return
	}
	for _, w := range expiryWindows {
		counts, err := c.store.CountExpiringCertificates(ctx, now, now.Add(w.d))
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.expiring, fmt.Errorf("count certificates expiring within %s: %w", w.label, err))
			continue
		}
		for _, d := range dirs {
			if _, ok := counts[d.Name]; !ok {
				counts[d.Name] = 0
			}
		}
		for dir, n := range counts {
			ch <- prometheus.MustNewConstMetric(c.expiring, prometheus.GaugeValue, float64(n), dir, w.label)
		}
	}
}
