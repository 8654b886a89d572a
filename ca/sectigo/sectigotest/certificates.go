package sectigotest

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// scmDate is the date format of the documented details example
// (upstream-apis.md §1.5: MM/dd/yyyy).
const scmDate = "01/02/2006"

func (s *Server) handleDetails(w http.ResponseWriter, r *http.Request) {
	id, ok := s.lookupID(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	rec := s.certs[id]
	s.advance(rec)
	d := s.detailsOf(rec)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, d)
}

// lookupID reads {sslId} and answers 400 -124 when there is no such
// request (upstream-apis.md §1.5: unknown id → 400).
func (s *Server) lookupID(w http.ResponseWriter, r *http.Request) (int, bool) {
	id, err := strconv.Atoi(r.PathValue("sslId"))
	s.mu.Lock()
	_, ok := s.certs[id]
	s.mu.Unlock()
	if err != nil || !ok {
		writeError(w, http.StatusBadRequest, codeWrongSSLID, "Wrong SSL certificate id")
		return 0, false
	}
	return id, true
}

// detailsOf renders rec; the caller holds s.mu.
func (s *Server) detailsOf(r *record) detailsJSON {
	d := detailsJSON{
		SSLID: r.id, ID: r.id, CommonName: r.cn, OrgID: r.orgID, Status: r.status, OrderNumber: 0,
		CertType: toCertTypeJSON(r.certType), Term: r.term, Requested: r.requested.Format(scmDate),
		SANs: r.sans, KeyType: r.keyType, Comments: r.comments, ExternalRequester: r.externalRequester,
		DeclineReason: r.declineReason,
	}
	if !r.approved.IsZero() {
		d.Approved = r.approved.Format(scmDate)
	}
	if r.leaf != nil {
		d.BackendCertID = strconv.Itoa(r.id * 7)
		d.Issued = r.leaf.NotBefore.Format(scmDate)
		d.Expires = r.leaf.NotAfter.Format(scmDate)
		d.SerialNumber = colonHex(r.leaf.SerialNumber)
		d.CertificateDetails = &certDetailsJSON{
			Issuer:          r.leaf.Issuer.String(),
			Subject:         r.leaf.Subject.String(),
			SubjectAltNames: "dNSName=" + strings.Join(r.leaf.DNSNames, ", dNSName="),
		}
	}
	if !r.revoked.IsZero() {
		d.Revoked = r.revoked.Format(scmDate)
		code := r.revokeReason
		d.ReasonCode = &code
	}
	return d
}

// handleList is GET (and HEAD) /api/ssl/v1 (upstream-apis.md §1.7).
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size, position := 10, 0
	if v := q.Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, codeMissingField, "Invalid 'size'")
			return
		}
		size = min(n, 200)
	}
	if v := q.Get("position"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, codeMissingField, "Invalid 'position'")
			return
		}
		position = n
	}
	s.mu.Lock()
	ids := make([]int, 0, len(s.certs))
	for id := range s.certs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var items []listItemJSON
	for _, id := range ids {
		rec := s.certs[id]
		s.advance(rec)
		if !matches(rec, q) {
			continue
		}
		it := listItemJSON{SSLID: rec.id, CommonName: rec.cn, SANs: rec.sans}
		if rec.leaf != nil {
			it.SerialNumber = colonHex(rec.leaf.SerialNumber)
		}
		items = append(items, it)
	}
	s.mu.Unlock()
	w.Header().Set("X-Total-Count", strconv.Itoa(len(items)))
	page := []listItemJSON{}
	if position < len(items) {
		page = items[position:min(len(items), position+size)]
	}
	writeJSON(w, http.StatusOK, page)
}

// matches applies the listing filters the fake knows; others are ignored.
func matches(r *record, q map[string][]string) bool {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if v := get("commonName"); v != "" && !strings.EqualFold(v, r.cn) {
		return false
	}
	if v := get("subjectAlternativeName"); v != "" && !slices.ContainsFunc(r.sans, func(x string) bool { return strings.EqualFold(x, v) }) {
		return false
	}
	if v := get("status"); v != "" && !strings.EqualFold(strings.ReplaceAll(v, " ", ""), r.status) {
		return false
	}
	if v := get("sslTypeId"); v != "" && v != strconv.Itoa(r.certType.ID) {
		return false
	}
	if v := get("orgId"); v != "" && v != strconv.Itoa(r.orgID) {
		return false
	}
	if v := get("externalRequester"); v != "" && !strings.Contains(fold(r.externalRequester), fold(v)) {
		return false
	}
	if v := get("serialNumber"); v != "" {
		n, ok := parseSerial(v)
		if !ok || r.leaf == nil || n.Cmp(r.leaf.SerialNumber) != 0 {
			return false
		}
	}
	return true
}

// handleCollect is GET /api/ssl/v1/collect/{sslId}?format= and the legacy
// …/collect/{sslId}/{format} (upstream-apis.md §1.5).
func (s *Server) handleCollect(w http.ResponseWriter, r *http.Request) {
	id, ok := s.lookupID(w, r)
	if !ok {
		return
	}
	format := r.PathValue("format")
	if format == "" {
		format = r.URL.Query().Get("format")
	}
	if format == "" {
		format = "base64"
	}
	if _, known := formats[format]; !known {
		writeError(w, http.StatusBadRequest, codeUnknownFormat, "Unknown format: "+format)
		return
	}
	s.mu.Lock()
	rec := s.certs[id]
	s.advance(rec)
	if rec.status == statusApplied && rec.pollsLeft > 0 {
		rec.pollsLeft--
	}
	status, code, leaf := rec.status, rec.behavior.PendingCode, rec.leaf
	s.mu.Unlock()

	switch status {
	case statusRequested, statusApplied:
		desc, known := pendingDescriptions[code]
		if !known {
			code, desc = codeBeingProcessed, pendingDescriptions[codeBeingProcessed]
		}
		writeError(w, http.StatusBadRequest, code, desc)
		return
	case statusRevoked:
		writeError(w, http.StatusBadRequest, codeRevoked, "The certificate has been revoked and cannot be downloaded")
		return
	case statusIssued:
	default:
		writeError(w, http.StatusBadRequest, codeNotCollectable, "Certificate is not collectable.")
		return
	}
	body, ext, err := encodeFormat(format, leaf, s.ca.chainAbove())
	if err != nil {
		writeError(w, http.StatusInternalServerError, -1, "Internal error")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream;charset=UTF-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.%s"`, strings.ReplaceAll(leaf.Subject.CommonName, "*", "star"), ext))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// formats are the collect formats (upstream-apis.md §1.5) and the file
// extension of each.
var formats = map[string]string{
	"x509": "crt", "x509CO": "crt", "x509IO": "crt", "x509IOR": "crt", "x509R": "crt",
	"base64": "p7b", "bin": "p7b", "pem": "pem", "pemco": "pem", "pemia": "pem",
}

// encodeFormat renders leaf and above (the issuing CA up to the root) in
// format. Bundles are root first, leaf last, as in the documented example;
// the reversed variants leaf first (docs/backends.md, "What the fakes assume").
func encodeFormat(format string, leaf *x509.Certificate, above []*x509.Certificate) ([]byte, string, error) {
	leafFirst := append([]*x509.Certificate{leaf}, above...)
	rootFirst := slices.Clone(leafFirst)
	slices.Reverse(rootFirst)
	casOnly := slices.Clone(above) // issuing CA … root
	casRootFirst := slices.Clone(above)
	slices.Reverse(casRootFirst)
	var certs []*x509.Certificate
	switch format {
	case "x509", "pem":
		certs = rootFirst
	case "x509R", "pemia":
		certs = leafFirst
	case "x509CO", "pemco":
		certs = []*x509.Certificate{leaf}
	case "x509IO":
		certs = casRootFirst
	case "x509IOR":
		certs = casOnly
	case "base64", "bin":
		der, err := degeneratePKCS7(rootFirst)
		if err != nil {
			return nil, "", err
		}
		if format == "bin" {
			return der, formats[format], nil
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: der}), formats[format], nil
	default:
		return nil, "", errors.New("unknown format")
	}
	var buf bytes.Buffer
	for _, c := range certs {
		pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes(), formats[format], nil
}

// messageBody is the body of approve and decline (upstream-apis.md §1.6).
type messageBody struct {
	Message string `json:"message"`
}

func (s *Server) handleApprove(w http.ResponseWriter, r *http.Request) {
	s.changeState(w, r, func(id int, _ string) error { return s.approve(id) })
}

func (s *Server) handleDecline(w http.ResponseWriter, r *http.Request) {
	s.changeState(w, r, s.decline)
}

func (s *Server) changeState(w http.ResponseWriter, r *http.Request, change func(id int, message string) error) {
	id, ok := s.lookupID(w, r)
	if !ok {
		return
	}
	var body messageBody
	if raw, _ := readBody(r); len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			writeError(w, http.StatusBadRequest, codeMissingField, "Invalid request body")
			return
		}
	}
	s.mu.Lock()
	err := change(id, body.Message)
	s.mu.Unlock()
	var se *stateError
	if errors.As(err, &se) {
		writeError(w, se.status, se.code, se.description)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// revokeBody is the body of the revoke calls (upstream-apis.md §1.6).
// reasonCode may be a number or a string and defaults to 0.
type revokeBody struct {
	ReasonCode json.RawMessage `json:"reasonCode"`
	Reason     string          `json:"reason"`
}

// allowedReasonCodes are the RFC 5280 reasons SCM accepts.
var allowedReasonCodes = []int{0, 1, 3, 4, 5}

// handleRevoke is POST /api/ssl/v1/revoke/{sslId} and …/revoke/serial/{serial}.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	var body revokeBody
	raw, _ := readBody(r)
	if err := json.Unmarshal(raw, &body); err != nil {
		writeError(w, http.StatusBadRequest, codeMissingField, "Invalid request body")
		return
	}
	code := 0
	if len(body.ReasonCode) > 0 && string(body.ReasonCode) != "null" {
		v := strings.Trim(string(body.ReasonCode), `"`)
		n, err := strconv.Atoi(v)
		if err != nil || !slices.Contains(allowedReasonCodes, n) {
			writeError(w, http.StatusBadRequest, codeMissingField, "Invalid 'reasonCode': "+v)
			return
		}
		code = n
	}
	if l := len(body.Reason); l == 0 || l > 512 {
		writeError(w, http.StatusBadRequest, codeMissingField, "The 'reason' field is required (1-512 characters)")
		return
	}
	bySerial := r.PathValue("serial") != ""
	s.mu.Lock()
	defer s.mu.Unlock()
	var rec *record
	if bySerial {
		n, ok := parseSerial(r.PathValue("serial"))
		for _, c := range s.certs {
			if ok && c.leaf != nil && c.leaf.SerialNumber.Cmp(n) == 0 {
				rec = c
			}
		}
		if rec == nil {
			writeError(w, http.StatusBadRequest, codeCertNotFound, "Certificate not found")
			return
		}
	} else {
		id, err := strconv.Atoi(r.PathValue("sslId"))
		if rec = s.certs[id]; err != nil || rec == nil {
			writeError(w, http.StatusBadRequest, codeWrongSSLID, "Wrong SSL certificate id")
			return
		}
	}
	s.advance(rec)
	switch rec.status {
	case statusRevoked:
		writeError(w, http.StatusBadRequest, codeAlreadyRevoked, "Certificate is already revoked")
		return
	case statusIssued:
	default:
		writeError(w, http.StatusBadRequest, codeNotIssued, "Only issued certificates can be revoked")
		return
	}
	rec.status, rec.revoked, rec.revokeReason = statusRevoked, s.now(), code
	s.revocations = append(s.revocations, Revocation{
		SSLID: rec.id, Serial: strings.ToUpper(rec.leaf.SerialNumber.Text(16)), ReasonCode: code, Reason: body.Reason, BySerial: bySerial,
	})
	w.WriteHeader(http.StatusNoContent)
}

// colonHex formats a serial as upper-case hex bytes separated by colons,
// as the revoke-by-serial example does.
func colonHex(n *big.Int) string {
	b := n.Bytes()
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02X", x)
	}
	return strings.Join(parts, ":")
}

// parseSerial reads hex with or without colons, in either case.
func parseSerial(s string) (*big.Int, bool) {
	s = strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(s))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if s == "" {
		return nil, false
	}
	return new(big.Int).SetString(s, 16)
}

func readBody(r *http.Request) ([]byte, error) { return io.ReadAll(io.LimitReader(r.Body, 1<<20)) }

func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	return base64.StdEncoding.DecodeString(s)
}
