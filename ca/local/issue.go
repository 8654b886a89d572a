package local

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"math/big"
	"net/netip"
	"time"

	"go.step.sm/crypto/x509util"

	"github.com/acmegate/acmegate/ca"
)

// leafBackdate starts a leaf's validity a minute before it is signed: a
// client whose clock is a little behind the CA's would otherwise reject a
// certificate it has just received as not yet valid.
const leafBackdate = time.Minute

// Issue signs a certificate for req right away; the result is never Pending.
//
// The local CA keeps no record of what it signed, so it cannot recognise a
// retried OrderID: a retry signs a new certificate. That is harmless here, as
// a certificate the caller failed to record was never delivered, logged or
// published anywhere, unlike a certificate an upstream CA issued.
func (c *CA) Issue(ctx context.Context, req ca.IssueRequest) (ca.IssueResult, error) {
	if err := ctx.Err(); err != nil {
		return ca.IssueResult{}, err
	}
	prof, err := c.profile(req.Profile)
	if err != nil {
		return ca.IssueResult{}, err
	}
	if req.CSR == nil {
		return ca.IssueResult{}, ca.Errorf(ca.Rejected, "no certificate signing request")
	}
	notBefore, notAfter, err := c.validity(prof, req.NotBefore, req.NotAfter)
	if err != nil {
		return ca.IssueResult{}, err
	}
	leaf, err := c.sign(req.CSR.PublicKey, req.Identifiers, notBefore, notAfter, prof.ClientAuth)
	if err != nil {
		return ca.IssueResult{}, err
	}
	res := ca.IssueResult{Chain: []*x509.Certificate{leaf, c.inter}}
	if c.alternate {
		res.Alternates = [][]*x509.Certificate{{leaf, c.inter, c.root}}
	}
	return res, nil
}

// validity works out the leaf's validity window under prof, refusing (ca.Rejected)
// what the profile or the intermediate cannot cover.
func (c *CA) validity(prof ca.Profile, reqNotBefore, reqNotAfter time.Time) (notBefore, notAfter time.Time, err error) {
	now := c.now()
	// Certificates carry whole seconds; truncating first keeps the checks
	// below true of the encoded certificate.
	notBefore = reqNotBefore.UTC().Truncate(time.Second)
	if reqNotBefore.IsZero() {
		notBefore = now.Add(-leafBackdate).UTC().Truncate(time.Second)
		notBefore = later(notBefore, c.inter.NotBefore)
	}
	notAfter = reqNotAfter.UTC().Truncate(time.Second)
	switch {
	case reqNotAfter.IsZero():
		notAfter = notBefore.Add(prof.Validity)
	case reqNotBefore.IsZero() && notAfter.Sub(notBefore) > prof.Validity:
		// Only the end was requested: give up some of the backdating rather
		// than exceed the profile. The check below still refuses an end
		// further than the profile's validity from now.
		notBefore = later(notAfter.Add(-prof.Validity), notBefore)
		if notBefore.After(now) {
			notBefore = now.UTC().Truncate(time.Second)
		}
	}

	switch {
	case !notAfter.After(notBefore):
		return notBefore, notAfter, ca.Errorf(ca.Rejected, "notAfter %s is not after notBefore %s", stamp(notAfter), stamp(notBefore))
	case notAfter.Sub(notBefore) > prof.Validity:
		return notBefore, notAfter, ca.Errorf(ca.Rejected, "the requested validity of %s is longer than the %s allowed by profile %q",
			notAfter.Sub(notBefore), prof.Validity, prof.Name)
	case !notAfter.After(now):
		return notBefore, notAfter, ca.Errorf(ca.Rejected, "notAfter %s is in the past", stamp(notAfter))
	case notAfter.After(c.inter.NotAfter):
		// RFC 5280 §6.1.3: a certificate outliving its issuer fails path
		// validation after the issuer expires.
		return notBefore, notAfter, ca.Errorf(ca.Rejected, "notAfter %s is later than the issuing CA's expiry %s", stamp(notAfter), stamp(c.inter.NotAfter))
	case notBefore.Before(c.inter.NotBefore):
		return notBefore, notAfter, ca.Errorf(ca.Rejected, "notBefore %s is earlier than the issuing CA's start %s", stamp(notBefore), stamp(c.inter.NotBefore))
	}
	return notBefore, notAfter, nil
}

// sign issues a leaf for pub naming exactly ids.
//
// The leaf is built as an x509util.Certificate, the structure smallstep's
// JSON templates decode into, rather than by rendering a text template: every
// field here is computed, none is operator-supplied text, and rendering and
// re-parsing JSON would only add work to every issuance.
func (c *CA) sign(pub crypto.PublicKey, ids []ca.Identifier, notBefore, notAfter time.Time, clientAuth bool) (*x509.Certificate, error) {
	// Key policy (sizes, curves) is the caller's; this only refuses what
	// cannot go into a certificate, and picks the key usages by algorithm.
	// RFC 5280 §4.2.1.3 and CA/B Forum BR §7.1.2.7.11: keyEncipherment only
	// for RSA, whose keys TLS 1.2 RSA key exchange encrypts to.
	keyUsage := x509.KeyUsageDigitalSignature
	switch pub.(type) {
	case *rsa.PublicKey:
		keyUsage |= x509.KeyUsageKeyEncipherment
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, ca.Errorf(ca.Rejected, "unsupported public key type %T", pub)
	}
	sans, commonName, err := subjectAltNames(ids)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	// RFC 5280 §4.2.1.2: the key identifier derived from the public key.
	ski, err := x509util.GenerateSubjectKeyID(pub)
	if err != nil {
		return nil, ca.Errorf(ca.Rejected, "cannot encode the CSR's public key: %v", err)
	}
	eku := x509util.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if clientAuth {
		eku = append(eku, x509.ExtKeyUsageClientAuth)
	}
	cert := &x509util.Certificate{
		// Subject: only the CN, only from a validated identifier. Without a
		// CN the subject is empty and Go marks the subjectAltName extension
		// critical, as RFC 5280 §4.2.1.6 requires.
		Subject:      x509util.Subject{CommonName: commonName},
		SANs:         sans,
		SerialNumber: x509util.SerialNumber{Int: serial},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509util.KeyUsage(keyUsage),
		ExtKeyUsage:  eku,
		SubjectKeyID: x509util.SubjectKeyID(ski),
		// RFC 5280 §4.2.1.1: the issuer's subject key identifier.
		AuthorityKeyID:   x509util.AuthorityKeyID(c.inter.SubjectKeyId),
		BasicConstraints: &x509util.BasicConstraints{IsCA: false},
		PublicKey:        pub,
	}
	leaf, err := x509util.CreateCertificate(cert.GetCertificate(), c.inter, pub, c.interKey)
	if err != nil {
		return nil, fmt.Errorf("local CA: sign certificate: %w", err)
	}
	return leaf, nil
}

// subjectAltNames turns validated identifiers into SAN entries, in the order
// given, and picks the subject CN: the first DNS identifier, unless it is
// longer than ub-common-name (RFC 5280 Appendix A.1, 64), in which case there
// is no CN (CA/B Forum BR §7.1.4.3: the CN, if present, must repeat a SAN).
func subjectAltNames(ids []ca.Identifier) ([]x509util.SubjectAlternativeName, string, error) {
	if len(ids) == 0 {
		return nil, "", ca.Errorf(ca.Rejected, "no identifiers to certify")
	}
	sans := make([]x509util.SubjectAlternativeName, 0, len(ids))
	commonName, sawDNS := "", false
	for _, id := range ids {
		switch id.Type {
		case ca.IdentifierDNS:
			if id.Value == "" {
				return nil, "", ca.Errorf(ca.Rejected, "empty DNS identifier")
			}
			if !sawDNS && len(id.Value) <= maxCommonNameLen {
				commonName = id.Value
			}
			sawDNS = true
			sans = append(sans, x509util.SubjectAlternativeName{Type: x509util.DNSType, Value: id.Value})
		case ca.IdentifierIP:
			addr, err := netip.ParseAddr(id.Value)
			// An IPv4-mapped IPv6 address would be encoded as the plain IPv4
			// address, and a zone cannot be encoded at all: either way the
			// certificate would not name exactly what was validated.
			if err != nil || addr.Zone() != "" || addr.Is4In6() {
				return nil, "", ca.Errorf(ca.Rejected, "IP identifier %q is not a plain IPv4 or IPv6 address", id.Value)
			}
			sans = append(sans, x509util.SubjectAlternativeName{Type: x509util.IPType, Value: addr.String()})
		default:
			return nil, "", ca.Errorf(ca.Rejected, "unsupported identifier type %q", id.Type)
		}
	}
	return sans, commonName, nil
}

// newSerial returns a random serial number of 128 bits from crypto/rand: CA/B
// Forum BR §7.1 asks for at least 64 bits of CSPRNG output, RFC 5280 §4.1.2.2
// for a positive integer of at most 20 octets. SetBytes reads the bytes as
// unsigned, so the number is never negative; DER adds a leading zero octet
// when the top bit is set, giving at most 17 octets. Zero (probability
// 2^-128) is drawn again.
func newSerial() (*big.Int, error) {
	var b [16]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("serial number: %w", err)
		}
		if n := new(big.Int).SetBytes(b[:]); n.Sign() > 0 {
			return n, nil
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
