package sectigo_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/sectigo"
	"github.com/acmegate/acmegate/ca/sectigo/sectigotest"
)

func TestListCertTypesAndOrganizations(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{
		Organizations: []sectigotest.Organization{
			{ID: 10, Name: "Acme", Departments: []sectigotest.Department{{ID: 11, Name: "Web"}, {ID: 12, Name: "Mail"}}},
			{ID: 20, Name: "Other"},
		},
	})
	b := newBackend(t, srv, nil)
	types, err := b.ListCertTypes(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	var want []sectigo.CertType
	for _, ct := range sectigotest.DefaultCertTypes() {
		want = append(want, sectigo.CertType{ID: ct.ID, Name: ct.Name, Description: ct.Description, Terms: ct.Terms, KeyTypes: ct.KeyTypes})
	}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("ListCertTypes (-want +got):\n%s", diff)
	}
	orgs, err := b.ListOrganizations(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	wantOrgs := []sectigo.Organization{
		{ID: 10, Name: "Acme", Departments: []sectigo.Department{{ID: 11, Name: "Web", ParentName: "Acme"}, {ID: 12, Name: "Mail", ParentName: "Acme"}}},
		{ID: 20, Name: "Other"},
	}
	if diff := cmp.Diff(wantOrgs, orgs); diff != "" {
		t.Errorf("ListOrganizations (-want +got):\n%s", diff)
	}
}

// TestCheck: Check passes on a good configuration and explains each kind
// of bad one in plain words.
func TestCheck(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{})
	// A port nothing listens on: listen, note the address, close.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := l.Addr().String()
	l.Close()

	tests := []struct {
		name string
		mod  func(*sectigo.Config)
		want string // "" = no error
	}{
		{"good", nil, ""},
		{"department as organization", func(c *sectigo.Config) { c.OrgID = sectigotest.DefaultDepartment }, ""},
		{"wrong password", func(c *sectigo.Config) { c.Password = "not-it" }, "the login or password is wrong"},
		{"wrong login", func(c *sectigo.Config) { c.Login = "nobody" }, `the login or password is wrong (Sectigo knows no such login for customer URI "acmegate-test")`},
		{"wrong customer", func(c *sectigo.Config) { c.CustomerURI = "other" }, `customer URI "other"`},
		{"unknown organization", func(c *sectigo.Config) { c.OrgID = 5 }, "organization or department 5 is not visible to this login"},
		{"unknown certificate type", func(c *sectigo.Config) { c.Profiles[1].CertTypeID = 77 }, `profile "multi": the account offers no certificate type 77`},
		{"term not offered", func(c *sectigo.Config) { c.Profiles[0].Term = 90 }, `profile "ov": 90 days is not a term of certificate type 1018`},
		{"wrong path", func(c *sectigo.Config) { c.BaseURL = srv.URL() + "/scm" }, "there is no Sectigo Certificate Manager API at"},
		{"nothing listening", func(c *sectigo.Config) { c.BaseURL = "http://" + deadAddr }, "nothing accepts connections"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, srv, tt.mod)
			err := b.Check(testContext(t))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Check = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

// TestCheckErrorUnwraps: Check's explanation keeps the classified cause.
func TestCheckErrorUnwraps(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{})
	b := newBackend(t, srv, func(c *sectigo.Config) { c.Password = "wrong" })
	err := b.Check(testContext(t))
	var ce *sectigo.CheckError
	if !errors.As(err, &ce) || !errors.Is(err, ca.Unavailable) {
		t.Fatalf("Check = %#v, want a CheckError wrapping a ca.Unavailable", err)
	}
	if !strings.Contains(ce.Explanation, "code -970") {
		t.Errorf("Explanation = %q, want SCM's code", ce.Explanation)
	}
}
