package policy

import (
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// DNS name limits (RFC 1035 §2.3.4): 255 octets on the wire is 253
// characters of text without the root's trailing dot.
const (
	maxDNSNameLength  = 253
	maxDNSLabelLength = 63
)

// wellFormedDNS checks the syntax of a dns identifier value and returns it in
// lower case. Each refusal is malformed and says which rule the name breaks.
func wellFormedDNS(name string) (string, *Error) {
	if name == "" {
		return "", newError(KindMalformed, "the DNS name is empty")
	}
	// RFC 8555 §7.1.4: a domain name is encoded as it would appear in a
	// certificate (RFC 5280 §7), so internationalised names arrive as
	// A-labels (RFC 5890 §2.3.2.1).
	if !isASCII(name) {
		alabel, err := idna.Lookup.ToASCII(name)
		if err != nil {
			return "", newError(KindMalformed, "the DNS name contains non-ASCII characters and has no valid A-label form")
		}
		// Lookup converts what IDNA2008 refuses (emoji); hint only at an
		// A-label form this function would accept, not one refused next.
		for l := range strings.SplitSeq(strings.ToLower(alabel), ".") {
			if strings.HasPrefix(l, "xn--") {
				if err := wellFormedALabel(l); err != nil {
					return "", newError(KindMalformed, "the DNS name contains non-ASCII characters and has no valid A-label form: %s", err.Detail)
				}
			}
		}
		return "", newError(KindMalformed, "the DNS name contains non-ASCII characters; send its A-label form %q", alabel)
	}
	name = strings.ToLower(name)
	if _, err := netip.ParseAddr(name); err == nil {
		// RFC 8738 §3: addresses are identifiers of type "ip".
		return "", newError(KindMalformed, "%q is an IP address; request it as an identifier of type \"ip\"", name)
	}
	if len(name) > maxDNSNameLength {
		return "", newError(KindMalformed, "the DNS name is %d characters long; the maximum is %d", len(name), maxDNSNameLength)
	}
	// The value is a name as it appears in a certificate, in the preferred
	// name syntax without the root's trailing dot (RFC 5280 §4.2.1.6).
	if strings.HasSuffix(name, ".") {
		return "", newError(KindMalformed, "the DNS name must not end with a dot")
	}
	// RFC 8555 §7.1.3: a wildcard is "*." followed by a name; the "*" is
	// the whole leftmost label and appears nowhere else.
	base, wildcard := cutWildcard(name)
	if strings.Contains(base, "*") {
		return "", newError(KindMalformed, "\"*\" is only allowed as the entire leftmost label of a wildcard name")
	}
	labels := strings.Split(base, ".")
	for _, label := range labels {
		if err := wellFormedLabel(label); err != nil {
			return "", err
		}
	}
	if wildcard {
		// The "*" is the leftmost label: counted, but never the TLD
		// ("*.0.0" once passed the all-numeric check below; FuzzIdentifier).
		labels = append([]string{"*"}, labels...)
	}
	// A single label is a TLD or a host name only meaningful inside one
	// network; neither belongs in a certificate.
	if len(labels) < 2 {
		return "", newError(KindMalformed, "the DNS name needs at least two labels")
	}
	// RFC 3696 §2: top-level domain names are not all-numeric, which also
	// keeps IP-like names such as "10.0.0.256" out.
	if tld := labels[len(labels)-1]; allDigits(tld) {
		return "", newError(KindMalformed, "the top-level label %q is all-numeric", tld)
	}
	return name, nil
}

// wellFormedLabel checks one lower-case ASCII label.
func wellFormedLabel(label string) *Error {
	// RFC 1035 §2.3.4: labels are 1 to 63 octets.
	if label == "" {
		return newError(KindMalformed, "the DNS name contains an empty label")
	}
	if len(label) > maxDNSLabelLength {
		return newError(KindMalformed, "the label %q is %d characters long; the maximum is %d", label, len(label), maxDNSLabelLength)
	}
	// RFC 5890 §2.3.1 LDH labels: letters, digits and hyphens only. The
	// underscore gets its own reason: it is the commonest mistake (service
	// names such as "_acme-challenge" are not host names).
	for i := 0; i < len(label); i++ {
		switch c := label[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case c == '_':
			return newError(KindMalformed, "the label %q contains an underscore", label)
		default:
			return newError(KindMalformed, "the label %q contains %q; only letters, digits and hyphens are allowed", label, c)
		}
	}
	// RFC 952 and RFC 1123 §2.1: a label neither begins nor ends with a
	// hyphen.
	if label[0] == '-' || label[len(label)-1] == '-' {
		return newError(KindMalformed, "the label %q begins or ends with a hyphen", label)
	}
	if len(label) >= 4 && label[2:4] == "--" {
		if !strings.HasPrefix(label, "xn--") {
			// RFC 5891 §4.2.3.1: hyphens in the third and fourth
			// positions are reserved for A-labels.
			return newError(KindMalformed, "the label %q has hyphens in the third and fourth positions but is not an A-label", label)
		}
		return wellFormedALabel(label)
	}
	return nil
}

// wellFormedALabel enforces RFC 8555 §7.1.4: "Servers MUST verify any
// identifier values that begin with the ASCII-Compatible Encoding prefix
// "xn--" as defined in [RFC5890] are properly encoded." The label must be an
// A-label (RFC 5890 §2.3.2.1): valid Punycode that decodes to a U-label
// IDNA2008 permits and encodes back to the same label. idna2008Refusal
// applies RFC 5892 (the code points and their contexts), which x/net/idna
// does not: it implements UTS #46, which accepts symbols and emoji.
// idna.Registration then applies the rest of RFC 5891 §5.4 (NFC, hyphens,
// leading combining marks, joiners, bidi, and no code point that case
// folding or NFKC would change). Each refusal names the label and, when it
// decodes, what it decodes to.
func wellFormedALabel(label string) *Error {
	u, err := idna.Punycode.ToUnicode(label)
	if err != nil {
		return newError(KindMalformed, "the label %q is not a valid IDNA A-label: it is not valid Punycode", label)
	}
	// The round trip gives an identifier a single spelling, and catches
	// Punycode of surrogate code points, which decodes to U+FFFD.
	if back, err := idna.Punycode.ToASCII(u); err != nil || back != label {
		return newError(KindMalformed, "the label %q is not a valid IDNA A-label: its Punycode does not decode to Unicode characters one-to-one (decoding and encoding again gives %q)", label, back)
	}
	if why := idna2008Refusal(u); why != "" {
		return newError(KindMalformed, "the label %q is not a valid IDNA A-label: it decodes to %q, and %s", label, u, why)
	}
	if _, err := idna.Registration.ToUnicode(label); err != nil {
		return newError(KindMalformed, "the label %q is not a valid IDNA A-label: it decodes to %q, which breaks the IDNA2008 rules for U-labels (RFC 5891 §5.4: NFC, no upper-case or compatibility characters, no leading combining mark, joiner and bidi rules)", label, u)
	}
	return nil
}

// cutWildcard splits "*.example.com" into "example.com" and true; any other
// name is returned unchanged with false.
func cutWildcard(name string) (base string, wildcard bool) {
	return strings.CutPrefix(name, "*.")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
