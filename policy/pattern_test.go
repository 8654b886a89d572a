package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPatternMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, name string
		// allow is the answer for allow-lists, deny for deny-lists; they
		// differ only for wildcard names.
		allow, deny bool
	}{
		{pattern: "*.svc.example.com", name: "a.svc.example.com", allow: true, deny: true},
		{pattern: "*.svc.example.com", name: "svc.example.com"},
		{pattern: "*.svc.example.com", name: "a.b.svc.example.com"},
		{pattern: "*.svc.example.com", name: "a.svc.example.org"},
		{pattern: "**.dev.example.com", name: "a.dev.example.com", allow: true, deny: true},
		{pattern: "**.dev.example.com", name: "a.b.c.dev.example.com", allow: true, deny: true},
		{pattern: "**.dev.example.com", name: "dev.example.com"},
		{pattern: "**.dev.example.com", name: "a.dev.example.org"},
		{pattern: "**.dev.example.com", name: "a.xdev.example.com"},
		{pattern: "www.example.com", name: "www.example.com", allow: true, deny: true},
		{pattern: "www.example.com", name: "a.www.example.com"},
		{pattern: "a.*.example.com", name: "a.b.example.com", allow: true, deny: true},
		{pattern: "a.*.example.com", name: "b.b.example.com"},
		{pattern: "a.**.z", name: "a.b.c.d.z", allow: true, deny: true},
		{pattern: "a.**.z", name: "a.z"},
		{pattern: "**.**.example", name: "a.example"},
		{pattern: "**.**.example", name: "a.b.example", allow: true, deny: true},
		{pattern: "**.x.**.example", name: "a.x.b.x.c.example", allow: true, deny: true},
		{pattern: "**.x.**.example", name: "a.x.example"},
		{pattern: "**", name: "any.thing", allow: true, deny: true},
		{pattern: "*.*", name: "any.thing", allow: true, deny: true},
		{pattern: "*.*", name: "a.any.thing"},

		// Wildcard identifiers: allowed only when every covered name
		// matches, denied when any does.
		{pattern: "*.svc.example.com", name: "*.svc.example.com", allow: true, deny: true},
		{pattern: "**.svc.example.com", name: "*.svc.example.com", allow: true, deny: true},
		{pattern: "**.svc.example.com", name: "*.a.svc.example.com", allow: true, deny: true},
		{pattern: "api.svc.example.com", name: "*.svc.example.com", allow: false, deny: true},
		{pattern: "a.*.example.com", name: "*.b.example.com", allow: false, deny: true},
		{pattern: "a.b.example.com", name: "*.example.com"},
		{pattern: "**.dev.example.com", name: "*.example.com"},
		{pattern: "*.svc.example.com", name: "*.example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.name, func(t *testing.T) {
			t.Parallel()
			pt, err := compilePattern(tc.pattern)
			if err != nil {
				t.Fatalf("compilePattern(%q): %v", tc.pattern, err)
			}
			labels := strings.Split(tc.name, ".")
			if got := pt.matches(labels, false); got != tc.allow {
				t.Errorf("matches(%q, allow) = %v, want %v", tc.name, got, tc.allow)
			}
			if got := pt.matches(labels, true); got != tc.deny {
				t.Errorf("matches(%q, deny) = %v, want %v", tc.name, got, tc.deny)
			}
		})
	}
}

func TestCompilePatternNormalises(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{in: "*.SVC.Example.com.", want: []string{"*", "svc", "example", "com"}},
		{in: "**.bücher.example", want: []string{"**", "xn--bcher-kva", "example"}},
		{in: "**", want: []string{"**"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			pt, err := compilePattern(tc.in)
			if err != nil {
				t.Fatalf("compilePattern(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, pt.labels); diff != "" {
				t.Errorf("compilePattern(%q) labels (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// TestPatternMatchIsPolynomial guards against backtracking: a pattern of many
// "**" globs against a long name that does not match would take
// exponential time.
func TestPatternMatchIsPolynomial(t *testing.T) {
	t.Parallel()
	pt, err := compilePattern(strings.Repeat("**.", 40) + "example")
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Split(strings.Repeat("a.", 120)+"example.org", ".")
	start := time.Now()
	if pt.matches(name, false) {
		t.Fatal("the pattern matched a name with another TLD")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("matching took %s", d)
	}
}
