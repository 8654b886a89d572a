package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/storage"
)

// newMetrics builds the process's Prometheus registry: Go runtime and
// process collectors, the protocol's metrics, and the gauges read from the
// database at scrape time (jobs, certificates expiring). It returns the
// protocol metrics and the /metrics handler.
func newMetrics(st storage.Store) (*acme.Metrics, http.Handler) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		acme.NewStoreCollector(st, acme.SystemClock()),
	)
	m := acme.NewMetrics(reg)
	// A database hiccup during a scrape must not hide every other metric:
	// the store collector reports its own error metric instead.
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m, h
}
