package digicerttest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// dateTimeLayout is DigiCert's timestamp form, "2018-10-16T17:29:56+00:00".
const dateTimeLayout = "2006-01-02T15:04:05-07:00"

// dateLayout is DigiCert's date form for valid_from / valid_till.
const dateLayout = "2006-01-02"

// apiError is one element of DigiCert's error body
// {"errors":[{"code","message"}]} [DC:errors.html].
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError writes DigiCert's error body.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string][]apiError{"errors": {{Code: code, Message: message}}})
}

// writeJSON writes v as the JSON body of a status answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodeBody decodes a JSON request body into v, answering DigiCert's 400
// bad_request_format when it is not valid JSON [DC:errors.html].
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request_format", "The request body is not valid JSON.")
		return false
	}
	return true
}

// formatTime formats t as DigiCert does.
func formatTime(t time.Time) string { return t.UTC().Format(dateTimeLayout) }

// documented lists the request fields upstream-apis.md documents for a body
// kind, so the fake can report anything a client sends beyond them.
func documented(kind string) []string {
	return map[string][]string{
		"order": {"certificate", "organization", "order_validity", "validity_years", "custom_expiration_date",
			"payment_method", "skip_approval", "dcv_method", "container", "comments", "custom_fields",
			"renewal_of_order_id", "disable_ct", "auto_renew", "disable_renewal_notifications", "product"},
		"order.certificate": {"common_name", "dns_names", "csr", "signature_hash", "server_platform",
			"organization_units", "ca_cert_id", "profile_option", "cert_validity"},
		"revoke":         {"comments", "comment", "skip_approval", "revocation_reason"},
		"request status": {"status", "processor_comment"},
		"order status":   {"status", "note"},
	}[kind]
}

// bodyKind names the documented body a request should carry, or "".
func bodyKind(method, path string) string {
	path = strings.TrimPrefix(path, BasePath)
	switch {
	case method == http.MethodPost && strings.HasPrefix(path, "/order/certificate/"):
		return "order"
	case method == http.MethodPut && strings.HasSuffix(path, "/revoke"):
		return "revoke"
	case method == http.MethodPut && strings.HasPrefix(path, "/request/"):
		return "request status"
	case method == http.MethodPut && strings.HasPrefix(path, "/order/certificate/"):
		return "order status"
	}
	return ""
}

// unknownFields lists the fields of body that the reference does not
// document for this call ("certificate.x" for nested ones). A body that is
// not a JSON object has none to report; the handler rejects it.
func unknownFields(method, path string, body []byte) []string {
	kind := bodyKind(method, path)
	if kind == "" || len(body) == 0 {
		return nil
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil
	}
	var out []string
	for k, v := range top {
		if !slices.Contains(documented(kind), k) {
			out = append(out, k)
			continue
		}
		if kind == "order" && k == "certificate" {
			var cert map[string]json.RawMessage
			if json.Unmarshal(v, &cert) == nil {
				for ck := range cert {
					if !slices.Contains(documented("order.certificate"), ck) {
						out = append(out, "certificate."+ck)
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// orderRequest is the body of POST /order/certificate/{product_name_id}
// (upstream-apis.md §2.4).
type orderRequest struct {
	Certificate struct {
		CommonName     string          `json:"common_name"`
		DNSNames       []string        `json:"dns_names"`
		CSR            string          `json:"csr"`
		SignatureHash  string          `json:"signature_hash"`
		ServerPlatform json.RawMessage `json:"server_platform"`
		CertValidity   *validity       `json:"cert_validity"`
	} `json:"certificate"`
	Organization *struct {
		ID int `json:"id"`
	} `json:"organization"`
	OrderValidity *validity `json:"order_validity"`
	ValidityYears int       `json:"validity_years"`
	SkipApproval  bool      `json:"skip_approval"`
	Comments      string    `json:"comments"`
	PaymentMethod string    `json:"payment_method"`
}

// validity is order_validity / cert_validity.
type validity struct {
	Years                int    `json:"years,omitempty"`
	Days                 int    `json:"days,omitempty"`
	CustomExpirationDate string `json:"custom_expiration_date,omitempty"`
}

// chainCert is one element of certificate_chain in an order response.
type chainCert struct {
	SubjectCommonName string `json:"subject_common_name"`
	PEM               string `json:"pem"`
}

// idName is the {"id","name"} pair DigiCert nests everywhere.
type idName struct {
	ID   int    `json:"id"`
	Name string `json:"name,omitempty"`
}

// person is a requester or processor.
type person struct {
	ID        int    `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
}

// apiUser is who the fake says made API requests.
func apiUser() person {
	return person{ID: 242140, FirstName: "API", LastName: "User", Email: "api-user@example.com"}
}
