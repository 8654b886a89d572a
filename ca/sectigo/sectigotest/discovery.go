package sectigotest

import (
	"net/http"
	"strconv"
)

// handleTypes is GET /api/ssl/v1/types (upstream-apis.md §1.3). An
// organizationId filter must name a known organization or department.
func (s *Server) handleTypes(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("organizationId"); v != "" {
		id, err := strconv.Atoi(v)
		if err != nil || !s.knownOrg(id) {
			writeError(w, http.StatusBadRequest, codeOrgNotFound, "Organization not found")
			return
		}
	}
	out := make([]certTypeJSON, 0, len(s.cfg.CertTypes))
	for _, t := range s.cfg.CertTypes {
		out = append(out, toCertTypeJSON(t))
	}
	writeJSON(w, http.StatusOK, out)
}

// handleCustomFields is GET /api/ssl/v1/customFields.
func (s *Server) handleCustomFields(w http.ResponseWriter, r *http.Request) {
	type field struct {
		ID        int    `json:"id"`
		Name      string `json:"name"`
		Mandatory bool   `json:"mandatory"`
	}
	out := make([]field, 0, len(s.cfg.CustomFields))
	for _, f := range s.cfg.CustomFields {
		out = append(out, field(f))
	}
	writeJSON(w, http.StatusOK, out)
}

type departmentJSON struct {
	ID         int    `json:"id"`
	Name       string `json:"name"`
	ParentName string `json:"parentName"`
}

type organizationJSON struct {
	ID          int              `json:"id"`
	Name        string           `json:"name"`
	Departments []departmentJSON `json:"departments"`
}

func toOrganizationJSON(o Organization) organizationJSON {
	out := organizationJSON{ID: o.ID, Name: o.Name, Departments: []departmentJSON{}}
	for _, d := range o.Departments {
		out.Departments = append(out.Departments, departmentJSON{d.ID, d.Name, o.Name})
	}
	return out
}

// handleOrganizations is GET /api/organization/v1.
func (s *Server) handleOrganizations(w http.ResponseWriter, r *http.Request) {
	out := make([]organizationJSON, 0, len(s.cfg.Organizations))
	for _, o := range s.cfg.Organizations {
		out = append(out, toOrganizationJSON(o))
	}
	writeJSON(w, http.StatusOK, out)
}

// handleOrganization is GET /api/organization/v1/{id}.
func (s *Server) handleOrganization(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	for _, o := range s.cfg.Organizations {
		if err == nil && o.ID == id {
			writeJSON(w, http.StatusOK, toOrganizationJSON(o))
			return
		}
	}
	writeError(w, http.StatusBadRequest, codeOrgNotFound, "Organization not found")
}

// handleDomains is GET /api/domain/v1 (upstream-apis.md §1.8): the
// pre-validated domains, with X-Total-Count.
func (s *Server) handleDomains(w http.ResponseWriter, r *http.Request) {
	type domain struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	out := make([]domain, 0, len(s.cfg.Domains))
	for i, d := range s.cfg.Domains {
		out = append(out, domain{400 + i, d})
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(len(out)))
	writeJSON(w, http.StatusOK, out)
}
