package validation

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/acmegate/acmegate/validation/validationtest"
)

func TestDNS01(t *testing.T) {
	const name = "_acme-challenge.example.test"
	tests := []struct {
		name       string
		setup      func(s *validationtest.DNSServer)
		identifier string // default "example.test"
		resolvers  func(s *validationtest.DNSServer) []string
		timeout    time.Duration
		kind       Kind
		want       []string
		// tcp says the answer must have come over TCP.
		tcp bool
	}{
		{name: "success", setup: func(s *validationtest.DNSServer) { s.SetTXT(name, testDNS01) }},
		{name: "one of several records", setup: func(s *validationtest.DNSServer) {
			s.SetTXT(name, "stale-value", testDNS01, "another")
		}},
		{name: "identifier case and final dot", identifier: "Example.TEST.", setup: func(s *validationtest.DNSServer) {
			s.SetTXT(name, testDNS01)
		}},
		{name: "CNAME chain chased by the validator", setup: func(s *validationtest.DNSServer) {
			s.SetCNAME(name, "hop1.delegated.test")
			s.SetCNAME("hop1.delegated.test", "hop2.delegated.test")
			s.SetTXT("hop2.delegated.test", testDNS01)
		}},
		{name: "CNAME chain answered by a recursive resolver", setup: func(s *validationtest.DNSServer) {
			s.SetFollowCNAME(true)
			s.SetCNAME(name, "hop1.delegated.test")
			s.SetCNAME("hop1.delegated.test", "hop2.delegated.test")
			s.SetTXT("hop2.delegated.test", testDNS01)
		}},
		{name: "CNAME to a missing name", setup: func(s *validationtest.DNSServer) {
			s.SetCNAME(name, "gone.delegated.test")
		}, kind: KindUnauthorized, want: []string{"no TXT record found at " + name, "gone.delegated.test", "NXDOMAIN"}},
		{name: "CNAME loop", setup: func(s *validationtest.DNSServer) {
			s.SetCNAME(name, "a.loop.test")
			s.SetCNAME("a.loop.test", "b.loop.test")
			s.SetCNAME("b.loop.test", "a.loop.test")
		}, kind: KindDNS, want: []string{"CNAME chain too long or looping", "b.loop.test. -> a.loop.test."}},
		{name: "CNAME chain too long", setup: func(s *validationtest.DNSServer) {
			s.SetCNAME(name, "c1.long.test")
			for i := 1; i <= 11; i++ {
				s.SetCNAME(fmt.Sprintf("c%d.long.test", i), fmt.Sprintf("c%d.long.test", i+1))
			}
			s.SetTXT("c12.long.test", testDNS01)
		}, kind: KindDNS, want: []string{"CNAME chain too long", "c10.long.test. -> c11.long.test."}},
		{name: "wrong value", setup: func(s *validationtest.DNSServer) { s.SetTXT(name, "wrong-value", "other") },
			kind: KindUnauthorized, want: []string{"2 TXT record(s) at " + name, `none is "` + testDNS01 + `"`, `found "wrong-value", "other"`}},
		{name: "many wrong values listed truncated", setup: func(s *validationtest.DNSServer) {
			s.SetTXT(name, "v1", "v2", "v3", "v4", "v5", "v6", "v7")
		}, kind: KindUnauthorized, want: []string{"7 TXT record(s)", `"v5", and 2 more`}},
		{name: "key authorization itself instead of its digest", setup: func(s *validationtest.DNSServer) { s.SetTXT(name, testKeyAuth) },
			kind: KindUnauthorized, want: []string{`found "` + testKeyAuth + `"`}},
		{name: "NXDOMAIN", setup: func(s *validationtest.DNSServer) { s.SetA("example.test", mustAddr("192.0.2.1")) },
			kind: KindUnauthorized, want: []string{"no TXT record found at " + name, "NXDOMAIN"}},
		{name: "name without TXT records", setup: func(s *validationtest.DNSServer) { s.SetA(name, mustAddr("192.0.2.1")) },
			kind: KindUnauthorized, want: []string{"no TXT record found at " + name}},
		{name: "SERVFAIL", setup: func(s *validationtest.DNSServer) { s.SetRcode(name, dns.RcodeServerFailure) },
			kind: KindDNS, want: []string{"TXT lookup of " + name + " failed", "SERVFAIL"}},
		{name: "REFUSED", setup: func(s *validationtest.DNSServer) { s.SetRcode(name, dns.RcodeRefused) },
			kind: KindDNS, want: []string{"REFUSED"}},
		{name: "truncated UDP answer retried over TCP", setup: func(s *validationtest.DNSServer) {
			var values []string
			for i := range 12 {
				values = append(values, fmt.Sprintf("%03d-%s", i, strings.Repeat("x", 200)))
			}
			s.SetTXT(name, append(values, testDNS01)...)
		}, tcp: true},
		{name: "every UDP answer truncated, the answer over TCP", setup: func(s *validationtest.DNSServer) {
			s.SetTruncateUDP(true)
			s.SetTXT(name, testDNS01)
		}, tcp: true},
		{name: "NXDOMAIN over TCP after truncation", setup: func(s *validationtest.DNSServer) {
			s.SetTruncateUDP(true)
			s.SetA("example.test", mustAddr("192.0.2.1"))
		}, kind: KindUnauthorized, want: []string{"no TXT record found at " + name, "NXDOMAIN"}, tcp: true},
		{name: "SERVFAIL over TCP after truncation", setup: func(s *validationtest.DNSServer) {
			s.SetTruncateUDP(true)
			s.SetRcode(name, dns.RcodeServerFailure)
		}, kind: KindDNS, want: []string{"SERVFAIL"}, tcp: true},
		{name: "value longer than one string", setup: func(s *validationtest.DNSServer) {
			s.SetTXT(name, strings.Repeat("y", 300))
		}, kind: KindUnauthorized, want: []string{`"` + strings.Repeat("y", 100) + `" (truncated, 300 bytes)`}},
		{name: "timeout", timeout: 400 * time.Millisecond, resolvers: func(*validationtest.DNSServer) []string { return []string{silentUDP(t)} },
			kind: KindDNS, want: []string{"timed out"}},
		{name: "second resolver answers when the first is silent", timeout: 2 * time.Second,
			setup: func(s *validationtest.DNSServer) { s.SetTXT(name, testDNS01) },
			resolvers: func(s *validationtest.DNSServer) []string {
				return []string{silentUDP(t), s.Addr()}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newDNSServer(t)
			if tc.setup != nil {
				tc.setup(s)
			}
			cfg := Config{Timeout: tc.timeout}
			if tc.resolvers != nil {
				cfg.Resolvers = tc.resolvers(s)
			}
			v := newValidator(t, s.Addr(), true, cfg)
			id := "example.test"
			if tc.identifier != "" {
				id = tc.identifier
			}
			err := v.Validate(testCtx(t), Request{ChallengeType: ChallengeDNS01, IdentifierType: IdentifierDNS,
				Identifier: id, Token: testToken, KeyAuthorization: testKeyAuth})
			checkErr(t, err, tc.kind, tc.want...)
			if tc.tcp {
				var nets []string
				for _, q := range s.Queries() {
					nets = append(nets, q.Net)
				}
				if fmt.Sprint(nets) != "[udp tcp]" {
					t.Errorf("queries went over %v, want [udp tcp]", nets)
				}
			}
		})
	}
}

// TestDNS01CNAMEQueries checks the validator asks for each CNAME target in
// turn when the server answers with the CNAME alone, and asks once when the
// server answers with the whole chain.
func TestDNS01CNAMEQueries(t *testing.T) {
	for _, follow := range []bool{false, true} {
		t.Run(fmt.Sprintf("follow=%v", follow), func(t *testing.T) {
			s := newDNSServer(t)
			s.SetFollowCNAME(follow)
			s.SetCNAME("_acme-challenge.example.test", "hop1.delegated.test")
			s.SetCNAME("hop1.delegated.test", "hop2.delegated.test")
			s.SetTXT("hop2.delegated.test", testDNS01)
			v := newValidator(t, s.Addr(), true, Config{})
			err := v.Validate(testCtx(t), Request{ChallengeType: ChallengeDNS01, IdentifierType: IdentifierDNS,
				Identifier: "example.test", Token: testToken, KeyAuthorization: testKeyAuth})
			checkErr(t, err, "")
			var got []string
			for _, q := range s.Queries() {
				got = append(got, dns.TypeToString[q.Type]+" "+q.Name)
			}
			want := []string{"TXT _acme-challenge.example.test."}
			if !follow {
				want = append(want, "TXT hop1.delegated.test.", "TXT hop2.delegated.test.")
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("queries = %q, want %q", got, want)
			}
		})
	}
}

// truncatingUDP starts a DNS server on 127.0.0.1 that answers every UDP
// query with the TC bit and no records. With withTCP, handleTCP serves the
// connections to the same port over TCP; without, nothing listens there.
func truncatingUDP(t *testing.T, withTCP bool, handleTCP func(net.Conn)) string {
	t.Helper()
	var pc net.PacketConn
	for i := 0; ; i++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if !withTCP {
			break
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			serveConns(t, ln, handleTCP)
			break
		}
		pc.Close()
		if i == 20 {
			t.Fatalf("no port free for both UDP and TCP: %v", err)
		}
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Truncated = true
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestDNS01TruncationFailures checks a truncated UDP answer whose TCP retry
// fails is a dns problem, bounded by the timeout, and that the next
// configured resolver is asked.
func TestDNS01TruncationFailures(t *testing.T) {
	const timeout = 600 * time.Millisecond
	noTCP := truncatingUDP(t, false, nil)
	silentTCP := truncatingUDP(t, true, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	good := newDNSServer(t)
	good.SetTXT("_acme-challenge.example.test", testDNS01)
	tests := []struct {
		name      string
		resolvers []string
		kind      Kind
		want      []string
	}{
		{name: "TCP refused", resolvers: []string{noTCP}, kind: KindDNS, want: []string{"TXT lookup of _acme-challenge.example.test failed", "server failure", "connection refused"}},
		{name: "TCP silent", resolvers: []string{silentTCP}, kind: KindDNS, want: []string{"timed out"}},
		{name: "next resolver after TCP refused", resolvers: []string{noTCP, good.Addr()}},
		{name: "next resolver after TCP silent", resolvers: []string{silentTCP, good.Addr()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newValidator(t, "", false, Config{Resolvers: tc.resolvers, Timeout: timeout})
			err := validateWithin(t, v, 5*timeout, Request{ChallengeType: ChallengeDNS01, IdentifierType: IdentifierDNS,
				Identifier: "example.test", Token: testToken, KeyAuthorization: testKeyAuth})
			checkErr(t, err, tc.kind, tc.want...)
		})
	}
}

// TestDNS01Timeout checks a resolver that never answers holds the
// validation no longer than Config.Timeout.
func TestDNS01Timeout(t *testing.T) {
	const timeout = 400 * time.Millisecond
	v := newValidator(t, "", false, Config{Resolvers: []string{silentUDP(t), silentUDP(t)}, Timeout: timeout})
	err := validateWithin(t, v, 5*timeout, Request{ChallengeType: ChallengeDNS01, IdentifierType: IdentifierDNS,
		Identifier: "example.test", Token: testToken, KeyAuthorization: testKeyAuth})
	checkErr(t, err, KindDNS, "TXT lookup of _acme-challenge.example.test failed", "timed out")
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("Validate = %v, want it to unwrap to ErrTimeout", err)
	}
}
