package policy

import "testing"

func TestPreValidated(t *testing.T) {
	t.Parallel()
	cfg := Config{PreValidatedDomains: []string{"example.com", "Corp.Example.COM.", "bücher.example"}}
	tests := []struct {
		name       string
		cfg        Config
		id         Identifier
		wantDomain string
		wantOK     bool
	}{
		{name: "the domain itself", cfg: cfg, id: dns("example.com"), wantDomain: "example.com", wantOK: true},
		{name: "a name under it", cfg: cfg, id: dns("a.b.example.com"), wantDomain: "example.com", wantOK: true},
		{name: "the most specific domain", cfg: cfg, id: dns("db.corp.example.com"), wantDomain: "corp.example.com", wantOK: true},
		{name: "wildcard by its base", cfg: cfg, id: dns("*.example.com"), wantDomain: "example.com", wantOK: true},
		{name: "wildcard under a domain", cfg: cfg, id: dns("*.corp.example.com"), wantDomain: "corp.example.com", wantOK: true},
		{name: "normalised entry, A-label identifier", cfg: cfg, id: dns("www.xn--bcher-kva.example"), wantDomain: "xn--bcher-kva.example", wantOK: true},
		{name: "identifier case does not matter", cfg: cfg, id: dns("WWW.Example.com"), wantDomain: "example.com", wantOK: true},
		{name: "suffix without a label boundary", cfg: cfg, id: dns("badexample.com")},
		{name: "wildcard above the domain", cfg: Config{PreValidatedDomains: []string{"a.example.com"}}, id: dns("*.example.com")},
		{name: "parent of the domain", cfg: Config{PreValidatedDomains: []string{"a.example.com"}}, id: dns("example.com")},
		{name: "other domain", cfg: cfg, id: dns("example.org")},
		{name: "IPv4 identifier", cfg: cfg, id: ip("192.0.2.1")},
		{name: "IP identifier whose text is a covered name", cfg: cfg, id: ip("example.com")},
		{name: "no pre-validated domains", id: dns("example.com")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			domain, ok := newPolicy(t, tc.cfg).PreValidated(tc.id)
			if domain != tc.wantDomain || ok != tc.wantOK {
				t.Errorf("PreValidated(%v) = %q, %v; want %q, %v", tc.id, domain, ok, tc.wantDomain, tc.wantOK)
			}
		})
	}
}

func TestSkipsValidation(t *testing.T) {
	t.Parallel()
	for _, skip := range []bool{false, true} {
		if got := newPolicy(t, Config{SkipValidation: skip}).SkipsValidation(); got != skip {
			t.Errorf("SkipsValidation() with SkipValidation %v = %v", skip, got)
		}
	}
}
