package policy

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/net/idna"
)

// FuzzIdentifier checks identifier normalisation and policy (RFC 8555 §7.1.4,
// RFC 8738, RFC 1035, IDNA 2008) with a fuzzed identifier plus a list of
// more, one "type:value" per line.
//
// Invariants, for the default policy: normalising is idempotent (an
// accepted list checked again comes back unchanged), a DNS name comes back
// as the lower case of what was sent, an address as the canonical form of
// what was sent; every accepted DNS name is lower-case ASCII LDH without a
// trailing dot, labels of 1–63 characters, at most 253 in all, "*" only as
// a whole leftmost label, A-labels that round-trip through IDNA and decode
// to letters, marks and digits as IDNA2008 requires; every
// accepted address is canonical, without zone, not IPv4-mapped; a name's
// upper-case spelling gets the same answer; refusals name each refused
// identifier as sent. A restrictive policy (allowed and denied domains and
// networks) and a pattern policy accept only what the default policy
// accepts, inside their lists (the patterns checked by a second matcher).
func FuzzIdentifier(f *testing.F) {
	def, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	strict, err := New(Config{
		AllowedDomains: []string{"example.com"},
		DeniedDomains:  []string{"bad.example.com"},
		AllowedCIDRs:   []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")},
		MaxNames:       5,
	})
	if err != nil {
		f.Fatal(err)
	}
	patterned, err := New(Config{AllowedPatterns: allowPatterns, DeniedPatterns: denyPatterns, DenyIP: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ip bool, value, more string) {
		typ := TypeDNS
		if ip {
			typ = TypeIP
		}
		ids := []Identifier{{Type: typ, Value: value}}
		if more != "" {
			for _, line := range strings.SplitN(more, "\n", 8) {
				ty, v, _ := strings.Cut(line, ":")
				ids = append(ids, Identifier{Type: IdentifierType(ty), Value: v})
			}
		}

		out, err := def.CheckIdentifiers(ids)
		checkIdentifierDecision(t, ids, out, err)
		if err == nil {
			again, err := def.CheckIdentifiers(out)
			if err != nil || !slices.Equal(again, out) {
				t.Fatalf("normalising is not idempotent: %q -> %q -> %q (%v)", ids, out, again, err)
			}
		}
		if len(ids) == 1 && typ == TypeDNS && isASCII(value) {
			upper := []Identifier{{Type: TypeDNS, Value: strings.ToUpper(value)}}
			uout, uerr := def.CheckIdentifiers(upper)
			if (err == nil) != (uerr == nil) || !slices.Equal(out, uout) {
				t.Fatalf("%q gives %q (%v) but %q gives %q (%v)", value, out, err, upper[0].Value, uout, uerr)
			}
		}

		pout, perr := patterned.CheckIdentifiers(ids)
		checkIdentifierDecision(t, ids, pout, perr)
		if perr == nil {
			if err != nil || !slices.Equal(out, pout) {
				t.Fatalf("the pattern policy accepts %q as %q, the default policy gives %q (%v)", ids, pout, out, err)
			}
			for _, id := range pout {
				if id.Type != TypeDNS {
					continue
				}
				labels := strings.Split(id.Value, ".")
				allowed := slices.ContainsFunc(allowPatterns, func(pt string) bool { return globMatch(strings.Split(pt, "."), labels, false) })
				denied := slices.ContainsFunc(denyPatterns, func(pt string) bool { return globMatch(strings.Split(pt, "."), labels, true) })
				if !allowed || denied {
					t.Fatalf("the pattern policy accepts %q (allowed %v, denied %v)", id.Value, allowed, denied)
				}
			}
		}

		sout, serr := strict.CheckIdentifiers(ids)
		checkIdentifierDecision(t, ids, sout, serr)
		if serr != nil {
			return
		}
		if err != nil || !slices.Equal(out, sout) {
			t.Fatalf("the restrictive policy accepts %q as %q, the default policy gives %q (%v)", ids, sout, out, err)
		}
		for _, id := range sout {
			switch id.Type {
			case TypeDNS:
				// A wildcard covers every name one label below its base, so
				// it is refused when any of those is denied.
				base, wildcard := cutWildcard(id.Value)
				if !under(base, "example.com") || under(base, "bad.example.com") || (wildcard && base == "example.com") {
					t.Fatalf("the restrictive policy accepts %q", id.Value)
				}
			case TypeIP:
				a := netip.MustParseAddr(id.Value)
				if !netip.MustParsePrefix("192.0.2.0/24").Contains(a) && !netip.MustParsePrefix("2001:db8::/32").Contains(a) {
					t.Fatalf("the restrictive policy accepts %s", a)
				}
			}
		}
	})
}

// The patterns of FuzzIdentifier's pattern policy.
var (
	allowPatterns = []string{"*.svc.example.com", "**.dev.example.com", "www.example.org", "*.*.example.net"}
	denyPatterns  = []string{"admin.*.example.com", "*.bad.dev.example.com", "**.x.example.net"}
)

// globMatch matches a DNS name's labels against a pattern's, independently
// of pattern.go: "*" is one label, "**" one or more. A wildcard name's "*"
// label stands for every label: to allow it, only a glob may match it (every
// name it covers must be allowed); to deny it, any label does (one covered
// name is enough).
func globMatch(pat, name []string, deny bool) bool {
	if len(pat) == 0 {
		return len(name) == 0
	}
	if len(name) == 0 {
		return false
	}
	switch pat[0] {
	case "**":
		for n := 1; n <= len(name); n++ {
			if globMatch(pat[1:], name[n:], deny) {
				return true
			}
		}
		return false
	case "*":
		return globMatch(pat[1:], name[1:], deny)
	}
	if name[0] == "*" && !deny {
		return false
	}
	return (name[0] == "*" || name[0] == pat[0]) && globMatch(pat[1:], name[1:], deny)
}

// under reports whether name is domain or a name below it.
func under(name, domain string) bool {
	return name == domain || strings.HasSuffix(name, "."+domain)
}

// checkIdentifierDecision checks one CheckIdentifiers answer for ids.
func checkIdentifierDecision(t *testing.T, ids, out []Identifier, err error) {
	t.Helper()
	if err != nil {
		var pe *Error
		if !errors.As(err, &pe) {
			t.Fatalf("refusal is not a *policy.Error: %v", err)
		}
		if out != nil {
			t.Fatalf("refusal %v with identifiers %q", err, out)
		}
		switch pe.Kind {
		case KindMalformed, KindRejectedIdentifier, KindUnsupportedIdentifier, KindCompound:
		default:
			t.Fatalf("refusal of kind %q", pe.Kind)
		}
		for _, sub := range pe.Sub {
			if sub.Identifier == nil || !slices.Contains(ids, *sub.Identifier) {
				t.Fatalf("sub-error %v does not name an identifier as sent", sub)
			}
		}
		return
	}
	if len(out) == 0 || len(out) > len(ids) {
		t.Fatalf("%q accepted as %q", ids, out)
	}
	seen := map[Identifier]bool{}
	for _, id := range out {
		if seen[id] {
			t.Fatalf("duplicate %v in %q", id, out)
		}
		seen[id] = true
		switch id.Type {
		case TypeDNS:
			checkDNSForm(t, id.Value)
		case TypeIP:
			a, err := netip.ParseAddr(id.Value)
			if err != nil || a.String() != id.Value || a.Zone() != "" || a.Is4In6() {
				t.Fatalf("accepted address %q is not canonical (%v)", id.Value, err)
			}
		default:
			t.Fatalf("accepted identifier type %q", id.Type)
		}
		if !slices.ContainsFunc(ids, func(in Identifier) bool { return in.Type == id.Type && normalForm(in) == id.Value }) {
			t.Fatalf("accepted %v is not the normal form of any of %q", id, ids)
		}
	}
}

// normalForm is what an identifier should normalise to: a DNS name in
// lower case, an address in its RFC 5952 text form.
func normalForm(id Identifier) string {
	if id.Type == TypeIP {
		if a, err := netip.ParseAddr(id.Value); err == nil {
			return a.String()
		}
	}
	return strings.ToLower(id.Value)
}

// idna2008Extras are the code points outside letters, marks and decimal
// digits that an IDNA2008 U-label may contain: the PVALID and CONTEXTO
// exceptions of RFC 5892 §2.6 and the CONTEXTJ joiners.
const idna2008Extras = "\u00B7\u0375\u05F3\u05F4\u30FB\u200C\u200D\u06FD\u06FE\u0F0B\u3007"

// checkDNSForm checks an accepted DNS identifier against RFC 1035 §2.3.4,
// RFC 5890 LDH labels and RFC 8555 §7.1.3 wildcards, independently of
// wellFormedDNS.
func checkDNSForm(t *testing.T, name string) {
	t.Helper()
	if name != strings.ToLower(name) || !isASCII(name) {
		t.Fatalf("accepted name %q is not lower-case ASCII", name)
	}
	if strings.HasSuffix(name, ".") || len(name) > 253 {
		t.Fatalf("accepted name %q (length %d) ends with a dot or is too long", name, len(name))
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		t.Fatalf("accepted single-label name %q", name)
	}
	for i, l := range labels {
		if l == "*" && i == 0 {
			continue
		}
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			t.Fatalf("accepted name %q has label %q", name, l)
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				t.Fatalf("accepted name %q has %q in label %q", name, c, l)
			}
		}
		if strings.HasPrefix(l, "xn--") {
			u, err := idna.Registration.ToUnicode(l)
			if err != nil {
				t.Fatalf("accepted A-label %q does not decode: %v", l, err)
			}
			back, err := idna.Registration.ToASCII(u)
			if err != nil || back != l {
				t.Fatalf("accepted A-label %q decodes to %q, which encodes to %q (%v)", l, u, back, err)
			}
			// IDNA2008 (RFC 5892 §2.1, §2.6, Appendix A): letters, marks
			// and decimal digits only, plus the exceptions and contextual
			// code points; never a symbol such as an emoji, which UTS #46
			// (and so idna.Registration) lets through.
			for _, r := range u {
				if !unicode.In(r, unicode.Ll, unicode.Lo, unicode.Lm, unicode.Mn, unicode.Mc, unicode.Nd) && !strings.ContainsRune(idna2008Extras, r) {
					t.Fatalf("accepted A-label %q decodes to %q, which contains %U", l, u, r)
				}
			}
		} else if len(l) >= 4 && l[2:4] == "--" {
			t.Fatalf("accepted name %q has reserved label %q", name, l)
		}
	}
	if allDigits(labels[len(labels)-1]) {
		t.Fatalf("accepted name %q has an all-numeric TLD", name)
	}
}
