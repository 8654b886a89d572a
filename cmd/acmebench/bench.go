package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// worker is one concurrent client with its own account.
type worker struct {
	id     int
	seq    int
	client *client
	rec    *recorder
	// certKey is the worker's certificate key with -key rsa2048 (nil:
	// a fresh P-256 key per flow).
	certKey crypto.Signer
}

// bench runs the whole measurement described by o and returns its report.
// Progress goes to log.
func bench(ctx context.Context, o *options, log io.Writer) (*Report, error) {
	hc, roots, err := httpClient(o)
	if err != nil {
		return nil, err
	}
	ctr := &counters{}
	hc.Transport = countingTransport{base: hc.Transport, n: &ctr.requests}
	defer hc.CloseIdleConnections()

	dir, err := fetchDirectory(ctx, hc, o.directory)
	if err != nil {
		return nil, err
	}
	var eabKey []byte
	if o.eabKID != "" {
		if eabKey, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(o.eabHMAC, "=")); err != nil {
			return nil, fmt.Errorf("-eab-hmac is not base64url: %w", err)
		}
	} else if dir.Meta.ExternalAccountRequired {
		return nil, errors.New("the directory requires external account binding: give -eab-kid and -eab-hmac")
	}

	resp, err := startResponders(o.httpPort, o.dnsPort, o.domainSuffix)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := resp.Close(); err != nil {
			fmt.Fprintf(log, "acmebench: %v\n", err)
		}
	}()

	workers, err := createAccounts(ctx, o, hc, dir, ctr, eabKey)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "acmebench: %d accounts at %s\n", len(workers), o.directory)
	env := &flowEnv{mode: o.challenge, resp: resp, roots: roots, pollInterval: o.pollInterval, maxRetryWait: o.maxRetryWait, ctr: ctr}

	if o.warmup > 0 {
		rec := runPhase(ctx, o, env, workers, o.warmup, 0)
		fmt.Fprintf(log, "acmebench: warm-up: %d issued, %d failed\n", rec.ok, rec.failed)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	sampler := procSampler{proc: "/proc", pids: o.serverPIDs, byName: o.serverPIDCmd}
	var before procSample
	if sampler.enabled() {
		if before, err = sampler.sample(); err != nil {
			return nil, fmt.Errorf("server sample: %w", err)
		}
	}
	selfBefore, err := selfCPU()
	if err != nil {
		return nil, fmt.Errorf("own CPU: %w", err)
	}
	reqs, nonceRetries, throttle, polls := ctr.requests.Load(), ctr.nonceRetries.Load(), ctr.throttleRetries.Load(), ctr.polls.Load()
	startedAt := time.Now()
	rec := runPhase(ctx, o, env, workers, o.n, o.duration)
	elapsed := time.Since(startedAt)

	rep := &Report{
		Schema: reportSchema, Label: o.label, Directory: o.directory, Challenge: o.challenge,
		Concurrency: o.concurrency, Key: o.keyType, Warmup: o.warmup, LimitN: o.n,
		LimitDurationS: o.duration.Seconds(), StartedAt: startedAt.UTC().Truncate(time.Second),
		ElapsedS: elapsed.Seconds(), Issuances: rec.ok, Failures: rec.failed,
		Flow: percentilesOf(rec.flows), Steps: rec.stepStats(), Errors: rec.errors,
		Requests:        ctr.requests.Load() - reqs,
		NonceRetries:    ctr.nonceRetries.Load() - nonceRetries,
		ThrottleRetries: ctr.throttleRetries.Load() - throttle,
		Polls:           ctr.polls.Load() - polls,
		firstErrors:     rec.firstErrors,
	}
	rep.LongestGapS = longestGap(startedAt, startedAt.Add(elapsed), rec.issued).Seconds()
	if rec.ok > 0 {
		rep.IssuancesPerS = float64(rec.ok) / elapsed.Seconds()
		rep.RequestsPerIssuance = float64(rep.Requests) / float64(rec.ok)
	}
	if selfAfter, err := selfCPU(); err == nil && rec.ok > 0 {
		rep.ClientCPUMsPerIssuance = ms(selfAfter-selfBefore) / float64(rec.ok)
	}
	if sampler.enabled() {
		after, err := sampler.sample()
		if err != nil {
			return nil, fmt.Errorf("server sample: %w", err)
		}
		rep.Server = serverStats(before, after, rec.ok)
	}
	return rep, nil
}

// httpClient trusts -ca-root (or nothing, with -insecure) and keeps one
// HTTP/1.1 connection per worker alive, as ACME clients do.
func httpClient(o *options) (*http.Client, *x509.CertPool, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = o.concurrency + 4
	tr.MaxIdleConns = o.concurrency + 4
	// InsecureSkipVerify only with -insecure, for a server whose root is not at hand.
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: o.insecure}
	var roots *x509.CertPool
	if o.caRoot != "" {
		pemBytes, err := os.ReadFile(o.caRoot)
		if err != nil {
			return nil, nil, fmt.Errorf("-ca-root: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pemBytes) {
			return nil, nil, fmt.Errorf("-ca-root %s holds no PEM certificate", o.caRoot)
		}
		tr.TLSClientConfig.RootCAs = roots
	}
	return &http.Client{Transport: tr}, roots, nil
}

// createAccounts registers one ES256 account per worker, concurrently,
// bounded like one flow.
func createAccounts(ctx context.Context, o *options, hc *http.Client, dir *directoryDoc, ctr *counters, eabKey []byte) ([]*worker, error) {
	ctx, cancel := context.WithTimeout(ctx, o.flowTimeout)
	defer cancel()
	workers := make([]*worker, o.concurrency)
	errs := make([]error, o.concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				errs[i] = err
				return
			}
			c, err := newClient(hc, dir, key, ctr, o.maxRetryWait)
			if err != nil {
				errs[i] = err
				return
			}
			if err := c.register(ctx, o.eabKID, eabKey); err != nil {
				errs[i] = fmt.Errorf("account %d: %w", i, err)
				return
			}
			workers[i] = &worker{id: i, client: c}
			if o.keyType == "rsa2048" {
				if workers[i].certKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
					errs[i] = err
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return workers, nil
}

// runPhase runs flows on every worker until n have started (n > 0) or d
// has passed (d > 0), whichever comes first, and waits for the flows in
// flight. Flows cut short because ctx ended are not recorded.
func runPhase(ctx context.Context, o *options, env *flowEnv, workers []*worker, n int, d time.Duration) *recorder {
	var tickets atomic.Int64
	tickets.Store(int64(n))
	var deadline time.Time
	if d > 0 {
		deadline = time.Now().Add(d)
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		w.rec = newRecorder()
		wg.Go(func() {
			for ctx.Err() == nil {
				if !deadline.IsZero() && !time.Now().Before(deadline) {
					return
				}
				if n > 0 && tickets.Add(-1) < 0 {
					return
				}
				w.seq++
				name := fmt.Sprintf("w%d-%d.%s", w.id, w.seq, o.domainSuffix)
				csr, err := csrFor(name, w.certKey)
				if err != nil {
					w.rec.add(flowResult{err: &flowError{kind: "acmebench:csr", err: err}})
					continue
				}
				fctx, cancel := context.WithTimeout(ctx, o.flowTimeout)
				res := env.issue(fctx, w.client, name, csr)
				cancel()
				if ctx.Err() != nil {
					return
				}
				w.rec.add(res)
			}
		})
	}
	wg.Wait()
	all := newRecorder()
	for _, w := range workers {
		all.merge(w.rec)
	}
	return all
}
