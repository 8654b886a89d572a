package digicerttest

import (
	"net/http"
	"strconv"
	"strings"
)

// revokeBody is the body of both revoke calls (§2.6). The certificate
// revoke page names the field comment, every example comments: both are
// accepted.
type revokeBody struct {
	Comments         string `json:"comments"`
	Comment          string `json:"comment"`
	SkipApproval     bool   `json:"skip_approval"`
	RevocationReason string `json:"revocation_reason"`
}

// revokeCertificate is PUT /certificate/{certificate_id or serial}/revoke.
func (s *Server) revokeCertificate(w http.ResponseWriter, r *http.Request) {
	var body revokeBody
	if !decodeBody(w, r, &body) {
		return
	}
	key := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	var o *order
	if id, err := strconv.Atoi(key); err == nil {
		o = s.st.byCert[id]
	}
	if o == nil {
		for _, c := range s.st.byCert {
			if strings.EqualFold(c.Serial, key) {
				o = c
			}
		}
	}
	if o == nil {
		writeError(w, http.StatusNotFound, "not_found|certificate", "The specified certificate was not found.")
		return
	}
	s.revokeLocked(w, o, body)
}

// revokeOrder is PUT /order/certificate/{order_id}/revoke.
func (s *Server) revokeOrder(w http.ResponseWriter, r *http.Request) {
	var body revokeBody
	if !decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.findOrderLocked(r.PathValue("id"))
	if o == nil {
		writeError(w, http.StatusNotFound, "not_found|order", "The specified order was not found.")
		return
	}
	s.revokeLocked(w, o, body)
}

// revokeLocked revokes o's certificate at once (204) when skip_approval is
// honoured, or lodges a revoke request awaiting approval (201) [DC-old ru
// revoke-order-certificates; ribose certificate_revoked.json].
func (s *Server) revokeLocked(w http.ResponseWriter, o *order, body revokeBody) {
	switch o.Status {
	case StatusRevoked:
		writeError(w, http.StatusBadRequest, "already_revoked", "The certificate is already revoked.")
		return
	case StatusIssued:
	default:
		writeError(w, http.StatusBadRequest, "invalid_status|certificate", "Only issued certificates can be revoked.")
		return
	}
	comments := body.Comments
	if comments == "" {
		comments = body.Comment
	}
	rev := Revocation{
		CertificateID: o.CertificateID, OrderID: o.ID, Serial: o.Serial, Comments: comments,
		Reason: body.RevocationReason, SkipApproval: body.SkipApproval,
	}
	if body.SkipApproval && !s.st.revokeNeedsApproval {
		s.markRevokedLocked(o)
		rev.Status = StatusRevoked
		s.st.revocations = append(s.st.revocations, rev)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	rq := &request{id: s.st.newID(), typ: requestRevoke, status: requestPending, orderID: o.ID,
		certificateID: o.CertificateID, comments: comments, date: s.now()}
	s.st.requests[rq.id] = rq
	rev.Status, rev.RequestID = requestPending, rq.id
	s.st.revocations = append(s.st.revocations, rev)
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": rq.id, "date": formatTime(rq.date), "type": rq.typ, "status": rq.status,
		"requester": apiUser(), "comments": comments,
	})
}

// markRevokedLocked records o's certificate as revoked.
func (s *Server) markRevokedLocked(o *order) {
	o.Status = StatusRevoked
}

// requestInfo is GET /request/{request_id} (§2.5).
func (s *Server) requestInfo(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.Atoi(r.PathValue("id"))
	s.mu.Lock()
	defer s.mu.Unlock()
	rq := s.st.requests[id]
	if rq == nil {
		writeError(w, http.StatusNotFound, "not_found|request", "The specified request was not found.")
		return
	}
	o := s.st.orders[rq.orderID]
	prod, _ := s.productLocked(o.Product)
	view := map[string]any{
		"id": rq.id, "date": formatTime(rq.date), "type": rq.typ, "status": rq.status,
		"requester": apiUser(),
		"order": map[string]any{
			"id":          o.ID,
			"certificate": map[string]any{"common_name": o.CommonName, "dns_names": append([]string{o.CommonName}, o.DNSNames...)},
			"container":   idName{ID: 5, Name: "Fake Division"},
			"product":     productView{NameID: prod.NameID, Name: prod.Name, Type: prod.Type},
		},
		"comments": rq.comments,
	}
	if !rq.dateProcessed.IsZero() {
		view["date_processed"] = formatTime(rq.dateProcessed)
		view["processor"] = person{ID: 14, FirstName: "Approver", LastName: "Fake", Email: "approver@example.com"}
		view["processor_comment"] = rq.processorComment
	}
	writeJSON(w, http.StatusOK, view)
}

// updateRequestStatus is PUT /request/{request_id}/status, an approver's
// decision; success is an empty 204 (the code is unconfirmed).
func (s *Server) updateRequestStatus(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Status           string `json:"status"`
		ProcessorComment string `json:"processor_comment"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	id, _ := strconv.Atoi(r.PathValue("id"))
	s.mu.Lock()
	defer s.mu.Unlock()
	rq := s.st.requests[id]
	switch {
	case rq == nil:
		writeError(w, http.StatusNotFound, "not_found|request", "The specified request was not found.")
	case body.Status != requestApproved && body.Status != requestRejected:
		writeError(w, http.StatusBadRequest, "invalid_status", "Status must be approved or rejected.")
	default:
		if err := s.setRequestStatusLocked(rq, body.Status, body.ProcessorComment); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_status", "The request cannot change status: "+err.Error()+".")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
