package local

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/acmegate/acmegate/ca"
)

// serverCertValidity is the lifetime of ServerCertificate's certificate. Its
// key lives in memory only, so each start gets a new one; a year outlasts any
// reasonable time between restarts.
const serverCertValidity = 365 * 24 * time.Hour

// ServerCertificate returns a TLS certificate for acmegate's own HTTPS
// listener, naming hosts (DNS names, or IP addresses, bracketed or not), with
// its chain (leaf, intermediate) and a fresh ECDSA P-256 key held only in
// memory. Clients that trust Root can connect.
func (c *CA) ServerCertificate(hosts []string) (*tls.Certificate, error) {
	if len(hosts) == 0 {
		return nil, errors.New("local CA: server certificate needs at least one host")
	}
	ids := make([]ca.Identifier, 0, len(hosts))
	for _, h := range hosts {
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		if addr, err := netip.ParseAddr(h); err == nil {
			ids = append(ids, ca.Identifier{Type: ca.IdentifierIP, Value: addr.Unmap().String()})
			continue
		}
		ids = append(ids, ca.Identifier{Type: ca.IdentifierDNS, Value: strings.ToLower(strings.TrimSuffix(h, "."))})
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("local CA: server key: %w", err)
	}
	notBefore := c.now().Add(-leafBackdate).UTC().Truncate(time.Second)
	notBefore = later(notBefore, c.inter.NotBefore)
	notAfter := notBefore.Add(serverCertValidity)
	if notAfter.After(c.inter.NotAfter) {
		notAfter = c.inter.NotAfter
	}
	leaf, err := c.sign(key.Public(), ids, notBefore, notAfter, false)
	if err != nil {
		return nil, fmt.Errorf("local CA: server certificate: %w", err)
	}
	return &tls.Certificate{
		Certificate: [][]byte{leaf.Raw, c.inter.Raw},
		PrivateKey:  key,
		Leaf:        leaf,
	}, nil
}
