package sectigo

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/acmegate/acmegate/ca"
)

// orderMarkerPrefix starts the token that carries the acmegate order id in
// an enrollment's comments. SCM has no idempotency key (upstream-apis.md
// §1.4), so the token is what a retried Issue searches for.
const orderMarkerPrefix = "acmegate-order:"

// maxOrderIDLen keeps the marker well inside the 1024 characters SCM allows
// for comments.
const maxOrderIDLen = 256

// validitySlack is how far a requested notBefore or notAfter may be from
// what SCM will produce: SCM starts the validity when it issues, which can
// be a day after the request when an administrator must approve it.
const validitySlack = 24 * time.Hour

// Issue enrolls req with SCM and returns the sslId to poll. It is idempotent
// on req.OrderID: it first looks for an enrollment an earlier attempt made
// for the same order (one that crashed, or lost the answer, after SCM
// accepted it) and, if there is one, reports on it instead of enrolling
// again.
func (b *Backend) Issue(ctx context.Context, req ca.IssueRequest) (ca.IssueResult, error) {
	if req.OrderID == "" || len(req.OrderID) > maxOrderIDLen || strings.ContainsFunc(req.OrderID, isSpaceOrControl) {
		// Without a usable order id a retry could not be recognised and
		// might pay for, and publish, a second certificate.
		return ca.IssueResult{}, ca.Errorf(ca.Rejected, "the Sectigo backend needs an order id of 1 to %d printable characters", maxOrderIDLen)
	}
	prof, err := b.profile(req.Profile)
	if err != nil {
		return ca.IssueResult{}, err
	}
	if req.CSR == nil || len(req.CSR.Raw) == 0 {
		return ca.IssueResult{}, ca.Errorf(ca.Rejected, "no certificate signing request")
	}
	sans, commonName, err := subjAltNames(req.Identifiers)
	if err != nil {
		return ca.IssueResult{}, err
	}
	if err := b.checkValidity(prof, req.NotBefore, req.NotAfter); err != nil {
		return ca.IssueResult{}, err
	}

	marker := orderMarkerPrefix + req.OrderID
	id, d, err := b.findEnrollment(ctx, marker, searchNames(req.CSR, commonName, sans), sans)
	if err != nil {
		// Enrolling without knowing would risk a second certificate.
		return ca.IssueResult{}, err
	}
	if id != 0 {
		b.log.InfoContext(ctx, "sectigo: resuming the enrollment of an earlier attempt", "backend", b.name, "order", req.OrderID, "sslId", id)
		return b.progress(ctx, id, d)
	}

	id, err = b.enroll(ctx, prof, req.CSR, sans, marker)
	if err != nil {
		return ca.IssueResult{}, err
	}
	b.log.InfoContext(ctx, "sectigo: enrolled", "backend", b.name, "order", req.OrderID, "sslId", id, "certType", prof.CertTypeID)
	return ca.IssueResult{Pending: true, Ref: strconv.FormatInt(id, 10), RetryAfter: b.pollInterval}, nil
}

// enroll submits the CSR (upstream-apis.md §1.4) and returns the sslId.
func (b *Backend) enroll(ctx context.Context, prof ProfileMap, csr *x509.CertificateRequest, sans []string, marker string) (int64, error) {
	req := enrollRequest{
		OrgID:        b.orgID,
		CSR:          string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr.Raw})),
		CertType:     prof.CertTypeID,
		Term:         prof.Term,
		SubjAltNames: strings.Join(sans, ","),
		Comments:     "Requested through acmegate. " + marker,
		CustomFields: b.customFields,
	}
	var out enrollResponse
	if err := b.c.call(ctx, "enroll the certificate", http.MethodPost, "/api/ssl/v1/enroll", nil, req, &out); err != nil {
		return 0, err
	}
	id := pick(out.SSLID, out.ID)
	if id <= 0 {
		// SCM may have enrolled all the same; the next attempt finds the
		// enrollment by its marker.
		return 0, ca.Errorf(ca.Unavailable, "Sectigo Certificate Manager accepted the enrollment but sent no sslId")
	}
	return id, nil
}

// subjAltNames turns the validated identifiers into SCM's subjAltNames, in
// order except that the first DNS name comes first: it is the certificate's
// common name, and SCM may take the common name from the first entry when
// the CSR has none (docs/backends.md, "What the fakes assume"). It returns that DNS name too.
func subjAltNames(ids []ca.Identifier) (sans []string, commonName string, err error) {
	if len(ids) == 0 {
		return nil, "", ca.Errorf(ca.Rejected, "no identifiers to certify")
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		v := id.Value
		switch id.Type {
		case ca.IdentifierDNS:
			// subjAltNames is comma-separated: a comma or space in a name
			// would change the list SCM reads.
			if v == "" || strings.ContainsFunc(v, func(r rune) bool { return r == ',' || isSpaceOrControl(r) }) {
				return nil, "", ca.Errorf(ca.Rejected, "DNS identifier %q cannot be sent to Sectigo", v)
			}
		case ca.IdentifierIP:
			addr, perr := netip.ParseAddr(v)
			if perr != nil || addr.Zone() != "" || addr.Is4In6() {
				return nil, "", ca.Errorf(ca.Rejected, "IP identifier %q is not a plain IPv4 or IPv6 address", v)
			}
			v = addr.String()
		default:
			return nil, "", ca.Errorf(ca.Rejected, "unsupported identifier type %q", id.Type)
		}
		if seen[strings.ToLower(v)] {
			continue
		}
		seen[strings.ToLower(v)] = true
		if id.Type == ca.IdentifierDNS && commonName == "" {
			commonName = v
			sans = append([]string{v}, sans...)
			continue
		}
		sans = append(sans, v)
	}
	return sans, commonName, nil
}

// searchNames are the common names SCM may have recorded for the
// enrollment: the CSR's own CN, which SCM reads, and the name acmegate makes
// the CN (or, without DNS names, the first identifier).
func searchNames(csr *x509.CertificateRequest, commonName string, sans []string) []string {
	var names []string
	for _, n := range []string{csr.Subject.CommonName, commonName, sans[0]} {
		if n != "" && !containsFold(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// checkValidity refuses a requested window SCM cannot honour: SCM issues
// for the profile's term from the moment it issues (RFC 8555 §7.1.3 lets the
// server refuse notBefore and notAfter it will not use).
func (b *Backend) checkValidity(prof ProfileMap, notBefore, notAfter time.Time) error {
	now := b.now()
	if !notBefore.IsZero() && notBefore.After(now.Add(validitySlack)) {
		return ca.Errorf(ca.Rejected, "Sectigo certificates are valid from their issuance; notBefore %s cannot be honoured", stamp(notBefore))
	}
	if notAfter.IsZero() {
		return nil
	}
	if !notAfter.After(now) {
		return ca.Errorf(ca.Rejected, "notAfter %s is in the past", stamp(notAfter))
	}
	if end := now.Add(termDuration(prof.Term)); end.After(notAfter.Add(validitySlack)) {
		return ca.Errorf(ca.Rejected, "profile %q issues certificates valid for %d days from issuance (until about %s); the requested notAfter %s is earlier",
			prof.Name, prof.Term, stamp(end), stamp(notAfter))
	}
	return nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
