package sectigo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"

	"github.com/acmegate/acmegate/ca"
)

// CertType is an SCM SSL certificate profile (GET /api/ssl/v1/types).
type CertType struct {
	ID          int
	Name        string
	Description string
	// Terms are the lifetimes in days the type allows.
	Terms []int
	// KeyTypes maps an algorithm ("RSA", "EC") to the sizes or curves allowed.
	KeyTypes            map[string][]string
	UseSecondaryOrgName bool
}

// Organization is an SCM organization with its departments
// (GET /api/organization/v1). Enrollments may name either.
type Organization struct {
	ID          int
	Name        string
	Departments []Department
}

// Department is a department of an Organization.
type Department struct {
	ID         int
	Name       string
	ParentName string
}

// ListCertTypes lists the SSL certificate types the account offers
// (upstream-apis.md §1.3), for mapping profiles onto them.
func (b *Backend) ListCertTypes(ctx context.Context) ([]CertType, error) {
	var wire []certTypeWire
	if err := b.c.call(ctx, "list certificate types", http.MethodGet, "/api/ssl/v1/types", nil, nil, &wire); err != nil {
		return nil, err
	}
	out := make([]CertType, 0, len(wire))
	for _, w := range wire {
		t := CertType{ID: int(w.ID), Name: string(w.Name), Description: string(w.Description), UseSecondaryOrgName: bool(w.UseSecondaryOrgName)}
		for _, term := range w.Terms {
			t.Terms = append(t.Terms, int(term))
		}
		if len(w.KeyTypes) > 0 {
			t.KeyTypes = make(map[string][]string, len(w.KeyTypes))
			for alg, sizes := range w.KeyTypes {
				t.KeyTypes[alg] = []string(sizes)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// ListOrganizations lists the organizations and departments visible to the
// login (upstream-apis.md §1.3).
func (b *Backend) ListOrganizations(ctx context.Context) ([]Organization, error) {
	var wire []orgWire
	if err := b.c.call(ctx, "list organizations", http.MethodGet, "/api/organization/v1", nil, nil, &wire); err != nil {
		return nil, err
	}
	out := make([]Organization, 0, len(wire))
	for _, w := range wire {
		o := Organization{ID: int(w.ID), Name: string(w.Name)}
		for _, d := range w.Departments {
			o.Departments = append(o.Departments, Department{ID: int(d.ID), Name: string(d.Name), ParentName: string(d.ParentName)})
		}
		out = append(out, o)
	}
	return out, nil
}

// Check verifies that SCM can be reached with the configured credentials and
// that the configured organization, certificate types and terms exist. Its
// error says in plain words what is wrong ("the login or password is
// wrong") and wraps the underlying error.
func (b *Backend) Check(ctx context.Context) error {
	types, err := b.ListCertTypes(ctx)
	if err != nil {
		return b.checkError(err)
	}
	orgs, err := b.ListOrganizations(ctx)
	if err != nil {
		return b.checkError(err)
	}
	var problems []string
	if !hasOrg(orgs, b.orgID) {
		problems = append(problems, fmt.Sprintf("organization or department %d is not visible to this login (visible: %s)", b.orgID, orgList(orgs)))
	}
	for _, p := range b.profiles {
		i := slices.IndexFunc(types, func(t CertType) bool { return t.ID == p.CertTypeID })
		switch {
		case i < 0:
			problems = append(problems, fmt.Sprintf("profile %q: the account offers no certificate type %d", p.Name, p.CertTypeID))
		case len(types[i].Terms) > 0 && !slices.Contains(types[i].Terms, p.Term):
			problems = append(problems, fmt.Sprintf("profile %q: %d days is not a term of certificate type %d %q (terms: %v)", p.Name, p.Term, p.CertTypeID, types[i].Name, types[i].Terms))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s backend at %s: %s", b.name, b.c.base.Host, strings.Join(problems, "; "))
	}
	return nil
}

// CheckError is Check's error: Explanation in plain words, and the cause.
type CheckError struct {
	Explanation string
	Err         error
}

// Error returns the explanation and the upstream's own words.
func (e *CheckError) Error() string { return e.Explanation }

// Unwrap returns the cause (usually a *ca.Error).
func (e *CheckError) Unwrap() error { return e.Err }

// checkError explains err for an operator.
func (b *Backend) checkError(err error) error {
	host := b.c.base.Host
	var (
		why              string
		se               *statusError
		ce               *ca.Error
		dnsErr           *net.DNSError
		unknownAuthority x509.UnknownAuthorityError
		hostnameErr      x509.HostnameError
		invalidErr       x509.CertificateInvalidError
	)
	alert, isAlert := tlsAlert(err)
	switch {
	case errors.As(err, &se):
		why = b.explainStatus(se)
	case errors.As(err, &unknownAuthority):
		why = fmt.Sprintf("the TLS certificate of %s is not trusted (%v)", host, unknownAuthority)
	case errors.As(err, &hostnameErr):
		why = fmt.Sprintf("the TLS certificate of %s is not trusted (%v)", host, hostnameErr)
	case errors.As(err, &invalidErr):
		why = fmt.Sprintf("the TLS certificate of %s is not trusted (%v)", host, invalidErr)
	case isAlert && b.c.certAuth:
		why = fmt.Sprintf("%s ended the TLS handshake (%v); check that Sectigo accepts the client certificate", host, alert)
	case isAlert:
		why = fmt.Sprintf("%s ended the TLS handshake (%v); it may require a client certificate", host, alert)
	case errors.As(err, &dnsErr):
		why = fmt.Sprintf("the host name %q does not resolve", dnsErr.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		why = fmt.Sprintf("nothing accepts connections at %s; check BaseURL", host)
	case isTimeout(err):
		why = fmt.Sprintf("%s did not answer within %s", host, b.c.timeout)
	case errors.As(err, &ce) && ce.Detail != "":
		why = ce.Detail
	default:
		why = err.Error()
	}
	return &CheckError{Explanation: fmt.Sprintf("%s backend at %s: %s", b.name, host, why), Err: err}
}

// tlsAlert finds a TLS alert the server sent. Over TCP it arrives as a
// net.OpError "remote error"; tls.AlertError is what QUIC returns.
func tlsAlert(err error) (error, bool) {
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return alert, true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "remote error" {
		return opErr.Err, true
	}
	return nil, false
}

// explainStatus says what an HTTP error answer means for the configuration.
func (b *Backend) explainStatus(se *statusError) string {
	var why string
	switch {
	case se.Status == http.StatusUnauthorized || (se.HasCode && credentialCodes[se.Code]):
		if b.c.certAuth {
			why = "the client certificate or the login was not accepted"
		} else {
			why = "the login or password is wrong"
		}
		if se.HasCode && se.Code == -16 {
			why += fmt.Sprintf(" (Sectigo knows no such login for customer URI %q)", b.c.customerURI)
		}
	case se.Status == http.StatusForbidden || (se.HasCode && privilegeCodes[se.Code]):
		why = "the login lacks the privileges this call needs"
	case se.Status == http.StatusNotFound && !se.HasCode:
		why = fmt.Sprintf("there is no Sectigo Certificate Manager API at %s; check BaseURL", b.c.base.Redacted())
	case se.Status == http.StatusTooManyRequests:
		why = "Sectigo is rate-limiting acmegate; try again later"
	case se.Status >= 500 || (se.HasCode && se.Code == codeCANotAvailable):
		why = "Sectigo Certificate Manager is failing; try again later"
	default:
		why = "Sectigo Certificate Manager refused the request"
	}
	return why + " [" + se.words() + "]"
}

func hasOrg(orgs []Organization, id int) bool {
	for _, o := range orgs {
		if o.ID == id || slices.ContainsFunc(o.Departments, func(d Department) bool { return d.ID == id }) {
			return true
		}
	}
	return false
}

func orgList(orgs []Organization) string {
	if len(orgs) == 0 {
		return "none"
	}
	var parts []string
	for _, o := range orgs {
		parts = append(parts, fmt.Sprintf("%d %q", o.ID, o.Name))
		for _, d := range o.Departments {
			parts = append(parts, fmt.Sprintf("%d %q", d.ID, o.Name+" / "+d.Name))
		}
	}
	return strings.Join(parts, ", ")
}
