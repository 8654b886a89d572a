package validation

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestAddressFilter(t *testing.T) {
	internal := []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("fd12:3456::/32"),
		netip.MustParsePrefix("::ffff:192.168.7.0/120")}
	tests := []struct {
		addr    string
		allowed []netip.Prefix
		// reason is "" when the address must pass, else a substring of
		// the refusal.
		reason string
	}{
		{addr: "93.184.215.14"},
		{addr: "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		{addr: "0.0.0.0", reason: "this network"},
		{addr: "10.1.2.3", reason: "private (RFC 1918) 10.0.0.0/8"},
		{addr: "100.64.0.1", reason: "CGNAT"},
		{addr: "100.128.0.1"}, // just past 100.64.0.0/10
		{addr: "127.0.0.1", reason: "loopback"},
		{addr: "127.255.255.254", reason: "loopback"},
		{addr: "169.254.169.254", reason: "link-local"}, // cloud metadata
		{addr: "172.16.0.1", reason: "private"},
		{addr: "172.31.255.255", reason: "private"},
		{addr: "172.32.0.1"},
		{addr: "192.0.0.8", reason: "IETF protocol assignments"},
		{addr: "192.0.2.1", reason: "TEST-NET-1"},
		{addr: "192.88.99.1", reason: "6to4 relay"},
		{addr: "192.168.0.1", reason: "private"},
		{addr: "198.18.0.1", reason: "benchmarking"},
		{addr: "198.51.100.1", reason: "TEST-NET-2"},
		{addr: "203.0.113.1", reason: "TEST-NET-3"},
		{addr: "224.0.0.1", reason: "multicast"},
		{addr: "255.255.255.255", reason: "reserved and broadcast"},
		{addr: "::", reason: "unspecified"},
		{addr: "::1", reason: "loopback"},
		{addr: "::ffff:127.0.0.1", reason: "127.0.0.1 is loopback"},
		{addr: "::ffff:93.184.215.14"},
		{addr: "64:ff9b::5db8:d70e"}, // NAT64 of 93.184.215.14
		{addr: "64:ff9b::a00:1", reason: "64:ff9b::a00:1 is NAT64 (RFC 6052) of 10.0.0.1, which is private (RFC 1918) 10.0.0.0/8, not in the allowed networks"},
		{addr: "64:ff9b:1::1", reason: "local-use NAT64"},
		{addr: "100::1", reason: "discard-only"},
		{addr: "2001::1", reason: "Teredo"},
		{addr: "2001:db8::1", reason: "documentation"},
		{addr: "2002:a00:1::1", reason: "6to4"},
		{addr: "3fff::1", reason: "documentation"},
		{addr: "fc00::1", reason: "unique local"},
		{addr: "fd00::2", reason: "unique local"},
		{addr: "fe80::1", reason: "link-local"},
		{addr: "fe80::1%eth0", reason: "link-local"},
		{addr: "fec0::1", reason: "site-local"},
		{addr: "ff02::1", reason: "multicast"},
		{addr: "4000::1", reason: "outside IPv6 global unicast space"},
		// Allowed networks open exactly their range.
		{addr: "10.20.1.1", allowed: internal},
		{addr: "10.21.1.1", allowed: internal, reason: "private"},
		{addr: "fd12:3456::1", allowed: internal},
		{addr: "fd12:3457::1", allowed: internal, reason: "unique local"},
		{addr: "::ffff:10.20.1.1", allowed: internal},
		{addr: "192.168.7.9", allowed: internal},      // allowed as an IPv4-mapped prefix
		{addr: "64:ff9b::a14:101", allowed: internal}, // NAT64 of 10.20.1.1
		{addr: "127.0.0.1", allowed: loopback()},
		{addr: "::1", allowed: loopback()},
		{addr: "::2", allowed: loopback(), reason: "outside IPv6 global unicast space"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			f, err := NewAddressFilter(tc.allowed)
			if err != nil {
				t.Fatal(err)
			}
			err = f.Check(netip.MustParseAddr(tc.addr))
			switch {
			case tc.reason == "" && err != nil:
				t.Errorf("Check(%s) = %v, want allowed", tc.addr, err)
			case tc.reason != "" && err == nil:
				t.Errorf("Check(%s) allowed, want refused (%s)", tc.addr, tc.reason)
			case tc.reason != "":
				var ae *AddressError
				if !errors.As(err, &ae) {
					t.Fatalf("Check(%s) = %T, want *AddressError", tc.addr, err)
				}
				if !strings.Contains(err.Error(), tc.reason) {
					t.Errorf("Check(%s) = %q, want it to mention %q", tc.addr, err, tc.reason)
				}
			}
		})
	}
	if _, err := NewAddressFilter([]netip.Prefix{{}}); err == nil {
		t.Error("NewAddressFilter accepted an invalid prefix")
	}
}

// TestDialControl checks the last line of defence: the socket-level hook
// refuses what the filter refuses, whatever address reached the dialer.
func TestDialControl(t *testing.T) {
	v := newValidator(t, "127.0.0.1:53", true, Config{})
	for addr, ok := range map[string]bool{
		"127.0.0.1:80":       true,
		"[::1]:443":          true,
		"10.0.0.1:80":        false,
		"[fe80::1%lo]:80":    false,
		"169.254.169.254:80": false,
		"not an address":     false,
	} {
		if err := v.controlDial("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("controlDial(%q) = %v, want allowed=%v", addr, err, ok)
		}
	}
}
