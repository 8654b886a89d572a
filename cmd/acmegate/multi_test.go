package main

// Several acmegate processes sharing one PostgreSQL database behind a
// round-robin "load balancer", one of them killed with SIGKILL mid-run.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	xacme "golang.org/x/crypto/acme"
	"gopkg.in/yaml.v3"

	"github.com/acmegate/acmegate/validation/validationtest"
)

// testPostgresURL is the server the PostgreSQL tests use.
func testPostgresURL() string {
	if u := os.Getenv("ACMEGATE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// freshDatabase creates an empty database for one test and returns its URL.
// Outside CI an unreachable server skips the test; in CI it fails it.
func freshDatabase(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, testPostgresURL())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is not reachable but CI must run this test: %v", err)
		}
		t.Skipf("PostgreSQL is not reachable (%v); start it or set ACMEGATE_TEST_POSTGRES_URL", err)
	}
	defer admin.Close(ctx)
	name := fmt.Sprintf("acmegate_test_%d_%d", time.Now().UnixNano(), os.Getpid())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, testPostgresURL())
		if err != nil {
			t.Errorf("drop database: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	cfg, err := pgx.ParseConfig(testPostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	user := cfg.User
	if cfg.Password != "" {
		user += ":" + cfg.Password
	}
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", user, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), name)
}

// instance is one acmegate process that can be killed and started again
// on the same port and configuration.
type instance struct {
	t       *testing.T
	bin     string
	cfgPath string
	addr    string
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	stdout  *syncBuffer
	stderr  *syncBuffer
	logs    []string // output of earlier runs
}

func (in *instance) start() {
	in.t.Helper()
	cmd := exec.Command(in.bin, "serve", "--config", in.cfgPath)
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		in.t.Fatalf("start acmegate: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	in.mu.Lock()
	in.cmd, in.exited, in.stdout, in.stderr = cmd, exited, stdout, stderr
	in.mu.Unlock()
	deadline := time.After(serverStartTimeout)
	for {
		if d, _ := parseBanner(stdout.String()); d != "" {
			return
		}
		select {
		case <-exited:
			in.t.Fatalf("acmegate %s exited before serving:\n%s", in.addr, stderr.String())
		case <-deadline:
			in.t.Fatalf("acmegate %s did not start within %v", in.addr, serverStartTimeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// signal sends sig and waits (bounded) for the process to exit.
func (in *instance) signal(sig syscall.Signal) error {
	in.mu.Lock()
	cmd, exited := in.cmd, in.exited
	in.logs = append(in.logs, in.stderr.String())
	in.mu.Unlock()
	if err := killGroup(cmd.Process.Pid, sig); err != nil {
		return err
	}
	select {
	case <-exited:
	case <-time.After(serverStopTimeout):
		_ = killGroup(cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		return fmt.Errorf("acmegate %s still running %v after signal %d", in.addr, serverStopTimeout, sig)
	}
	if sig == syscall.SIGTERM && cmd.ProcessState.ExitCode() != 0 {
		return fmt.Errorf("acmegate %s exited with %d after SIGTERM", in.addr, cmd.ProcessState.ExitCode())
	}
	return nil
}

// cluster is N instances sharing a database and a CA, with the http-01
// responder and DNS server they validate against.
type cluster struct {
	instances []*instance
	publicURL string
	rootPEM   string
	dbURL     string
	tokens    sync.Map
	dns       *validationtest.DNSServer
}

func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	bin := buildServer(t)
	dbURL := freshDatabase(t)
	dns := startDNS(t)
	c := &cluster{dbURL: dbURL, dns: dns}
	responder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v, ok := c.tokens.Load(strings.TrimPrefix(r.URL.Path, "/.well-known/acme-challenge/")); ok {
			fmt.Fprint(w, v)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(responder.Close)
	httpPort := responder.Listener.Addr().(*net.TCPAddr).Port

	dir := t.TempDir()
	caDir := filepath.Join(dir, "ca")
	ports := make([]int, n)
	for i := range ports {
		ports[i] = freePort(t)
	}
	c.publicURL = "https://127.0.0.1:" + strconv.Itoa(ports[0])
	c.rootPEM = filepath.Join(caDir, "root.pem")
	for i := range n {
		cfg := &Config{
			DataDir:   filepath.Join(dir, "data"+strconv.Itoa(i)),
			Listen:    "127.0.0.1:" + strconv.Itoa(ports[i]),
			PublicURL: c.publicURL,
			Storage:   StorageConfig{Driver: "postgres", URL: dbURL},
			CA:        CAConfig{Local: LocalCAConfig{Dir: caDir}},
			Validation: ValidationConfig{
				Resolvers:       []string{dns.Addr()},
				HTTPPort:        httpPort,
				Timeout:         5 * time.Second,
				RetryWindow:     10 * time.Second,
				AllowedNetworks: []string{"127.0.0.0/8"},
			},
			Limits: LimitsConfig{JobLease: 3 * time.Second},
			Log:    LogConfig{Level: "warn"},
			// The instances run at once: one admin port each.
			Admin: AdminConfig{Listen: "127.0.0.1:0"},
		}
		raw, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfgPath := filepath.Join(dir, "acmegate"+strconv.Itoa(i)+".yaml")
		if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		in := &instance{t: t, bin: bin, cfgPath: cfgPath, addr: "127.0.0.1:" + strconv.Itoa(ports[i])}
		// The first instance creates the shared CA; the others load it.
		in.start()
		c.instances = append(c.instances, in)
	}
	t.Cleanup(func() {
		for _, in := range c.instances {
			if err := in.signal(syscall.SIGTERM); err != nil {
				t.Error(err)
			}
			if t.Failed() {
				t.Logf("acmegate %s stderr:\n%s", in.addr, strings.Join(in.logs, "\n--- restarted ---\n"))
			}
		}
	})
	return c
}

// roundRobin sends each request to the next instance, as a load balancer
// would. A connection refused (the request never left) goes to the next
// instance; that is the only retry it makes.
type roundRobin struct {
	targets []string
	next    atomic.Uint64
	base    http.RoundTripper
	refused atomic.Int64
}

func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	var lastErr error
	for range len(rr.targets) {
		target := rr.targets[rr.next.Add(1)%uint64(len(rr.targets))]
		r := req.Clone(req.Context())
		r.URL.Host = target
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r.Body = body
		}
		resp, err := rr.base.RoundTrip(r)
		var opErr *net.OpError
		if err != nil && errors.As(err, &opErr) && opErr.Op == "dial" {
			rr.refused.Add(1)
			lastErr = err
			continue
		}
		return resp, err
	}
	return nil, lastErr
}

// issuer runs full issuances through the load balancer and keeps count of
// the errors it had to retry.
type issuer struct {
	c         *cluster
	rr        *roundRobin
	client    *http.Client
	mu        sync.Mutex
	retried   []string
	orderURLs []string
}

func newIssuer(t *testing.T, c *cluster) *issuer {
	pemBytes, err := os.ReadFile(c.rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	rr := &roundRobin{base: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		MaxIdleConnsPerHost: 16,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
	}}
	for _, in := range c.instances {
		rr.targets = append(rr.targets, in.addr)
	}
	return &issuer{c: c, rr: rr, client: &http.Client{Transport: rr, Timeout: 30 * time.Second}}
}

// retryable reports whether err is what a client sees from an instance
// that died under it: the request may or may not have been handled.
func retryable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "connection reset")
}

// do runs f until it succeeds or fails with an error that is not
// retryable, recording every retried error.
func (is *issuer) do(ctx context.Context, what string, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		if !retryable(err) || attempt >= 10 || ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		is.mu.Lock()
		is.retried = append(is.retried, what+": "+err.Error())
		is.mu.Unlock()
		time.Sleep(200 * time.Millisecond)
	}
}

// issueOne runs one complete issuance for a fresh name with account key.
func (is *issuer) issueOne(ctx context.Context, acct *xacme.Client, name string) error {
	is.c.dns.SetA(name, netip.MustParseAddr("127.0.0.1"))
	var o *xacme.Order
	if err := is.do(ctx, "new order", func() (err error) {
		o, err = acct.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "dns", Value: name}})
		return err
	}); err != nil {
		return err
	}
	is.mu.Lock()
	is.orderURLs = append(is.orderURLs, o.URI)
	is.mu.Unlock()
	var z *xacme.Authorization
	if err := is.do(ctx, "get authz", func() (err error) {
		z, err = acct.GetAuthorization(ctx, o.AuthzURLs[0])
		return err
	}); err != nil {
		return err
	}
	if z.Status != xacme.StatusValid {
		var ch *xacme.Challenge
		for _, cand := range z.Challenges {
			if cand.Type == "http-01" {
				ch = cand
			}
		}
		ka, err := acct.HTTP01ChallengeResponse(ch.Token)
		if err != nil {
			return err
		}
		is.c.tokens.Store(ch.Token, ka)
		if err := is.do(ctx, "accept", func() error { _, err := acct.Accept(ctx, ch); return err }); err != nil {
			return err
		}
		if err := is.do(ctx, "wait authz", func() error { _, err := acct.WaitAuthorization(ctx, z.URI); return err }); err != nil {
			return err
		}
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, key)
	var certURL string
	err := is.do(ctx, "finalize", func() error {
		cur, err := acct.GetOrder(ctx, o.URI)
		if err != nil {
			return err
		}
		if cur.Status == xacme.StatusReady {
			_, certURL, err = acct.CreateOrderCert(ctx, o.FinalizeURL, csr, false)
			return err
		}
		// Finalized by an attempt whose response was lost: wait for it.
		cur, err = acct.WaitOrder(ctx, o.URI)
		if err != nil {
			return err
		}
		certURL = cur.CertURL
		return nil
	})
	if err != nil {
		return err
	}
	return is.do(ctx, "download", func() error {
		chain, err := acct.FetchCert(ctx, certURL, true)
		if err == nil && len(chain) < 2 {
			err = fmt.Errorf("chain of %d certificates", len(chain))
		}
		return err
	})
}

// run performs n issuances with workers accounts in parallel, calling
// midway once half of them are done.
func (is *issuer) run(t *testing.T, ctx context.Context, n, workers int, midway func()) {
	t.Helper()
	var done atomic.Int64
	var once sync.Once
	errs := make(chan error, n)
	var wg sync.WaitGroup
	per := n / workers
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			acct := &xacme.Client{Key: key, DirectoryURL: is.c.publicURL + "/directory", HTTPClient: is.client}
			if err := is.do(ctx, "register", func() error {
				_, err := acct.Register(ctx, &xacme.Account{}, xacme.AcceptTOS)
				if errors.Is(err, xacme.ErrAccountAlreadyExists) {
					return nil
				}
				return err
			}); err != nil {
				errs <- err
				return
			}
			for i := range per {
				name := fmt.Sprintf("w%d-%d-%d.lb.example.test", w, i, time.Now().UnixNano())
				if err := is.issueOne(ctx, acct, name); err != nil {
					errs <- fmt.Errorf("%s: %w", name, err)
					continue
				}
				if done.Add(1) == int64(n/2) && midway != nil {
					once.Do(midway)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("issuance failed with an error the client could not retry: %v", err)
	}
	if got := done.Load(); got != int64(per*workers) {
		t.Errorf("%d of %d issuances completed", got, per*workers)
	}
}

// TestMultiInstancePostgres is three instances on one PostgreSQL database
// behind a round-robin balancer: 50 issuances, then 50 more while one
// instance is killed with SIGKILL and started again.
func TestMultiInstancePostgres(t *testing.T) {
	skipIfShort(t)
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	is := newIssuer(t, c)
	start := time.Now()
	is.run(t, ctx, 50, 5, nil)
	t.Logf("50 issuances round robin over 3 instances: %v, retried %d errors, %d refused connections",
		time.Since(start).Round(time.Millisecond), len(is.retried), is.rr.refused.Load())
	if len(is.retried) != 0 || is.rr.refused.Load() != 0 {
		t.Errorf("with every instance up the client had to retry: %v", is.retried)
	}

	is2 := newIssuer(t, c)
	victim := c.instances[1]
	start = time.Now()
	is2.run(t, ctx, 50, 5, func() {
		if err := victim.signal(syscall.SIGKILL); err != nil {
			t.Error(err)
		}
		t.Logf("killed %s", victim.addr)
		time.Sleep(500 * time.Millisecond)
		victim.start()
		t.Logf("restarted %s", victim.addr)
	})
	t.Logf("50 issuances with one instance killed and restarted: %v; retried: %v; refused connections: %d",
		time.Since(start).Round(time.Millisecond), is2.retried, is2.rr.refused.Load())
	// A newOrder whose response died with the instance was retried by the
	// client: the first attempt may have created an order the client never
	// learnt of. Such an order is the client's orphan, never a duplicate
	// issuance; allow one per lost newOrder response, and no more.
	lostNewOrders := 0
	for _, r := range is2.retried {
		if strings.HasPrefix(r, "new order:") {
			lostNewOrders++
		}
	}
	checkClusterDatabase(t, ctx, c.dbURL, append(is.orderURLs, is2.orderURLs...), lostNewOrders)
}

// checkClusterDatabase verifies, in the shared database, that every order
// the clients made is valid with exactly one certificate, that no
// certificate was issued twice for an order, and that no job is left.
func checkClusterDatabase(t *testing.T, ctx context.Context, dbURL string, orderURLs []string, orphansAllowed int) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, u := range orderURLs {
		id := u[strings.LastIndex(u, "/")+1:]
		var status string
		var certs int
		err := conn.QueryRow(ctx, `SELECT o.status, (SELECT count(*) FROM certificates c WHERE c.order_id = o.id) FROM orders o WHERE o.id = $1`, id).Scan(&status, &certs)
		if err != nil {
			t.Errorf("order %s: %v", id, err)
			continue
		}
		if status != "valid" || certs != 1 {
			t.Errorf("order %s is %s with %d certificates, want valid with exactly 1", id, status, certs)
		}
	}
	var dupOrders, jobs, strays int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT order_id FROM certificates GROUP BY order_id HAVING count(*) > 1) d`).Scan(&dupOrders); err != nil {
		t.Fatal(err)
	}
	// A job leased by the killed instance, whose work was done just before
	// it died, stays until its lease expires and a survivor completes it:
	// wait for that (the lease is 3 s).
	for deadline := time.Now().Add(15 * time.Second); ; {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&jobs); err != nil {
			t.Fatal(err)
		}
		if jobs == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM orders WHERE status <> 'valid'`).Scan(&strays); err != nil {
		t.Fatal(err)
	}
	if dupOrders != 0 || jobs != 0 {
		t.Errorf("%d orders have more than one certificate, %d jobs are left", dupOrders, jobs)
	}
	var strayCerts int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM orders o JOIN certificates c ON c.order_id = o.id WHERE o.status <> 'valid'`).Scan(&strayCerts); err != nil {
		t.Fatal(err)
	}
	if strays > orphansAllowed || strayCerts != 0 {
		t.Errorf("%d orders are not valid (%d allowed: newOrder responses lost with the killed instance), %d of them with a certificate", strays, orphansAllowed, strayCerts)
	}
}
