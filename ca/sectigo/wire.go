package sectigo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The JSON shapes of Sectigo Certificate Manager's REST API (upstream-apis.md
// §1.3–§1.7). Requests carry only documented fields with their exact names;
// responses are decoded liberally: unknown fields are ignored, numbers may
// arrive as strings, lists as comma-separated strings.

// apiError is SCM's error body for any status ≥ 400 (upstream-apis.md §1.2):
// {"code": <int, usually negative>, "description": "<text>"}.
type apiError struct {
	Code        flexInt    `json:"code"`
	Description flexString `json:"description"`
}

// enrollRequest is POST /api/ssl/v1/enroll (upstream-apis.md §1.4).
type enrollRequest struct {
	OrgID        int           `json:"orgId"`
	CSR          string        `json:"csr"`
	CertType     int           `json:"certType"`
	Term         int           `json:"term"`
	SubjAltNames string        `json:"subjAltNames,omitempty"`
	Comments     string        `json:"comments,omitempty"`
	CustomFields []CustomField `json:"customFields,omitempty"`
}

// enrollResponse is the enroll call's 200 body: {"sslId":55,"renewId":"…"}.
type enrollResponse struct {
	SSLID   flexInt    `json:"sslId"`
	ID      flexInt    `json:"id"`
	RenewID flexString `json:"renewId"`
}

// listItem is one element of GET /api/ssl/v1 (upstream-apis.md §1.7).
// Comments is not in the documented listing; when an instance does include
// it, the idempotency lookup saves a details request per candidate.
type listItem struct {
	SSLID        flexInt     `json:"sslId"`
	ID           flexInt     `json:"id"`
	CommonName   flexString  `json:"commonName"`
	SANs         flexStrings `json:"subjectAlternativeNames"`
	SerialNumber flexString  `json:"serialNumber"`
	Comments     *flexString `json:"comments"`
}

func (it listItem) id() int64 { return pick(it.SSLID, it.ID) }

// details is GET /api/ssl/v1/{sslId} (upstream-apis.md §1.5), reduced to what
// the client uses.
type details struct {
	SSLID        flexInt     `json:"sslId"`
	ID           flexInt     `json:"id"`
	CommonName   flexString  `json:"commonName"`
	Status       flexString  `json:"status"`
	SerialNumber flexString  `json:"serialNumber"`
	SANs         flexStrings `json:"subjectAlternativeNames"`
	Comments     flexString  `json:"comments"`
	// Reason is why the request was declined or rejected. The field that
	// carries it is unconfirmed (docs/backends.md, "What the fakes assume"), so UnmarshalJSON takes the
	// first non-empty one of several plausible names.
	Reason string `json:"-"`
}

// reasonFields are the details fields searched for a decline reason, most
// specific first.
var reasonFields = [...]string{"declineReason", "declineMessage", "declineMsg", "rejectReason", "reason", "message"}

// UnmarshalJSON decodes the documented fields and looks for a reason.
func (d *details) UnmarshalJSON(b []byte) error {
	type plain details
	if err := json.Unmarshal(b, (*plain)(d)); err != nil {
		return err
	}
	var extra map[string]json.RawMessage
	if err := json.Unmarshal(b, &extra); err != nil {
		return err
	}
	for _, name := range reasonFields {
		var s flexString
		if raw, ok := extra[name]; ok && json.Unmarshal(raw, &s) == nil && strings.TrimSpace(string(s)) != "" {
			d.Reason = strings.TrimSpace(string(s))
			return nil
		}
	}
	return nil
}

func (d *details) id() int64 { return pick(d.SSLID, d.ID) }

// revokeRequest is the body of POST /api/ssl/v1/revoke/{sslId} and
// …/revoke/serial/{serial} (upstream-apis.md §1.6). The 25.5 reference sends
// reasonCode as a number; reason is mandatory, 1–512 characters.
type revokeRequest struct {
	ReasonCode int    `json:"reasonCode"`
	Reason     string `json:"reason"`
}

// certTypeWire is one element of GET /api/ssl/v1/types.
type certTypeWire struct {
	ID                  flexInt                `json:"id"`
	Name                flexString             `json:"name"`
	Description         flexString             `json:"description"`
	Terms               []flexInt              `json:"terms"`
	KeyTypes            map[string]flexStrings `json:"keyTypes"`
	UseSecondaryOrgName flexBool               `json:"useSecondaryOrgName"`
}

// orgWire is one element of GET /api/organization/v1.
type orgWire struct {
	ID          flexInt    `json:"id"`
	Name        flexString `json:"name"`
	Departments []struct {
		ID         flexInt    `json:"id"`
		Name       flexString `json:"name"`
		ParentName flexString `json:"parentName"`
	} `json:"departments"`
}

// pick returns the deprecated sslId if set, else id: details carry both
// (upstream-apis.md §1.5), newer responses may carry only id.
func pick(sslID, id flexInt) int64 {
	if sslID != 0 {
		return int64(sslID)
	}
	return int64(id)
}

// flexInt decodes a JSON number, a string holding one, null or "" (zero).
type flexInt int64

// UnmarshalJSON implements json.Unmarshaler.
func (n *flexInt) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s = strings.TrimSpace(s); s == "" {
			*n = 0
			return nil
		}
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = flexInt(v)
		return nil
	}
	// 55.0 or 5.5e1: integral values in float notation.
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return fmt.Errorf("sectigo: %q is not an integer", s)
	}
	*n = flexInt(f)
	return nil
}

// flexString decodes a JSON string, a number or boolean (as its text), or
// null ("").
type flexString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
		return nil
	case len(b) > 0 && (b[0] == '{' || b[0] == '['):
		return fmt.Errorf("sectigo: expected a string, got %.20s", b)
	default:
		*s = flexString(b)
		return nil
	}
}

// flexStrings decodes a JSON array of strings or a comma-separated string
// (enroll sends subjAltNames that way; listings return arrays).
type flexStrings []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *flexStrings) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		var items []flexString
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			out = append(out, string(it))
		}
		*l = out
		return nil
	}
	var s flexString
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	var out []string
	for _, part := range strings.Split(string(s), ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	*l = out
	return nil
}

// flexBool decodes true/false, "true"/"false" and null.
type flexBool bool

// UnmarshalJSON implements json.Unmarshaler.
func (v *flexBool) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(string(s))) {
	case "", "false", "0":
		*v = false
	case "true", "1":
		*v = true
	default:
		return fmt.Errorf("sectigo: %q is not a boolean", string(s))
	}
	return nil
}
