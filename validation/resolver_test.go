package validation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

func newResolver(t *testing.T, timeout time.Duration, servers ...string) *Resolver {
	t.Helper()
	r, err := NewResolver(ResolverConfig{Servers: servers, Timeout: timeout})
	if err != nil {
		t.Fatalf("NewResolver: %v", err)
	}
	return r
}

func TestNewResolver(t *testing.T) {
	tests := []struct {
		servers []string
		want    []string
		err     string
	}{
		{servers: []string{"127.0.0.1:5353", "[::1]:53"}, want: []string{"127.0.0.1:5353", "[::1]:53"}},
		{servers: []string{"192.0.2.53", "2001:db8::53"}, want: []string{"192.0.2.53:53", "[2001:db8::53]:53"}},
		{servers: []string{"dns.example:53"}, err: `resolver "dns.example:53" is not an "ip:port" address`},
		{servers: []string{"127.0.0.1:99999"}, err: "is not an"},
		{servers: []string{"fe80::1%eth0"}, err: "is not an"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.servers, ","), func(t *testing.T) {
			r, err := NewResolver(ResolverConfig{Servers: tc.servers})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("NewResolver = %v, want error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, r.Servers()); diff != "" {
				t.Errorf("Servers (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("default is resolv.conf", func(t *testing.T) {
		sys, sysErr := SystemResolvers()
		r, err := NewResolver(ResolverConfig{})
		if (sysErr == nil) != (err == nil) {
			t.Fatalf("SystemResolvers error %v but NewResolver error %v", sysErr, err)
		}
		if err == nil && !slices.Equal(r.Servers(), sys) {
			t.Errorf("Servers = %q, want %q", r.Servers(), sys)
		}
	})
	if _, err := NewResolver(ResolverConfig{Servers: []string{"127.0.0.1"}, Timeout: -time.Second}); err == nil {
		t.Error("NewResolver accepted a negative timeout")
	}
}

func TestResolverErrors(t *testing.T) {
	s := newDNSServer(t)
	s.SetA("servfail.test", mustAddr("192.0.2.1"))
	s.SetRcode("servfail.test", dns.RcodeServerFailure)
	s.SetCNAME("loop.test", "loop.test")
	r := newResolver(t, time.Second, s.Addr())

	tests := []struct {
		name    string
		r       *Resolver
		qname   string
		class   error
		errName string
		msg     string
	}{
		{name: "NXDOMAIN", r: r, qname: "nx.test", class: ErrNXDomain, errName: "nx.test.", msg: "lookup TXT nx.test. on " + s.Addr() + ": NXDOMAIN"},
		{name: "SERVFAIL", r: r, qname: "servfail.test", class: ErrServerFailure, errName: "servfail.test.", msg: "server failure (SERVFAIL)"},
		{name: "CNAME to itself", r: r, qname: "loop.test", class: ErrCNAMEChain, errName: "loop.test.", msg: "loop.test. -> loop.test."},
		{name: "timeout", r: newResolver(t, 200*time.Millisecond, silentUDP(t)), qname: "any.test", class: ErrTimeout, errName: "any.test.", msg: "timed out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.r.LookupTXT(testCtx(t), tc.qname)
			if !errors.Is(err, tc.class) {
				t.Fatalf("LookupTXT = %v, want errors.Is %v", err, tc.class)
			}
			var re *ResolveError
			if !errors.As(err, &re) {
				t.Fatalf("LookupTXT = %T, want *ResolveError", err)
			}
			if re.Name != tc.errName || re.Type != "TXT" {
				t.Errorf("ResolveError name, type = %q, %q, want %q, TXT", re.Name, re.Type, tc.errName)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

// TestResolverServers checks the order servers are asked in: failures move
// on to the next server, NXDOMAIN does not.
func TestResolverServers(t *testing.T) {
	good := newDNSServer(t)
	good.SetTXT("example.test", "from good")
	failing := newDNSServer(t)
	failing.SetRcode("example.test", dns.RcodeServerFailure)
	empty := newDNSServer(t) // NXDOMAIN for everything

	tests := []struct {
		name    string
		servers []string
		want    []string
		class   error
	}{
		{name: "SERVFAIL then good", servers: []string{failing.Addr(), good.Addr()}, want: []string{"from good"}},
		{name: "silent then good", servers: []string{silentUDP(t), good.Addr()}, want: []string{"from good"}},
		{name: "closed port then good", servers: []string{fmt.Sprintf("127.0.0.1:%d", closedPort(t)), good.Addr()}, want: []string{"from good"}},
		{name: "NXDOMAIN is final", servers: []string{empty.Addr(), good.Addr()}, class: ErrNXDomain},
		{name: "all fail", servers: []string{failing.Addr(), silentUDP(t)}, class: ErrTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newResolver(t, 300*time.Millisecond, tc.servers...)
			got, err := r.LookupTXT(testCtx(t), "example.test")
			if tc.class != nil {
				if !errors.Is(err, tc.class) {
					t.Fatalf("LookupTXT = %q, %v, want %v", got, err, tc.class)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("LookupTXT (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolverLookups(t *testing.T) {
	s := newDNSServer(t)
	s.SetA("dual.test", mustAddr("192.0.2.1"), mustAddr("192.0.2.2"))
	s.SetAAAA("dual.test", mustAddr("2001:db8::1"))
	s.SetCNAME("alias.test", "dual.test")
	s.SetA("v4.test", mustAddr("192.0.2.9"))
	special := "quote\" backslash\\ tab\t high\xff " + strings.Repeat("z", 300)
	s.SetTXT("txt.test", special, "plain")
	s.SetTXT("deep.name.test", "x") // name.test is an empty non-terminal
	r := newResolver(t, time.Second, s.Addr())
	ctx := testCtx(t)

	for _, tc := range []struct {
		name string
		want []netip.Addr
	}{
		{"dual.test", []netip.Addr{mustAddr("2001:db8::1"), mustAddr("192.0.2.1"), mustAddr("192.0.2.2")}},
		{"ALIAS.test.", []netip.Addr{mustAddr("2001:db8::1"), mustAddr("192.0.2.1"), mustAddr("192.0.2.2")}},
		{"v4.test", []netip.Addr{mustAddr("192.0.2.9")}},
		{"txt.test", nil},
		{"name.test", nil},
	} {
		got, err := r.LookupIP(ctx, tc.name)
		if err != nil {
			t.Errorf("LookupIP(%s): %v", tc.name, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("LookupIP(%s) (-want +got):\n%s", tc.name, diff)
		}
	}
	got, err := r.LookupTXT(ctx, "txt.test")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{special, "plain"}, got); diff != "" {
		t.Errorf("LookupTXT: bytes not preserved (-want +got):\n%s", diff)
	}
	if _, err := r.LookupIP(ctx, "nx.test"); !errors.Is(err, ErrNXDomain) {
		t.Errorf("LookupIP(nx.test) = %v, want NXDOMAIN", err)
	}
	rrs, err := r.Lookup(ctx, "alias.test", dns.TypeCNAME)
	if err != nil || len(rrs) != 1 || rrs[0].(*dns.CNAME).Target != "dual.test." {
		t.Errorf("Lookup(alias.test, CNAME) = %v, %v, want the CNAME itself", rrs, err)
	}
}

// TestResolverCancel checks a canceled context ends a query at once, even
// with a long query timeout.
func TestResolverCancel(t *testing.T) {
	r := newResolver(t, 10*time.Second, silentUDP(t))
	ctx, cancel := context.WithCancel(testCtx(t))
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := r.LookupTXT(ctx, "example.test")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("LookupTXT = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("LookupTXT returned after %v", d)
	}
}

// TestResolverMismatchedAnswer checks an answer to another question is
// refused.
func TestResolverMismatchedAnswer(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Question[0].Name = "attacker.test."
		m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: "attacker.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{testDNS01}}}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	defer srv.Shutdown()

	r := newResolver(t, time.Second, pc.LocalAddr().String())
	_, err = r.LookupTXT(testCtx(t), "_acme-challenge.example.test")
	if !errors.Is(err, ErrServerFailure) || !strings.Contains(err.Error(), "does not match the question") {
		t.Errorf("LookupTXT = %v, want a server failure for the mismatched question", err)
	}
}
