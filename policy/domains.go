package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// domainSet is a list of domains, each covering itself and every name under
// it: the form of AllowedDomains, DeniedDomains and PreValidatedDomains. It
// is built once by New and only read afterwards.
type domainSet struct {
	// list holds the normalised domains in configuration order, without
	// repeats, for messages.
	list []string
	set  map[string]bool
	// children maps the parent of each domain to that domain
	// ("example.com" → "corp.example.com"): a wildcard "*.example.com"
	// covers "corp.example.com" although its base is not under it.
	children map[string]string
}

// newDomainSet normalises and validates the entries of a Config field.
func newDomainSet(field string, entries []string) (domainSet, error) {
	s := domainSet{set: make(map[string]bool, len(entries)), children: make(map[string]string, len(entries))}
	for _, e := range entries {
		d, err := normaliseDomain(e)
		if err != nil {
			return domainSet{}, fmt.Errorf("policy: %s: %q: %s", field, e, err)
		}
		if s.set[d] {
			continue
		}
		s.set[d] = true
		s.list = append(s.list, d)
		if _, parent, ok := strings.Cut(d, "."); ok {
			if _, seen := s.children[parent]; !seen {
				s.children[parent] = d
			}
		}
	}
	return s, nil
}

// empty reports whether the set has no domains.
func (s domainSet) empty() bool { return len(s.list) == 0 }

// covering returns the most specific domain of the set that name is or is
// under. The suffix is compared on label boundaries: "badexample.com" is
// not under "example.com". It looks up each suffix of name in turn, so its
// cost depends on the labels of name, not on the size of the set.
func (s domainSet) covering(name string) (string, bool) {
	for n := name; ; {
		if s.set[n] {
			return n, true
		}
		_, parent, ok := strings.Cut(n, ".")
		if !ok {
			return "", false
		}
		n = parent
	}
}

// child returns a domain of the set exactly one label below base, if any.
func (s domainSet) child(base string) (string, bool) {
	d, ok := s.children[base]
	return d, ok
}

// normaliseDomain turns an operator's domain entry into the form identifiers
// take after CheckIdentifiers (lower case, A-labels, no trailing dot), so a
// plain string comparison decides a match. It accepts what could be the
// tail of a valid identifier, a single label included; the error says what
// is wrong otherwise.
func normaliseDomain(entry string) (string, error) {
	// One trailing dot is the root's, as in a zone file.
	d := strings.TrimSuffix(entry, ".")
	switch {
	case d == "":
		return "", errors.New("the domain is empty")
	case strings.Contains(d, "*"):
		return "", errors.New("a domain must not contain \"*\": it already covers every name under it (patterns go in AllowedPatterns or DeniedPatterns)")
	case strings.HasPrefix(d, "."):
		return "", errors.New("a domain must not start with a dot: it already covers every name under it")
	}
	if !isASCII(d) {
		// RFC 5891 §5: the U-labels an operator may write are looked up
		// as their A-labels, the form identifiers arrive in (RFC 8555
		// §7.1.4).
		alabel, err := idna.Lookup.ToASCII(d)
		if err != nil {
			return "", errors.New("the domain contains non-ASCII characters and has no valid A-label form")
		}
		d = alabel
	}
	d = strings.ToLower(d)
	if _, err := netip.ParseAddr(d); err == nil {
		return "", errors.New("an IP address is not a domain; put networks in AllowedCIDRs")
	}
	if len(d) > maxDNSNameLength {
		return "", fmt.Errorf("the domain is %d characters long; the maximum is %d", len(d), maxDNSNameLength)
	}
	labels := strings.Split(d, ".")
	for _, label := range labels {
		if err := wellFormedLabel(label); err != nil {
			return "", errors.New(err.Detail)
		}
	}
	// Identifiers with an all-numeric top-level label are malformed
	// (RFC 3696 §2), so such an entry could never match anything.
	if tld := labels[len(labels)-1]; allDigits(tld) {
		return "", fmt.Errorf("the top-level label %q is all-numeric", tld)
	}
	return d, nil
}

// maxListed is how many configured domains, patterns or networks a refusal
// names before saying how many more there are.
const maxListed = 5

// listSome joins up to maxListed items for a detail.
func listSome(items []string) string {
	if len(items) <= maxListed {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:maxListed], ", "), len(items)-maxListed)
}
