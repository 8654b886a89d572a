package acme_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca/local"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/sqlite"
	"github.com/acmegate/acmegate/validation"
	"github.com/acmegate/acmegate/validation/validationtest"
)

// cluster is one or more acme.Servers sharing a database, each with its own
// store (connection pool) and TLS listener, behind a round-robin client
// transport: the in-process shape of a multi-instance deployment.
type benchCluster struct {
	url    string
	client *http.Client
	http01 *http01Responder
	dns    *validationtest.DNSServer
}

func newBenchCluster(b *testing.B, instances int, open func() storage.Store) *benchCluster {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	bc := &benchCluster{http01: startHTTP01(b)}
	var err error
	bc.dns, err = validationtest.NewDNSServer()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bc.dns.Close() })
	caDir := b.TempDir()
	authority, err := local.New(ctx, local.Config{Dir: caDir})
	if err != nil {
		b.Fatal(err)
	}
	var servers []*httptest.Server
	for range instances {
		ts := httptest.NewUnstartedServer(nil)
		ts.StartTLS()
		servers = append(servers, ts)
	}
	bc.url = servers[0].URL
	rr := &rrTransport{base: servers[0].Client().Transport}
	for _, ts := range servers {
		st := open()
		if err := acme.PutConfigDirectories(ctx, st, acme.Catalog{Default: "local", Profiles: map[string][]string{"local": {"default"}}}, []acme.DirectoryDefinition{{Name: "default"}}, time.Now().UTC()); err != nil {
			b.Fatal(err)
		}
		v, err := validation.New(validation.Config{
			Resolvers:       []string{bc.dns.Addr()},
			HTTPPort:        bc.http01.port,
			Timeout:         5 * time.Second,
			AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		})
		if err != nil {
			b.Fatal(err)
		}
		srv, err := acme.New(ctx, acme.Config{
			BaseURL: bc.url, Store: st, Backend: authority, Validator: v,
			Logger: slog.New(slog.NewTextHandler(testWriter{b}, &slog.HandlerOptions{Level: slog.LevelError})),
		})
		if err != nil {
			b.Fatal(err)
		}
		ts.Config.Handler = srv.Handler()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.Run(ctx)
		}()
		b.Cleanup(func() {
			ts.Close()
			cancel()
			<-done
			st.Close()
		})
		rr.hosts = append(rr.hosts, ts.Listener.Addr().String())
	}
	bc.client = &http.Client{Transport: rr, Timeout: time.Minute}
	return bc
}

type rrTransport struct {
	base  http.RoundTripper
	hosts []string
	next  atomic.Uint64
}

func (rr *rrTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.URL.Host = rr.hosts[rr.next.Add(1)%uint64(len(rr.hosts))]
	return rr.base.RoundTrip(r)
}

// runThroughput performs b.N full issuances with `workers` concurrent
// clients, each with its own account, and reports issuances per second.
func runThroughput(b *testing.B, bc *benchCluster, workers int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	clients := make([]*xacme.Client, workers)
	for i := range clients {
		clients[i] = &xacme.Client{Key: newECKey(b), DirectoryURL: bc.url + "/directory", HTTPClient: bc.client}
		if _, err := clients[i].Register(ctx, &xacme.Account{}, xacme.AcceptTOS); err != nil {
			b.Fatal(err)
		}
	}
	certKey := newECKey(b)
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				name := fmt.Sprintf("t%d-%d.example.com", i, time.Now().UnixNano())
				if err := issueQuiet(ctx, bc, c, certKey, name); err != nil {
					failed.Add(1)
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "issuances/s")
	if failed.Load() > 0 {
		b.Fatalf("%d issuances failed", failed.Load())
	}
}

// issueQuiet is env.issue without t.Fatal, for use from many goroutines.
func issueQuiet(ctx context.Context, bc *benchCluster, c *xacme.Client, certKey any, name string) error {
	bc.dns.SetA(name, netip.MustParseAddr("127.0.0.1"))
	o, err := c.AuthorizeOrder(ctx, idsOf(name))
	if err != nil {
		return err
	}
	z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		return err
	}
	for _, ch := range z.Challenges {
		if ch.Type != "http-01" {
			continue
		}
		ka, err := c.HTTP01ChallengeResponse(ch.Token)
		if err != nil {
			return err
		}
		bc.http01.set(ch.Token, ka)
		if _, err := c.Accept(ctx, ch); err != nil {
			return err
		}
	}
	if _, err := c.WaitAuthorization(ctx, z.URI); err != nil {
		return err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{name}), certKey)
	if err != nil {
		return err
	}
	_, _, err = c.CreateOrderCert(ctx, o.FinalizeURL, der, true)
	return err
}

// BenchmarkThroughput measures full issuances per second with 16
// concurrent clients: one instance on SQLite, one on PostgreSQL, and two
// instances sharing one PostgreSQL database.
func BenchmarkThroughput(b *testing.B) {
	b.Run("sqlite-1", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "acmegate.db")
		bc := newBenchCluster(b, 1, func() storage.Store {
			st, err := sqlite.Open(context.Background(), path)
			if err != nil {
				b.Fatal(err)
			}
			return st
		})
		runThroughput(b, bc, 16)
	})
	b.Run("postgres-1", func(b *testing.B) {
		runThroughput(b, newBenchCluster(b, 1, postgresSchema(b, "acmegate_bench")), 16)
	})
	b.Run("postgres-2", func(b *testing.B) {
		runThroughput(b, newBenchCluster(b, 2, postgresSchema(b, "acmegate_bench")), 16)
	})
}
