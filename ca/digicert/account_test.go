package digicert_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/digicert"
	"github.com/acmegate/acmegate/ca/digicert/digicerttest"
)

func TestListings(t *testing.T) {
	t.Parallel()
	f := newFixture(t, digicerttest.Config{Mode: digicerttest.ModePending, PendingPolls: 100}, nil)
	ctx := testContext(t)

	products, err := f.b.ListProducts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range products {
		ids = append(ids, p.NameID)
	}
	if diff := cmp.Diff([]string{"ssl_basic", "ssl_securesite_flex", "ssl_ev_basic", "ssl_dv_geotrust", "private_ssl_plus"}, ids); diff != "" {
		t.Errorf("products (-want +got):\n%s", diff)
	}
	if products[0].ValidationType != "ov" || products[0].Name != "Basic OV" {
		t.Errorf("product[0] = %+v", products[0])
	}

	orgs, err := f.b.ListOrganizations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(orgs) != 1 || orgs[0].ID != digicerttest.DefaultOrganizationID || !orgs[0].Active ||
		len(orgs[0].Validations) != 1 || orgs[0].Validations[0].Type != "ov" || orgs[0].Validations[0].ValidatedUntil.IsZero() {
		t.Errorf("organizations = %+v", orgs)
	}

	for _, id := range []string{"o1", "o2"} {
		if _, err := f.b.Issue(ctx, issueRequest(t, id)); err != nil {
			t.Fatal(err)
		}
	}
	all, err := f.b.ListOrders(ctx, digicert.OrderFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].CommonName != "example.com" || all[0].ProductNameID != "ssl_basic" || all[0].Status != "pending" || all[0].Created.IsZero() {
		t.Errorf("orders = %+v", all)
	}
	issued, err := f.b.ListOrders(ctx, digicert.OrderFilter{Status: "issued"})
	if err != nil || len(issued) != 0 {
		t.Errorf("issued orders = %+v, %v; want none", issued, err)
	}
	// Each summary's Ref polls its order.
	if r, err := f.b.Poll(ctx, all[1].Ref); err != nil || !r.Pending {
		t.Errorf("Poll(%q) = %+v, %v", all[1].Ref, r, err)
	}
}

func TestProfiles(t *testing.T) {
	t.Parallel()
	f := newFixture(t, digicerttest.Config{}, nil)
	got, err := f.b.Profiles(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []ca.Profile{
		{Name: "ov", Description: "OV server certificate", Validity: 199 * 24 * time.Hour},
		{Name: "private", Description: "DigiCert private_ssl_plus", Validity: 365 * 24 * time.Hour},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("profiles (-want +got):\n%s", diff)
	}
	if f.b.Name() != "digicert" {
		t.Errorf("Name = %q", f.b.Name())
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(*digicert.Config)
		close bool
		want  []string // substrings of the error; none = success
	}{
		{"all good", nil, false, nil},
		{"wrong key", func(c *digicert.Config) { c.APIKey = "not-the-key" }, false, []string{"refused the API key", "HTTP 401", "invalid_api_key"}},
		{"unknown organization", func(c *digicert.Config) { c.OrgID = 4242 }, false, []string{"organization 4242 is not in this DigiCert account", "112233 (Example Inc.)"}},
		{"unknown product", func(c *digicert.Config) {
			c.Profiles = append(c.Profiles, digicert.ProfileMap{Name: "gold", Product: "ssl_gold"})
		}, false, []string{`profile "gold" maps to product "ssl_gold"`, "ssl_basic"}},
		{"unreachable", nil, true, []string{"cannot reach DigiCert CertCentral", "check the base URL"}},
		{"wrong base URL", func(c *digicert.Config) { c.BaseURL = strings.TrimSuffix(c.BaseURL, "/services/v2") }, false, []string{"/services/v2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, digicerttest.Config{}, tt.edit)
			if tt.close {
				f.fake.Close()
			}
			err := f.b.Check(testContext(t))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Check passed")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	good := func() digicert.Config {
		return digicert.Config{APIKey: "k", Profiles: []digicert.ProfileMap{{Name: "a", Product: "ssl_basic"}}}
	}
	tests := []struct {
		name string
		edit func(*digicert.Config)
		want string
	}{
		{"no key", func(c *digicert.Config) { c.APIKey = "" }, "APIKey is required"},
		{"no profiles", func(c *digicert.Config) { c.Profiles = nil }, "at least one profile"},
		{"profile without product", func(c *digicert.Config) { c.Profiles[0].Product = "" }, "names no product"},
		{"duplicate profile", func(c *digicert.Config) { c.Profiles = append(c.Profiles, c.Profiles[0]) }, "defined twice"},
		{"bad base URL", func(c *digicert.Config) { c.BaseURL = "ftp://x" }, "not an http(s) URL"},
		{"bad window", func(c *digicert.Config) { c.RateLimit.Windows = []digicert.RateWindow{{Requests: 0, Per: 1}} }, "not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good()
			tt.edit(&cfg)
			_, err := digicert.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error saying %q", err, tt.want)
			}
		})
	}
	if _, err := digicert.New(good()); err != nil {
		t.Errorf("New(good) = %v", err)
	}
}
