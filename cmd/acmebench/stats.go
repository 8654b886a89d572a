package main

import (
	"maps"
	"slices"
	"time"
)

// Percentiles summarise durations in milliseconds (nearest-rank
// percentiles).
type Percentiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Mean  float64 `json:"mean_ms"`
	Max   float64 `json:"max_ms"`
}

// percentilesOf summarises ds; it sorts ds in place.
func percentilesOf(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	rank := func(p float64) float64 {
		// Nearest rank: the smallest value with at least p of the
		// samples at or below it.
		i := int(p*float64(len(ds))+0.999999) - 1
		return ms(ds[min(max(i, 0), len(ds)-1)])
	}
	return Percentiles{
		Count: len(ds),
		P50:   rank(0.50),
		P90:   rank(0.90),
		P99:   rank(0.99),
		Mean:  ms(sum / time.Duration(len(ds))),
		Max:   ms(ds[len(ds)-1]),
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// recorder collects one worker's results; the workers' recorders are
// merged at the end, so the hot path takes no lock.
type recorder struct {
	ok, failed int
	flows      []time.Duration
	steps      [numSteps][]time.Duration
	errors     map[string]int
	// issued are the end times of the successful flows, for LongestGapS.
	issued []time.Time
	// firstErrors keeps one message per error type, to show what went
	// wrong without flooding the output.
	firstErrors map[string]string
}

func newRecorder() *recorder {
	return &recorder{errors: map[string]int{}, firstErrors: map[string]string{}}
}

// add records one flow: its latencies when it issued, its error type
// when it did not.
func (r *recorder) add(res flowResult) {
	if res.err != nil {
		r.failed++
		t := errorType(res.err)
		r.errors[t]++
		if _, ok := r.firstErrors[t]; !ok {
			r.firstErrors[t] = res.err.Error()
		}
		return
	}
	r.ok++
	r.issued = append(r.issued, time.Now())
	r.flows = append(r.flows, res.total)
	for s := range numSteps {
		r.steps[s] = append(r.steps[s], res.steps[s])
	}
}

// merge adds o into r.
func (r *recorder) merge(o *recorder) {
	r.ok += o.ok
	r.failed += o.failed
	r.flows = append(r.flows, o.flows...)
	r.issued = append(r.issued, o.issued...)
	for s := range numSteps {
		r.steps[s] = append(r.steps[s], o.steps[s]...)
	}
	for k, v := range o.errors {
		r.errors[k] += v
	}
	for k, v := range o.firstErrors {
		if _, ok := r.firstErrors[k]; !ok {
			r.firstErrors[k] = v
		}
	}
}

// longestGap is the longest time in [start, end] without an issuance
// completing: from start to the first, between two, from the last to end
// (the whole span without any). It sorts issued in place.
func longestGap(start, end time.Time, issued []time.Time) time.Duration {
	slices.SortFunc(issued, time.Time.Compare)
	prev, gap := start, time.Duration(0)
	for _, t := range append(issued, end) {
		gap = max(gap, t.Sub(prev))
		prev = t
	}
	return gap
}

// stepStats summarises every step under its stable name.
func (r *recorder) stepStats() map[string]Percentiles {
	out := make(map[string]Percentiles, numSteps)
	for s := range numSteps {
		out[stepNames[s]] = percentilesOf(r.steps[s])
	}
	return out
}

// errorTypes lists the error types, most frequent first.
func (r *recorder) errorTypes() []string {
	keys := slices.Collect(maps.Keys(r.errors))
	slices.SortFunc(keys, func(a, b string) int {
		if r.errors[a] != r.errors[b] {
			return r.errors[b] - r.errors[a]
		}
		if a < b {
			return -1
		}
		return 1
	})
	return keys
}
