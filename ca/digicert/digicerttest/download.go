package digicerttest

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Download formats the fake serves (§2.5). Their contents are the fake's
// choice where the reference says the bundle order is unconfirmed:
//
//	pem_all, pem          leaf, intermediate, root (root first with RootFirstBundles)
//	pem_noroot, default_pem  leaf, intermediate
//	pem_nointermediate    leaf
//	p7b                   PKCS #7 (DER) with leaf, intermediate, root
//
// Zip formats (default, crt, …) answer 400 invalid_format.
const (
	FormatPEMAll            = "pem_all"
	FormatPEM               = "pem"
	FormatPEMNoRoot         = "pem_noroot"
	FormatDefaultPEM        = "default_pem"
	FormatPEMNoIntermediate = "pem_nointermediate"
	FormatP7B               = "p7b"
)

// downloadByCertificate is GET /certificate/{certificate_id}/download/format/{format}.
func (s *Server) downloadByCertificate(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.Atoi(r.PathValue("id"))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeDownloadLocked(w, s.st.byCert[id], r.PathValue("format"), false)
}

// downloadByOrder is GET /certificate/download/order/{order_id}/format/{format},
// which serves the order's active certificate only.
func (s *Server) downloadByOrder(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.Atoi(r.PathValue("order_id"))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeDownloadLocked(w, s.st.orders[id], r.PathValue("format"), true)
}

// writeDownloadLocked serves o's certificate in format. Before issuance the
// fake answers 404 not_found (the vendor's answer is unconfirmed).
func (s *Server) writeDownloadLocked(w http.ResponseWriter, o *order, format string, activeOnly bool) {
	if o == nil || o.leafDER == nil || activeOnly && o.Status != StatusIssued {
		writeError(w, http.StatusNotFound, "not_found", "The specified certificate was not found.")
		return
	}
	all := [][]byte{o.leafDER, s.ca.inter.Raw, s.ca.root.Raw}
	var certs [][]byte
	switch format {
	case FormatPEMAll, FormatPEM:
		certs = all
		if s.st.rootFirst {
			certs = slices.Clone(all)
			slices.Reverse(certs)
		}
	case FormatPEMNoRoot, FormatDefaultPEM:
		certs = all[:2]
	case FormatPEMNoIntermediate:
		certs = all[:1]
	case FormatP7B:
		der, err := p7b(all...)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal_error", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/x-pkcs7-certificates")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(der)
		return
	default:
		writeError(w, http.StatusBadRequest, "invalid_format", "The format "+format+" is not supported.")
		return
	}
	var b strings.Builder
	for _, c := range certs {
		b.WriteString(pemCRLF(c))
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(b.String()))
}

// certificateChain is GET /certificate/{certificate_id}/chain: element 0 is
// the leaf, as Keyfactor reads it (§2.5, unconfirmed as documented).
func (s *Server) certificateChain(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.Atoi(r.PathValue("id"))
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.st.byCert[id]
	if o == nil {
		writeError(w, http.StatusNotFound, "not_found", "The specified certificate was not found.")
		return
	}
	writeJSON(w, http.StatusOK, map[string][]chainCert{"intermediates": {
		{SubjectCommonName: o.CommonName, PEM: pemCRLF(o.leafDER)},
		{SubjectCommonName: s.ca.inter.Subject.CommonName, PEM: pemCRLF(s.ca.inter.Raw)},
		{SubjectCommonName: s.ca.root.Subject.CommonName, PEM: pemCRLF(s.ca.root.Raw)},
	}})
}
