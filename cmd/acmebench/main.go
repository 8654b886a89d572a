// Command acmebench is a load generator for ACME servers (RFC 8555): N
// workers, each with its own ES256 account, run complete issuances against
// any directory (acmegate, Pebble, others) and report throughput, latency
// percentiles per flow and per step, errors by problem type, requests per
// issuance and, given the server's process ids, server CPU per issuance and
// peak memory. The last line of standard output is one JSON object (see
// Report); `acmebench -summarize FILE` turns a file of such lines into a
// markdown table of medians; `acmebench seed -db PATH|URL` fills an acmegate
// database with a million orders, authorizations and certificates (see
// seed.go) to measure throughput on a full database.
//
//	go run ./cmd/acmebench -directory https://127.0.0.1:14000/directory \
//	    -ca-root acmegate-data/root.pem -c 8 -duration 10s \
//	    -challenge http-01 -http-port 5002 -dns-port 8053
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command line, checked.
type options struct {
	directory    string
	caRoot       string
	insecure     bool
	concurrency  int
	n            int
	duration     time.Duration
	warmup       int
	challenge    string
	httpPort     int
	dnsPort      int
	domainSuffix string
	eabKID       string
	eabHMAC      string
	serverPIDs   []int
	serverPIDCmd string
	keyType      string
	label        string
	pollInterval time.Duration
	maxRetryWait time.Duration
	flowTimeout  time.Duration
	summarize    string
	baseline     string
}

// Challenge modes of -challenge.
const (
	challengeHTTP01 = "http-01"
	challengeDNS01  = "dns-01"
	challengeNone   = "none"
)

// run is the whole command, with its arguments and outputs passed in so
// tests can call it. It returns the exit code: 0 when every measured flow
// issued, 1 when some failed, 2 for a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "seed" {
		return runSeed(ctx, args[1:], stdout, stderr)
	}
	opts, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "acmebench: %v\n", err)
		return 2
	}
	if opts.summarize != "" {
		if err := summarizeFile(opts.summarize, opts.baseline, stdout); err != nil {
			fmt.Fprintf(stderr, "acmebench: %v\n", err)
			return 1
		}
		return 0
	}
	rep, err := bench(ctx, opts, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "acmebench: %v\n", err)
		return 1
	}
	writeTable(stdout, rep)
	if err := writeJSONLine(stdout, rep); err != nil {
		fmt.Fprintf(stderr, "acmebench: %v\n", err)
		return 1
	}
	if rep.Failures > 0 || rep.Issuances == 0 {
		return 1
	}
	return 0
}

// parseFlags reads and checks the command line.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("acmebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.directory, "directory", "", "ACME directory URL (required)")
	fs.StringVar(&o.caRoot, "ca-root", "", "PEM file of the root(s) to trust for the server's TLS certificate and to verify issued chains against")
	fs.BoolVar(&o.insecure, "insecure", false, "do not verify the server's TLS certificate")
	fs.IntVar(&o.concurrency, "c", 1, "concurrent workers, each with its own account")
	fs.IntVar(&o.n, "n", 0, "measured issuances in total (0: bounded by -duration only)")
	fs.DurationVar(&o.duration, "duration", 0, "how long to start new flows (0: bounded by -n only)")
	fs.IntVar(&o.warmup, "warmup", 0, "issuances run before measuring, not counted")
	fs.StringVar(&o.challenge, "challenge", challengeHTTP01, "http-01, dns-01 or none (pre-validated names or an always-valid server)")
	fs.IntVar(&o.httpPort, "http-port", 0, "port of the http-01 responder on 127.0.0.1 (the port the server validates on)")
	fs.IntVar(&o.dnsPort, "dns-port", 0, "port of the DNS responder on 127.0.0.1 (TXT for dns-01, A 127.0.0.1 for every name under -domain-suffix)")
	fs.StringVar(&o.domainSuffix, "domain-suffix", "bench.test", "names are w<worker>-<seq>.SUFFIX")
	fs.StringVar(&o.eabKID, "eab-kid", "", "external account binding key id")
	fs.StringVar(&o.eabHMAC, "eab-hmac", "", "external account binding HMAC key (base64url)")
	pids := fs.String("server-pid", "", "server process id(s), comma-separated: CPU and memory are sampled from /proc")
	fs.StringVar(&o.serverPIDCmd, "server-pids-cmd", "", "also sample every process with this name (e.g. postgres), found at start and at end")
	fs.StringVar(&o.keyType, "key", "p256", "certificate key: p256 (fresh per issuance) or rsa2048 (one per worker, made before the run)")
	fs.StringVar(&o.label, "label", "", "free text copied into the JSON report (e.g. the server's name), used by -summarize")
	fs.DurationVar(&o.pollInterval, "poll-interval", 50*time.Millisecond, "poll interval when the server sends no Retry-After")
	fs.DurationVar(&o.maxRetryWait, "max-retry-wait", 10*time.Second, "longest Retry-After honoured; a longer one fails the flow")
	fs.DurationVar(&o.flowTimeout, "flow-timeout", 30*time.Second, "bound on one flow")
	fs.StringVar(&o.summarize, "summarize", "", "read JSON report lines from this file and print a markdown table of medians, then exit")
	fs.StringVar(&o.baseline, "baseline", "pebble-http01", "with -summarize: the label the ratios are computed against")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if o.summarize != "" {
		return o, nil
	}
	var err error
	if o.serverPIDs, err = parsePIDs(*pids); err != nil {
		return nil, err
	}
	switch {
	case o.directory == "":
		return nil, errors.New("-directory is required")
	case o.concurrency < 1:
		return nil, errors.New("-c must be at least 1")
	case o.n < 0 || o.warmup < 0:
		return nil, errors.New("-n and -warmup cannot be negative")
	case o.n == 0 && o.duration <= 0:
		return nil, errors.New("give -n, -duration or both")
	case o.keyType != "p256" && o.keyType != "rsa2048":
		return nil, fmt.Errorf("-key %q: want p256 or rsa2048", o.keyType)
	case (o.eabKID == "") != (o.eabHMAC == ""):
		return nil, errors.New("-eab-kid and -eab-hmac go together")
	case o.pollInterval <= 0 || o.flowTimeout <= 0:
		return nil, errors.New("-poll-interval and -flow-timeout must be positive")
	}
	switch o.challenge {
	case challengeHTTP01:
		if o.httpPort == 0 {
			return nil, errors.New("-challenge http-01 needs -http-port")
		}
	case challengeDNS01:
		if o.dnsPort == 0 {
			return nil, errors.New("-challenge dns-01 needs -dns-port")
		}
	case challengeNone:
	default:
		return nil, fmt.Errorf("-challenge %q: want http-01, dns-01 or none", o.challenge)
	}
	o.domainSuffix = strings.Trim(strings.ToLower(o.domainSuffix), ".")
	return o, nil
}

// parsePIDs reads "123,456".
func parsePIDs(s string) ([]int, error) {
	var pids []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("-server-pid: %q is not a process id", f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}
