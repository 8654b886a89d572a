package main

// Helpers of the fault tests (fault_*_test.go): the load generator
// (cmd/acmebench) built and run as a process of its own, a DNS server that
// sends every name to loopback, and a server set-up with the proxies the
// faults travel through (see fault_proxy_test.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// buildBench builds cmd/acmebench of this tree into a temporary directory,
// as cmd/acmebench's own tests build acmegate: the generator is measured as
// `make bench` and `make soak` run it.
func buildBench(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "acmebench")
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "../acmebench")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ../acmebench: %v\n%s", err, out)
	}
	return bin
}

// benchReport is the part of acmebench's JSON report (cmd/acmebench
// Report, the last line of its output) the fault tests read.
type benchReport struct {
	Issuances     int            `json:"issuances"`
	Failures      int            `json:"failures"`
	IssuancesPerS float64        `json:"issuances_per_s"`
	Errors        map[string]int `json:"errors"`
	Flow          struct {
		Count int     `json:"count"`
		P50   float64 `json:"p50_ms"`
		P99   float64 `json:"p99_ms"`
		Max   float64 `json:"max_ms"`
	} `json:"flow"`
}

// benchProc is one acmebench process.
type benchProc struct {
	label          string
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	exited         chan struct{}
	waitErr        error
	cancel         context.CancelFunc
}

// benchResult is what a finished acmebench run produced.
type benchResult struct {
	code           int
	stdout, stderr string
	rep            benchReport
}

// startBench runs acmebench with args in its own process group, bounded
// by bound; cleanup kills it if the test ends first.
func startBench(t *testing.T, bin, label string, bound time.Duration, args ...string) *benchProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	b := &benchProc{label: label, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{}), cancel: cancel}
	b.cmd = exec.CommandContext(ctx, bin, args...)
	b.cmd.Stdout, b.cmd.Stderr = b.stdout, b.stderr
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	b.cmd.Cancel = func() error { return killGroup(b.cmd.Process.Pid, syscall.SIGKILL) }
	b.cmd.WaitDelay = 5 * time.Second
	if err := b.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start acmebench %s: %v", label, err)
	}
	go func() {
		b.waitErr = b.cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-b.exited
	})
	return b
}

// interrupt asks the generator to stop starting flows: it lets the flows
// in flight finish, drops them from the report and prints the report.
func (b *benchProc) interrupt(t *testing.T) {
	t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("interrupt acmebench %s: %v", b.label, err)
	}
}

// wait waits for the run to end and parses its report. A run without a
// report fails the test.
func (b *benchProc) wait(t *testing.T) benchResult {
	t.Helper()
	<-b.exited
	b.cancel()
	r := benchResult{stdout: b.stdout.String(), stderr: b.stderr.String()}
	var exit *exec.ExitError
	switch {
	case b.waitErr == nil:
	case errors.As(b.waitErr, &exit) && exit.ExitCode() >= 0:
		r.code = exit.ExitCode()
	default:
		t.Fatalf("acmebench %s: %v\nstdout:\n%s\nstderr:\n%s", b.label, b.waitErr, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r.rep); err != nil {
		t.Fatalf("acmebench %s (exit %d) printed no report: %v\nstdout:\n%s\nstderr:\n%s", b.label, r.code, err, r.stdout, r.stderr)
	}
	t.Logf("acmebench %s: exit %d, %d issued, %d failed %v, %.1f/s, flow p50 %.0f ms p99 %.0f ms max %.0f ms",
		b.label, r.code, r.rep.Issuances, r.rep.Failures, r.rep.Errors, r.rep.IssuancesPerS, r.rep.Flow.P50, r.rep.Flow.P99, r.rep.Flow.Max)
	return r
}

// table is the human part of the output: the error examples are there.
func (r benchResult) table() string {
	out := strings.TrimRight(r.stdout, "\n")
	if i := strings.LastIndex(out, "\n"); i >= 0 {
		return out[:i]
	}
	return ""
}

// wildcardDNS answers A 127.0.0.1 for every name and nothing else (no
// AAAA, no CAA, no TXT), on UDP and TCP: the acmebench names of every
// generator a test runs resolve to the http-01 relay.
type wildcardDNS struct {
	addr    string
	servers []*dns.Server
	done    sync.WaitGroup
}

func startWildcardDNS(t *testing.T) *wildcardDNS {
	t.Helper()
	// One port for both: the UDP port the kernel picks may be taken for
	// TCP; try again then.
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ln == nil; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		if ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
			_ = pc.Close()
			if attempt == 50 {
				t.Fatalf("no loopback port free for both UDP and TCP: %v", err)
			}
		}
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		for _, qq := range q.Question {
			if qq.Qtype == dns.TypeA && !strings.HasPrefix(strings.ToLower(qq.Name), "_acme-challenge.") {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		_ = w.WriteMsg(m)
	})
	d := &wildcardDNS{addr: pc.LocalAddr().String()}
	var started sync.WaitGroup
	started.Add(2)
	d.servers = []*dns.Server{
		{PacketConn: pc, Handler: h, NotifyStartedFunc: started.Done},
		{Listener: ln, Handler: h, NotifyStartedFunc: started.Done},
	}
	for _, s := range d.servers {
		d.done.Go(func() { _ = s.ActivateAndServe() })
	}
	started.Wait()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, s := range d.servers {
			if err := s.ShutdownContext(ctx); err != nil {
				t.Errorf("DNS server shutdown: %v", err)
			}
		}
		d.done.Wait()
	})
	return d
}

// waitFor polls cond every 50 ms until it returns nil or within passes;
// it returns the last error.
func waitFor(within time.Duration, cond func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// errorsOnly keeps the problem types of m that are not in allowed.
func errorsOnly(m map[string]int, allowed ...string) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if !slices.Contains(allowed, k) {
			out[k] = v
		}
	}
	return out
}

// problemType is the full URN of an RFC 8555 §6.7 problem type.
func problemType(name string) string { return "urn:ietf:params:acme:error:" + name }

// describe renders a map for messages in a stable order.
func describe(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}
