package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// reportSchema is Report.Schema. Field names below are stable: scripts
// and -summarize read them. A change that renames or re-means a field
// bumps the schema; adding a field does not.
const reportSchema = 1

// Report is the JSON object on the last line of standard output.
//
// Latencies are milliseconds of wall time measured by the client and
// cover successful flows only. A flow runs from newOrder to the downloaded
// chain; the certificate key and CSR are made before it starts and the
// chain is verified after it ends. Steps (keys of Steps):
//
//	new_order    POST newOrder
//	authz        POST-as-GET of every authorization of the order
//	challenge    publish the answer, POST the challenge, poll the
//	             authorization until valid (no poll when the challenge
//	             comes back valid)
//	finalize     POST finalize with the CSR
//	wait_issued  poll the order until valid (0 when finalize returned it valid)
//	download     POST-as-GET of the certificate chain
//
// Polls wait the response's Retry-After when it has one, -poll-interval
// (50 ms) otherwise.
type Report struct {
	Schema    int    `json:"schema"`
	Label     string `json:"label"`     // -label
	Directory string `json:"directory"` // -directory
	Challenge string `json:"challenge"` // http-01, dns-01 or none
	// Concurrency is the number of workers (accounts).
	Concurrency int    `json:"concurrency"`
	Key         string `json:"key"` // certificate key: p256 or rsa2048
	Warmup      int    `json:"warmup"`
	// LimitN and LimitDurationS are the bounds asked for (0: none).
	LimitN         int       `json:"limit_n"`
	LimitDurationS float64   `json:"limit_duration_s"`
	StartedAt      time.Time `json:"started_at"`
	// ElapsedS runs from the first measured flow's start to the last
	// one's end.
	ElapsedS float64 `json:"elapsed_s"`
	// Issuances are flows that ended with a verified chain; Failures the
	// others.
	Issuances     int     `json:"issuances"`
	Failures      int     `json:"failures"`
	IssuancesPerS float64 `json:"issuances_per_s"`
	// LongestGapS is the longest time while measuring in which no
	// issuance completed (the start and the end of the run included): a
	// stall shows here even when the run's totals look fine.
	LongestGapS float64                `json:"longest_gap_s"`
	Flow        Percentiles            `json:"flow"`
	Steps       map[string]Percentiles `json:"steps"`
	// Errors counts failed flows by problem type (the full URN), or by
	// acmebench:KIND for failures without a problem document (timeout,
	// transport, protocol, verify).
	Errors map[string]int `json:"errors"`
	// Requests is every HTTP request sent to the ACME server while
	// measuring, retries and newNonce included; RequestsPerIssuance
	// divides it by Issuances.
	Requests            int64   `json:"requests"`
	RequestsPerIssuance float64 `json:"requests_per_issuance"`
	// NonceRetries are requests repeated after badNonce, ThrottleRetries
	// after 429 or 503, Polls are authorization and order polls.
	NonceRetries    int64 `json:"nonce_retries"`
	ThrottleRetries int64 `json:"throttle_retries"`
	Polls           int64 `json:"polls"`
	// ClientCPUMsPerIssuance is acmebench's own CPU time per issuance: on
	// a shared machine, what the client took from the server.
	ClientCPUMsPerIssuance float64 `json:"client_cpu_ms_per_issuance"`
	// Server is present when -server-pid or -server-pids-cmd was given.
	Server *ServerStats `json:"server,omitempty"`

	firstErrors map[string]string
}

// ServerStats are the sampled server processes: the -server-pid ones
// ("fixed") and those found by -server-pids-cmd ("named").
type ServerStats struct {
	// PIDs are the processes sampled at the end.
	PIDs []int `json:"pids"`
	// CPUMs is the CPU time (user+system, reaped children included) all
	// of them spent while measuring; NamedCPUMs is the named processes'
	// part of it (e.g. PostgreSQL's).
	CPUMs            float64 `json:"cpu_ms"`
	CPUMsPerIssuance float64 `json:"cpu_ms_per_issuance"`
	NamedCPUMs       float64 `json:"named_cpu_ms"`
	// PeakRSSKiB sums the VmHWM of the fixed processes at the end (of the
	// named ones when no pid is fixed): their peak resident memory since
	// they started, not only during the run. MaxProcessPeakRSSKiB is the
	// largest single one of that set.
	PeakRSSKiB           int64 `json:"peak_rss_kib"`
	MaxProcessPeakRSSKiB int64 `json:"max_process_peak_rss_kib"`
	// NamedPeakRSSKiB sums the named processes' VmHWM. Shared memory
	// (PostgreSQL's buffers) is counted once in each process, so it
	// overstates what they use together.
	NamedPeakRSSKiB int64 `json:"named_peak_rss_kib"`
	// RSSBeforeKiB and RSSAfterKiB sum VmRSS of the PeakRSSKiB set
	// before and after measuring.
	RSSBeforeKiB int64 `json:"rss_before_kib"`
	RSSAfterKiB  int64 `json:"rss_after_kib"`
}

func serverStats(before, after procSample, issuances int) *ServerStats {
	memBefore, memAfter := before.fixed, after.fixed
	if len(memAfter.pids) == 0 {
		memBefore, memAfter = before.named, after.named
	}
	s := &ServerStats{
		PIDs:       append(slices.Clone(after.fixed.pids), after.named.pids...),
		CPUMs:      ms(after.fixed.cpu + after.named.cpu - before.fixed.cpu - before.named.cpu),
		NamedCPUMs: ms(after.named.cpu - before.named.cpu),
		PeakRSSKiB: memAfter.hwmKiB, MaxProcessPeakRSSKiB: memAfter.maxHWMKiB,
		NamedPeakRSSKiB: after.named.hwmKiB,
		RSSBeforeKiB:    memBefore.rssKiB, RSSAfterKiB: memAfter.rssKiB,
	}
	if issuances > 0 {
		s.CPUMsPerIssuance = s.CPUMs / float64(issuances)
	}
	return s
}

// writeJSONLine writes the report as one line.
func writeJSONLine(w io.Writer, r *Report) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", raw)
	return err
}

// writeTable writes the report for people.
func writeTable(w io.Writer, r *Report) {
	label := r.Label
	if label != "" {
		label = " [" + label + "]"
	}
	fmt.Fprintf(w, "acmebench%s %s  challenge=%s c=%d key=%s\n", label, r.Directory, r.Challenge, r.Concurrency, r.Key)
	fmt.Fprintf(w, "issued %d, failed %d in %.2fs: %.1f issuances/s; longest time without an issuance %.2fs\n",
		r.Issuances, r.Failures, r.ElapsedS, r.IssuancesPerS, r.LongestGapS)
	fmt.Fprintf(w, "requests %d (%.2f per issuance), polls %d, nonce retries %d, 429/503 retries %d, client CPU %.2f ms/issuance\n",
		r.Requests, r.RequestsPerIssuance, r.Polls, r.NonceRetries, r.ThrottleRetries, r.ClientCPUMsPerIssuance)
	if s := r.Server; s != nil {
		fmt.Fprintf(w, "server %d processes: CPU %.0f ms, %.2f ms/issuance; peak RSS %.1f MiB (largest process %.1f MiB), RSS %.1f → %.1f MiB\n",
			len(s.PIDs), s.CPUMs, s.CPUMsPerIssuance, mib(s.PeakRSSKiB), mib(s.MaxProcessPeakRSSKiB), mib(s.RSSBeforeKiB), mib(s.RSSAfterKiB))
		if s.NamedCPUMs != 0 || s.NamedPeakRSSKiB != 0 {
			fmt.Fprintf(w, "  of which found by name: CPU %.0f ms; their peak RSS %.1f MiB (shared memory counted in each)\n",
				s.NamedCPUMs, mib(s.NamedPeakRSSKiB))
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ms\tp50\tp90\tp99\tmean\tmax\t")
	row := func(name string, p Percentiles) {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", name, p.P50, p.P90, p.P99, p.Mean, p.Max)
	}
	row("flow", r.Flow)
	for _, name := range stepNames {
		row(name, r.Steps[name])
	}
	_ = tw.Flush()
	if len(r.Errors) > 0 {
		rec := &recorder{errors: r.Errors}
		fmt.Fprintln(w, "errors:")
		for _, t := range rec.errorTypes() {
			fmt.Fprintf(w, "  %6d  %s", r.Errors[t], t)
			if msg := r.firstErrors[t]; msg != "" {
				fmt.Fprintf(w, "  (e.g. %s)", strings.ReplaceAll(truncate(msg, 300), "\n", " "))
			}
			fmt.Fprintln(w)
		}
	}
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
