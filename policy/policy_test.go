package policy

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" for success
	}{
		{name: "zero config", cfg: Config{}},
		{name: "full config", cfg: Config{MaxNames: 10, RSAMinBits: 3072, RSAMaxBits: 16384, AccountCurves: []string{"P-256"}, CertificateCurves: []string{"P-256", "P-384", "P-521"}}},
		{name: "negative MaxNames", cfg: Config{MaxNames: -1}, wantErr: "MaxNames -1 is negative"},
		{name: "RSA minimum below 2048", cfg: Config{RSAMinBits: 1024}, wantErr: "RSAMinBits 1024 is below 2048"},
		{name: "RSA maximum above 16384", cfg: Config{RSAMaxBits: 16392}, wantErr: "RSAMaxBits 16392 is above 16384"},
		{name: "RSA minimum above the default maximum", cfg: Config{RSAMinBits: 9000}, wantErr: "RSAMinBits 9000 is above RSAMaxBits 8192"},
		{name: "RSA minimum above the maximum", cfg: Config{RSAMinBits: 4096, RSAMaxBits: 3072}, wantErr: "RSAMinBits 4096 is above RSAMaxBits 3072"},
		{name: "account RSA maximum", cfg: Config{RSAMinBits: 3072, AccountRSAMaxBits: 3072}},
		{name: "account RSA maximum of 4096", cfg: Config{AccountRSAMaxBits: 4096, RSAMaxBits: 16384}},
		{name: "account RSA maximum above 4096", cfg: Config{AccountRSAMaxBits: 4097}, wantErr: "AccountRSAMaxBits 4097 is above 4096: the JWS library (go-jose) cannot parse larger RSA keys"},
		{name: "account RSA maximum of 8192", cfg: Config{RSAMaxBits: 8192, AccountRSAMaxBits: 8192}, wantErr: "AccountRSAMaxBits 8192 is above 4096"},
		{name: "RSA minimum above the account maximum", cfg: Config{RSAMinBits: 3072, AccountRSAMaxBits: 2048}, wantErr: "RSAMinBits 3072 is above AccountRSAMaxBits 2048"},
		{name: "RSA minimum above every account key", cfg: Config{RSAMinBits: 6144}},
		{name: "RSA minimum above every account key, RSA only", cfg: Config{RSAMinBits: 6144, AllowedKeyTypes: []string{"RSA"}}, wantErr: "RSAMinBits 6144 is above the largest RSA account key (4096 bits) and AllowedKeyTypes allows no other account key type"},
		{name: "misspelt account curve", cfg: Config{AccountCurves: []string{"P256"}}, wantErr: `AccountCurves: unknown curve "P256"`},
		{name: "P-224 certificate curve", cfg: Config{CertificateCurves: []string{"P-256", "P-224"}}, wantErr: `CertificateCurves: unknown curve "P-224"`},

		// Domains.
		{name: "domains normalised", cfg: Config{AllowedDomains: []string{"Example.COM.", "bücher.example", "internal"}, DeniedDomains: []string{"corp.example.com"}, PreValidatedDomains: []string{"example.com"}}},
		{name: "empty domain", cfg: Config{AllowedDomains: []string{"example.com", ""}}, wantErr: `AllowedDomains: "": the domain is empty`},
		{name: "lone dot", cfg: Config{DeniedDomains: []string{"."}}, wantErr: `DeniedDomains: ".": the domain is empty`},
		{name: "wildcard domain", cfg: Config{AllowedDomains: []string{"*.example.com"}}, wantErr: `AllowedDomains: "*.example.com": a domain must not contain "*"`},
		{name: "leading dot", cfg: Config{DeniedDomains: []string{".example.com"}}, wantErr: `DeniedDomains: ".example.com": a domain must not start with a dot`},
		{name: "empty label", cfg: Config{AllowedDomains: []string{"example..com"}}, wantErr: `"example..com": the DNS name contains an empty label`},
		{name: "underscore in a domain", cfg: Config{PreValidatedDomains: []string{"_acme.example.com"}}, wantErr: `PreValidatedDomains: "_acme.example.com": the label "_acme" contains an underscore`},
		{name: "IP address as a domain", cfg: Config{AllowedDomains: []string{"192.0.2.1"}}, wantErr: "an IP address is not a domain; put networks in AllowedCIDRs"},
		{name: "all-numeric TLD domain", cfg: Config{DeniedDomains: []string{"10.0.0"}}, wantErr: `the top-level label "0" is all-numeric`},
		{name: "bad A-label domain", cfg: Config{AllowedDomains: []string{"xn--zz.example"}}, wantErr: "not a valid IDNA A-label"},
		{name: "A-label domain IDNA2008 disallows", cfg: Config{AllowedDomains: []string{"xn--ls8h.example"}}, wantErr: `AllowedDomains: "xn--ls8h.example": the label "xn--ls8h" is not a valid IDNA A-label: it decodes to "💩", and IDNA2008 does not allow U+1F4A9`},
		{name: "Unicode domain IDNA2008 disallows", cfg: Config{DeniedDomains: []string{"💩.example"}}, wantErr: `DeniedDomains: "💩.example": the label "xn--ls8h" is not a valid IDNA A-label`},
		{name: "non-ASCII domain without an A-label", cfg: Config{AllowedDomains: []string{"\u0301a.example"}}, wantErr: "has no valid A-label form"},
		{name: "overlong domain", cfg: Config{AllowedDomains: []string{nameOfLength(254)}}, wantErr: "254 characters long; the maximum is 253"},

		// Patterns.
		{name: "patterns", cfg: Config{AllowedPatterns: []string{"*.svc.example.com", "**.dev.Example.com.", "www.example.com", "a.**.*.example"}, DeniedPatterns: []string{"admin.*.example.com"}}},
		{name: "empty pattern", cfg: Config{AllowedPatterns: []string{""}}, wantErr: `AllowedPatterns: "": the pattern is empty`},
		{name: "glob inside a label", cfg: Config{AllowedPatterns: []string{"web-*.example.com"}}, wantErr: `AllowedPatterns: "web-*.example.com": the label "web-*" mixes "*" with other characters`},
		{name: "triple asterisk", cfg: Config{DeniedPatterns: []string{"***.example.com"}}, wantErr: `DeniedPatterns: "***.example.com": the label "***" mixes`},
		{name: "pattern with an empty label", cfg: Config{DeniedPatterns: []string{"*..example.com"}}, wantErr: "the pattern contains an empty label"},
		{name: "pattern with a leading dot", cfg: Config{AllowedPatterns: []string{".example.com"}}, wantErr: "the pattern contains an empty label"},
		{name: "pattern with an underscore", cfg: Config{AllowedPatterns: []string{"*._tcp.example.com"}}, wantErr: `the label "_tcp" contains an underscore`},
		{name: "pattern with an A-label IDNA2008 disallows", cfg: Config{DeniedPatterns: []string{"*.xn--ls8h.example"}}, wantErr: `DeniedPatterns: "*.xn--ls8h.example": the label "xn--ls8h" is not a valid IDNA A-label`},
		{name: "pattern with a bad A-label", cfg: Config{AllowedPatterns: []string{"*.xn--zz.example"}}, wantErr: "not a valid IDNA A-label"},

		// Networks.
		{name: "CIDRs", cfg: Config{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("192.0.2.7/32")}}},
		{name: "invalid CIDR", cfg: Config{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), {}}}, wantErr: "AllowedCIDRs: entry 2 is not a valid network prefix"},
		{name: "CIDR with host bits", cfg: Config{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24")}}, wantErr: "192.0.2.1/24 has host bits set; did you mean 192.0.2.0/24?"},
		{name: "IPv6 CIDR with host bits", cfg: Config{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("2001:db8::1/64")}}, wantErr: "did you mean 2001:db8::/64?"},
		{name: "IPv4-mapped CIDR", cfg: Config{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("::ffff:192.0.2.0/120")}}, wantErr: "is an IPv4-mapped IPv6 prefix"},
		{name: "CIDRs with IP identifiers denied", cfg: Config{DenyIP: true, AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, wantErr: "AllowedCIDRs is set but DenyIP refuses every IP identifier"},

		// Validity.
		{name: "max validity", cfg: Config{MaxValidity: 90 * 24 * time.Hour}},
		{name: "negative max validity", cfg: Config{MaxValidity: -time.Hour}, wantErr: "MaxValidity -1h0m0s is negative"},

		// Key blocklist and key types.
		{name: "blocked keys in either case", cfg: Config{BlockedKeys: []string{strings.Repeat("ab", 32), strings.Repeat("CD", 32)}}},
		{name: "blocked key too short", cfg: Config{BlockedKeys: []string{strings.Repeat("ab", 20)}}, wantErr: "is not a SHA-256 in hex (64 hex digits)"},
		{name: "blocked key not hex", cfg: Config{BlockedKeys: []string{strings.Repeat("zz", 32)}}, wantErr: "is not a SHA-256 in hex"},
		{name: "key types", cfg: Config{AllowedKeyTypes: []string{"ecdsa", "Ed25519"}}},
		{name: "unknown key type", cfg: Config{AllowedKeyTypes: []string{"RSA", "DSA"}}, wantErr: `AllowedKeyTypes: unknown key type "DSA"`},
		{name: "Ed25519 only", cfg: Config{AllowedKeyTypes: []string{"Ed25519"}}, wantErr: "must include RSA or ECDSA: certificate keys are never Ed25519"},
		{name: "Ed25519 listed and denied", cfg: Config{AllowedKeyTypes: []string{"ECDSA", "Ed25519"}, DenyEd25519AccountKeys: true}, wantErr: "AllowedKeyTypes lists Ed25519 but DenyEd25519AccountKeys refuses it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := New(tc.cfg)
			if tc.wantErr == "" {
				if err != nil || p == nil {
					t.Fatalf("New(%+v) = %v, %v; want a policy", tc.cfg, p, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New(%+v) error = %v, want it to contain %q", tc.cfg, err, tc.wantErr)
			}
			if p != nil {
				t.Errorf("New(%+v) returned a policy with an error", tc.cfg)
			}
		})
	}
}
