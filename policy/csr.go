package policy

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"net/netip"
	"slices"
	"strings"
)

// acceptedCSRSignature reports whether a CSR signature algorithm is
// accepted. SHA-1 and MD5 are not: a signature over a broken hash proves
// nothing about the request (CA/B Baseline Requirements §7.1.3.2 forbid them
// for certificates, and the CSR is the client's proof of possession).
// Ed25519 is accepted here so that an Ed25519 CSR is refused for its key,
// the precise reason.
func acceptedCSRSignature(alg x509.SignatureAlgorithm) bool {
	switch alg {
	case x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
		x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS,
		x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512,
		x509.PureEd25519:
		return true
	}
	return false
}

// GeneralName tags for the two name forms an ACME certificate may carry
// (RFC 5280 §4.2.1.6).
const (
	tagDNSName   = 2
	tagIPAddress = 7
)

// CheckCSR decides a finalize CSR (RFC 8555 §7.4) against the identifiers of
// its order and the key of the account finalizing it. A refusal is an *Error
// of kind badCSR. A key the certificate policy refuses is badCSR too, not
// badPublicKey: RFC 8555 §6.7 reserves badPublicKey for JWS keys and gives
// "a short key" as its example of a bad CSR.
//
// The checks, in order: the signature algorithm, the signature, the key, the
// key differing from the account key, and the names.
func (p *Policy) CheckCSR(csr *x509.CertificateRequest, order []Identifier, accountKey crypto.PublicKey) error {
	if err := p.checkCSR(csr, order, accountKey); err != nil {
		return err
	}
	return nil
}

func (p *Policy) checkCSR(csr *x509.CertificateRequest, order []Identifier, accountKey crypto.PublicKey) *Error {
	if csr == nil {
		return newError(KindBadCSR, "no CSR")
	}
	// Checked before the signature so a SHA-1 CSR is told why, rather than
	// that its signature is bad; crypto/x509 still verifies SHA-1 on CSRs.
	if !acceptedCSRSignature(csr.SignatureAlgorithm) {
		return newError(KindBadCSR, "the CSR signature algorithm %s is not accepted; sign with SHA-256 or stronger", csr.SignatureAlgorithm)
	}
	// RFC 2986 §3: the signature is the requester's proof of possession of
	// the private key.
	if err := csr.CheckSignature(); err != nil {
		return newError(KindBadCSR, "the CSR signature does not verify with the CSR's public key")
	}
	if err := p.goodKey(csr.PublicKey, useCertificate); err != nil {
		return newError(KindBadCSR, "the CSR public key is refused: %s", err.Detail)
	}
	// The certificate key must differ from the account key (Boulder
	// refuses the same), or whoever holds the certificate's private key
	// (a TLS server, possibly compromised) also controls the account: it
	// could revoke, deactivate or order in its name.
	if sameKey(csr.PublicKey, accountKey) {
		return newError(KindBadCSR, "the CSR public key is the account key; use a separate key for the certificate")
	}
	return checkCSRNames(csr, order)
}

// sameKey reports whether a and b are the same public key, whichever of the
// value or pointer forms each is in.
func sameKey(a, b crypto.PublicKey) bool {
	ea, ok := pointerKey(a).(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(pointerKey(b))
}

// checkCSRNames enforces RFC 8555 §7.4: "The CSR MUST indicate the exact same
// set of requested identifiers as the initial newOrder request." Names are
// compared as DNS names in lower case and IP addresses in canonical form.
func checkCSRNames(csr *x509.CertificateRequest, order []Identifier) *Error {
	if bad := unsupportedSANs(csr); len(bad) > 0 {
		return newError(KindBadCSR, "the CSR's subjectAltName contains %s; only DNS names and IP addresses are allowed", strings.Join(bad, ", "))
	}
	inCSR := make(map[string]bool, len(csr.DNSNames)+len(csr.IPAddresses))
	for _, n := range csr.DNSNames {
		inCSR[nameKey(TypeDNS, n)] = true
	}
	for _, ip := range csr.IPAddresses {
		addr, _ := netip.AddrFromSlice(ip) // the parser gives 4 or 16 bytes
		inCSR[nameKey(TypeIP, addr.String())] = true
	}
	// The subject common name is legacy: the Baseline Requirements allow
	// it only as a copy of one of the subjectAltName entries.
	if cn := csr.Subject.CommonName; cn != "" && !inCSR[nameKey(TypeDNS, cn)] && !inCSR[nameKey(TypeIP, cn)] {
		return newError(KindBadCSR, "the CSR common name %q is not one of its subjectAltName entries", cn)
	}
	inOrder := make(map[string]bool, len(order))
	var missing, extra []string
	for _, id := range order {
		k := nameKey(id.Type, id.Value)
		if inOrder[k] {
			continue
		}
		inOrder[k] = true
		if !inCSR[k] {
			missing = append(missing, k)
		}
	}
	for k := range inCSR {
		if !inOrder[k] {
			extra = append(extra, k)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return nil
	}
	slices.Sort(extra) // map order is random; the detail must not be
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing from the CSR: "+strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		parts = append(parts, "not in the order: "+strings.Join(extra, ", "))
	}
	return newError(KindBadCSR, "the CSR names do not match the order's identifiers; %s", strings.Join(parts, "; "))
}

// nameKey is the comparable form of a name: "dns:example.com",
// "ip:2001:db8::1". A value that does not parse as its type is kept as it
// is, so it matches nothing it should not.
func nameKey(typ IdentifierType, value string) string {
	switch typ {
	case TypeDNS:
		value = strings.ToLower(value)
	case TypeIP:
		if addr, err := netip.ParseAddr(value); err == nil {
			value = addr.String()
		}
	}
	return string(typ) + ":" + value
}

// unsupportedSANs lists the subjectAltName entries other than DNS names and
// IP addresses. crypto/x509 exposes e-mail addresses and URIs but silently
// drops other forms (otherName, directoryName, registeredID, …), so the
// extension is read directly.
func unsupportedSANs(csr *x509.CertificateRequest) []string {
	var bad []string
	for _, ext := range csr.Extensions {
		// id-ce-subjectAltName (RFC 5280 §4.2.1.6).
		if !ext.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 17}) {
			continue
		}
		var seq asn1.RawValue
		if rest, err := asn1.Unmarshal(ext.Value, &seq); err != nil || len(rest) > 0 {
			return []string{"an unparseable entry"}
		}
		for rest := seq.Bytes; len(rest) > 0; {
			var gn asn1.RawValue
			var err error
			if rest, err = asn1.Unmarshal(rest, &gn); err != nil {
				return append(bad, "an unparseable entry")
			}
			if gn.Class == asn1.ClassContextSpecific && (gn.Tag == tagDNSName || gn.Tag == tagIPAddress) {
				continue
			}
			bad = append(bad, generalNameKind(gn))
		}
	}
	return bad
}

// generalNameKind names a GeneralName form for a message (RFC 5280
// §4.2.1.6).
func generalNameKind(gn asn1.RawValue) string {
	if gn.Class == asn1.ClassContextSpecific {
		switch gn.Tag {
		case 0:
			return "an otherName"
		case 1:
			return "an e-mail address (rfc822Name)"
		case 3:
			return "an x400Address"
		case 4:
			return "a directoryName"
		case 5:
			return "an ediPartyName"
		case 6:
			return "a URI"
		case 8:
			return "a registeredID"
		}
	}
	return "an entry of an unknown form"
}
