package validation

import (
	"fmt"
	"net"
	"net/netip"
)

// SelfAddressError is an address validation refused because this server
// listens on it: a challenge or a redirect must not make the server send
// requests to itself, whatever Config.AllowedNetworks allows.
type SelfAddressError struct {
	// AddrPort is the address and port refused.
	AddrPort netip.AddrPort
	// Listener is the entry of Config.ServerAddresses it matched, such as
	// 0.0.0.0:443.
	Listener netip.AddrPort
}

// Error implements error.
func (e *SelfAddressError) Error() string {
	if e.Listener.Addr().IsUnspecified() {
		return fmt.Sprintf("%s is a local address of this server, which listens on port %d of every address", e.AddrPort, e.Listener.Port())
	}
	return fmt.Sprintf("%s is an address this server listens on", e.AddrPort)
}

// checkSelf returns a *SelfAddressError when ap is one of the server's own
// listening addresses (Config.ServerAddresses).
func (v *Validator) checkSelf(ap netip.AddrPort) error {
	a := ap.Addr().WithZone("").Unmap()
	for _, s := range v.self {
		if s.Port() != ap.Port() {
			continue
		}
		if s.Addr() == a || s.Addr().IsUnspecified() && isLocalAddr(a) {
			return &SelfAddressError{AddrPort: netip.AddrPortFrom(a, ap.Port()), Listener: s}
		}
	}
	return nil
}

// isLocalAddr reports whether a is an address of this host: loopback, or
// assigned to one of its interfaces. Interfaces are listed at each call
// (addresses come and go); when they cannot be listed the answer is yes, so
// the check fails closed.
func isLocalAddr(a netip.Addr) bool {
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return true
	}
	for _, ia := range ifAddrs {
		n, ok := ia.(*net.IPNet)
		if !ok {
			continue
		}
		if b, ok := netip.AddrFromSlice(n.IP); ok && b.Unmap() == a {
			return true
		}
	}
	return false
}
