package digicerttest

import (
	"net/http"
	"strconv"
	"time"
)

// Product is one entry of GET /product (§2.3; sapcc product.go).
type Product struct {
	GroupName                 string             `json:"group_name"`
	NameID                    string             `json:"name_id"`
	Name                      string             `json:"name"`
	Type                      string             `json:"type"`
	ValidationType            string             `json:"validation_type"`
	AllowedValidityYears      []int              `json:"allowed_validity_years"`
	AllowedOrderValidityYears []int              `json:"allowed_order_validity_years"`
	SignatureHashTypes        signatureHashTypes `json:"signature_hash_types"`
}

// signatureHashTypes is the product's hash list; its exact shape is
// unconfirmed.
type signatureHashTypes struct {
	AllowedHashTypes []idString `json:"allowed_hash_types"`
	DefaultHashType  string     `json:"default_hash_type_id"`
}

type idString struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Validation is one validation of an organization or domain.
type Validation struct {
	Type           string `json:"type"`
	Status         string `json:"status"`
	ValidatedUntil string `json:"validated_until,omitempty"`
}

// Organization is one entry of GET /organization (§2.7; ribose
// organizations.json).
type Organization struct {
	ID          int          `json:"id"`
	Status      string       `json:"status"`
	Name        string       `json:"name"`
	AssumedName string       `json:"assumed_name,omitempty"`
	DisplayName string       `json:"display_name"`
	IsActive    bool         `json:"is_active"`
	City        string       `json:"city"`
	State       string       `json:"state"`
	Country     string       `json:"country"`
	Container   idName       `json:"container"`
	Validations []Validation `json:"validations"`
}

// DefaultProducts returns the products the fake offers by default: OV, EV,
// DV and private TLS products named as DigiCert names them (§2.3).
func DefaultProducts() []Product {
	hashes := signatureHashTypes{
		AllowedHashTypes: []idString{{"sha256", "SHA-256"}, {"sha384", "SHA-384"}, {"sha512", "SHA-512"}},
		DefaultHashType:  "sha256",
	}
	p := func(group, id, name, validation string) Product {
		return Product{GroupName: group, NameID: id, Name: name, Type: "ssl_certificate", ValidationType: validation,
			AllowedValidityYears: []int{1}, AllowedOrderValidityYears: []int{1, 2, 3}, SignatureHashTypes: hashes}
	}
	return []Product{
		p("ssl_certificate", "ssl_basic", "Basic OV", "ov"),
		p("ssl_certificate", "ssl_securesite_flex", "Secure Site OV", "ov"),
		p("ssl_certificate", "ssl_ev_basic", "Basic EV", "ev"),
		p("dv_ssl_certificate", "ssl_dv_geotrust", "GeoTrust Standard DV", "dv"),
		p("private_ssl_certificate", "private_ssl_plus", "Private SSL", "ov"),
	}
}

func defaultOrganization() Organization {
	return Organization{
		ID: DefaultOrganizationID, Status: "active", Name: "Example Inc.", DisplayName: "Example Inc.",
		IsActive: true, City: "Lindon", State: "Utah", Country: "us", Container: idName{ID: 5, Name: "Fake Division"},
		Validations: []Validation{{Type: "ov", Status: "active", ValidatedUntil: "2099-01-01T00:00:00+00:00"}},
	}
}

func (s *Server) productLocked(nameID string) (Product, bool) {
	for _, p := range s.st.products {
		if p.NameID == nameID {
			return p, true
		}
	}
	return Product{}, false
}

func (s *Server) organizationLocked(id int) (Organization, bool) {
	for _, o := range s.st.organizations {
		if o.ID == id {
			return o, true
		}
	}
	return Organization{}, false
}

func (s *Server) organizationActiveLocked(id int) bool {
	o, ok := s.organizationLocked(id)
	return ok && o.IsActive
}

// listProducts is GET /product.
func (s *Server) listProducts(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"products": s.st.products})
}

// productInfo is GET /product/{name_id}.
func (s *Server) productInfo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.productLocked(r.PathValue("name_id"))
	if !ok {
		writeError(w, http.StatusNotFound, "not_found|product", "The specified product was not found.")
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// listOrganizations is GET /organization.
func (s *Server) listOrganizations(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"organizations": s.st.organizations})
}

// organizationInfo is GET /organization/{id}.
func (s *Server) organizationInfo(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.Atoi(r.PathValue("id"))
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.organizationLocked(id)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found|organization", "The specified organization was not found.")
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// domainView is one entry of GET /domain (§2.7; ribose domains.json).
type domainView struct {
	ID           int          `json:"id"`
	Name         string       `json:"name"`
	IsActive     bool         `json:"is_active"`
	DateCreated  string       `json:"date_created"`
	Organization idName       `json:"organization"`
	Validations  []Validation `json:"validations"`
	Container    idName       `json:"container"`
}

// domainsLocked builds the domain list: domain i has id 1000+i.
func (s *Server) domainsLocked() []domainView {
	org := defaultOrganization()
	if len(s.st.organizations) > 0 {
		org = s.st.organizations[0]
	}
	out := make([]domainView, 0, len(s.st.domains))
	for i, d := range s.st.domains {
		out = append(out, domainView{
			ID: 1000 + i, Name: d, IsActive: true, DateCreated: formatTime(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)),
			Organization: idName{ID: org.ID, Name: org.Name},
			Validations:  []Validation{{Type: "ov", Status: "active"}},
			Container:    org.Container,
		})
	}
	return out
}

// listDomains is GET /domain (container_id is accepted and ignored).
func (s *Server) listDomains(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"domains": s.domainsLocked()})
}

// domainInfo is GET /domain/{id}.
func (s *Server) domainInfo(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.Atoi(r.PathValue("id"))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.domainsLocked() {
		if d.ID == id {
			writeJSON(w, http.StatusOK, d)
			return
		}
	}
	writeError(w, http.StatusNotFound, "not_found|domain", "The specified domain was not found.")
}
