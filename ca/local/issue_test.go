package local

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/acmegate/acmegate/ca"
)

// issueOK issues a certificate for one DNS name with the default profile.
func issueOK(t *testing.T, c *CA, name string) *x509.Certificate {
	t.Helper()
	res, err := c.Issue(testContext(t), ca.IssueRequest{
		OrderID:     "order-" + name,
		CSR:         newCSR(t, newECKey(t)),
		Identifiers: []ca.Identifier{{Type: ca.IdentifierDNS, Value: name}},
	})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return res.Chain[0]
}

// verifyServerAuth checks that leaf chains to root through inter for TLS
// server authentication of name.
func verifyServerAuth(t *testing.T, root, inter, leaf *x509.Certificate, name string) {
	t.Helper()
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	inters.AddCert(inter)
	_, err := leaf.Verify(x509.VerifyOptions{
		DNSName:       name,
		Roots:         roots,
		Intermediates: inters,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		t.Errorf("leaf does not verify for %s: %v", name, err)
	}
}

func TestIssueChainsVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		disableAlt    bool
		wantAlternate bool
	}{
		{"with alternate chain (default)", false, true},
		{"without alternate chain", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newTestCA(t, Config{DisableAlternateChain: tt.disableAlt})
			res, err := c.Issue(testContext(t), ca.IssueRequest{
				OrderID:     "o1",
				CSR:         newCSR(t, newECKey(t)),
				Identifiers: []ca.Identifier{{Type: ca.IdentifierDNS, Value: "www.example.com"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Pending || res.Ref != "" {
				t.Errorf("Pending=%v Ref=%q, want an immediate issuance without reference", res.Pending, res.Ref)
			}
			if len(res.Chain) != 2 || !res.Chain[1].Equal(c.Intermediate()) {
				t.Fatalf("chain has %d certificates, want leaf + intermediate", len(res.Chain))
			}
			verifyServerAuth(t, c.Root(), c.Intermediate(), res.Chain[0], "www.example.com")
			if !tt.wantAlternate {
				if len(res.Alternates) != 0 {
					t.Errorf("got %d alternate chains, want none", len(res.Alternates))
				}
				return
			}
			if len(res.Alternates) != 1 {
				t.Fatalf("got %d alternate chains, want 1", len(res.Alternates))
			}
			alt := res.Alternates[0]
			if len(alt) != 3 || !alt[0].Equal(res.Chain[0]) || !alt[1].Equal(c.Intermediate()) || !alt[2].Equal(c.Root()) {
				t.Error("alternate chain is not leaf + intermediate + root")
			}
		})
	}
}

func TestIssueNames(t *testing.T) {
	t.Parallel()
	c := newTestCA(t, Config{})
	name70 := strings.Repeat("a", 62) + ".example"
	name64 := strings.Repeat("b", 56) + ".example"
	if len(name70) != 70 || len(name64) != 64 {
		t.Fatalf("test names are %d and %d bytes, want 70 and 64", len(name70), len(name64))
	}
	tests := []struct {
		name    string
		ids     []ca.Identifier
		wantDNS []string
		wantIPs []string
		wantCN  string
	}{
		{"one dns", []ca.Identifier{{Type: "dns", Value: "example.com"}}, []string{"example.com"}, nil, "example.com"},
		{"wildcard as given", []ca.Identifier{{Type: "dns", Value: "*.example.com"}, {Type: "dns", Value: "example.com"}},
			[]string{"*.example.com", "example.com"}, nil, "*.example.com"},
		{"ipv4 only: no CN", []ca.Identifier{{Type: "ip", Value: "192.0.2.7"}}, nil, []string{"192.0.2.7"}, ""},
		{"ipv6 only: no CN", []ca.Identifier{{Type: "ip", Value: "2001:db8::1"}}, nil, []string{"2001:db8::1"}, ""},
		{"mixed, CN is first dns", []ca.Identifier{{Type: "ip", Value: "198.51.100.1"}, {Type: "dns", Value: "a.example"}, {Type: "dns", Value: "b.example"}, {Type: "ip", Value: "::1"}},
			[]string{"a.example", "b.example"}, []string{"198.51.100.1", "::1"}, "a.example"},
		{"64-byte name is the CN", []ca.Identifier{{Type: "dns", Value: name64}}, []string{name64}, nil, name64},
		{"70-byte first name: no CN", []ca.Identifier{{Type: "dns", Value: name70}, {Type: "dns", Value: "short.example"}},
			[]string{name70, "short.example"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := c.Issue(testContext(t), ca.IssueRequest{OrderID: tt.name, CSR: newCSR(t, newECKey(t)), Identifiers: tt.ids})
			if err != nil {
				t.Fatal(err)
			}
			leaf := res.Chain[0]
			if diff := cmp.Diff(tt.wantDNS, leaf.DNSNames); diff != "" {
				t.Errorf("DNS SANs (-want +got):\n%s", diff)
			}
			var gotIPs []string
			for _, ip := range leaf.IPAddresses {
				gotIPs = append(gotIPs, ip.String())
			}
			if diff := cmp.Diff(tt.wantIPs, gotIPs); diff != "" {
				t.Errorf("IP SANs (-want +got):\n%s", diff)
			}
			// The parser keeps the encoded length: 4 octets for IPv4, 16 for IPv6.
			for _, ip := range leaf.IPAddresses {
				want := net.IPv6len
				if strings.Contains(ip.String(), ".") {
					want = net.IPv4len
				}
				if len(ip) != want {
					t.Errorf("IP %s encoded in %d octets, want %d", ip, len(ip), want)
				}
			}
			if leaf.EmailAddresses != nil || leaf.URIs != nil {
				t.Error("unexpected email or URI SANs")
			}
			if leaf.Subject.CommonName != tt.wantCN {
				t.Errorf("CN %q, want %q", leaf.Subject.CommonName, tt.wantCN)
			}
			if len(leaf.Subject.Names) > 1 || (tt.wantCN == "" && len(leaf.Subject.Names) != 0) {
				t.Errorf("subject %v carries more than the CN", leaf.Subject)
			}
			// RFC 5280 §4.2.1.6: with an empty subject the SAN extension is critical.
			if crit := sanCritical(t, leaf); crit != (tt.wantCN == "") {
				t.Errorf("SAN extension critical=%v with CN %q", crit, tt.wantCN)
			}
		})
	}
}

func sanCritical(t *testing.T, c *x509.Certificate) bool {
	t.Helper()
	for _, e := range c.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 17}) {
			return e.Critical
		}
	}
	t.Fatal("no subjectAltName extension")
	return false
}

func TestIssueExtensions(t *testing.T) {
	t.Parallel()
	c := newTestCA(t, Config{})
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		key      crypto.Signer
		keyUsage x509.KeyUsage
	}{
		{"ecdsa", newECKey(t), x509.KeyUsageDigitalSignature},
		{"ed25519", edKey, x509.KeyUsageDigitalSignature},
		{"rsa-2048", rsaKey, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := c.Issue(testContext(t), ca.IssueRequest{
				OrderID:     tt.name,
				CSR:         newCSR(t, tt.key),
				Identifiers: []ca.Identifier{{Type: "dns", Value: "ext.example"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			leaf := res.Chain[0]
			if !publicKeysEqual(tt.key.Public(), leaf.PublicKey) {
				t.Error("leaf public key is not the CSR's")
			}
			if leaf.KeyUsage != tt.keyUsage {
				t.Errorf("key usage %b, want %b", leaf.KeyUsage, tt.keyUsage)
			}
			if !leaf.BasicConstraintsValid || leaf.IsCA {
				t.Errorf("basic constraints valid=%v CA=%v, want CA:false present", leaf.BasicConstraintsValid, leaf.IsCA)
			}
			if want := spkiSHA1(t, leaf); !bytes.Equal(leaf.SubjectKeyId, want) {
				t.Errorf("SKI %x, want SHA-1 of the public key %x", leaf.SubjectKeyId, want)
			}
			if len(leaf.AuthorityKeyId) == 0 || !bytes.Equal(leaf.AuthorityKeyId, c.Intermediate().SubjectKeyId) {
				t.Errorf("AKI %x, want intermediate SKI %x", leaf.AuthorityKeyId, c.Intermediate().SubjectKeyId)
			}
			verifyServerAuth(t, c.Root(), c.Intermediate(), leaf, "ext.example")
		})
	}
}

// spkiSHA1 is RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits.
func spkiSHA1(t *testing.T, c *x509.Certificate) []byte {
	t.Helper()
	var spki struct {
		Algorithm asn1.RawValue
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:]
}

func TestIssueProfiles(t *testing.T) {
	t.Parallel()
	profiles := []ca.Profile{
		{Name: "server", Description: "TLS server"},
		{Name: "mtls", Description: "server and client", ClientAuth: true, Validity: 7 * 24 * time.Hour},
	}
	c := newTestCA(t, Config{Profiles: profiles, Validity: 30 * 24 * time.Hour})
	got, err := c.Profiles(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []ca.Profile{
		{Name: "server", Description: "TLS server", Validity: 30 * 24 * time.Hour},
		{Name: "mtls", Description: "server and client", ClientAuth: true, Validity: 7 * 24 * time.Hour},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Profiles (-want +got):\n%s", diff)
	}
	got[0].Name = "mutated"
	if again, _ := c.Profiles(testContext(t)); again[0].Name != "server" {
		t.Error("Profiles returned the CA's own slice")
	}

	tests := []struct {
		profile      string
		wantEKU      []x509.ExtKeyUsage
		wantValidity time.Duration
	}{
		{"", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, 30 * 24 * time.Hour},
		{"server", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, 30 * 24 * time.Hour},
		{"mtls", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, 7 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run("profile "+tt.profile, func(t *testing.T) {
			t.Parallel()
			res, err := c.Issue(testContext(t), ca.IssueRequest{
				OrderID:     "p-" + tt.profile,
				CSR:         newCSR(t, newECKey(t)),
				Identifiers: []ca.Identifier{{Type: "dns", Value: "p.example"}},
				Profile:     tt.profile,
			})
			if err != nil {
				t.Fatal(err)
			}
			leaf := res.Chain[0]
			if diff := cmp.Diff(tt.wantEKU, leaf.ExtKeyUsage); diff != "" {
				t.Errorf("EKU (-want +got):\n%s", diff)
			}
			if got := leaf.NotAfter.Sub(leaf.NotBefore); got != tt.wantValidity {
				t.Errorf("validity %s, want %s", got, tt.wantValidity)
			}
		})
	}

	t.Run("default profile", func(t *testing.T) {
		t.Parallel()
		c := newTestCA(t, Config{})
		got, err := c.Profiles(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Name != "default" || got[0].Validity != 2160*time.Hour || got[0].ClientAuth {
			t.Errorf("default profiles %+v, want one server-only profile \"default\" of 2160h", got)
		}
	})
}

func TestIssueValidity(t *testing.T) {
	t.Parallel()
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	c := newTestCA(t, Config{
		Clock: fixedClock(now),
		Profiles: []ca.Profile{
			{Name: "default"},
			{Name: "long", Validity: 10 * 365 * 24 * time.Hour},
		},
	})
	const day = 24 * time.Hour
	tests := []struct {
		name                string
		profile             string
		notBefore, notAfter time.Time
		wantBefore          time.Time
		wantAfter           time.Time
		wantErr             string
	}{
		{name: "default: backdated a minute, 90 days",
			wantBefore: now.Add(-time.Minute), wantAfter: now.Add(-time.Minute).Add(90 * day)},
		{name: "requested window honoured", notBefore: now.Add(day), notAfter: now.Add(31 * day),
			wantBefore: now.Add(day), wantAfter: now.Add(31 * day)},
		{name: "requested start only", notBefore: now.Add(-30 * time.Minute),
			wantBefore: now.Add(-30 * time.Minute), wantAfter: now.Add(90*day - 30*time.Minute)},
		{name: "requested end only", notAfter: now.Add(10 * day),
			wantBefore: now.Add(-time.Minute), wantAfter: now.Add(10 * day)},
		{name: "requested end at the profile's limit gives up backdating", notAfter: now.Add(90 * day),
			wantBefore: now, wantAfter: now.Add(90 * day)},
		{name: "sub-second request truncated", notBefore: now.Add(500 * time.Millisecond), notAfter: now.Add(2*day + 700*time.Millisecond),
			wantBefore: now, wantAfter: now.Add(2 * day)},
		{name: "requested end beyond the profile", notAfter: now.Add(91 * day), wantErr: "longer than"},
		{name: "requested window longer than the profile", notBefore: now, notAfter: now.Add(90*day + time.Second), wantErr: "longer than"},
		{name: "end before start", notBefore: now.Add(2 * day), notAfter: now.Add(day), wantErr: "is not after notBefore"},
		{name: "end in the past", notBefore: now.Add(-3 * day), notAfter: now.Add(-day), wantErr: "in the past"},
		{name: "beyond the intermediate", profile: "long", notAfter: now.AddDate(6, 0, 0), wantErr: "issuing CA's expiry"},
		{name: "before the intermediate", notBefore: now.Add(-2 * time.Hour), notAfter: now.Add(day), wantErr: "issuing CA's start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := c.Issue(testContext(t), ca.IssueRequest{
				OrderID:     tt.name,
				CSR:         newCSR(t, newECKey(t)),
				Identifiers: []ca.Identifier{{Type: "dns", Value: "v.example"}},
				Profile:     tt.profile,
				NotBefore:   tt.notBefore,
				NotAfter:    tt.notAfter,
			})
			if tt.wantErr != "" {
				if !errors.Is(err, ca.Rejected) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Issue error %v, want a Rejected error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			leaf := res.Chain[0]
			if !leaf.NotBefore.Equal(tt.wantBefore) || !leaf.NotAfter.Equal(tt.wantAfter) {
				t.Errorf("validity [%v, %v], want [%v, %v]", leaf.NotBefore, leaf.NotAfter, tt.wantBefore, tt.wantAfter)
			}
		})
	}
}

func TestIssueRejects(t *testing.T) {
	t.Parallel()
	c := newTestCA(t, Config{})
	csr := newCSR(t, newECKey(t))
	dns := []ca.Identifier{{Type: "dns", Value: "ok.example"}}
	tests := []struct {
		name string
		req  ca.IssueRequest
		want string
	}{
		{"unknown profile", ca.IssueRequest{CSR: csr, Identifiers: dns, Profile: "gold"}, `no profile "gold"`},
		{"no CSR", ca.IssueRequest{Identifiers: dns}, "no certificate signing request"},
		{"no identifiers", ca.IssueRequest{CSR: csr}, "no identifiers"},
		{"empty dns", ca.IssueRequest{CSR: csr, Identifiers: []ca.Identifier{{Type: "dns"}}}, "empty DNS identifier"},
		{"unknown type", ca.IssueRequest{CSR: csr, Identifiers: []ca.Identifier{{Type: "email", Value: "a@b.example"}}}, "unsupported identifier type"},
		{"bad ip", ca.IssueRequest{CSR: csr, Identifiers: []ca.Identifier{{Type: "ip", Value: "300.1.1.1"}}}, "not a plain"},
		{"ipv4-mapped ipv6", ca.IssueRequest{CSR: csr, Identifiers: []ca.Identifier{{Type: "ip", Value: "::ffff:192.0.2.1"}}}, "not a plain"},
		{"ip with zone", ca.IssueRequest{CSR: csr, Identifiers: []ca.Identifier{{Type: "ip", Value: "fe80::1%eth0"}}}, "not a plain"},
		{"unsupported key", ca.IssueRequest{CSR: &x509.CertificateRequest{PublicKey: "not a key"}, Identifiers: dns}, "unsupported public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Issue(testContext(t), tt.req)
			if err == nil {
				t.Fatal("Issue succeeded")
			}
			if ca.KindOf(err) != ca.Rejected || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Issue error %v (kind %v), want Rejected containing %q", err, ca.KindOf(err), tt.want)
			}
		})
	}

	t.Run("cancelled context is temporary", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Issue(ctx, ca.IssueRequest{CSR: csr, Identifiers: dns})
		if !errors.Is(err, context.Canceled) || ca.KindOf(err).Permanent() {
			t.Errorf("Issue error %v, want a temporary context.Canceled", err)
		}
	})
}

func TestIssueSerials(t *testing.T) {
	t.Parallel()
	c := newTestCA(t, Config{})
	csr := newCSR(t, newECKey(t))
	seen := make(map[string]bool)
	maxSerial := new(big.Int).Lsh(big.NewInt(1), 128)
	var longest int
	for i := range 100 {
		res, err := c.Issue(testContext(t), ca.IssueRequest{
			OrderID:     "serial",
			CSR:         csr,
			Identifiers: []ca.Identifier{{Type: "dns", Value: "serial.example"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		sn := res.Chain[0].SerialNumber
		if sn.Sign() <= 0 || sn.Cmp(maxSerial) >= 0 {
			t.Fatalf("serial %d: %x is not in (0, 2^128)", i, sn)
		}
		if seen[sn.String()] {
			t.Fatalf("serial %x repeated", sn)
		}
		seen[sn.String()] = true
		longest = max(longest, sn.BitLen())
	}
	// 100 draws of 128 random bits all shorter than 120 bits has probability 2^-800.
	if longest < 120 {
		t.Errorf("longest of 100 serials has %d bits: serials are not 128 random bits", longest)
	}
}

func TestPollAndRevoke(t *testing.T) {
	t.Parallel()
	c := newTestCA(t, Config{})
	if c.Name() != "local" {
		t.Errorf("Name = %q, want local", c.Name())
	}
	_, err := c.Poll(testContext(t), "anything")
	if ca.KindOf(err) != ca.Unsupported || !strings.Contains(err.Error(), "local CA has nothing to poll") {
		t.Errorf("Poll error %v, want Unsupported \"local CA has nothing to poll\"", err)
	}
	leaf := issueOK(t, c, "revoke.example")
	if err := c.Revoke(testContext(t), leaf, ca.ReasonKeyCompromise); err != nil {
		t.Errorf("Revoke: %v", err)
	}
	if err := c.Revoke(testContext(t), leaf, 7); ca.KindOf(err) != ca.Rejected {
		t.Errorf("Revoke with reason 7: %v, want Rejected", err)
	}
}
