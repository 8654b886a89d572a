package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func dns(v string) Identifier { return Identifier{Type: TypeDNS, Value: v} }
func ip(v string) Identifier  { return Identifier{Type: TypeIP, Value: v} }

// nameOfLength returns a well-formed DNS name of n characters, for n from
// 193 to 255: three 63-character labels and a last one making up the rest.
func nameOfLength(n int) string {
	prefix := strings.Repeat(strings.Repeat("a", 63)+".", 3)
	return prefix + strings.Repeat("b", n-len(prefix))
}

func manyNames(n int) []Identifier {
	ids := make([]Identifier, n)
	for i := range ids {
		ids[i] = dns(fmt.Sprintf("host%d.example.com", i))
	}
	return ids
}

func TestCheckIdentifiersAccepts(t *testing.T) {
	t.Parallel()
	long := nameOfLength(253)
	tests := []struct {
		name string
		cfg  Config
		in   []Identifier
		want []Identifier
	}{
		{name: "simple name", in: []Identifier{dns("example.com")}, want: []Identifier{dns("example.com")}},
		{name: "upper case is lowered", in: []Identifier{dns("WWW.Example.COM")}, want: []Identifier{dns("www.example.com")}},
		{name: "digits and inner hyphens", in: []Identifier{dns("a-1.b2.example.com")}, want: []Identifier{dns("a-1.b2.example.com")}},
		{name: "all-numeric label below the TLD", in: []Identifier{dns("123.example.com")}, want: []Identifier{dns("123.example.com")}},
		{name: "63-character label", in: []Identifier{dns(strings.Repeat("a", 63) + ".example.com")}, want: []Identifier{dns(strings.Repeat("a", 63) + ".example.com")}},
		{name: "253-character name", in: []Identifier{dns(long)}, want: []Identifier{dns(long)}},
		{name: "wildcard", in: []Identifier{dns("*.example.com")}, want: []Identifier{dns("*.example.com")}},
		{name: "wildcard under a private public-suffix entry", in: []Identifier{dns("*.github.io")}, want: []Identifier{dns("*.github.io")}},
		{name: "wildcard under a second-level name of an unlisted TLD", in: []Identifier{dns("*.corp.internal")}, want: []Identifier{dns("*.corp.internal")}},
		{name: "valid A-label", in: []Identifier{dns("xn--bcher-kva.example")}, want: []Identifier{dns("xn--bcher-kva.example")}},
		{name: "upper-case A-label is lowered", in: []Identifier{dns("XN--BCHER-KVA.example")}, want: []Identifier{dns("xn--bcher-kva.example")}},
		{name: "IDN TLD", in: []Identifier{dns("example.xn--p1ai")}, want: []Identifier{dns("example.xn--p1ai")}},
		{name: "IDN labels under an IDN TLD", in: []Identifier{dns("xn--fsqu00a.xn--0zwm56d"), dns("www.xn--fiqs8s")}, want: []Identifier{dns("xn--fsqu00a.xn--0zwm56d"), dns("www.xn--fiqs8s")}},
		{name: "wildcard over an A-label", in: []Identifier{dns("*.xn--bcher-kva.example")}, want: []Identifier{dns("*.xn--bcher-kva.example")}},
		// RFC 5892 exceptions and contextual rules, where they hold.
		{name: "A-label of sharp s", in: []Identifier{dns("xn--zca.example")}, want: []Identifier{dns("xn--zca.example")}},
		{name: "A-label with a middle dot between two l", in: []Identifier{dns("xn--collecci-ioa91d.example")}, want: []Identifier{dns("xn--collecci-ioa91d.example")}},
		{name: "A-label with a keraia before a Greek letter", in: []Identifier{dns("xn--wva4j.example")}, want: []Identifier{dns("xn--wva4j.example")}},
		{name: "A-label with a geresh after a Hebrew letter", in: []Identifier{dns("xn--4db4e.example")}, want: []Identifier{dns("xn--4db4e.example")}},
		{name: "A-label with a katakana middle dot among katakana", in: []Identifier{dns("xn--ccke4x.example")}, want: []Identifier{dns("xn--ccke4x.example")}},
		{name: "A-label with a ZWNJ in Persian context", in: []Identifier{dns("xn--mgba3gch31f060k.example")}, want: []Identifier{dns("xn--mgba3gch31f060k.example")}},
		{name: "IPv4", in: []Identifier{ip("192.0.2.1")}, want: []Identifier{ip("192.0.2.1")}},
		{name: "IPv6 canonical", in: []Identifier{ip("2001:db8::1")}, want: []Identifier{ip("2001:db8::1")}},
		{name: "IPv6 is canonicalised", in: []Identifier{ip("2001:DB8:0:0:0::1")}, want: []Identifier{ip("2001:db8::1")}},
		{name: "IPv6 loopback is a policy matter, allowed by default", in: []Identifier{ip("::1")}, want: []Identifier{ip("::1")}},
		{
			name: "duplicates removed, first occurrence kept in place",
			in:   []Identifier{dns("b.example"), dns("A.example"), dns("B.EXAMPLE"), ip("192.0.2.1"), dns("a.example"), ip("2001:db8::1"), ip("2001:DB8::1")},
			want: []Identifier{dns("b.example"), dns("a.example"), ip("192.0.2.1"), ip("2001:db8::1")},
		},
		{name: "exactly MaxNames", in: manyNames(100), want: manyNames(100)},
		{name: "duplicates do not count towards MaxNames", cfg: Config{MaxNames: 2}, in: []Identifier{dns("a.example"), dns("b.example"), dns("A.example")}, want: []Identifier{dns("a.example"), dns("b.example")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := newPolicy(t, tc.cfg).CheckIdentifiers(tc.in)
			if err != nil {
				t.Fatalf("CheckIdentifiers(%v): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CheckIdentifiers(%v) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// one expects a refusal of exactly one identifier: the top-level error has
// the sub-error's kind and one sub-error naming that identifier.
func one(k Kind, id Identifier, detail string) wantErr {
	return wantErr{Kind: k, Detail: fmt.Sprintf("cannot issue for %q: ", id.Value), Sub: []wantSub{{Kind: k, ID: id, Detail: detail}}}
}

func TestCheckIdentifiersRefuses(t *testing.T) {
	t.Parallel()
	tooLong := nameOfLength(254)
	tests := []struct {
		name string
		cfg  Config
		in   []Identifier
		want wantErr
	}{
		// Request shape.
		{name: "no identifiers", in: nil, want: wantErr{Kind: KindMalformed, Detail: "names no identifiers"}},
		{name: "more than MaxNames", in: manyNames(101), want: wantErr{Kind: KindMalformed, Detail: "101 distinct identifiers; the maximum is 100"}},
		{name: "more than a configured MaxNames", cfg: Config{MaxNames: 2}, in: manyNames(3), want: wantErr{Kind: KindMalformed, Detail: "3 distinct identifiers; the maximum is 2"}},
		{name: "unsupported type", in: []Identifier{{Type: "email", Value: "a@example.com"}}, want: one(KindUnsupportedIdentifier, Identifier{Type: "email", Value: "a@example.com"}, `type "email" is not supported`)},
		{name: "type is case-sensitive", in: []Identifier{{Type: "DNS", Value: "example.com"}}, want: one(KindUnsupportedIdentifier, Identifier{Type: "DNS", Value: "example.com"}, "not supported")},

		// DNS well-formedness.
		{name: "empty name", in: []Identifier{dns("")}, want: one(KindMalformed, dns(""), "empty")},
		{name: "trailing dot", in: []Identifier{dns("example.com.")}, want: one(KindMalformed, dns("example.com."), "must not end with a dot")},
		{name: "leading dot", in: []Identifier{dns(".example.com")}, want: one(KindMalformed, dns(".example.com"), "empty label")},
		{name: "double dot", in: []Identifier{dns("a..example.com")}, want: one(KindMalformed, dns("a..example.com"), "empty label")},
		{name: "single label", in: []Identifier{dns("localhost")}, want: one(KindMalformed, dns("localhost"), "at least two labels")},
		{name: "254 characters", in: []Identifier{dns(tooLong)}, want: one(KindMalformed, dns(tooLong), "254 characters long; the maximum is 253")},
		{name: "64-character label", in: []Identifier{dns(strings.Repeat("a", 64) + ".example.com")}, want: one(KindMalformed, dns(strings.Repeat("a", 64)+".example.com"), "64 characters long; the maximum is 63")},
		{name: "underscore", in: []Identifier{dns("_acme-challenge.example.com")}, want: one(KindMalformed, dns("_acme-challenge.example.com"), "contains an underscore")},
		{name: "space", in: []Identifier{dns("a b.example.com")}, want: one(KindMalformed, dns("a b.example.com"), "only letters, digits and hyphens")},
		{name: "punctuation", in: []Identifier{dns("exa!mple.com")}, want: one(KindMalformed, dns("exa!mple.com"), `contains '!'`)},
		{name: "leading hyphen", in: []Identifier{dns("-a.example.com")}, want: one(KindMalformed, dns("-a.example.com"), "begins or ends with a hyphen")},
		{name: "trailing hyphen", in: []Identifier{dns("a-.example.com")}, want: one(KindMalformed, dns("a-.example.com"), "begins or ends with a hyphen")},
		{name: "hyphens in positions 3 and 4 without xn", in: []Identifier{dns("ab--c.example.com")}, want: one(KindMalformed, dns("ab--c.example.com"), "third and fourth positions")},
		{name: "all-numeric TLD", in: []Identifier{dns("example.123")}, want: one(KindMalformed, dns("example.123"), `top-level label "123" is all-numeric`)},
		{name: "out-of-range dotted quad", in: []Identifier{dns("10.0.0.256")}, want: one(KindMalformed, dns("10.0.0.256"), "all-numeric")},
		{name: "IPv4 address as dns", in: []Identifier{dns("192.0.2.1")}, want: one(KindMalformed, dns("192.0.2.1"), `type "ip"`)},
		{name: "IPv6 address as dns", in: []Identifier{dns("2001:db8::1")}, want: one(KindMalformed, dns("2001:db8::1"), `type "ip"`)},

		// IDNA.
		{name: "Unicode name gets an A-label hint", in: []Identifier{dns("bücher.example")}, want: one(KindMalformed, dns("bücher.example"), `send its A-label form "xn--bcher-kva.example"`)},
		{name: "Unicode upper case gets a lower-case hint", in: []Identifier{dns("BÜCHER.example")}, want: one(KindMalformed, dns("BÜCHER.example"), `"xn--bcher-kva.example"`)},
		{name: "Unicode without an A-label form", in: []Identifier{dns("\u0301a.example")}, want: one(KindMalformed, dns("\u0301a.example"), "has no valid A-label form")},
		{name: "invalid Punycode", in: []Identifier{dns("xn--zz.example")}, want: one(KindMalformed, dns("xn--zz.example"), `the label "xn--zz" is not a valid IDNA A-label: it is not valid Punycode`)},
		{name: "Punycode of a disallowed code point", in: []Identifier{dns("xn--a.example")}, want: one(KindMalformed, dns("xn--a.example"), `the label "xn--a" is not a valid IDNA A-label: it decodes to "\u0080", and IDNA2008 does not allow U+0080`)},
		{name: "Punycode of a non-NFC label", in: []Identifier{dns("xn--cafe-yvc.example")}, want: one(KindMalformed, dns("xn--cafe-yvc.example"), "the label \"xn--cafe-yvc\" is not a valid IDNA A-label: it decodes to \"cafe\u0301\", which breaks the IDNA2008 rules")},
		{name: "Punycode of plain ASCII ends with a hyphen", in: []Identifier{dns("xn--abc-.example")}, want: one(KindMalformed, dns("xn--abc-.example"), "begins or ends with a hyphen")},
		{name: "Punycode of a label starting with a combining mark", in: []Identifier{dns("xn--a-wbb.example")}, want: one(KindMalformed, dns("xn--a-wbb.example"), "the label \"xn--a-wbb\" is not a valid IDNA A-label: it decodes to \"\u0301a\", which breaks the IDNA2008 rules")},
		{name: "Punycode breaking the bidi rule", in: []Identifier{dns("xn--a-0hc.example")}, want: one(KindMalformed, dns("xn--a-0hc.example"), `the label "xn--a-0hc" is not a valid IDNA A-label: it decodes to "aא", which breaks the IDNA2008 rules`)},
		{name: "Punycode with a joiner out of context", in: []Identifier{dns("xn--ab-m1t.example")}, want: one(KindMalformed, dns("xn--ab-m1t.example"), `the label "xn--ab-m1t" is not a valid IDNA A-label: it decodes to "a\u200db", which breaks the IDNA2008 rules`)},
		{name: "Punycode of a surrogate", in: []Identifier{dns("xn--bb0c.example")}, want: one(KindMalformed, dns("xn--bb0c.example"), `the label "xn--bb0c" is not a valid IDNA A-label: its Punycode does not decode to Unicode characters one-to-one`)},
		// IDNA2008 (RFC 5892) refuses code points UTS #46, and so
		// x/net/idna, accepts: symbols, emoji, some exceptions.
		{name: "Punycode of an emoji", in: []Identifier{dns("xn--ls8h.example.com")}, want: one(KindMalformed, dns("xn--ls8h.example.com"), `the label "xn--ls8h" is not a valid IDNA A-label: it decodes to "💩", and IDNA2008 does not allow U+1F4A9 in a domain name`)},
		{name: "upper-case Punycode of an emoji", in: []Identifier{dns("XN--LS8H.example.com")}, want: one(KindMalformed, dns("XN--LS8H.example.com"), `the label "xn--ls8h" is not a valid IDNA A-label`)},
		{name: "wildcard over Punycode of an emoji", in: []Identifier{dns("*.xn--ls8h.example.com")}, want: one(KindMalformed, dns("*.xn--ls8h.example.com"), `does not allow U+1F4A9`)},
		{name: "Punycode of a letter and a symbol", in: []Identifier{dns("xn--i-7iq.ws")}, want: one(KindMalformed, dns("xn--i-7iq.ws"), `it decodes to "i❤", and IDNA2008 does not allow U+2764`)},
		{name: "Punycode of a snowman", in: []Identifier{dns("xn--n3h.example")}, want: one(KindMalformed, dns("xn--n3h.example"), "does not allow U+2603")},
		{name: "Punycode of a tatweel (exception)", in: []Identifier{dns("xn--ngba5e.example")}, want: one(KindMalformed, dns("xn--ngba5e.example"), "does not allow U+0640")},
		{name: "Punycode of an old Hangul jamo", in: []Identifier{dns("xn--ypd.example")}, want: one(KindMalformed, dns("xn--ypd.example"), "does not allow U+1100")},
		{name: "Punycode of a musical symbol mark", in: []Identifier{dns("xn--a-1k8q.example")}, want: one(KindMalformed, dns("xn--a-1k8q.example"), "does not allow U+1D165")},
		{name: "Punycode of a middle dot out of context", in: []Identifier{dns("xn--ab-0ea.example")}, want: one(KindMalformed, dns("xn--ab-0ea.example"), `it decodes to "a·b", and U+00B7 is allowed only between two "l"`)},
		{name: "Punycode of a keraia out of context", in: []Identifier{dns("xn--wva3j.example")}, want: one(KindMalformed, dns("xn--wva3j.example"), "U+0375 is allowed only before a Greek character")},
		{name: "Punycode of a geresh out of context", in: []Identifier{dns("xn--4db3e.example")}, want: one(KindMalformed, dns("xn--4db3e.example"), "U+05F3 is allowed only after a Hebrew character")},
		{name: "Punycode of a katakana middle dot out of context", in: []Identifier{dns("xn--ab-3n4a.example")}, want: one(KindMalformed, dns("xn--ab-3n4a.example"), "U+30FB is allowed only in a label with Hiragana, Katakana or Han characters")},
		{name: "Punycode mixing Arabic-Indic digit sets", in: []Identifier{dns("xn--ngb8iyr.example")}, want: one(KindMalformed, dns("xn--ngb8iyr.example"), "U+0661 is allowed only in a label without Extended Arabic-Indic digits")},
		// Unstable code points (RFC 5892 §2.2), refused by UTS #46.
		{name: "Punycode of an upper-case letter", in: []Identifier{dns("xn--wca.example")}, want: one(KindMalformed, dns("xn--wca.example"), `it decodes to "Ü", which breaks the IDNA2008 rules`)},
		{name: "Punycode of a Cherokee small letter", in: []Identifier{dns("xn--kz9a.example")}, want: one(KindMalformed, dns("xn--kz9a.example"), "which breaks the IDNA2008 rules")},
		{name: "Punycode of a compatibility ligature", in: []Identifier{dns("xn--jm6c.example")}, want: one(KindMalformed, dns("xn--jm6c.example"), "which breaks the IDNA2008 rules")},
		{name: "Unicode emoji gets no hint at a refused A-label", in: []Identifier{dns("💩.example.com")}, want: one(KindMalformed, dns("💩.example.com"), `has no valid A-label form: the label "xn--ls8h" is not a valid IDNA A-label`)},

		// Wildcards.
		{name: "bare asterisk", in: []Identifier{dns("*")}, want: one(KindMalformed, dns("*"), "entire leftmost label")},
		{name: "asterisk inside the leftmost label", in: []Identifier{dns("a*.example.com")}, want: one(KindMalformed, dns("a*.example.com"), "entire leftmost label")},
		{name: "asterisk in an inner label", in: []Identifier{dns("a.*.example.com")}, want: one(KindMalformed, dns("a.*.example.com"), "entire leftmost label")},
		{name: "two wildcard labels", in: []Identifier{dns("*.*.example.com")}, want: one(KindMalformed, dns("*.*.example.com"), "entire leftmost label")},
		{name: "double asterisk", in: []Identifier{dns("**.example.com")}, want: one(KindMalformed, dns("**.example.com"), "entire leftmost label")},
		{name: "wildcard with trailing dot", in: []Identifier{dns("*.example.com.")}, want: one(KindMalformed, dns("*.example.com."), "end with a dot")},
		{name: "wildcard of a malformed base", in: []Identifier{dns("*._x.example.com")}, want: one(KindMalformed, dns("*._x.example.com"), "underscore")},
		{name: "wildcard under a TLD", in: []Identifier{dns("*.com")}, want: one(KindRejectedIdentifier, dns("*.com"), `public suffix "com"`)},
		{name: "wildcard under an unlisted TLD", in: []Identifier{dns("*.corp")}, want: one(KindRejectedIdentifier, dns("*.corp"), `public suffix "corp"`)},
		{name: "wildcard under a two-label ICANN suffix", in: []Identifier{dns("*.co.uk")}, want: one(KindRejectedIdentifier, dns("*.co.uk"), `public suffix "co.uk"`)},
		{name: "wildcard denied by config", cfg: Config{DenyWildcard: true}, in: []Identifier{dns("*.example.com")}, want: one(KindRejectedIdentifier, dns("*.example.com"), "wildcard names are not allowed")},

		// IP addresses.
		{name: "not an address", in: []Identifier{ip("example.com")}, want: one(KindMalformed, ip("example.com"), "not a valid IP address")},
		{name: "IPv4 with a leading zero", in: []Identifier{ip("192.0.2.01")}, want: one(KindMalformed, ip("192.0.2.01"), "not a valid IP address")},
		{name: "IPv4 out of range", in: []Identifier{ip("192.0.2.256")}, want: one(KindMalformed, ip("192.0.2.256"), "not a valid IP address")},
		{name: "bracketed IPv6", in: []Identifier{ip("[2001:db8::1]")}, want: one(KindMalformed, ip("[2001:db8::1]"), "not a valid IP address")},
		{name: "CIDR", in: []Identifier{ip("192.0.2.0/24")}, want: one(KindMalformed, ip("192.0.2.0/24"), "not a valid IP address")},
		{name: "zone", in: []Identifier{ip("fe80::1%eth0")}, want: one(KindMalformed, ip("fe80::1%eth0"), "must not carry a zone")},
		{name: "IPv4-mapped IPv6", in: []Identifier{ip("::ffff:192.0.2.1")}, want: one(KindMalformed, ip("::ffff:192.0.2.1"), `request "192.0.2.1" instead`)},
		{name: "IPv4 unspecified", in: []Identifier{ip("0.0.0.0")}, want: one(KindRejectedIdentifier, ip("0.0.0.0"), "unspecified address")},
		{name: "IPv6 unspecified", in: []Identifier{ip("::")}, want: one(KindRejectedIdentifier, ip("::"), "unspecified address")},
		{name: "IPv4 multicast", in: []Identifier{ip("224.0.0.1")}, want: one(KindRejectedIdentifier, ip("224.0.0.1"), "multicast")},
		{name: "IPv6 multicast", in: []Identifier{ip("ff02::1")}, want: one(KindRejectedIdentifier, ip("ff02::1"), "multicast")},
		{name: "IP denied by config", cfg: Config{DenyIP: true}, in: []Identifier{ip("192.0.2.1")}, want: one(KindRejectedIdentifier, ip("192.0.2.1"), "IP address identifiers are not allowed")},
		{name: "malformed IP is malformed even when IP is denied", cfg: Config{DenyIP: true}, in: []Identifier{ip("nope")}, want: one(KindMalformed, ip("nope"), "not a valid IP address")},

		// Several refusals.
		{
			name: "subproblems name each refused identifier and no accepted one",
			in:   []Identifier{dns("ok.example.com"), dns("a_b.example.com"), ip("192.0.2.1"), dns("bad-.example.com"), dns("also-ok.example.com")},
			want: wantErr{
				Kind:   KindMalformed,
				Detail: `cannot issue for "a_b.example.com": the label "a_b" contains an underscore; "bad-.example.com": `,
				Sub: []wantSub{
					{Kind: KindMalformed, ID: dns("a_b.example.com"), Detail: "underscore"},
					{Kind: KindMalformed, ID: dns("bad-.example.com"), Detail: "hyphen"},
				},
			},
		},
		{
			name: "mixed kinds make a compound error",
			in:   []Identifier{dns("a_b.example.com"), dns("*.com"), {Type: "email", Value: "x@example.com"}},
			want: wantErr{
				Kind:   KindCompound,
				Detail: "cannot issue for",
				Sub: []wantSub{
					{Kind: KindMalformed, ID: dns("a_b.example.com"), Detail: "underscore"},
					{Kind: KindRejectedIdentifier, ID: dns("*.com"), Detail: "public suffix"},
					{Kind: KindUnsupportedIdentifier, ID: Identifier{Type: "email", Value: "x@example.com"}, Detail: "not supported"},
				},
			},
		},
		{
			name: "a repeated refused identifier yields one subproblem",
			in:   []Identifier{dns("a_b.example.com"), dns("a_b.example.com")},
			want: one(KindMalformed, dns("a_b.example.com"), "underscore"),
		},
		{
			name: "subproblems keep the identifier as sent",
			in:   []Identifier{dns("A_B.Example.com")},
			want: one(KindMalformed, dns("A_B.Example.com"), `"a_b"`),
		},
		{
			name: "long lists are summarised in the detail",
			in:   []Identifier{dns("a_1.example"), dns("a_2.example"), dns("a_3.example"), dns("a_4.example"), dns("a_5.example")},
			want: wantErr{
				Kind:   KindMalformed,
				Detail: `"a_3.example": the label "a_3" contains an underscore (and 2 more; see the subproblems)`,
				Sub: []wantSub{
					{Kind: KindMalformed, ID: dns("a_1.example"), Detail: "underscore"},
					{Kind: KindMalformed, ID: dns("a_2.example"), Detail: "underscore"},
					{Kind: KindMalformed, ID: dns("a_3.example"), Detail: "underscore"},
					{Kind: KindMalformed, ID: dns("a_4.example"), Detail: "underscore"},
					{Kind: KindMalformed, ID: dns("a_5.example"), Detail: "underscore"},
				},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := newPolicy(t, tc.cfg).CheckIdentifiers(tc.in)
			if got != nil {
				t.Errorf("CheckIdentifiers(%v) returned identifiers %v with a refusal", tc.in, got)
			}
			checkError(t, err, tc.want)
		})
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{name: "plain", err: &Error{Kind: KindBadCSR, Detail: "no CSR"}, want: "badCSR: no CSR"},
		{name: "with identifier", err: &Error{Kind: KindMalformed, Detail: "bad", Identifier: &Identifier{Type: TypeDNS, Value: "a_b.example"}}, want: `malformed: dns "a_b.example": bad`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}
