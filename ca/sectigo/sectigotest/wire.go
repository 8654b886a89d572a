package sectigotest

import (
	"encoding/json"
	"net/http"
	"strings"
)

// SCM error codes the fake emits (upstream-apis.md §1.2).
const (
	codeMissingField     = -7
	codeCSRUndecodable   = -10
	codeUnsupportedKey   = -11
	codeUnknownUser      = -16
	codeInvalidTerm      = -36
	codeInvalidCertType  = -39
	codeMandatoryField   = -62
	codeNotIssued        = -102
	codeRevoked          = -110
	codeWrongSSLID       = -124
	codeUnknownFormat    = -126
	codeCSRInvalid       = -138
	codeAlreadyRevoked   = -159
	codeNotCollectable   = -183
	codeNotValidated     = -737
	codeBadCredentials   = -970
	codeOrgNotFound      = -1023
	codeCannotApprove    = -1112
	codeCertNotFound     = -5101
	codeBeingProcessed   = 0
	codeRequestProcessed = -1400
	codeNotAvailableNow  = -109
)

// pendingDescriptions are the "not issued yet" answers of upstream-apis.md
// §1.5, by code.
var pendingDescriptions = map[int]string{
	codeBeingProcessed:   "Being processed by Sectigo",
	codeRequestProcessed: "The request is being processed by Sectigo.",
	codeNotCollectable:   "Certificate is not collectable.",
	codeNotAvailableNow:  "The certificate is not available now, please try again later.",
}

// errorBody is SCM's error JSON (upstream-apis.md §1.2).
func errorBody(code int, description string) string {
	b, _ := json.Marshal(struct {
		Code        int    `json:"code"`
		Description string `json:"description"`
	}{code, description})
	return string(b)
}

func writeError(w http.ResponseWriter, status, code int, description string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	w.Write([]byte(errorBody(code, description)))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	w.Write(b)
}

// notFound is the answer for a path that is not part of the API. It is not
// SCM's error shape, which is for the API's own errors (docs/backends.md, "What the fakes assume").
func notFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]any{"status": 404, "error": "Not Found", "path": r.URL.Path})
}

// certTypeJSON is an element of GET /api/ssl/v1/types and the certType of
// certificate details (upstream-apis.md §1.3).
type certTypeJSON struct {
	ID                  int                 `json:"id"`
	Name                string              `json:"name"`
	Description         string              `json:"description"`
	Terms               []int               `json:"terms"`
	KeyTypes            map[string][]string `json:"keyTypes"`
	UseSecondaryOrgName bool                `json:"useSecondaryOrgName"`
}

func toCertTypeJSON(t CertType) certTypeJSON {
	kt := t.KeyTypes
	if kt == nil {
		kt = map[string][]string{}
	}
	return certTypeJSON{ID: t.ID, Name: t.Name, Description: t.Description, Terms: t.Terms, KeyTypes: kt}
}

// listItemJSON is an element of GET /api/ssl/v1 (upstream-apis.md §1.7).
type listItemJSON struct {
	SSLID        int      `json:"sslId"`
	CommonName   string   `json:"commonName"`
	SANs         []string `json:"subjectAlternativeNames"`
	SerialNumber string   `json:"serialNumber,omitempty"`
}

// detailsJSON is GET /api/ssl/v1/{sslId} (upstream-apis.md §1.5).
type detailsJSON struct {
	SSLID              int              `json:"sslId"`
	ID                 int              `json:"id"`
	CommonName         string           `json:"commonName"`
	OrgID              int              `json:"orgId"`
	Status             string           `json:"status"`
	OrderNumber        int              `json:"orderNumber"`
	BackendCertID      string           `json:"backendCertId,omitempty"`
	CertType           certTypeJSON     `json:"certType"`
	Term               int              `json:"term"`
	Requested          string           `json:"requested"`
	Approved           string           `json:"approved,omitempty"`
	Issued             string           `json:"issued,omitempty"`
	Expires            string           `json:"expires,omitempty"`
	Revoked            string           `json:"revoked,omitempty"`
	SerialNumber       string           `json:"serialNumber,omitempty"`
	SANs               []string         `json:"subjectAlternativeNames"`
	KeyType            string           `json:"keyType"`
	Comments           string           `json:"comments"`
	ExternalRequester  string           `json:"externalRequester,omitempty"`
	ReasonCode         *int             `json:"reasonCode,omitempty"`
	DeclineReason      string           `json:"declineReason,omitempty"`
	Renewed            bool             `json:"renewed"`
	CertificateDetails *certDetailsJSON `json:"certificateDetails,omitempty"`
}

type certDetailsJSON struct {
	Issuer          string `json:"issuer"`
	Subject         string `json:"subject"`
	SubjectAltNames string `json:"subjectAltNames"`
}

func fold(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
