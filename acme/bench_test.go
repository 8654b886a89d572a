package acme_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage/storagetest"
)

// BenchmarkFullIssuance measures one complete issuance with
// golang.org/x/crypto/acme against the real handler on a TLS listener:
// newOrder, authorization fetch, http-01 challenge and its validation,
// finalize with a fresh P-256 CSR, polling, certificate download. The
// account is reused, as a renewing client's would be. It reports the median
// and the 90th percentile besides the mean, and the CPU time per issuance
// of the whole process: client, responders and server together.
func BenchmarkFullIssuance(b *testing.B) {
	e := newEnv(b, envOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := e.newClient(ctx, nil)
	certKey := newECKey(b)
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	stopCPU := storagetest.MeasureCPU(b)
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		e.issue(ctx, c, "http-01", certKey, fmt.Sprintf("bench%d.example.com", i))
		durations = append(durations, time.Since(start))
	}
	stopCPU()
	b.StopTimer()
	slices.Sort(durations)
	if n := len(durations); n > 0 {
		b.ReportMetric(float64(durations[n/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(durations[n*9/10].Microseconds())/1000, "p90-ms")
	}
}
