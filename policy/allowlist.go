package policy

import (
	"fmt"
	"net/netip"
	"strings"
)

// willingName applies the directory's denied and allowed domains and
// patterns to a well-formed, normalised DNS name, possibly a wildcard.
// Denials come first: a deny always wins over an allow.
func (p *Policy) willingName(name string) *Error {
	base, wildcard := cutWildcard(name)
	labels := strings.Split(name, ".")

	// A name under a denied domain is denied, and so is a wildcard whose
	// base is: every name it covers is under that domain.
	if d, ok := p.deniedDomains.covering(base); ok {
		if base == d && !wildcard {
			return newError(KindRejectedIdentifier, "%s is a denied domain", name)
		}
		return newError(KindRejectedIdentifier, "%s is under the denied domain %s", name, d)
	}
	// "*.example.com" also covers "corp.example.com", one label below its
	// base: a certificate for it is valid for that denied domain too.
	if wildcard {
		if d, ok := p.deniedDomains.child(base); ok {
			return newError(KindRejectedIdentifier, "%s would cover the denied domain %s", name, d)
		}
	}
	if pt, ok := matching(p.deniedPatterns, labels, true); ok {
		if wildcard {
			return newError(KindRejectedIdentifier, "%s would cover names matching the denied pattern %s", name, pt.text)
		}
		return newError(KindRejectedIdentifier, "%s matches the denied pattern %s", name, pt.text)
	}

	if p.allowedDomains.empty() && len(p.allowedPatterns) == 0 {
		return nil
	}
	// The base of a wildcard under an allowed domain puts every name the
	// wildcard covers under it.
	if _, ok := p.allowedDomains.covering(base); ok {
		return nil
	}
	if _, ok := matching(p.allowedPatterns, labels, false); ok {
		return nil
	}
	switch {
	case len(p.allowedPatterns) == 0:
		return newError(KindRejectedIdentifier, "%s is not under a domain this directory allows (%s)", name, listSome(p.allowedDomains.list))
	case p.allowedDomains.empty():
		return newError(KindRejectedIdentifier, "%s does not match a pattern this directory allows (%s)", name, listSome(patternTexts(p.allowedPatterns)))
	}
	return newError(KindRejectedIdentifier, "%s is neither under a domain nor matching a pattern this directory allows (domains: %s; patterns: %s)",
		name, listSome(p.allowedDomains.list), listSome(patternTexts(p.allowedPatterns)))
}

// willingAddr applies the directory's allowed networks to an IP address.
func (p *Policy) willingAddr(addr netip.Addr) *Error {
	if len(p.allowedCIDRs) == 0 {
		return nil
	}
	for _, pfx := range p.allowedCIDRs {
		if pfx.Contains(addr) {
			return nil
		}
	}
	nets := make([]string, len(p.allowedCIDRs))
	for i, pfx := range p.allowedCIDRs {
		nets[i] = pfx.String()
	}
	return newError(KindRejectedIdentifier, "%s is not in a network this directory allows (%s)", addr, listSome(nets))
}

// parseCIDRs checks the AllowedCIDRs entries. A prefix with host bits set
// is refused rather than masked: "192.0.2.1/24" is more often a typo for a
// host than a way to write 192.0.2.0/24, and the operator should say which.
func parseCIDRs(prefixes []netip.Prefix) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(prefixes))
	for i, pfx := range prefixes {
		switch {
		case !pfx.IsValid():
			return nil, fmt.Errorf("policy: AllowedCIDRs: entry %d is not a valid network prefix", i+1)
		case pfx.Addr().Is4In6():
			// IPv4-mapped identifiers are malformed (see wellFormedIP),
			// so such a prefix could never hold an identifier.
			return nil, fmt.Errorf("policy: AllowedCIDRs: %s is an IPv4-mapped IPv6 prefix; write the IPv4 network instead", pfx)
		case pfx != pfx.Masked():
			return nil, fmt.Errorf("policy: AllowedCIDRs: %s has host bits set; did you mean %s?", pfx, pfx.Masked())
		}
		out = append(out, pfx)
	}
	return out, nil
}
