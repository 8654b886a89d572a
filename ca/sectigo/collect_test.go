package sectigo_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/acmegate/acmegate/ca/sectigo"
	"github.com/acmegate/acmegate/ca/sectigo/sectigotest"
)

// TestCollectFormats: every bundle format, in both path forms and with one
// or two intermediates, yields leaf, intermediates, no root: SCM sends
// x509 and pem root first (upstream-apis.md §1.5).
func TestCollectFormats(t *testing.T) {
	t.Parallel()
	for _, inters := range []int{1, 2} {
		srv := sectigotest.Start(t, sectigotest.Config{Intermediates: inters})
		for _, format := range []string{"x509", "x509R", "pem", "pemia"} {
			for _, legacy := range []bool{false, true} {
				t.Run(fmt.Sprintf("%d/%s/legacy=%v", inters, format, legacy), func(t *testing.T) {
					b := newBackend(t, srv, func(c *sectigo.Config) {
						c.CollectFormat = format
						c.LegacyCollectPath = legacy
					})
					orderID := fmt.Sprintf("c%d-%s-%v", inters, format, legacy)
					res := mustIssuePending(t, b, issueRequest(t, orderID, orderID+".example.com"))
					done, _, err := pollUntilDone(t, b, res.Ref, 2)
					if err != nil {
						t.Fatal(err)
					}
					verifyChain(t, srv, done.Chain)
					var collect *sectigotest.Request
					for _, r := range srv.Requests() {
						if strings.Contains(r.Path, "/collect/"+res.Ref) {
							collect = &r
						}
					}
					switch {
					case collect == nil:
						t.Fatal("no collect request")
					case legacy && (collect.Path != "/api/ssl/v1/collect/"+res.Ref+"/"+format || collect.RawQuery != ""):
						t.Errorf("legacy collect went to %s?%s", collect.Path, collect.RawQuery)
					case !legacy && (collect.Path != "/api/ssl/v1/collect/"+res.Ref || collect.Query().Get("format") != format):
						t.Errorf("collect went to %s?%s", collect.Path, collect.RawQuery)
					}
				})
			}
		}
	}
}

// TestBaseURLForms: the instance root with or without "/api" reaches the
// same API.
func TestBaseURLForms(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{})
	for _, suffix := range []string{"", "/", "/api", "/api/"} {
		b := newBackend(t, srv, func(c *sectigo.Config) { c.BaseURL = srv.URL() + suffix })
		if err := b.Check(testContext(t)); err != nil {
			t.Errorf("BaseURL %q: %v", srv.URL()+suffix, err)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{})
	tests := []struct {
		name string
		mod  func(*sectigo.Config)
		want string
	}{
		{"no base URL", func(c *sectigo.Config) { c.BaseURL = "" }, "BaseURL is required"},
		{"ftp", func(c *sectigo.Config) { c.BaseURL = "ftp://example.com" }, "https"},
		{"credentials in URL", func(c *sectigo.Config) { c.BaseURL = "https://u:p@example.com" }, "must not carry credentials"},
		{"no customer", func(c *sectigo.Config) { c.CustomerURI = "" }, "CustomerURI"},
		{"no login", func(c *sectigo.Config) { c.Login = "" }, "Login"},
		{"no password", func(c *sectigo.Config) { c.Password = "" }, "Password is required"},
		{"line break", func(c *sectigo.Config) { c.Login = "a\r\nX-Evil: 1" }, "line breaks"},
		{"no org", func(c *sectigo.Config) { c.OrgID = 0 }, "OrgID"},
		{"no profiles", func(c *sectigo.Config) { c.Profiles = nil }, "profile"},
		{"unnamed profile", func(c *sectigo.Config) { c.Profiles[0].Name = "" }, "no name"},
		{"twice", func(c *sectigo.Config) { c.Profiles[1].Name = c.Profiles[0].Name }, "twice"},
		{"no cert type", func(c *sectigo.Config) { c.Profiles[0].CertTypeID = 0 }, "CertTypeID"},
		{"no term", func(c *sectigo.Config) { c.Profiles[0].Term = 0 }, "Term"},
		{"PKCS#7 format", func(c *sectigo.Config) { c.CollectFormat = "base64" }, "CollectFormat"},
		{"negative interval", func(c *sectigo.Config) { c.PollInterval = -1 }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(srv)
			tt.mod(&cfg)
			_, err := sectigo.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error about %q", err, tt.want)
			}
		})
	}
}
