package main

import (
	"net"
	"net/netip"
	"slices"
	"testing"
)

func TestServerAddresses(t *testing.T) {
	acmeAddr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 14000}
	cases := []struct {
		name  string
		admin AdminConfig
		want  []string
	}{
		{"own admin listener", AdminConfig{Listen: "127.0.0.1:14001"}, []string{"127.0.0.1:14000", "127.0.0.1:14001"}},
		{"admin off", AdminConfig{Listen: adminOff}, []string{"127.0.0.1:14000"}},
		{"admin on the ACME listener", AdminConfig{Listen: "127.0.0.1:14001", OnACMEListener: true}, []string{"127.0.0.1:14000"}},
		{"admin on a random port", AdminConfig{Listen: "127.0.0.1:0"}, []string{"127.0.0.1:14000"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := serverAddresses(&Config{Admin: c.admin}, acmeAddr)
			var want []netip.AddrPort
			for _, w := range c.want {
				want = append(want, netip.MustParseAddrPort(w))
			}
			if !slices.Equal(got, want) {
				t.Errorf("serverAddresses = %v, want %v", got, want)
			}
		})
	}
}
