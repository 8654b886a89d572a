package policy

import "net/netip"

// wellFormedIP checks an ip identifier value and returns it in canonical
// text form. RFC 8738 §3 asks for the RFC 1123 §2.1 dotted-decimal form of
// an IPv4 address and the RFC 5952 §4 form of an IPv6 address; a parseable
// but non-canonical spelling ("2001:DB8:0::1") is accepted and rewritten,
// as upper-case DNS names are.
func wellFormedIP(value string) (string, *Error) {
	// netip accepts exactly the textual forms above, and refuses leading
	// zeros in IPv4 octets, which some resolvers read as octal.
	addr, err := netip.ParseAddr(value)
	if err != nil {
		return "", newError(KindMalformed, "%q is not a valid IP address", value)
	}
	// A zone ("fe80::1%eth0") names an interface of one host; it has no
	// meaning to anyone else and cannot appear in an iPAddress SAN.
	if addr.Zone() != "" {
		return "", newError(KindMalformed, "the IP address must not carry a zone")
	}
	// An IPv4-mapped IPv6 address is an IPv4 address in disguise; letting
	// both spellings through would let one address be certified under two
	// identifiers.
	if addr.Is4In6() {
		return "", newError(KindMalformed, "IPv4-mapped IPv6 addresses are not accepted; request %q instead", addr.Unmap().String())
	}
	return addr.String(), nil
}
