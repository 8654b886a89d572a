package validationtest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// maxChase bounds the CNAME chain the server follows when FollowCNAME is on.
const maxChase = 16

// Query is one question the DNSServer received.
type Query struct {
	Name string // canonical (lowercase, fully qualified)
	Type uint16 // dns.TypeA, dns.TypeTXT, ...
	Net  string // "udp" or "tcp"
}

// DNSServer is a DNS server on 127.0.0.1, UDP and TCP on the same port,
// answering from records the test sets. It answers every name
// authoritatively: a name with no records and no records below it is
// NXDOMAIN, an empty non-terminal is NOERROR without data. UDP answers
// larger than the client's buffer (512 bytes, or its EDNS(0) size) come
// truncated, so clients must retry over TCP as real servers require.
//
// Names are case-insensitive and may be given with or without the final
// dot. All methods are safe for concurrent use.
type DNSServer struct {
	udp, tcp *dns.Server
	addr     string

	mu          sync.Mutex
	zone        map[string]*node
	followCNAME bool
	truncateUDP bool
	queries     []Query
}

// CAARecord is one CAA resource record (RFC 8659 §4.1): a flags octet
// (128 is the Issuer Critical Flag), a property tag such as "issue" and its
// value, such as "ca.example; accounturi=https://ca.example/acct/1".
type CAARecord struct {
	Flag  uint8
	Tag   string
	Value string
}

// node holds the records of one name.
type node struct {
	a, aaaa []netip.Addr
	// aRotation, when set, answers A queries instead of a: the n-th
	// query gets aRotation[n%len(aRotation)].
	aRotation [][]netip.Addr
	aQueries  int
	txt       []string
	caa       []CAARecord
	cname     string
	rcode     int
}

func (n *node) empty() bool {
	return len(n.a) == 0 && len(n.aRotation) == 0 && len(n.aaaa) == 0 && len(n.txt) == 0 && len(n.caa) == 0 && n.cname == "" && n.rcode == 0
}

// NewDNSServer starts a DNSServer on 127.0.0.1 with a free port. Close
// stops it.
func NewDNSServer() (*DNSServer, error) {
	s := &DNSServer{zone: map[string]*node{}}
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	// The UDP port is free; the same TCP port almost always is too. Retry
	// with another port when it is not.
	for range 20 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("validationtest: listen udp: %w", err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("validationtest: listen tcp: %w", err)
	}
	s.addr = pc.LocalAddr().String()
	udpUp, tcpUp := make(chan struct{}), make(chan struct{})
	s.udp = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: func() { close(udpUp) }}
	s.tcp = &dns.Server{Listener: ln, Handler: dns.HandlerFunc(s.serve), NotifyStartedFunc: func() { close(tcpUp) }}
	udpErr, tcpErr := make(chan error, 1), make(chan error, 1)
	go func() { udpErr <- s.udp.ActivateAndServe() }()
	go func() { tcpErr <- s.tcp.ActivateAndServe() }()
	for _, w := range []struct {
		up  chan struct{}
		err chan error
	}{{udpUp, udpErr}, {tcpUp, tcpErr}} {
		select {
		case <-w.up:
		case err := <-w.err:
			s.Close()
			return nil, fmt.Errorf("validationtest: start DNS server: %w", err)
		}
	}
	return s, nil
}

// Addr returns the server's "127.0.0.1:port", for validation.Config.Resolvers.
func (s *DNSServer) Addr() string { return s.addr }

// Close stops the server.
func (s *DNSServer) Close() error {
	return errors.Join(s.udp.Shutdown(), s.tcp.Shutdown())
}

// SetA replaces the A records of name; no address removes them. It panics
// on an address that is not IPv4, a mistake in the calling test.
func (s *DNSServer) SetA(name string, addrs ...netip.Addr) {
	for _, a := range addrs {
		if !a.Is4() {
			panic(fmt.Sprintf("validationtest: SetA(%q) with non-IPv4 address %v", name, a))
		}
	}
	s.update(name, func(n *node) { n.a = append([]netip.Addr(nil), addrs...) })
}

// RotateA makes successive A queries for name get successive answers: the
// n-th query (counting from 0) is answered with sets[n%len(sets)], an empty
// set meaning no A record. While a rotation is set it answers instead of the
// records SetA set; no set removes it. This is how tests play a
// DNS-rebinding attacker, whose zone answers one address to the check and
// another to the connection. It panics on an address that is not IPv4.
func (s *DNSServer) RotateA(name string, sets ...[]netip.Addr) {
	var rotation [][]netip.Addr
	for _, set := range sets {
		for _, a := range set {
			if !a.Is4() {
				panic(fmt.Sprintf("validationtest: RotateA(%q) with non-IPv4 address %v", name, a))
			}
		}
		rotation = append(rotation, append([]netip.Addr(nil), set...))
	}
	s.update(name, func(n *node) { n.aRotation, n.aQueries = rotation, 0 })
}

// SetAAAA replaces the AAAA records of name; no address removes them. It
// panics on an address that is not IPv6.
func (s *DNSServer) SetAAAA(name string, addrs ...netip.Addr) {
	for _, a := range addrs {
		if !a.Is6() || a.Is4In6() {
			panic(fmt.Sprintf("validationtest: SetAAAA(%q) with non-IPv6 address %v", name, a))
		}
	}
	s.update(name, func(n *node) { n.aaaa = append([]netip.Addr(nil), addrs...) })
}

// SetTXT replaces the TXT records of name, one record per value; no value
// removes them. Values longer than 255 bytes are split into several
// strings of one record, as RFC 1035 requires.
func (s *DNSServer) SetTXT(name string, values ...string) {
	s.update(name, func(n *node) { n.txt = append([]string(nil), values...) })
}

// SetCAA replaces the CAA records of name (query type 257); no record
// removes them. Values arrive byte for byte.
func (s *DNSServer) SetCAA(name string, records ...CAARecord) {
	s.update(name, func(n *node) { n.caa = append([]CAARecord(nil), records...) })
}

// SetCNAME makes name an alias of target; an empty target removes it. The
// CNAME answers every query type but CNAME-less data of name stays stored
// (and hidden) until the CNAME is removed.
func (s *DNSServer) SetCNAME(name, target string) {
	t := ""
	if target != "" {
		t = dns.CanonicalName(target)
	}
	s.update(name, func(n *node) { n.cname = t })
}

// SetRcode makes every query for name fail with rcode, such as
// dns.RcodeServerFailure or dns.RcodeRefused; dns.RcodeSuccess (0) restores
// normal answers.
func (s *DNSServer) SetRcode(name string, rcode int) {
	s.update(name, func(n *node) { n.rcode = rcode })
}

// Delete removes every record of name.
func (s *DNSServer) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.zone, dns.CanonicalName(name))
}

// SetFollowCNAME chooses how CNAMEs are answered. Off (the default), the
// server answers like an authoritative server whose alias points out of
// zone: the CNAME record alone, and the client must ask for the target. On,
// it answers like a recursive resolver: the CNAME chain and the records at
// its end.
func (s *DNSServer) SetFollowCNAME(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.followCNAME = on
}

// SetTruncateUDP chooses how UDP queries are answered. Off (the default),
// an answer is truncated only when it exceeds the client's buffer. On,
// every UDP answer carries the TC bit and no records, whatever its size, as
// some servers and middleboxes do; the full answer is served over TCP only.
func (s *DNSServer) SetTruncateUDP(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncateUDP = on
}

// Queries returns the questions received so far, in order.
func (s *DNSServer) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

func (s *DNSServer) update(name string, f func(*node)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := dns.CanonicalName(name)
	n := s.zone[key]
	if n == nil {
		n = &node{}
	}
	f(n)
	if n.empty() {
		delete(s.zone, key)
		return
	}
	s.zone[key] = n
}

// serve answers one query.
func (s *DNSServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	if len(req.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(resp)
		return
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)

	s.mu.Lock()
	s.queries = append(s.queries, Query{Name: name, Type: q.Qtype, Net: network})
	resp.Answer, resp.Rcode = s.answer(name, q.Qtype)
	truncateAll := s.truncateUDP && network == "udp"
	s.mu.Unlock()

	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = int(opt.UDPSize())
		resp.SetEdns0(opt.UDPSize(), false)
	}
	switch {
	case truncateAll:
		resp.Answer, resp.Ns, resp.Extra = nil, nil, nil
		resp.Truncated = true
	case network == "udp":
		resp.Truncate(size) // sets TC when records had to go
	}
	_ = w.WriteMsg(resp)
}

// answer computes the answer section and rcode; s.mu is held.
func (s *DNSServer) answer(name string, qtype uint16) ([]dns.RR, int) {
	var out []dns.RR
	for range maxChase {
		n := s.zone[name]
		if n == nil {
			if s.hasDescendant(name) {
				return out, dns.RcodeSuccess
			}
			return out, dns.RcodeNameError
		}
		if n.rcode != dns.RcodeSuccess {
			return nil, n.rcode
		}
		if n.cname != "" {
			out = append(out, &dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: n.cname})
			if qtype == dns.TypeCNAME || !s.followCNAME {
				return out, dns.RcodeSuccess
			}
			name = n.cname
			continue
		}
		return append(out, n.records(name, qtype)...), dns.RcodeSuccess
	}
	return out, dns.RcodeServerFailure // a CNAME loop in the test's data
}

func (s *DNSServer) hasDescendant(name string) bool {
	for k := range s.zone {
		if strings.HasSuffix(k, "."+name) {
			return true
		}
	}
	return false
}

func (n *node) records(name string, qtype uint16) []dns.RR {
	var out []dns.RR
	switch qtype {
	case dns.TypeA:
		addrs := n.a
		if len(n.aRotation) > 0 {
			addrs = n.aRotation[n.aQueries%len(n.aRotation)]
			n.aQueries++
		}
		for _, a := range addrs {
			out = append(out, &dns.A{Hdr: hdr(name, qtype), A: a.AsSlice()})
		}
	case dns.TypeAAAA:
		for _, a := range n.aaaa {
			out = append(out, &dns.AAAA{Hdr: hdr(name, qtype), AAAA: a.AsSlice()})
		}
	case dns.TypeTXT:
		for _, v := range n.txt {
			out = append(out, &dns.TXT{Hdr: hdr(name, qtype), Txt: splitTXT(v)})
		}
	case dns.TypeCAA:
		for _, c := range n.caa {
			// miekg/dns reads backslash escapes when packing a CAA value
			// (and none when unpacking): escape them so the value arrives
			// as given.
			v := strings.ReplaceAll(c.Value, `\`, `\\`)
			out = append(out, &dns.CAA{Hdr: hdr(name, qtype), Flag: c.Flag, Tag: c.Tag, Value: v})
		}
	}
	return out
}

func hdr(name string, qtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: qtype, Class: dns.ClassINET, Ttl: 60}
}

// splitTXT cuts a value into the 255-byte character-strings of one TXT
// record (RFC 1035 §3.3.14). Characters miekg/dns would read as escapes
// are escaped, so the value arrives byte for byte.
func splitTXT(v string) []string {
	var out []string
	for {
		chunk := v
		if len(chunk) > 255 {
			chunk = chunk[:255]
		}
		out = append(out, escapeTXT(chunk))
		v = v[len(chunk):]
		if v == "" {
			return out
		}
	}
}

func escapeTXT(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return r.Replace(s)
}
