package policy

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// TestDirectoryListsAccept runs identifiers the directory's domain, pattern
// and network lists let through.
func TestDirectoryListsAccept(t *testing.T) {
	t.Parallel()
	allowExample := Config{AllowedDomains: []string{"example.com"}}
	tests := []struct {
		name string
		cfg  Config
		in   []Identifier
		want []Identifier
	}{
		// Allowed domains.
		{name: "the allowed domain itself", cfg: allowExample, in: []Identifier{dns("example.com")}, want: []Identifier{dns("example.com")}},
		{name: "deep subdomain", cfg: allowExample, in: []Identifier{dns("a.b.example.com")}, want: []Identifier{dns("a.b.example.com")}},
		{name: "wildcard whose base is the allowed domain", cfg: allowExample, in: []Identifier{dns("*.example.com")}, want: []Identifier{dns("*.example.com")}},
		{name: "wildcard whose base is under the allowed domain", cfg: allowExample, in: []Identifier{dns("*.a.example.com")}, want: []Identifier{dns("*.a.example.com")}},
		{name: "identifier case does not matter", cfg: allowExample, in: []Identifier{dns("WWW.Example.Com")}, want: []Identifier{dns("www.example.com")}},
		{name: "entries are normalised", cfg: Config{AllowedDomains: []string{"EXAMPLE.org.", "Bücher.example"}}, in: []Identifier{dns("www.example.org"), dns("shop.xn--bcher-kva.example")}, want: []Identifier{dns("www.example.org"), dns("shop.xn--bcher-kva.example")}},
		{name: "single-label suffix", cfg: Config{AllowedDomains: []string{"internal"}}, in: []Identifier{dns("db.corp.internal")}, want: []Identifier{dns("db.corp.internal")}},
		{name: "any of several domains", cfg: Config{AllowedDomains: []string{"example.net", "example.com"}}, in: []Identifier{dns("a.example.com"), dns("example.net")}, want: []Identifier{dns("a.example.com"), dns("example.net")}},
		{name: "domains do not restrict IP identifiers", cfg: allowExample, in: []Identifier{ip("192.0.2.1")}, want: []Identifier{ip("192.0.2.1")}},

		// Denied domains leave other names alone.
		{name: "sibling of a denied domain", cfg: Config{DeniedDomains: []string{"corp.example.com"}}, in: []Identifier{dns("www.example.com"), dns("corpx.example.com")}, want: []Identifier{dns("www.example.com"), dns("corpx.example.com")}},
		{name: "parent of a denied domain", cfg: Config{DeniedDomains: []string{"corp.example.com"}}, in: []Identifier{dns("example.com")}, want: []Identifier{dns("example.com")}},
		{name: "wildcard two labels above a denied domain", cfg: Config{DeniedDomains: []string{"a.corp.example.com"}}, in: []Identifier{dns("*.example.com")}, want: []Identifier{dns("*.example.com")}},

		// Patterns.
		{name: "single-label glob", cfg: Config{AllowedPatterns: []string{"*.svc.example.com"}}, in: []Identifier{dns("api.svc.example.com")}, want: []Identifier{dns("api.svc.example.com")}},
		{name: "multi-label glob, one label", cfg: Config{AllowedPatterns: []string{"**.dev.example.com"}}, in: []Identifier{dns("a.dev.example.com")}, want: []Identifier{dns("a.dev.example.com")}},
		{name: "multi-label glob, three labels", cfg: Config{AllowedPatterns: []string{"**.dev.example.com"}}, in: []Identifier{dns("a.b.c.dev.example.com")}, want: []Identifier{dns("a.b.c.dev.example.com")}},
		{name: "glob in the middle", cfg: Config{AllowedPatterns: []string{"www.*.example.com"}}, in: []Identifier{dns("www.eu.example.com")}, want: []Identifier{dns("www.eu.example.com")}},
		{name: "exact pattern", cfg: Config{AllowedPatterns: []string{"www.example.com"}}, in: []Identifier{dns("www.example.com")}, want: []Identifier{dns("www.example.com")}},
		{name: "wildcard matched by a single-label glob", cfg: Config{AllowedPatterns: []string{"*.svc.example.com"}}, in: []Identifier{dns("*.svc.example.com")}, want: []Identifier{dns("*.svc.example.com")}},
		{name: "wildcard matched by a multi-label glob", cfg: Config{AllowedPatterns: []string{"**.dev.example.com"}}, in: []Identifier{dns("*.a.dev.example.com")}, want: []Identifier{dns("*.a.dev.example.com")}},
		{name: "pattern literal labels are normalised", cfg: Config{AllowedPatterns: []string{"*.SVC.Example.com."}}, in: []Identifier{dns("x.svc.example.com")}, want: []Identifier{dns("x.svc.example.com")}},
		{name: "domains or patterns: the domain", cfg: Config{AllowedDomains: []string{"example.org"}, AllowedPatterns: []string{"*.svc.example.com"}}, in: []Identifier{dns("a.example.org")}, want: []Identifier{dns("a.example.org")}},
		{name: "domains or patterns: the pattern", cfg: Config{AllowedDomains: []string{"example.org"}, AllowedPatterns: []string{"*.svc.example.com"}}, in: []Identifier{dns("a.svc.example.com")}, want: []Identifier{dns("a.svc.example.com")}},
		{name: "denied pattern misses", cfg: Config{DeniedPatterns: []string{"admin.*.example.com"}}, in: []Identifier{dns("admin.example.com"), dns("www.eu.example.com")}, want: []Identifier{dns("admin.example.com"), dns("www.eu.example.com")}},
		{name: "wildcard does not cover a denied pattern needing two labels", cfg: Config{DeniedPatterns: []string{"**.dev.example.com"}}, in: []Identifier{dns("*.example.com")}, want: []Identifier{dns("*.example.com")}},

		// Networks.
		{name: "IPv4 in an allowed network", cfg: Config{AllowedCIDRs: prefixes("10.0.0.0/8", "2001:db8::/32")}, in: []Identifier{ip("10.1.2.3")}, want: []Identifier{ip("10.1.2.3")}},
		{name: "IPv6 in an allowed network", cfg: Config{AllowedCIDRs: prefixes("10.0.0.0/8", "2001:db8::/32")}, in: []Identifier{ip("2001:DB8:0:1::5")}, want: []Identifier{ip("2001:db8:0:1::5")}},
		{name: "single-address network", cfg: Config{AllowedCIDRs: prefixes("192.0.2.7/32")}, in: []Identifier{ip("192.0.2.7")}, want: []Identifier{ip("192.0.2.7")}},
		{name: "networks do not restrict DNS identifiers", cfg: Config{AllowedCIDRs: prefixes("10.0.0.0/8")}, in: []Identifier{dns("example.com")}, want: []Identifier{dns("example.com")}},
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

// TestDirectoryListsRefuse runs identifiers the directory's lists refuse.
func TestDirectoryListsRefuse(t *testing.T) {
	t.Parallel()
	allowExample := Config{AllowedDomains: []string{"example.com"}}
	denyCorp := Config{AllowedDomains: []string{"example.com"}, DeniedDomains: []string{"corp.example.com"}}
	rej := KindRejectedIdentifier
	tests := []struct {
		name string
		cfg  Config
		in   []Identifier
		want wantErr
	}{
		// Allowed domains.
		{name: "suffix without a label boundary", cfg: allowExample, in: []Identifier{dns("badexample.com")}, want: one(rej, dns("badexample.com"), "badexample.com is not under a domain this directory allows (example.com)")},
		{name: "parent of the allowed domain", cfg: Config{AllowedDomains: []string{"a.example.com"}}, in: []Identifier{dns("example.com")}, want: one(rej, dns("example.com"), "not under a domain this directory allows (a.example.com)")},
		{name: "wildcard above the allowed domain", cfg: Config{AllowedDomains: []string{"a.example.com"}}, in: []Identifier{dns("*.example.com")}, want: one(rej, dns("*.example.com"), "*.example.com is not under a domain")},
		{name: "other domain", cfg: allowExample, in: []Identifier{dns("example.org")}, want: one(rej, dns("example.org"), "not under a domain")},
		{name: "long allow-lists are summarised", cfg: Config{AllowedDomains: []string{"a.example", "b.example", "c.example", "d.example", "e.example", "f.example", "g.example"}}, in: []Identifier{dns("example.org")}, want: one(rej, dns("example.org"), "(a.example, b.example, c.example, d.example, e.example and 2 more)")},
		{name: "repeated entries are listed once", cfg: Config{AllowedDomains: []string{"example.com", "EXAMPLE.com."}}, in: []Identifier{dns("example.org")}, want: one(rej, dns("example.org"), "allows (example.com)")},

		// Denied domains, which beat allowed ones.
		{name: "under a denied domain", cfg: denyCorp, in: []Identifier{dns("www.corp.example.com")}, want: one(rej, dns("www.corp.example.com"), "www.corp.example.com is under the denied domain corp.example.com")},
		{name: "the denied domain itself", cfg: denyCorp, in: []Identifier{dns("corp.example.com")}, want: one(rej, dns("corp.example.com"), "corp.example.com is a denied domain")},
		{name: "denied without an allow-list", cfg: Config{DeniedDomains: []string{"corp.example"}}, in: []Identifier{dns("www.corp.example")}, want: one(rej, dns("www.corp.example"), "www.corp.example is under the denied domain corp.example")},
		{name: "deny of the allowed domain wins", cfg: Config{AllowedDomains: []string{"example.com"}, DeniedDomains: []string{"example.com"}}, in: []Identifier{dns("a.example.com")}, want: one(rej, dns("a.example.com"), "under the denied domain example.com")},
		{name: "deny beats an allowed pattern", cfg: Config{AllowedPatterns: []string{"**.example.com"}, DeniedDomains: []string{"corp.example.com"}}, in: []Identifier{dns("a.corp.example.com")}, want: one(rej, dns("a.corp.example.com"), "under the denied domain corp.example.com")},
		{name: "most specific denied domain named", cfg: Config{DeniedDomains: []string{"example.com", "corp.example.com"}}, in: []Identifier{dns("a.corp.example.com")}, want: one(rej, dns("a.corp.example.com"), "under the denied domain corp.example.com")},
		{name: "wildcard whose base is denied", cfg: denyCorp, in: []Identifier{dns("*.corp.example.com")}, want: one(rej, dns("*.corp.example.com"), "*.corp.example.com is under the denied domain corp.example.com")},
		{name: "wildcard covering a denied domain", cfg: denyCorp, in: []Identifier{dns("*.example.com")}, want: one(rej, dns("*.example.com"), "*.example.com would cover the denied domain corp.example.com")},
		{name: "denied entries are normalised", cfg: Config{DeniedDomains: []string{"Bücher.Example."}}, in: []Identifier{dns("www.xn--bcher-kva.example")}, want: one(rej, dns("www.xn--bcher-kva.example"), "under the denied domain xn--bcher-kva.example")},

		// Patterns.
		{name: "single-label glob needs exactly one label", cfg: Config{AllowedPatterns: []string{"*.svc.example.com"}}, in: []Identifier{dns("a.b.svc.example.com")}, want: one(rej, dns("a.b.svc.example.com"), "a.b.svc.example.com does not match a pattern this directory allows (*.svc.example.com)")},
		{name: "single-label glob needs a label", cfg: Config{AllowedPatterns: []string{"*.svc.example.com"}}, in: []Identifier{dns("svc.example.com")}, want: one(rej, dns("svc.example.com"), "does not match a pattern")},
		{name: "multi-label glob needs a label", cfg: Config{AllowedPatterns: []string{"**.dev.example.com"}}, in: []Identifier{dns("dev.example.com")}, want: one(rej, dns("dev.example.com"), "does not match a pattern this directory allows (**.dev.example.com)")},
		{name: "exact pattern is no suffix", cfg: Config{AllowedPatterns: []string{"www.example.com"}}, in: []Identifier{dns("a.www.example.com")}, want: one(rej, dns("a.www.example.com"), "does not match a pattern")},
		{name: "wildcard not matched by a literal label", cfg: Config{AllowedPatterns: []string{"www.example.com"}}, in: []Identifier{dns("*.example.com")}, want: one(rej, dns("*.example.com"), "does not match a pattern")},
		{name: "neither domain nor pattern", cfg: Config{AllowedDomains: []string{"example.org"}, AllowedPatterns: []string{"*.svc.example.com"}}, in: []Identifier{dns("www.example.com")}, want: one(rej, dns("www.example.com"), "www.example.com is neither under a domain nor matching a pattern this directory allows (domains: example.org; patterns: *.svc.example.com)")},
		{name: "denied pattern", cfg: Config{DeniedPatterns: []string{"admin.*.example.com"}}, in: []Identifier{dns("admin.eu.example.com")}, want: one(rej, dns("admin.eu.example.com"), "admin.eu.example.com matches the denied pattern admin.*.example.com")},
		{name: "denied pattern beats an allowed domain", cfg: Config{AllowedDomains: []string{"example.com"}, DeniedPatterns: []string{"**.test.example.com"}}, in: []Identifier{dns("a.b.test.example.com")}, want: one(rej, dns("a.b.test.example.com"), "matches the denied pattern **.test.example.com")},
		{name: "denied pattern beats the same allowed pattern", cfg: Config{AllowedPatterns: []string{"*.example.com"}, DeniedPatterns: []string{"*.example.com"}}, in: []Identifier{dns("a.example.com")}, want: one(rej, dns("a.example.com"), "matches the denied pattern *.example.com")},
		{name: "wildcard covering a denied exact name", cfg: Config{DeniedPatterns: []string{"admin.example.com"}}, in: []Identifier{dns("*.example.com")}, want: one(rej, dns("*.example.com"), "*.example.com would cover names matching the denied pattern admin.example.com")},
		{name: "wildcard covering a denied multi-label glob", cfg: Config{DeniedPatterns: []string{"**.dev.example.com"}}, in: []Identifier{dns("*.dev.example.com")}, want: one(rej, dns("*.dev.example.com"), "would cover names matching the denied pattern **.dev.example.com")},

		// Networks.
		{name: "IPv4 outside the allowed networks", cfg: Config{AllowedCIDRs: prefixes("10.0.0.0/8", "2001:db8::/32")}, in: []Identifier{ip("192.0.2.1")}, want: one(rej, ip("192.0.2.1"), "192.0.2.1 is not in a network this directory allows (10.0.0.0/8, 2001:db8::/32)")},
		{name: "IPv6 outside the allowed networks", cfg: Config{AllowedCIDRs: prefixes("10.0.0.0/8", "2001:db8::/32")}, in: []Identifier{ip("2001:db9::1")}, want: one(rej, ip("2001:db9::1"), "2001:db9::1 is not in a network")},
		{name: "IPv6 only: IPv4 refused", cfg: Config{AllowedCIDRs: prefixes("::/0")}, in: []Identifier{ip("10.0.0.1")}, want: one(rej, ip("10.0.0.1"), "not in a network this directory allows (::/0)")},
		{name: "just past the network", cfg: Config{AllowedCIDRs: prefixes("192.0.2.0/25")}, in: []Identifier{ip("192.0.2.128")}, want: one(rej, ip("192.0.2.128"), "not in a network")},
		{name: "multicast refused before the networks", cfg: Config{AllowedCIDRs: prefixes("224.0.0.0/4")}, in: []Identifier{ip("224.0.0.1")}, want: one(rej, ip("224.0.0.1"), "multicast")},

		// Order of checks and per-identifier sub-errors.
		{name: "malformed before unwilling", cfg: allowExample, in: []Identifier{dns("a_b.example.org")}, want: one(KindMalformed, dns("a_b.example.org"), "underscore")},
		{name: "wildcard switch before the lists", cfg: Config{DenyWildcard: true, AllowedDomains: []string{"example.com"}}, in: []Identifier{dns("*.example.org")}, want: one(rej, dns("*.example.org"), "wildcard names are not allowed")},
		{name: "public suffix rule before the lists", cfg: Config{AllowedDomains: []string{"com"}}, in: []Identifier{dns("*.com")}, want: one(rej, dns("*.com"), `public suffix "com"`)},
		{
			name: "one sub-error per refused identifier",
			cfg:  Config{AllowedDomains: []string{"example.com"}, DeniedDomains: []string{"corp.example.com"}, AllowedCIDRs: prefixes("10.0.0.0/8")},
			in:   []Identifier{dns("www.example.com"), dns("www.example.org"), dns("db.corp.example.com"), ip("10.0.0.1"), ip("192.0.2.1"), dns("x_y.example.com")},
			want: wantErr{
				Kind:   KindCompound,
				Detail: `cannot issue for "www.example.org": www.example.org is not under a domain this directory allows (example.com); "db.corp.example.com": `,
				Sub: []wantSub{
					{Kind: rej, ID: dns("www.example.org"), Detail: "not under a domain"},
					{Kind: rej, ID: dns("db.corp.example.com"), Detail: "under the denied domain corp.example.com"},
					{Kind: rej, ID: ip("192.0.2.1"), Detail: "not in a network"},
					{Kind: KindMalformed, ID: dns("x_y.example.com"), Detail: "underscore"},
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
