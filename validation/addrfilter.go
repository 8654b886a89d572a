package validation

import (
	"fmt"
	"net/netip"
)

// specialRange is an address block validation refuses by default.
type specialRange struct {
	prefix netip.Prefix
	name   string
}

// specialRanges lists the blocks that are not globally reachable unicast
// space (IANA IPv4 and IPv6 Special-Purpose Address Registries, RFC 6890),
// plus multicast and the blocks that embed an IPv4 address validation could
// not check (6to4, Teredo).
func specialRanges() []specialRange {
	var out []specialRange
	add := func(p, name string) {
		out = append(out, specialRange{netip.MustParsePrefix(p), name})
	}
	// IPv4.
	add("0.0.0.0/8", "\"this network\" (RFC 791)")
	add("10.0.0.0/8", "private (RFC 1918)")
	add("100.64.0.0/10", "shared address space / CGNAT (RFC 6598)")
	add("127.0.0.0/8", "loopback (RFC 1122)")
	add("169.254.0.0/16", "link-local (RFC 3927)")
	add("172.16.0.0/12", "private (RFC 1918)")
	add("192.0.0.0/24", "IETF protocol assignments (RFC 6890)")
	add("192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)")
	add("192.88.99.0/24", "6to4 relay anycast (RFC 7526)")
	add("192.168.0.0/16", "private (RFC 1918)")
	add("198.18.0.0/15", "benchmarking (RFC 2544)")
	add("198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)")
	add("203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)")
	add("224.0.0.0/4", "multicast (RFC 5771)")
	add("240.0.0.0/4", "reserved and broadcast (RFC 1112, RFC 919)")
	// IPv6.
	add("::/128", "unspecified (RFC 4291)")
	add("::1/128", "loopback (RFC 4291)")
	add("64:ff9b:1::/48", "local-use NAT64 (RFC 8215)")
	add("100::/64", "discard-only (RFC 6666)")
	add("2001::/23", "IETF protocol assignments, including Teredo (RFC 2928, RFC 4380)")
	add("2001:db8::/32", "documentation (RFC 3849)")
	add("2002::/16", "6to4 (RFC 3056)")
	add("3fff::/20", "documentation (RFC 9637)")
	add("fc00::/7", "unique local (RFC 4193)")
	add("fe80::/10", "link-local (RFC 4291)")
	add("fec0::/10", "site-local (RFC 3879)")
	add("ff00::/8", "multicast (RFC 4291)")
	return out
}

// AddressFilter is the SSRF guard: it decides whether validation may connect
// to an address. Only globally reachable unicast addresses pass, unless the
// address lies in one of the allowed networks (a private CA validating
// internal hosts). It is immutable and safe for concurrent use.
type AddressFilter struct {
	allowed []netip.Prefix
	special []specialRange
}

// NewAddressFilter returns a filter that also lets through the addresses in
// allowed.
func NewAddressFilter(allowed []netip.Prefix) (*AddressFilter, error) {
	f := &AddressFilter{special: specialRanges()}
	for _, p := range allowed {
		if !p.IsValid() {
			return nil, fmt.Errorf("validation: allowed network %v is not a valid prefix", p)
		}
		// An IPv4-mapped prefix means the IPv4 range: addresses are
		// unmapped before they are checked.
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		f.allowed = append(f.allowed, p.Masked())
	}
	return f, nil
}

// AddressError is an address the filter refused.
type AddressError struct {
	Addr netip.Addr
	// Reason names the block the address is in, such as
	// "loopback (RFC 1122) 127.0.0.0/8".
	Reason string
}

// Error implements error.
func (e *AddressError) Error() string {
	return fmt.Sprintf("%s is %s, not in the allowed networks", e.Addr, e.Reason)
}

// Check returns nil when validation may connect to a, else an
// *AddressError saying why not.
func (f *AddressFilter) Check(a netip.Addr) error {
	a = a.WithZone("") // a zone only matters for link-local, refused below
	if !a.IsValid() {
		return &AddressError{Addr: a, Reason: "not a valid address"}
	}
	// An IPv4-mapped IPv6 address reaches the IPv4 host: judge that.
	a = a.Unmap()
	if f.allowedNet(a) {
		return nil
	}
	// NAT64 (RFC 6052 §2.1) reaches the embedded IPv4 address: judge that,
	// so 64:ff9b::a00:1 is no way around the ban on 10.0.0.1.
	if nat64 := netip.MustParsePrefix("64:ff9b::/96"); nat64.Contains(a) {
		b := a.As16()
		v4 := netip.AddrFrom4([4]byte(b[12:]))
		if err := f.Check(v4); err != nil {
			return &AddressError{Addr: a, Reason: fmt.Sprintf("NAT64 (RFC 6052) of %s, which is %s", v4, err.(*AddressError).Reason)}
		}
		return nil
	}
	for _, s := range f.special {
		if s.prefix.Contains(a) {
			return &AddressError{Addr: a, Reason: s.name + " " + s.prefix.String()}
		}
	}
	// RFC 4291 §2.4: global unicast is 2000::/3; the rest of the IPv6 space
	// is reserved or special.
	if a.Is6() && !netip.MustParsePrefix("2000::/3").Contains(a) {
		return &AddressError{Addr: a, Reason: "outside IPv6 global unicast space 2000::/3"}
	}
	return nil
}

func (f *AddressFilter) allowedNet(a netip.Addr) bool {
	for _, p := range f.allowed {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
