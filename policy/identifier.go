package policy

import (
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// IdentifierType is an ACME identifier type (RFC 8555 §9.7.7).
type IdentifierType string

// Identifier types this package understands.
const (
	// TypeDNS is a domain name, possibly a wildcard (RFC 8555 §7.1.3).
	TypeDNS IdentifierType = "dns"
	// TypeIP is an IPv4 or IPv6 address (RFC 8738).
	TypeIP IdentifierType = "ip"
)

// Identifier is an ACME identifier as the policy sees it.
type Identifier struct {
	Type  IdentifierType
	Value string
}

// CheckIdentifiers decides a newOrder (or newAuthz) identifier list. It
// returns the identifiers normalised (DNS names in lower case, IP addresses
// in canonical text form), with duplicates removed and the order kept.
//
// When any identifier is refused, it returns no identifiers and an *Error
// whose Sub holds one error per refused identifier, each naming that
// identifier as the client sent it; accepted identifiers do not appear.
// The top-level kind is malformed, rejectedIdentifier or
// unsupportedIdentifier when all refusals agree, compound otherwise. An
// empty list, or one with more than MaxNames distinct identifiers, is
// malformed.
func (p *Policy) CheckIdentifiers(ids []Identifier) ([]Identifier, error) {
	// RFC 8555 §7.4: an order names at least one identifier.
	if len(ids) == 0 {
		return nil, newError(KindMalformed, "the order names no identifiers")
	}
	out := make([]Identifier, 0, len(ids))
	seen := make(map[Identifier]bool, len(ids))
	var refused []*Error
	for _, id := range ids {
		norm, err := p.checkIdentifier(id)
		if seen[norm] {
			continue
		}
		// A refused identifier is remembered as sent, so a repeat of it
		// yields one subproblem.
		seen[norm] = true
		if err != nil {
			err.Identifier = &Identifier{Type: id.Type, Value: id.Value}
			refused = append(refused, err)
			continue
		}
		out = append(out, norm)
	}
	if n := len(out) + len(refused); n > p.maxNames {
		return nil, newError(KindMalformed, "the order names %d distinct identifiers; the maximum is %d", n, p.maxNames)
	}
	if len(refused) > 0 {
		return nil, combine(refused)
	}
	return out, nil
}

// checkIdentifier decides one identifier: first whether it is well formed,
// then whether this policy is willing to issue for it. It returns the
// normalised identifier, or the identifier as sent when it is refused.
func (p *Policy) checkIdentifier(id Identifier) (Identifier, *Error) {
	var (
		norm Identifier
		err  *Error
	)
	switch id.Type {
	case TypeDNS:
		norm.Value, err = wellFormedDNS(id.Value)
	case TypeIP:
		norm.Value, err = wellFormedIP(id.Value)
	default:
		// RFC 8555 §6.7: unsupportedIdentifier, "an identifier is of an
		// unsupported type".
		return id, newError(KindUnsupportedIdentifier, "identifier type %q is not supported; use \"dns\" or \"ip\"", id.Type)
	}
	if err != nil {
		return id, err
	}
	norm.Type = id.Type
	if err := p.willing(norm); err != nil {
		return id, err
	}
	return norm, nil
}

// willing decides whether the policy issues for a well-formed, normalised
// identifier. Refusals here are rejectedIdentifier: the identifier is fine,
// the server will not certify it (RFC 8555 §6.7). The rules that hold for
// every directory come first, then the directory's deny- and allow-lists.
func (p *Policy) willing(id Identifier) *Error {
	switch id.Type {
	case TypeDNS:
		if base, wildcard := cutWildcard(id.Value); wildcard {
			if err := p.willingWildcard(base); err != nil {
				return err
			}
		}
		return p.willingName(id.Value)
	case TypeIP:
		if !p.allowIP {
			return newError(KindRejectedIdentifier, "IP address identifiers are not allowed by this directory's policy")
		}
		addr := netip.MustParseAddr(id.Value) // well formed: checked before
		// No host can prove control of the unspecified or a multicast
		// address, and a certificate for one would mean nothing.
		if addr.IsUnspecified() {
			return newError(KindRejectedIdentifier, "the unspecified address cannot be certified")
		}
		if addr.IsMulticast() {
			return newError(KindRejectedIdentifier, "a multicast address cannot be certified")
		}
		return p.willingAddr(addr)
	}
	return nil
}

// willingWildcard applies the wildcard rules to the base of a wildcard name.
func (p *Policy) willingWildcard(base string) *Error {
	if !p.allowWildcard {
		return newError(KindRejectedIdentifier, "wildcard names are not allowed by this directory's policy")
	}
	// CA/B Baseline Requirements §3.2.2.6: no wildcard directly under a
	// registry-controlled label or public suffix. A name with one label
	// is a TLD whether or not the suffix list knows it (an internal
	// ".corp"); private suffix-list entries are left to operators, who
	// may own them.
	if suffix, icann := publicsuffix.PublicSuffix(base); suffix == base && (icann || !strings.Contains(base, ".")) {
		return newError(KindRejectedIdentifier, "a wildcard directly under the public suffix %q is not allowed", base)
	}
	return nil
}
