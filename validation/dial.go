package validation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// dialTCP connects to host:port for method ("http-01", "tls-alpn-01"):
// it resolves host once, vets the addresses and dials only those. Failures
// are *Error.
func (v *Validator) dialTCP(ctx context.Context, method, host string, port int) (net.Conn, *Error) {
	addrs, ferr := v.resolveHost(ctx, method, host)
	if ferr != nil {
		return nil, ferr
	}
	usable, ferr := v.usableAddrs(method, host, port, addrs)
	if ferr != nil {
		return nil, ferr
	}
	return v.connect(ctx, method, host, port, usable)
}

// resolveHost returns the addresses of host, a name or an IP literal. Names
// are resolved through the Validator's Resolver, never the system's (with
// its caches, search domains and /etc/hosts).
func (v *Validator) resolveHost(ctx context.Context, method, host string) ([]netip.Addr, *Error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	addrs, err := v.resolver.LookupIP(ctx, host)
	if err != nil {
		return nil, failf(KindDNS, err, "%s: DNS lookup of %s failed: %s", method, host, resolveDetail(err))
	}
	if len(addrs) == 0 {
		return nil, failf(KindDNS, nil, "%s: no A or AAAA records found for %s", method, host)
	}
	return addrs, nil
}

// usableAddrs returns the addresses of host to dial on port, or a
// KindRejectedIdentifier *Error (unwrapping to the first refusal) when
// vetAddrs lets none through.
func (v *Validator) usableAddrs(method, host string, port int, addrs []netip.Addr) ([]netip.Addr, *Error) {
	usable, refused, first := v.vetAddrs(port, addrs)
	if len(usable) == 0 {
		return nil, failf(KindRejectedIdentifier, first, "%s: refusing to connect to %s port %d: %s",
			method, host, port, strings.Join(refused, "; "))
	}
	return usable, nil
}

// vetAddrs picks the addresses to dial on port: the first IPv6 and the
// first IPv4 address that the address filter lets through and that are not
// one of the server's own listening addresses, in that order. Trying at
// most two addresses, as Boulder does, keeps a hostile zone listing
// hundreds of addresses from turning one validation into a scan. refused
// says why the others were refused; first is the first refusal.
func (v *Validator) vetAddrs(port int, addrs []netip.Addr) (usable []netip.Addr, refused []string, first error) {
	var v6, v4 netip.Addr
	for _, a := range addrs {
		if err := v.checkAddr(netip.AddrPortFrom(a, uint16(port))); err != nil {
			refused = append(refused, err.Error())
			if first == nil {
				first = err
			}
			continue
		}
		switch a = a.Unmap(); {
		case a.Is6() && !v6.IsValid():
			v6 = a
		case a.Is4() && !v4.IsValid():
			v4 = a
		}
	}
	for _, a := range []netip.Addr{v6, v4} {
		if a.IsValid() {
			usable = append(usable, a)
		}
	}
	return usable, refused, first
}

// connect dials the vetted addresses in order until one connects. It dials
// IP literals only, so nothing is resolved again between the check and the
// connection (no DNS rebinding); the dialer's Control hook checks the
// socket's address once more as the last line of defence.
func (v *Validator) connect(ctx context.Context, method, host string, port int, addrs []netip.Addr) (net.Conn, *Error) {
	d := net.Dialer{Control: v.controlDial}
	var failures []string
	var lastErr error
	for _, a := range addrs {
		ap := netip.AddrPortFrom(a, uint16(port)).String()
		conn, err := d.DialContext(ctx, "tcp", ap)
		if err == nil {
			return conn, nil
		}
		lastErr = err
		failures = append(failures, ap+": "+netErrDetail(err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, failf(KindConnection, lastErr, "%s: could not connect to %s port %d: %s",
		method, host, port, strings.Join(failures, "; "))
}

// checkAddr returns nil when validation may connect to ap: the address
// filter lets its address through and it is not one of the server's own
// listening addresses.
func (v *Validator) checkAddr(ap netip.AddrPort) error {
	if err := v.filter.Check(ap.Addr()); err != nil {
		return err
	}
	return v.checkSelf(ap)
}

// controlDial re-checks the address a socket is about to connect to.
func (v *Validator) controlDial(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("validation: unexpected dial address %q: %w", address, err)
	}
	return v.checkAddr(ap)
}

// netErrDetail says briefly why a connection failed.
func netErrDetail(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return err.Error()
}

// resolveDetail describes a resolver error for a subscriber.
func resolveDetail(err error) string {
	var re *ResolveError
	if !errors.As(err, &re) {
		return err.Error()
	}
	switch {
	case errors.Is(err, ErrNXDomain):
		return fmt.Sprintf("%s does not exist (NXDOMAIN from %s)", re.Name, re.Server)
	case errors.Is(err, ErrTimeout):
		return fmt.Sprintf("query for %s %s timed out (last server tried %s)", re.Type, re.Name, re.Server)
	}
	// LookupIP joins its A and AAAA errors with a newline.
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
