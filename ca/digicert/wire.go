package digicert

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The request bodies below carry only documented fields (upstream-apis.md
// §2.4, §2.5, §2.6): strict in what we send. The response types are
// liberal: unknown fields are ignored, ids may be numbers or strings,
// optional objects may be missing.

// orderRequest is the body of POST /order/certificate/{product_name_id}.
type orderRequest struct {
	Certificate   orderCertificate `json:"certificate"`
	Organization  *orgRef          `json:"organization,omitempty"`
	OrderValidity orderValidity    `json:"order_validity"`
	Comments      string           `json:"comments"`
	SkipApproval  bool             `json:"skip_approval,omitempty"`
}

type orderCertificate struct {
	CommonName    string   `json:"common_name"`
	DNSNames      []string `json:"dns_names,omitempty"`
	CSR           string   `json:"csr"`
	SignatureHash string   `json:"signature_hash"`
}

type orgRef struct {
	ID int `json:"id"`
}

type orderValidity struct {
	Days int `json:"days"`
}

// revokeRequest is the body of PUT /certificate/{id}/revoke.
type revokeRequest struct {
	Comments     string `json:"comments"`
	SkipApproval bool   `json:"skip_approval,omitempty"`
}

// flexInt decodes a JSON number, a string holding one, or null.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*n = 0
		return nil
	}
	s := string(b)
	if unq, err := strconv.Unquote(s); err == nil {
		s = strings.TrimSpace(unq)
		if s == "" {
			*n = 0
			return nil
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer id: %.40q", s)
	}
	*n = flexInt(v)
	return nil
}

// placedOrder is the answer to an order placement (§2.4).
type placedOrder struct {
	ID               flexInt        `json:"id"`
	Requests         []apiRequest   `json:"requests"`
	CertificateID    flexInt        `json:"certificate_id"`
	CertificateChain []apiChainCert `json:"certificate_chain"`
}

// apiChainCert is one element of certificate_chain.
type apiChainCert struct {
	SubjectCommonName string `json:"subject_common_name"`
	PEM               string `json:"pem"`
}

// apiRequest is a request as order info and GET /request/{id} show it.
type apiRequest struct {
	ID               flexInt `json:"id"`
	Date             string  `json:"date"`
	Type             string  `json:"type"`
	Status           string  `json:"status"`
	Comments         string  `json:"comments"`
	ProcessorComment string  `json:"processor_comment"`
}

// apiOrder is order info (§2.5) and, with fewer fields, a list entry.
type apiOrder struct {
	ID          flexInt        `json:"id"`
	Status      string         `json:"status"`
	DateCreated string         `json:"date_created"`
	Certificate apiCertificate `json:"certificate"`
	Product     struct {
		NameID string `json:"name_id"`
		Name   string `json:"name"`
	} `json:"product"`
	ProductNameID string `json:"product_name_id"`
	Organization  struct {
		ID   flexInt `json:"id"`
		Name string  `json:"name"`
	} `json:"organization"`
	Requests []apiRequest `json:"requests"`
	// Comments is not documented on order info; read when present.
	Comments string `json:"comments"`
}

// apiCertificate is the certificate object of an order.
type apiCertificate struct {
	ID           flexInt  `json:"id"`
	CommonName   string   `json:"common_name"`
	DNSNames     []string `json:"dns_names"`
	SerialNumber string   `json:"serial_number"`
	Thumbprint   string   `json:"thumbprint"`
	ValidFrom    string   `json:"valid_from"`
	ValidTill    string   `json:"valid_till"`
}

// orderList is GET /order/certificate.
type orderList struct {
	Orders []apiOrder `json:"orders"`
	Page   struct {
		Total  flexInt `json:"total"`
		Limit  flexInt `json:"limit"`
		Offset flexInt `json:"offset"`
	} `json:"page"`
}

// created parses DigiCert's "2018-10-16T17:29:56+00:00"; ok is false for
// anything else.
func (o apiOrder) created() (t time.Time, ok bool) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(o.DateCreated))
	return t, err == nil
}

// productNameID is the order's product, from whichever field carries it.
func (o apiOrder) productNameID() string {
	if o.Product.NameID != "" {
		return o.Product.NameID
	}
	return o.ProductNameID
}
