package validationtest

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/asn1"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

func newServer(t *testing.T) *DNSServer {
	t.Helper()
	s, err := NewDNSServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ask(t *testing.T, network, addr, name string, qtype uint16, edns bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if edns {
		m.SetEdns0(4096, false)
	}
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %s: %v", network, name, err)
	}
	return resp
}

func TestDNSServerAnswers(t *testing.T) {
	s := newServer(t)
	s.SetA("www.Example.test.", netip.MustParseAddr("192.0.2.1"))
	s.SetAAAA("www.example.test", netip.MustParseAddr("2001:db8::1"))
	s.SetTXT("deep.sub.example.test", "v")
	s.SetCNAME("alias.example.test", "www.example.test")
	s.SetRcode("broken.example.test", dns.RcodeServerFailure)
	s.SetTXT("gone.example.test", "x")
	s.Delete("gone.example.test")
	s.SetTXT("cleared.example.test", "x")
	s.SetTXT("cleared.example.test")

	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  []string // answer records, presentation form
	}{
		{"www.example.test", dns.TypeA, dns.RcodeSuccess, []string{"www.example.test.\t60\tIN\tA\t192.0.2.1"}},
		{"WWW.example.test", dns.TypeAAAA, dns.RcodeSuccess, []string{"www.example.test.\t60\tIN\tAAAA\t2001:db8::1"}},
		{"www.example.test", dns.TypeTXT, dns.RcodeSuccess, nil},
		{"sub.example.test", dns.TypeTXT, dns.RcodeSuccess, nil}, // empty non-terminal
		{"example.test", dns.TypeA, dns.RcodeSuccess, nil},
		{"other.test", dns.TypeA, dns.RcodeNameError, nil},
		{"gone.example.test", dns.TypeTXT, dns.RcodeNameError, nil},
		{"cleared.example.test", dns.TypeTXT, dns.RcodeNameError, nil},
		{"broken.example.test", dns.TypeA, dns.RcodeServerFailure, nil},
		{"alias.example.test", dns.TypeA, dns.RcodeSuccess, []string{"alias.example.test.\t60\tIN\tCNAME\twww.example.test."}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%s", tc.name, dns.TypeToString[tc.qtype]), func(t *testing.T) {
			resp := ask(t, "udp", s.Addr(), tc.name, tc.qtype, false)
			if resp.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tc.rcode])
			}
			var got []string
			for _, rr := range resp.Answer {
				got = append(got, rr.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}

	s.SetFollowCNAME(true)
	resp := ask(t, "udp", s.Addr(), "alias.example.test", dns.TypeA, false)
	if len(resp.Answer) != 2 || resp.Answer[1].Header().Rrtype != dns.TypeA {
		t.Errorf("with FollowCNAME, answer = %v, want the CNAME and the A record", resp.Answer)
	}
	var nets []string
	for _, q := range s.Queries() {
		nets = append(nets, q.Net)
	}
	if len(nets) != len(tests)+1 || nets[0] != "udp" {
		t.Errorf("Queries recorded %v", nets)
	}
}

func TestDNSServerCAA(t *testing.T) {
	s := newServer(t)
	records := []CAARecord{
		{Flag: 0, Tag: "issue", Value: "ca.example; accounturi=https://ca.example/acct/1"},
		{Flag: 128, Tag: "TBS", Value: `odd \ "value"`},
	}
	s.SetCAA("Example.test.", records...)
	s.SetCNAME("alias.example.test", "example.test")
	s.SetCAA("cleared.example.test", CAARecord{Tag: "issue", Value: ";"})
	s.SetCAA("cleared.example.test")

	type caa struct {
		Name  string
		Flag  uint8
		Tag   string
		Value string
	}
	want := []caa{
		{"example.test.", 0, "issue", records[0].Value},
		{"example.test.", 128, "TBS", records[1].Value},
	}
	tests := []struct {
		name   string
		follow bool
		rcode  int
		want   []caa
		cname  bool // the answer starts with alias.example.test's CNAME
	}{
		{name: "example.test", rcode: dns.RcodeSuccess, want: want},
		{name: "alias.example.test", rcode: dns.RcodeSuccess, cname: true},
		{name: "alias.example.test", follow: true, rcode: dns.RcodeSuccess, want: want, cname: true},
		{name: "cleared.example.test", rcode: dns.RcodeNameError},
		{name: "www.example.test", rcode: dns.RcodeNameError},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/follow=%v", tc.name, tc.follow), func(t *testing.T) {
			s.SetFollowCNAME(tc.follow)
			resp := ask(t, "udp", s.Addr(), tc.name, dns.TypeCAA, true)
			if resp.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tc.rcode])
			}
			answer := resp.Answer
			if tc.cname {
				if len(answer) == 0 || answer[0].Header().Rrtype != dns.TypeCNAME {
					t.Fatalf("answer %v does not start with a CNAME", answer)
				}
				answer = answer[1:]
			}
			var got []caa
			for _, rr := range answer {
				c, ok := rr.(*dns.CAA)
				if !ok {
					t.Fatalf("unexpected record %v", rr)
				}
				got = append(got, caa{c.Hdr.Name, c.Flag, c.Tag, c.Value})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CAA records (-want +got):\n%s", diff)
			}
		})
	}
	if q := s.Queries(); len(q) != len(tests) || q[0].Type != dns.TypeCAA {
		t.Errorf("Queries = %v, want %d CAA questions", q, len(tests))
	}
}

func TestDNSServerTruncation(t *testing.T) {
	s := newServer(t)
	var values []string
	for i := range 8 {
		values = append(values, fmt.Sprintf("%d%s", i, strings.Repeat("x", 100)))
	}
	s.SetTXT("big.test", values...)
	s.SetTXT("long.test", strings.Repeat("y", 600))

	udp := ask(t, "udp", s.Addr(), "big.test", dns.TypeTXT, false)
	if !udp.Truncated || len(udp.Answer) >= len(values) {
		t.Errorf("UDP without EDNS: TC=%v with %d records, want truncated", udp.Truncated, len(udp.Answer))
	}
	edns := ask(t, "udp", s.Addr(), "big.test", dns.TypeTXT, true)
	if edns.Truncated || len(edns.Answer) != len(values) {
		t.Errorf("UDP with EDNS 4096: TC=%v with %d records, want all", edns.Truncated, len(edns.Answer))
	}
	tcp := ask(t, "tcp", s.Addr(), "big.test", dns.TypeTXT, false)
	if tcp.Truncated || len(tcp.Answer) != len(values) {
		t.Errorf("TCP: TC=%v with %d records, want all", tcp.Truncated, len(tcp.Answer))
	}
	long := ask(t, "tcp", s.Addr(), "long.test", dns.TypeTXT, false)
	if len(long.Answer) != 1 {
		t.Fatalf("long.test: %d records, want 1", len(long.Answer))
	}
	txt := long.Answer[0].(*dns.TXT).Txt
	if len(txt) != 3 || strings.Join(txt, "") != strings.Repeat("y", 600) {
		t.Errorf("long value split into %d strings, want 3 adding up to the value", len(txt))
	}
}

func TestDNSServerTruncateUDP(t *testing.T) {
	s := newServer(t)
	s.SetTXT("small.test", "tiny")
	s.SetTruncateUDP(true)
	udp := ask(t, "udp", s.Addr(), "small.test", dns.TypeTXT, true)
	if !udp.Truncated || len(udp.Answer) != 0 {
		t.Errorf("UDP: TC=%v with %d records, want TC and none", udp.Truncated, len(udp.Answer))
	}
	tcp := ask(t, "tcp", s.Addr(), "small.test", dns.TypeTXT, false)
	if tcp.Truncated || len(tcp.Answer) != 1 {
		t.Errorf("TCP: TC=%v with %d records, want the record", tcp.Truncated, len(tcp.Answer))
	}
	s.SetTruncateUDP(false)
	if udp := ask(t, "udp", s.Addr(), "small.test", dns.TypeTXT, true); udp.Truncated || len(udp.Answer) != 1 {
		t.Errorf("UDP after SetTruncateUDP(false): TC=%v with %d records, want the record", udp.Truncated, len(udp.Answer))
	}
}

func TestDNSServerRotateA(t *testing.T) {
	s := newServer(t)
	first, second := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("127.0.0.1")
	s.SetA("rebind.test", netip.MustParseAddr("192.0.2.99")) // hidden while the rotation is set
	s.RotateA("rebind.test", []netip.Addr{first}, []netip.Addr{second}, nil)
	var got []string
	for range 4 {
		resp := ask(t, "udp", s.Addr(), "rebind.test", dns.TypeA, false)
		if resp.Rcode != dns.RcodeSuccess {
			t.Fatalf("rcode %s, want NOERROR", dns.RcodeToString[resp.Rcode])
		}
		var addrs []string
		for _, rr := range resp.Answer {
			addrs = append(addrs, rr.(*dns.A).A.String())
		}
		got = append(got, strings.Join(addrs, ","))
	}
	if want := []string{"192.0.2.1", "127.0.0.1", "", "192.0.2.1"}; !cmp.Equal(got, want) {
		t.Errorf("answers %q, want %q", got, want)
	}
	// AAAA queries do not advance the rotation.
	ask(t, "udp", s.Addr(), "rebind.test", dns.TypeAAAA, false)
	if resp := ask(t, "udp", s.Addr(), "rebind.test", dns.TypeA, false); len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "127.0.0.1" {
		t.Errorf("5th A answer %v, want 127.0.0.1", resp.Answer)
	}
	s.RotateA("rebind.test")
	if resp := ask(t, "udp", s.Addr(), "rebind.test", dns.TypeA, false); len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "192.0.2.99" {
		t.Errorf("after the rotation is removed: %v, want the SetA record", resp.Answer)
	}
}

func TestDNSServerSetPanics(t *testing.T) {
	s := newServer(t)
	for name, f := range map[string]func(){
		"SetA with IPv6":    func() { s.SetA("x.test", netip.MustParseAddr("::1")) },
		"SetAAAA with IPv4": func() { s.SetAAAA("x.test", netip.MustParseAddr("127.0.0.1")) },
		"RotateA with IPv6": func() { s.RotateA("x.test", []netip.Addr{netip.MustParseAddr("::1")}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}

func TestTLSALPNServer(t *testing.T) {
	s, err := NewTLSALPNServer()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const keyAuth = "token.thumbprint"
	for _, id := range []string{"example.test", "127.0.0.1"} {
		if err := s.Set(id, keyAuth); err != nil {
			t.Fatal(err)
		}
	}
	handshake := func(sni string) (tls.ConnectionState, error) {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: &tls.Config{
			ServerName: sni, NextProtos: []string{ACMETLS1Protocol}, InsecureSkipVerify: true}}
		c, err := d.Dial("tcp", s.Addr())
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer c.Close()
		return c.(*tls.Conn).ConnectionState(), nil
	}
	for _, tc := range []struct{ id, sni string }{
		{"example.test", "example.test"},
		{"127.0.0.1", "1.0.0.127.in-addr.arpa"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			if got := ServerName(tc.id); got != tc.sni {
				t.Errorf("ServerName(%s) = %q, want %q", tc.id, got, tc.sni)
			}
			st, err := handshake(tc.sni)
			if err != nil {
				t.Fatal(err)
			}
			if st.NegotiatedProtocol != ACMETLS1Protocol {
				t.Errorf("negotiated %q", st.NegotiatedProtocol)
			}
			leaf := st.PeerCertificates[0]
			var sans []string
			sans = append(sans, leaf.DNSNames...)
			for _, ip := range leaf.IPAddresses {
				sans = append(sans, ip.String())
			}
			if len(sans) != 1 || sans[0] != tc.id || len(leaf.EmailAddresses)+len(leaf.URIs) != 0 {
				t.Errorf("SANs %q, want exactly %s", sans, tc.id)
			}
			var found bool
			for _, e := range leaf.Extensions {
				if e.Id.Equal(OIDACMEIdentifier()) {
					found = true
					var digest []byte
					if _, err := asn1.Unmarshal(e.Value, &digest); err != nil || !e.Critical {
						t.Errorf("acmeIdentifier: critical=%v, %v", e.Critical, err)
					}
					if sum := sha256.Sum256([]byte(keyAuth)); string(digest) != string(sum[:]) {
						t.Errorf("acmeIdentifier digest %x, want %x", digest, sum)
					}
				}
			}
			if !found {
				t.Error("no acmeIdentifier extension")
			}
		})
	}
	s.Delete("example.test")
	if _, err := handshake("example.test"); err == nil {
		t.Error("handshake succeeded after Delete")
	}
	if got := s.ServerNames(); len(got) != 3 || got[2] != "example.test" {
		t.Errorf("ServerNames = %q", got)
	}
}
