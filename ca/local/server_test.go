package local

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestServerCertificateServesTLS(t *testing.T) {
	t.Parallel()
	c := newTestCA(t, Config{})
	cert, err := c.ServerCertificate([]string{"localhost", "127.0.0.1", "[::1]"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.Certificate) != 2 || !cert.Leaf.Equal(mustParse(t, cert.Certificate[0])) || !mustParse(t, cert.Certificate[1]).Equal(c.Intermediate()) {
		t.Fatal("certificate chain is not leaf + intermediate")
	}
	if diff := cmp.Diff([]string{"localhost"}, cert.Leaf.DNSNames); diff != "" {
		t.Errorf("DNS names (-want +got):\n%s", diff)
	}
	var ips []string
	for _, ip := range cert.Leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if diff := cmp.Diff([]string{"127.0.0.1", "::1"}, ips); diff != "" {
		t.Errorf("IP addresses (-want +got):\n%s", diff)
	}

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	// The refused handshakes below are expected; keep them out of the test log.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().(*net.TCPAddr)
	if !addr.IP.IsLoopback() {
		t.Fatalf("test server listens on %s, want loopback", addr)
	}

	trustingRoot := x509.NewCertPool()
	trustingRoot.AddCert(c.Root())
	trustingOther := x509.NewCertPool()
	trustingOther.AddCert(newTestCA(t, Config{}).Root())

	tests := []struct {
		name       string
		roots      *x509.CertPool
		serverName string // TLS name the client checks; the dial goes to the loopback address
		wantErr    string
	}{
		{"by IP", trustingRoot, "127.0.0.1", ""},
		{"by localhost", trustingRoot, "localhost", ""},
		{"name not in certificate", trustingRoot, "example.com", "not example.com"},
		{"client trusting another root", trustingOther, "127.0.0.1", "unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tt.roots, ServerName: tt.serverName}}
			defer tr.CloseIdleConnections()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr.String()+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if tt.wantErr != "" {
				if err == nil {
					resp.Body.Close()
					t.Fatal("request succeeded")
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != "hello" {
				t.Errorf("body %q, want hello", body)
			}
		})
	}
}

func TestServerCertificateNeedsHosts(t *testing.T) {
	t.Parallel()
	c := newTestCA(t, Config{})
	if _, err := c.ServerCertificate(nil); err == nil {
		t.Error("ServerCertificate(nil) succeeded")
	}
	if _, err := c.ServerCertificate([]string{""}); err == nil {
		t.Error("ServerCertificate with an empty host succeeded")
	}
}

func TestServerCertificateValidity(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Second)
	c := newTestCA(t, Config{Clock: fixedClock(now)})
	cert, err := c.ServerCertificate([]string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cert.Leaf.NotBefore, now.Add(-time.Minute); !got.Equal(want) {
		t.Errorf("NotBefore %v, want %v", got, want)
	}
	if got := cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore); got != serverCertValidity {
		t.Errorf("validity %s, want %s", got, serverCertValidity)
	}
	// Close to the intermediate's expiry the certificate stops with it.
	late := newTestCA(t, Config{Dir: c.dir, Clock: fixedClock(c.Intermediate().NotAfter.Add(-24 * time.Hour))})
	cert, err = late.ServerCertificate([]string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if !cert.Leaf.NotAfter.Equal(c.Intermediate().NotAfter) {
		t.Errorf("NotAfter %v, want the intermediate's %v", cert.Leaf.NotAfter, c.Intermediate().NotAfter)
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
