package ca

import "fmt"

// RevocationReason is a CRLReason code (RFC 5280 §5.3.1), the value ACME
// revocation requests carry (RFC 8555 §7.6).
type RevocationReason int

// The RFC 5280 §5.3.1 CRLReason values. 7 is not used.
const (
	ReasonUnspecified          RevocationReason = 0
	ReasonKeyCompromise        RevocationReason = 1
	ReasonCACompromise         RevocationReason = 2
	ReasonAffiliationChanged   RevocationReason = 3
	ReasonSuperseded           RevocationReason = 4
	ReasonCessationOfOperation RevocationReason = 5
	ReasonCertificateHold      RevocationReason = 6
	ReasonRemoveFromCRL        RevocationReason = 8
	ReasonPrivilegeWithdrawn   RevocationReason = 9
	ReasonAACompromise         RevocationReason = 10
)

// String returns the RFC 5280 name of the reason.
func (r RevocationReason) String() string {
	switch r {
	case ReasonUnspecified:
		return "unspecified"
	case ReasonKeyCompromise:
		return "keyCompromise"
	case ReasonCACompromise:
		return "cACompromise"
	case ReasonAffiliationChanged:
		return "affiliationChanged"
	case ReasonSuperseded:
		return "superseded"
	case ReasonCessationOfOperation:
		return "cessationOfOperation"
	case ReasonCertificateHold:
		return "certificateHold"
	case ReasonRemoveFromCRL:
		return "removeFromCRL"
	case ReasonPrivilegeWithdrawn:
		return "privilegeWithdrawn"
	case ReasonAACompromise:
		return "aACompromise"
	default:
		return fmt.Sprintf("reason(%d)", int(r))
	}
}

// Valid reports whether r is one of the RFC 5280 §5.3.1 values (0–10 except
// the unused 7). Which of them a subscriber may ask for is the caller's
// policy, not this package's.
func (r RevocationReason) Valid() bool {
	return r >= ReasonUnspecified && r <= ReasonAACompromise && r != 7
}
