package sectigotest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SCM statuses the fake moves a request through (upstream-apis.md §1.5).
const (
	statusRequested = "Requested"
	statusApplied   = "Applied"
	statusIssued    = "Issued"
	statusDeclined  = "Declined"
	statusRevoked   = "Revoked"
)

// record is one enrollment's state.
type record struct {
	id                int
	orgID, term       int
	certType          CertType
	cn                string
	sans              []string
	pub               crypto.PublicKey
	keyType           string
	comments          string
	externalRequester string
	behavior          Behavior
	status            string
	pollsLeft         int
	requested         time.Time
	approved          time.Time
	declineReason     string
	leaf              *x509.Certificate
	revoked           time.Time
	revokeReason      int
}

// enrollRequest is POST /api/ssl/v1/enroll (upstream-apis.md §1.4). Numbers
// must be JSON numbers and subjAltNames a string, as documented; unknown
// fields (numberServers, serverType, …) are ignored.
type enrollRequest struct {
	OrgID             *int               `json:"orgId"`
	CSR               string             `json:"csr"`
	CertType          *int               `json:"certType"`
	Term              *int               `json:"term"`
	SubjAltNames      string             `json:"subjAltNames"`
	Comments          string             `json:"comments"`
	ExternalRequester string             `json:"externalRequester"`
	CustomFields      []CustomFieldValue `json:"customFields"`
}

func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) {
	var req enrollRequest
	raw, _ := readBody(r)
	if err := json.Unmarshal(raw, &req); err != nil {
		writeError(w, http.StatusBadRequest, codeMissingField, "Invalid request body: "+err.Error())
		return
	}
	now := s.now()
	rec := &record{requested: now, comments: req.Comments, externalRequester: req.ExternalRequester}

	switch {
	case req.OrgID == nil:
		writeError(w, http.StatusBadRequest, codeMissingField, "The 'orgId' field is required")
		return
	case !s.knownOrg(*req.OrgID):
		writeError(w, http.StatusBadRequest, codeOrgNotFound, "Organization not found")
		return
	case strings.TrimSpace(req.CSR) == "":
		writeError(w, http.StatusBadRequest, codeMissingField, "The 'csr' field is required")
		return
	case len(req.Comments) > 1024:
		writeError(w, http.StatusBadRequest, codeMissingField, "The 'comments' field is longer than 1024 characters")
		return
	}
	rec.orgID = *req.OrgID
	csr, code, msg := parseCSR(req.CSR)
	if code != 0 {
		writeError(w, http.StatusBadRequest, code, msg)
		return
	}
	rec.pub = csr.PublicKey
	if req.CertType == nil {
		writeError(w, http.StatusBadRequest, codeMissingField, "The 'certType' field is required")
		return
	}
	i := slices.IndexFunc(s.cfg.CertTypes, func(t CertType) bool { return t.ID == *req.CertType })
	if i < 0 {
		writeError(w, http.StatusBadRequest, codeInvalidCertType, "Certificate profile id is invalid")
		return
	}
	rec.certType = s.cfg.CertTypes[i]
	switch {
	case req.Term == nil:
		writeError(w, http.StatusBadRequest, codeMissingField, "The 'term' field is required")
		return
	case !slices.Contains(rec.certType.Terms, *req.Term):
		writeError(w, http.StatusBadRequest, codeInvalidTerm, "Term is not valid for this certificate profile")
		return
	}
	rec.term = *req.Term
	var ok bool
	if rec.keyType, ok = allowedKey(rec.certType, csr.PublicKey); !ok {
		writeError(w, http.StatusBadRequest, codeUnsupportedKey, "Unsupported key algorithm or size: "+rec.keyType)
		return
	}
	if name := s.missingCustomField(req.CustomFields); name != "" {
		writeError(w, http.StatusBadRequest, codeMandatoryField, "Mandatory custom field is missing: "+name)
		return
	}
	for _, n := range strings.Split(req.SubjAltNames, ",") {
		if n = strings.TrimSpace(n); n != "" && !slices.ContainsFunc(rec.sans, func(x string) bool { return strings.EqualFold(x, n) }) {
			rec.sans = append(rec.sans, n)
		}
	}
	// docs/backends.md, "What the fakes assume": the common name is the CSR's, else the first SAN.
	rec.cn = csr.Subject.CommonName
	if rec.cn == "" && len(rec.sans) > 0 {
		rec.cn = rec.sans[0]
	}
	if rec.cn == "" {
		writeError(w, http.StatusBadRequest, codeMissingField, "The certificate has no common name")
		return
	}
	if !slices.ContainsFunc(rec.sans, func(x string) bool { return strings.EqualFold(x, rec.cn) }) {
		rec.sans = append([]string{rec.cn}, rec.sans...)
	}
	if bad := s.unvalidated(rec.sans); len(bad) > 0 {
		writeError(w, http.StatusBadRequest, codeNotValidated, "The following domains are not validated: "+strings.Join(bad, ", "))
		return
	}

	s.mu.Lock()
	rec.id = s.nextID
	s.nextID++
	rec.behavior = s.cfg.Behavior
	if b, ok := s.behaviors[fold(rec.cn)]; ok {
		rec.behavior = b
	}
	switch {
	case rec.behavior.Decline != "":
		rec.status, rec.declineReason = statusDeclined, rec.behavior.Decline
	case rec.behavior.RequireApproval:
		rec.status = statusRequested
	default:
		rec.status, rec.approved = statusApplied, now
	}
	rec.pollsLeft = rec.behavior.PendingPolls
	s.certs[rec.id] = rec
	s.enrollments = append(s.enrollments, Enrollment{
		SSLID: rec.id, OrgID: rec.orgID, CertType: rec.certType.ID, Term: rec.term, CSR: req.CSR,
		SubjAltNames: req.SubjAltNames, Comments: req.Comments, ExternalRequester: req.ExternalRequester,
		CustomFields: req.CustomFields, Raw: raw,
	})
	s.mu.Unlock()

	renewID := make([]byte, 10)
	rand.Read(renewID)
	writeJSON(w, http.StatusOK, map[string]any{"sslId": rec.id, "renewId": hex.EncodeToString(renewID)})
}

// parseCSR decodes a PEM CSR (or bare base64 DER), with SCM's code on
// failure.
func parseCSR(text string) (*x509.CertificateRequest, int, string) {
	var der []byte
	if block, _ := pem.Decode([]byte(text)); block != nil {
		der = block.Bytes
	} else {
		b, err := decodeBase64(text)
		if err != nil {
			return nil, codeCSRUndecodable, "CSR is not valid base64"
		}
		der = b
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, codeCSRUndecodable, "CSR cannot be decoded"
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, codeCSRInvalid, "CSR is invalid"
	}
	return csr, 0, ""
}

// allowedKey reports whether t accepts pub, and SCM's name for the key
// ("RSA - 2048", as in upstream-apis.md §1.5).
func allowedKey(t CertType, pub crypto.PublicKey) (string, bool) {
	var alg, size string
	switch k := pub.(type) {
	case *rsa.PublicKey:
		alg, size = "RSA", strconv.Itoa(k.N.BitLen())
	case *ecdsa.PublicKey:
		alg, size = "EC", k.Curve.Params().Name
	default:
		return "unknown", len(t.KeyTypes) == 0
	}
	name := alg + " - " + size
	if len(t.KeyTypes) == 0 {
		return name, true
	}
	return name, slices.Contains(t.KeyTypes[alg], size)
}

func (s *Server) knownOrg(id int) bool {
	for _, o := range s.cfg.Organizations {
		if o.ID == id || slices.ContainsFunc(o.Departments, func(d Department) bool { return d.ID == id }) {
			return true
		}
	}
	return false
}

// missingCustomField returns the name of a mandatory custom field sent
// without a value, or "".
func (s *Server) missingCustomField(sent []CustomFieldValue) string {
	for _, f := range s.cfg.CustomFields {
		if f.Mandatory && !slices.ContainsFunc(sent, func(v CustomFieldValue) bool { return v.Name == f.Name && v.Value != "" }) {
			return f.Name
		}
	}
	return ""
}

// unvalidated returns the names not covered by Config.Domains.
func (s *Server) unvalidated(names []string) []string {
	if len(s.cfg.Domains) == 0 {
		return nil
	}
	var bad []string
	for _, n := range names {
		base := fold(strings.TrimPrefix(n, "*."))
		if !slices.ContainsFunc(s.cfg.Domains, func(d string) bool {
			d = fold(d)
			return base == d || strings.HasSuffix(base, "."+d)
		}) {
			bad = append(bad, n)
		}
	}
	return bad
}

// advance issues r's certificate once its approval, polls and delay allow.
// The caller holds s.mu.
func (s *Server) advance(r *record) {
	if r.status != statusApplied || r.pollsLeft > 0 || s.now().Before(r.approved.Add(r.behavior.IssueAfter)) {
		return
	}
	now := s.now()
	leaf, err := s.ca.issueLeaf(r.pub, r.cn, r.sans, now.Add(-time.Minute), now.Add(time.Duration(r.term)*24*time.Hour),
		[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
	if err != nil {
		return // a key the CA cannot sign for stays Applied; tests see it hang
	}
	r.leaf, r.status = leaf, statusIssued
}

// Approve approves a request waiting for approval, as an SCM administrator
// (or POST /api/ssl/v1/approve/{sslId}) would.
func (s *Server) Approve(sslID int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.approve(sslID)
}

// Decline declines a request that is not yet issued, with reason.
func (s *Server) Decline(sslID int, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.decline(sslID, reason)
}

// stateError is an SCM error answer for a state change.
type stateError struct {
	status, code int
	description  string
}

func (e *stateError) Error() string {
	return "sectigotest: " + strconv.Itoa(e.code) + " " + e.description
}

func (s *Server) approve(id int) error {
	r, ok := s.certs[id]
	switch {
	case !ok:
		return &stateError{http.StatusBadRequest, codeWrongSSLID, "Wrong SSL certificate id"}
	case r.status != statusRequested:
		return &stateError{http.StatusBadRequest, codeCannotApprove, "Cannot approve the certificate in its current state"}
	}
	r.status, r.approved = statusApplied, s.now()
	return nil
}

func (s *Server) decline(id int, reason string) error {
	r, ok := s.certs[id]
	switch {
	case !ok:
		return &stateError{http.StatusBadRequest, codeWrongSSLID, "Wrong SSL certificate id"}
	case r.status != statusRequested && r.status != statusApplied:
		return &stateError{http.StatusBadRequest, codeCannotApprove, "Cannot decline the certificate in its current state"}
	}
	r.status, r.declineReason = statusDeclined, reason
	return nil
}
