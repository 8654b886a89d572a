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

// dialTCP connects to host:port for method ("http-01", "tls-alpn-01").
// host is a name or an IP literal. Names are resolved through the
// Validator's Resolver, never the system's; every address is checked by the
// address filter before it is dialed, and again by the dialer's Control hook
// on the socket actually connected, so no later re-resolution (DNS
// rebinding) can reach a refused address. Addresses are tried in order,
// IPv6 first, until one connects. Failures are *Error.
func (v *Validator) dialTCP(ctx context.Context, method, host string, port int) (net.Conn, *Error) {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		resolved, err := v.resolver.LookupIP(ctx, host)
		if err != nil {
			return nil, failf(KindDNS, err, "%s: DNS lookup of %s failed: %s", method, host, resolveDetail(err))
		}
		if len(resolved) == 0 {
			return nil, failf(KindDNS, nil, "%s: no A or AAAA records found for %s", method, host)
		}
		addrs = resolved
	}

	var usable []netip.Addr
	var refused []string
	var firstRefusal error
	for _, a := range addrs {
		if err := v.filter.Check(a); err != nil {
			refused = append(refused, err.Error())
			if firstRefusal == nil {
				firstRefusal = err
			}
			continue
		}
		usable = append(usable, a)
	}
	if len(usable) == 0 {
		return nil, failf(KindRejectedIdentifier, firstRefusal, "%s: refusing to connect to %s port %d: %s",
			method, host, port, strings.Join(refused, "; "))
	}

	d := net.Dialer{Control: v.controlDial}
	var failures []string
	var lastErr error
	for _, a := range usable {
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
	if len(refused) > 0 {
		failures = append(failures, "refused by the address filter: "+strings.Join(refused, "; "))
	}
	return nil, failf(KindConnection, lastErr, "%s: could not connect to %s port %d: %s",
		method, host, port, strings.Join(failures, "; "))
}

// controlDial re-checks the address a socket is about to connect to.
func (v *Validator) controlDial(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("validation: unexpected dial address %q: %w", address, err)
	}
	return v.filter.Check(ap.Addr())
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
