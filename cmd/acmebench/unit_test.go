package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       time.Duration
		wantErr    bool
	}{
		// utime 150, stime 50, cutime 7, cstime 3 ticks = 2.1 s.
		{name: "plain", stat: "42 (acmegate) S 1 42 42 0 -1 4194560 100 0 0 0 150 50 7 3 20 0 8 0 100 1000 200", want: 2100 * time.Millisecond},
		{name: "name with spaces and parentheses", stat: "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0", want: 100 * time.Millisecond},
		{name: "no name", stat: "7 a", wantErr: true},
		{name: "short", stat: "7 (x) S 1 2 3", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.stat))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseStatCPU = %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// writeProc writes a process into a directory shaped like /proc.
func writeProc(t *testing.T, dir string, pid int, comm string, utime, cutime, hwm, rss int) {
	t.Helper()
	p := filepath.Join(dir, strconv.Itoa(pid))
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	stat := strconv.Itoa(pid) + " (" + comm + ") S 1 1 1 0 -1 0 0 0 0 0 " + strconv.Itoa(utime) + " 0 " + strconv.Itoa(cutime) + " 0 20 0 1 0\n"
	status := "Name:\t" + comm + "\nVmHWM:\t" + strconv.Itoa(hwm) + " kB\nVmRSS:\t" + strconv.Itoa(rss) + " kB\n"
	for name, content := range map[string]string{"stat": stat, "status": status, "comm": comm + "\n"} {
		if err := os.WriteFile(filepath.Join(p, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestProcSamplerByName follows a set of processes that loses one member
// (a PostgreSQL backend that exits, its CPU reaped into the postmaster's
// cutime) and gains another.
func TestProcSamplerByName(t *testing.T) {
	dir := t.TempDir()
	writeProc(t, dir, 10, "postgres", 100, 0, 5000, 4000) // postmaster
	writeProc(t, dir, 11, "postgres", 30, 0, 3000, 2000)  // backend
	writeProc(t, dir, 12, "bash", 999, 0, 1000, 1000)
	s := procSampler{proc: dir, byName: "postgres"}
	before, err := s.sample()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "11")); err != nil {
		t.Fatal(err)
	}
	// The backend ran 20 more ticks and exited: 50 ticks reaped.
	writeProc(t, dir, 10, "postgres", 110, 50, 5000, 4100)
	writeProc(t, dir, 13, "postgres", 5, 0, 2500, 2500)
	after, err := s.sample()
	if err != nil {
		t.Fatal(err)
	}
	// 10 (postmaster) + 20 (the backend's last ticks) + 5 (new backend).
	got := serverStats(before, after, 7)
	want := &ServerStats{PIDs: []int{10, 13}, CPUMs: 350, CPUMsPerIssuance: 50, NamedCPUMs: 350,
		PeakRSSKiB: 7500, MaxProcessPeakRSSKiB: 5000, NamedPeakRSSKiB: 7500, RSSBeforeKiB: 6000, RSSAfterKiB: 6600}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("server stats (-want +got):\n%s", diff)
	}

	// With the server's own pid fixed, memory is the server's alone and
	// CPU is everyone's.
	writeProc(t, dir, 20, "acmegate", 100, 0, 30000, 20000)
	s = procSampler{proc: dir, pids: []int{20}, byName: "postgres"}
	if before, err = s.sample(); err != nil {
		t.Fatal(err)
	}
	writeProc(t, dir, 20, "acmegate", 300, 0, 40000, 35000)
	writeProc(t, dir, 13, "postgres", 105, 0, 2500, 2500)
	if after, err = s.sample(); err != nil {
		t.Fatal(err)
	}
	got = serverStats(before, after, 10)
	want = &ServerStats{PIDs: []int{20, 10, 13}, CPUMs: 3000, CPUMsPerIssuance: 300, NamedCPUMs: 1000,
		PeakRSSKiB: 40000, MaxProcessPeakRSSKiB: 40000, NamedPeakRSSKiB: 7500, RSSBeforeKiB: 20000, RSSAfterKiB: 35000}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("server stats with a fixed pid (-want +got):\n%s", diff)
	}

	// A pid given by number that is gone is the server dying: an error.
	if _, err := (procSampler{proc: dir, pids: []int{11}}).sample(); err == nil {
		t.Error("sampling a vanished fixed pid succeeded")
	}
	if _, err := (procSampler{proc: dir, byName: "nginx"}).sample(); err == nil {
		t.Error("sampling a name no process has succeeded")
	}
}

func TestProcSamplerSelf(t *testing.T) {
	s, err := procSampler{proc: "/proc", pids: []int{os.Getpid()}}.sample()
	if err != nil {
		t.Fatal(err)
	}
	if g := s.fixed; g.hwmKiB <= 0 || g.rssKiB <= 0 || g.hwmKiB < g.rssKiB {
		t.Errorf("own sample: %+v", g)
	}
}

func TestPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	want := Percentiles{Count: 100, P50: 50, P90: 90, P99: 99, Mean: 50.5, Max: 100}
	if diff := cmp.Diff(want, percentilesOf(ds)); diff != "" {
		t.Errorf("percentiles (-want +got):\n%s", diff)
	}
	if got := percentilesOf([]time.Duration{3 * time.Millisecond}); got.P50 != 3 || got.P99 != 3 {
		t.Errorf("one sample: %+v", got)
	}
	if got := percentilesOf(nil); got != (Percentiles{}) {
		t.Errorf("no sample: %+v", got)
	}
}

func TestLongestGap(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, tc := range []struct {
		name   string
		issued []time.Time
		end    float64
		want   time.Duration
	}{
		{"stall in the middle, unsorted", []time.Time{at(5), at(1), at(1.5), at(2)}, 6, 3 * time.Second},
		{"slow start", []time.Time{at(4), at(4.5)}, 5, 4 * time.Second},
		{"stall at the end", []time.Time{at(0.5), at(1)}, 10, 9 * time.Second},
		{"nothing issued", nil, 7, 7 * time.Second},
	} {
		if got := longestGap(t0, at(tc.end), tc.issued); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{"0", 0, true},
		{now.Add(2 * time.Second).Format(http.TimeFormat), 2 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"soon", 0, false},
	} {
		h := http.Header{}
		if tc.value != "" {
			h.Set("Retry-After", tc.value)
		}
		if got, ok := retryAfter(h, now); got != tc.want || ok != tc.ok {
			t.Errorf("Retry-After %q = %v, %v; want %v, %v", tc.value, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "1"}, "-directory is required"},
		{[]string{"-directory", "https://x/dir"}, "give -n, -duration or both"},
		{[]string{"-directory", "https://x/dir", "-n", "1"}, "http-01 needs -http-port"},
		{[]string{"-directory", "https://x/dir", "-n", "1", "-challenge", "dns-01"}, "dns-01 needs -dns-port"},
		{[]string{"-directory", "https://x/dir", "-n", "1", "-challenge", "tls-alpn-01"}, `-challenge "tls-alpn-01"`},
		{[]string{"-directory", "https://x/dir", "-n", "1", "-challenge", "none", "-key", "p384"}, `-key "p384"`},
		{[]string{"-directory", "https://x/dir", "-n", "1", "-challenge", "none", "-eab-kid", "k"}, "go together"},
		{[]string{"-directory", "https://x/dir", "-n", "1", "-challenge", "none", "-server-pid", "1,x"}, `"x" is not a process id`},
		{[]string{"-directory", "https://x/dir", "-n", "1", "-challenge", "none", "-c", "0"}, "-c must be at least 1"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), tc.args, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// TestSummarize turns report lines mixed with other output into the
// markdown table with medians and ratios to the baseline.
func TestSummarize(t *testing.T) {
	var buf bytes.Buffer
	line := func(label string, c int, perS, p50, cpu float64, rssKiB int64) {
		rep := &Report{Schema: reportSchema, Label: label, Concurrency: c, IssuancesPerS: perS, Issuances: 10,
			Flow: Percentiles{P50: p50, P99: 2 * p50}, RequestsPerIssuance: 5, Errors: map[string]int{}}
		if cpu > 0 {
			rep.Server = &ServerStats{CPUMsPerIssuance: cpu, PeakRSSKiB: rssKiB}
		}
		buf.WriteString("issued 10, failed 0\n")
		if err := writeJSONLine(&buf, rep); err != nil {
			t.Fatal(err)
		}
	}
	line("gate", 8, 100, 4, 2, 20<<10)
	line("pebble-http01", 8, 50, 10, 4, 30<<10)
	line("gate", 8, 300, 2, 1, 22<<10)
	line("pebble-http01", 8, 40, 12, 4, 30<<10)
	line("gate", 8, 200, 3, 1.5, 21<<10)
	line("gate", 1, 30, 1, 1, 20<<10)
	path := filepath.Join(t.TempDir(), "results.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-summarize", path}, &out, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want := `| server | c | runs | issuances/s | × pebble-http01 | flow p50 ms | flow p99 ms | server CPU ms/issuance | × pebble-http01 CPU | peak RSS MiB | requests/issuance | failed |
|---|---|---|---|---|---|---|---|---|---|---|---|
| gate | 1 | 1 | 30 | – | 1.0 | 2.0 | 1.00 | – | 20 | 5.0 | 0 |
| gate | 8 | 3 | 200 | 4.44 | 3.0 | 6.0 | 1.50 | 0.38 | 22 | 5.0 | 0 |
| pebble-http01 | 8 | 2 | 45 | 1.00 | 11.0 | 22.0 | 4.00 | 1.00 | 30 | 5.0 | 0 |
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if code := run(context.Background(), []string{"-summarize", filepath.Join(t.TempDir(), "none")}, io.Discard, io.Discard); code != 1 {
		t.Errorf("a missing file: exit %d, want 1", code)
	}
}

// TestDNSResponder asks the responder what the servers ask it.
func TestDNSResponder(t *testing.T) {
	port := freePort(t)
	r, err := startResponders(0, port, "bench.test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	r.setTXT("w0-1.bench.test", "digest")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ask := func(netw, name string, qtype uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		resp, _, err := (&dns.Client{Net: netw, Timeout: 5 * time.Second}).Exchange(m, addr)
		if err != nil {
			t.Fatalf("%s %s: %v", netw, name, err)
		}
		return resp
	}
	if resp := ask("udp", "_acme-challenge.W0-1.bench.test.", dns.TypeTXT); len(resp.Answer) != 1 || resp.Answer[0].(*dns.TXT).Txt[0] != "digest" {
		t.Errorf("TXT answer %v", resp.Answer)
	}
	if resp := ask("tcp", "w5-9.bench.test.", dns.TypeA); len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "127.0.0.1" {
		t.Errorf("A answer %v", resp.Answer)
	}
	if resp := ask("udp", "w5-9.bench.test.", dns.TypeAAAA); resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 0 {
		t.Errorf("AAAA: rcode %d answer %v, want an empty NOERROR", resp.Rcode, resp.Answer)
	}
	if resp := ask("udp", "example.com.", dns.TypeA); resp.Rcode != dns.RcodeNameError {
		t.Errorf("a name outside the suffix: rcode %d", resp.Rcode)
	}
	r.deleteTXT("w0-1.bench.test")
	if resp := ask("udp", "_acme-challenge.w0-1.bench.test.", dns.TypeTXT); len(resp.Answer) != 0 {
		t.Errorf("TXT after delete: %v", resp.Answer)
	}
}
