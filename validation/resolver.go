package validation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Resolver sentinel errors. A *ResolveError wraps exactly one of them, so
// callers test the class with errors.Is.
var (
	// ErrNXDomain: the server answered that the name does not exist.
	ErrNXDomain = errors.New("NXDOMAIN")
	// ErrServerFailure: no usable answer: SERVFAIL, REFUSED or another error
	// rcode, a malformed or mismatched response, or a network error.
	ErrServerFailure = errors.New("server failure")
	// ErrTimeout: no answer before the query timeout or the context deadline.
	ErrTimeout = errors.New("timed out")
	// ErrCNAMEChain: the CNAME chain is longer than maxCNAMEChain or loops.
	ErrCNAMEChain = errors.New("CNAME chain too long or looping")
)

const (
	// maxCNAMEChain bounds how many CNAMEs one lookup follows.
	maxCNAMEChain = 10
	// ednsUDPSize is the EDNS(0) buffer size advertised, the DNS flag day
	// 2020 value that avoids IP fragmentation; larger answers come truncated
	// and are asked again over TCP.
	ednsUDPSize = 1232
	// defaultQueryTimeout bounds one query to one server.
	defaultQueryTimeout = 5 * time.Second
	resolvConfPath      = "/etc/resolv.conf"
)

// ResolveError is a failed DNS lookup.
type ResolveError struct {
	// Name is the name queried, fully qualified (a CNAME target when the
	// chain led there).
	Name string
	// Type is the record type queried, such as "TXT".
	Type string
	// Server is the server that gave the answer, or the last one tried.
	Server string
	// Err is ErrNXDomain, ErrServerFailure, ErrTimeout or ErrCNAMEChain,
	// possibly wrapping the network error.
	Err error
}

// Error implements error.
func (e *ResolveError) Error() string {
	if e.Server == "" {
		return fmt.Sprintf("lookup %s %s: %v", e.Type, e.Name, e.Err)
	}
	return fmt.Sprintf("lookup %s %s on %s: %v", e.Type, e.Name, e.Server, e.Err)
}

// Unwrap returns the error class (and cause).
func (e *ResolveError) Unwrap() error { return e.Err }

// ResolverConfig configures a Resolver.
type ResolverConfig struct {
	// Servers are the DNS servers asked, in order, as "ip:port" (a bare IP
	// means port 53). A server that times out or fails is skipped for the
	// next one; an NXDOMAIN or NOERROR answer is final.
	// Default: the nameservers of /etc/resolv.conf.
	Servers []string
	// Timeout bounds one query to one server (UDP and, on truncation, TCP).
	// The context deadline, when earlier, wins. Default: 5s.
	Timeout time.Duration
}

// Resolver sends DNS queries with github.com/miekg/dns to configured
// servers: UDP with EDNS(0), TCP when the answer is truncated. It is the
// only way validation resolves names, so validation sees what the operator
// configured and not what the host's stub resolver (with its caches, search
// domains and /etc/hosts) would say. It is safe for concurrent use.
type Resolver struct {
	servers []string
	timeout time.Duration
}

// NewResolver checks cfg and returns a Resolver.
func NewResolver(cfg ResolverConfig) (*Resolver, error) {
	servers := cfg.Servers
	if len(servers) == 0 {
		sys, err := SystemResolvers()
		if err != nil {
			return nil, err
		}
		servers = sys
	}
	r := &Resolver{timeout: cfg.Timeout}
	if r.timeout == 0 {
		r.timeout = defaultQueryTimeout
	}
	if r.timeout < 0 {
		return nil, fmt.Errorf("validation: resolver timeout %v is negative", r.timeout)
	}
	for _, s := range servers {
		ap, err := parseServer(s)
		if err != nil {
			return nil, err
		}
		r.servers = append(r.servers, ap.String())
	}
	return r, nil
}

// SystemResolvers returns the nameservers of /etc/resolv.conf as
// "ip:port".
func SystemResolvers() ([]string, error) {
	cc, err := dns.ClientConfigFromFile(resolvConfPath)
	if err != nil {
		return nil, fmt.Errorf("validation: no resolvers configured and %s unusable: %w", resolvConfPath, err)
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("validation: no resolvers configured and %s lists no nameserver", resolvConfPath)
	}
	return out, nil
}

func parseServer(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.AddrPortFrom(a, 53), nil
	}
	return netip.AddrPort{}, fmt.Errorf("validation: resolver %q is not an \"ip:port\" address", s)
}

// Servers returns the servers the Resolver asks, in order.
func (r *Resolver) Servers() []string {
	return append([]string(nil), r.servers...)
}

// Lookup returns the records of type qtype at name, following CNAMEs: those
// the server put in the answer and, when the answer stops at a CNAME, by
// asking again for its target (at most maxCNAMEChain links, no loops). An
// existing name without such records returns (nil, nil). Failures are
// *ResolveError.
func (r *Resolver) Lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	qname := dns.CanonicalName(name)
	typ := dns.TypeToString[qtype]
	seen := map[string]bool{qname: true}
	links := 0
	for {
		resp, server, err := r.query(ctx, qname, qtype)
		if err != nil {
			return nil, err
		}
		// Walk the chain the answer section holds, starting at qname.
		target := qname
		for {
			if rrs := recordsAt(resp.Answer, target, qtype); len(rrs) > 0 || qtype == dns.TypeCNAME {
				return rrs, nil
			}
			next := cnameAt(resp.Answer, target)
			if next == "" {
				break
			}
			links++
			if links > maxCNAMEChain || seen[next] {
				return nil, &ResolveError{Name: dns.CanonicalName(name), Type: typ, Server: server,
					Err: fmt.Errorf("%w (at %s -> %s)", ErrCNAMEChain, target, next)}
			}
			seen[next] = true
			target = next
		}
		if target == qname {
			return nil, nil // NOERROR, no data
		}
		qname = target // the answer ended in a CNAME: resolve its target
	}
}

// LookupIP returns the A and AAAA addresses of name, IPv6 first (both
// queries run concurrently). One failed query is tolerated when the other
// returns addresses; an existing name without addresses returns (nil, nil).
func (r *Resolver) LookupIP(ctx context.Context, name string) ([]netip.Addr, error) {
	type result struct {
		rrs []dns.RR
		err error
	}
	var v4, v6 result
	var wg sync.WaitGroup
	wg.Go(func() { v4.rrs, v4.err = r.Lookup(ctx, name, dns.TypeA) })
	wg.Go(func() { v6.rrs, v6.err = r.Lookup(ctx, name, dns.TypeAAAA) })
	wg.Wait()
	var addrs []netip.Addr
	for _, rr := range append(v6.rrs, v4.rrs...) {
		var ip net.IP
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A
		case *dns.AAAA:
			ip = rr.AAAA
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			addrs = append(addrs, a.Unmap())
		}
	}
	if len(addrs) > 0 {
		return addrs, nil
	}
	// An NXDOMAIN is the most precise thing to report, then any failure.
	for _, err := range []error{v4.err, v6.err} {
		if errors.Is(err, ErrNXDomain) {
			return nil, err
		}
	}
	return nil, errors.Join(v4.err, v6.err)
}

// LookupTXT returns the TXT records at name (after CNAMEs), each record's
// strings concatenated.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.Lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range rrs {
		if t, ok := rr.(*dns.TXT); ok {
			var b strings.Builder
			for _, part := range t.Txt {
				b.WriteString(unescapeTXT(part))
			}
			out = append(out, b.String())
		}
	}
	return out, nil
}

// query asks each server in turn for (name, qtype) and returns the first
// NOERROR answer. NXDOMAIN is final; anything else moves to the next server.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, string, error) {
	typ := dns.TypeToString[qtype]
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(ednsUDPSize, false)
	var last *ResolveError
	for _, server := range r.servers {
		if err := ctx.Err(); err != nil {
			break
		}
		resp, err := r.exchange(ctx, server, m)
		switch {
		case err != nil:
			last = &ResolveError{Name: name, Type: typ, Server: server, Err: classify(err)}
		case resp.Rcode == dns.RcodeSuccess:
			return resp, server, nil
		case resp.Rcode == dns.RcodeNameError:
			return nil, server, &ResolveError{Name: name, Type: typ, Server: server, Err: ErrNXDomain}
		default:
			last = &ResolveError{Name: name, Type: typ, Server: server,
				Err: fmt.Errorf("%w (%s)", ErrServerFailure, dns.RcodeToString[resp.Rcode])}
		}
	}
	if last == nil { // the context ended before any server was asked
		last = &ResolveError{Name: name, Type: typ, Err: classify(ctx.Err())}
	}
	return nil, last.Server, last
}

// exchange sends m to one server over UDP, and again over TCP when the UDP
// answer is truncated (RFC 7766 §5).
func (r *Resolver) exchange(ctx context.Context, server string, m *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	resp, err := r.exchangeOver(ctx, "udp", server, m)
	if err == nil && resp.Truncated {
		resp, err = r.exchangeOver(ctx, "tcp", server, m)
	}
	if err != nil {
		return nil, err
	}
	// The ID is checked by miekg/dns; also make sure the answer is about
	// the question asked, so a confused server cannot answer for another
	// name.
	if len(resp.Question) != 1 || !strings.EqualFold(resp.Question[0].Name, m.Question[0].Name) ||
		resp.Question[0].Qtype != m.Question[0].Qtype {
		return nil, fmt.Errorf("%w: answer does not match the question", ErrServerFailure)
	}
	return resp, nil
}

func (r *Resolver) exchangeOver(ctx context.Context, network, server string, m *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: r.timeout, UDPSize: ednsUDPSize}
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// Read deadlines follow the context deadline, but a cancellation
	// without deadline must interrupt the read too.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return resp, err
}

// classify turns an exchange error into one of the sentinel classes.
func classify(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, ErrServerFailure), errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	default:
		return fmt.Errorf("%w: %w", ErrServerFailure, err)
	}
}

// recordsAt returns the records of qtype owned by name.
func recordsAt(rrs []dns.RR, name string, qtype uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == qtype && strings.EqualFold(h.Name, name) {
			out = append(out, rr)
		}
	}
	return out
}

// cnameAt returns the canonical target of name's CNAME in rrs, or "".
func cnameAt(rrs []dns.RR, name string) string {
	for _, rr := range rrs {
		if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, name) {
			return dns.CanonicalName(c.Target)
		}
	}
	return ""
}

// unescapeTXT undoes the presentation-format escaping miekg/dns applies to
// the TXT strings it unpacks (\" \\ and \DDD), giving back the bytes on the
// wire.
func unescapeTXT(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			b.WriteByte((s[i+1]-'0')*100 + (s[i+2]-'0')*10 + (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
