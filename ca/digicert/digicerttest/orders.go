package digicerttest

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// publicMaxDays is the longest public TLS certificate DigiCert issues from
// 2026-02-24, whatever the order's validity [DC:orders/order-dv-ssl.html].
const publicMaxDays = 199

// placeOrder is POST /order/certificate/{product_name_id} (§2.4).
func (s *Server) placeOrder(w http.ResponseWriter, r *http.Request) {
	var body orderRequest
	if !decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prod, ok := s.productLocked(r.PathValue("product"))
	if !ok {
		writeError(w, http.StatusNotFound, "not_found|product", "The specified product was not found.")
		return
	}
	cn := body.Certificate.CommonName
	if cn == "" {
		// DigiCert reads no names from the CSR: common_name is required
		// [DC:orders/order-basic-ov.html].
		writeError(w, http.StatusBadRequest, "missing_param|common_name", "Common name is required.")
		return
	}
	csr, err := parseCSR(body.Certificate.CSR)
	if err != nil {
		writeError(w, http.StatusBadRequest, "csr_invalid_cannot_parse", "Unable to parse the CSR.")
		return
	}
	orgID := 0
	if body.Organization != nil {
		orgID = body.Organization.ID
	}
	switch {
	case orgID == 0 && prod.ValidationType != "dv":
		writeError(w, http.StatusBadRequest, "missing_param|organization", "An organization is required for this product.")
		return
	case orgID != 0 && !s.organizationActiveLocked(orgID):
		writeError(w, http.StatusNotFound, "not_found|organization", "The specified organization was not found.")
		return
	}
	days := validityDays(body)
	if days <= 0 {
		writeError(w, http.StatusBadRequest, "missing_param|order_validity", "Order validity is required.")
		return
	}
	if body.Certificate.CertValidity != nil && body.Certificate.CertValidity.Days > days {
		writeError(w, http.StatusBadRequest, "cert_validity_exceeds_order_validity", "Certificate validity exceeds order validity.")
		return
	}
	dnsNames := slices.Clone(body.Certificate.DNSNames)
	for _, n := range append([]string{cn}, dnsNames...) {
		if s.fault.caaFailures[n] {
			writeError(w, http.StatusBadRequest, "caa_check_failed|"+n, "CAA records for "+n+" do not allow DigiCert to issue.")
			return
		}
	}

	now := s.now()
	o := &order{
		Order: Order{
			ID: s.st.newID(), Product: prod.NameID, OrganizationID: orgID,
			CommonName: cn, DNSNames: dnsNames, Comments: body.Comments,
			ValidityDays: days, SkipApproval: body.SkipApproval, Placed: now,
		},
		csr: csr,
	}
	rq := &request{id: s.st.newID(), typ: requestNew, orderID: o.ID, comments: body.Comments, date: now}
	o.RequestID = rq.id
	s.st.orders[o.ID] = o
	s.st.requests[rq.id] = rq

	mode := s.st.mode
	if mode == ModeNeedsApproval && body.SkipApproval {
		// skip_approval skips the account's internal approval step
		// [DC-old order-ssl-type-hint].
		mode = ModePending
	}
	switch mode {
	case ModeNeedsApproval:
		o.Status, rq.status = StatusNeedsApproval, requestPending
	case ModePending:
		o.Status, rq.status, o.pollsLeft = StatusPending, requestApproved, s.st.pendingPolls
	default:
		rq.status = requestApproved
		if err := s.issueLocked(o); err != nil {
			writeError(w, http.StatusInternalServerError, "internal_error", err.Error())
			return
		}
	}

	// Waiting: {"id","requests":[{"id","status"}]}; issued at once adds
	// certificate_id and certificate_chain, leaf first [ribose
	// order_created*.json].
	resp := struct {
		ID            int            `json:"id"`
		Requests      []requestBrief `json:"requests"`
		CertificateID int            `json:"certificate_id,omitempty"`
		Chain         []chainCert    `json:"certificate_chain,omitempty"`
	}{ID: o.ID, Requests: []requestBrief{{ID: rq.id, Status: rq.status}}}
	if o.Status == StatusIssued {
		resp.CertificateID = o.CertificateID
		resp.Chain = []chainCert{
			{SubjectCommonName: o.CommonName, PEM: pemCRLF(o.leafDER)},
			{SubjectCommonName: s.ca.inter.Subject.CommonName, PEM: pemCRLF(s.ca.inter.Raw)},
			{SubjectCommonName: s.ca.root.Subject.CommonName, PEM: pemCRLF(s.ca.root.Raw)},
		}
	}
	writeJSON(w, http.StatusCreated, resp)
}

// requestBrief is a request as the order response lists it.
type requestBrief struct {
	ID     int    `json:"id"`
	Status string `json:"status"`
}

// validityDays works out the order's validity in days from whichever form
// the client used (§2.4: order_validity years/days, or validity_years).
func validityDays(body orderRequest) int {
	switch v := body.OrderValidity; {
	case v != nil && v.Days > 0:
		return v.Days
	case v != nil && v.Years > 0:
		return 365 * v.Years
	case body.ValidityYears > 0:
		return 365 * body.ValidityYears
	}
	return 0
}

// parseCSR accepts a PEM CSR or, as acme2certifier sends, its base64 body
// without header lines (§2.4).
func parseCSR(s string) (*x509.CertificateRequest, error) {
	der := []byte(nil)
	if b, _ := pem.Decode([]byte(s)); b != nil {
		der = b.Bytes
	} else {
		var err error
		if der, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), "")); err != nil {
			return nil, err
		}
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, err
	}
	return csr, csr.CheckSignature()
}

// issueLocked signs the order's certificate and marks it issued.
func (s *Server) issueLocked(o *order) error {
	days := o.ValidityDays
	if !strings.HasPrefix(o.Product, "private_") && days > publicMaxDays {
		days = publicMaxDays
	}
	now := s.now()
	leaf, err := s.ca.issue(o.csr, o.CommonName, o.DNSNames, days, now)
	if err != nil {
		return err
	}
	o.Status, o.issuedAt, o.leafDER, o.Leaf = StatusIssued, now, leaf.Raw, leaf
	o.CertificateID, o.Serial = s.st.newID(), serialHex(leaf.SerialNumber)
	s.st.byCert[o.CertificateID] = o
	return nil
}

// orderInfo is GET /order/certificate/{order_id}; the id may also be the
// primary certificate's serial number or thumbprint (§2.5). Each call is a
// poll: a pending order counts down to issuance.
func (s *Server) orderInfo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.findOrderLocked(r.PathValue("id"))
	if o == nil {
		writeError(w, http.StatusNotFound, "not_found|order", "The specified order was not found.")
		return
	}
	if o.Status == StatusPending {
		if o.pollsLeft > 0 {
			o.pollsLeft--
		} else if err := s.issueLocked(o); err != nil {
			writeError(w, http.StatusInternalServerError, "internal_error", err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, s.orderViewLocked(o))
}

// findOrderLocked finds an order by id, or by its certificate's serial
// number or thumbprint.
func (s *Server) findOrderLocked(key string) *order {
	if id, err := strconv.Atoi(key); err == nil {
		if o, ok := s.st.orders[id]; ok {
			return o
		}
	}
	for _, o := range s.st.orders {
		if o.leafDER != nil && (strings.EqualFold(o.Serial, key) || strings.EqualFold(thumbprint(o.leafDER), key)) {
			return o
		}
	}
	return nil
}

// certView is the certificate object of order info (§2.5).
type certView struct {
	ID            int      `json:"id,omitempty"`
	Thumbprint    string   `json:"thumbprint,omitempty"`
	SerialNumber  string   `json:"serial_number,omitempty"`
	CommonName    string   `json:"common_name"`
	DNSNames      []string `json:"dns_names"`
	DateCreated   string   `json:"date_created,omitempty"`
	DateIssued    string   `json:"date_issued,omitempty"`
	ValidFrom     string   `json:"valid_from,omitempty"`
	ValidTill     string   `json:"valid_till,omitempty"`
	DaysRemaining int      `json:"days_remaining,omitempty"`
	CSR           string   `json:"csr,omitempty"`
	SignatureHash string   `json:"signature_hash"`
	Organization  *idName  `json:"organization,omitempty"`
	CACert        *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"ca_cert,omitempty"`
}

// productView is the product object nested in orders.
type productView struct {
	NameID         string `json:"name_id"`
	Name           string `json:"name"`
	Type           string `json:"type"`
	ValidationType string `json:"validation_type,omitempty"`
}

// requestView is an order's request as order info lists it.
type requestView struct {
	ID       int    `json:"id"`
	Date     string `json:"date"`
	Type     string `json:"type"`
	Status   string `json:"status"`
	Comments string `json:"comments,omitempty"`
}

// orderView is the body of order info (§2.5; ribose order.json).
type orderView struct {
	ID                          int           `json:"id"`
	Certificate                 certView      `json:"certificate"`
	Status                      string        `json:"status"`
	IsRenewal                   bool          `json:"is_renewal"`
	DateCreated                 string        `json:"date_created"`
	Organization                *idName       `json:"organization,omitempty"`
	DisableRenewalNotifications bool          `json:"disable_renewal_notifications"`
	Container                   idName        `json:"container"`
	Product                     productView   `json:"product"`
	Requests                    []requestView `json:"requests"`
	PaymentMethod               string        `json:"payment_method"`
}

func (s *Server) certViewLocked(o *order, full bool) certView {
	cv := certView{CommonName: o.CommonName, DNSNames: append([]string{o.CommonName}, o.DNSNames...), SignatureHash: "sha256"}
	if full {
		cv.DateCreated = formatTime(o.Placed)
		cv.CSR = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: o.csr.Raw}))
		if o.OrganizationID != 0 {
			cv.Organization = &idName{ID: o.OrganizationID}
		}
	}
	if o.Leaf != nil {
		cv.ID = o.CertificateID
		cv.ValidTill = o.Leaf.NotAfter.UTC().Format(dateLayout)
		cv.DaysRemaining = int(o.Leaf.NotAfter.Sub(s.now()).Hours() / 24)
		if full {
			cv.Thumbprint, cv.SerialNumber = thumbprint(o.leafDER), o.Serial
			cv.DateIssued = formatTime(o.issuedAt)
			cv.ValidFrom = o.Leaf.NotBefore.UTC().Format(dateLayout)
			cv.CACert = &struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			}{ID: "a1b2c3d4e5f6", Name: s.ca.inter.Subject.CommonName}
		}
	}
	return cv
}

func (s *Server) orderViewLocked(o *order) orderView {
	prod, _ := s.productLocked(o.Product)
	v := orderView{
		ID: o.ID, Certificate: s.certViewLocked(o, true), Status: o.Status,
		DateCreated: formatTime(o.Placed), Container: idName{ID: 5, Name: "Fake Division"},
		Product:       productView{NameID: prod.NameID, Name: prod.Name, Type: prod.Type, ValidationType: prod.ValidationType},
		PaymentMethod: "balance",
	}
	if org, ok := s.organizationLocked(o.OrganizationID); ok {
		v.Organization = &idName{ID: org.ID, Name: org.Name}
	}
	for _, rq := range s.sortedRequestsLocked(o.ID) {
		v.Requests = append(v.Requests, requestView{ID: rq.id, Date: formatTime(rq.date), Type: rq.typ, Status: rq.status, Comments: rq.comments})
	}
	return v
}

// sortedRequestsLocked returns the order's requests, oldest first.
func (s *Server) sortedRequestsLocked(orderID int) []*request {
	var out []*request
	for _, rq := range s.st.requests {
		if rq.orderID == orderID {
			out = append(out, rq)
		}
	}
	slices.SortFunc(out, func(a, b *request) int { return a.id - b.id })
	return out
}

// listItem is one order in GET /order/certificate [DC:orders/list-orders].
type listItem struct {
	ID                          int         `json:"id"`
	Certificate                 certView    `json:"certificate"`
	Status                      string      `json:"status"`
	IsRenewed                   bool        `json:"is_renewed"`
	DateCreated                 string      `json:"date_created"`
	Organization                *idName     `json:"organization,omitempty"`
	ValidityYears               int         `json:"validity_years,omitempty"`
	DisableRenewalNotifications bool        `json:"disable_renewal_notifications"`
	Container                   idName      `json:"container"`
	Product                     productView `json:"product"`
	HasDuplicates               bool        `json:"has_duplicates"`
	ProductNameID               string      `json:"product_name_id"`
}

// listOrders is GET /order/certificate with filters[...], sort, offset and
// limit [DC:orders/list-orders]. The default order is by id, oldest first,
// so a client that reads only the first page misses recent orders.
func (s *Server) listOrders(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, offset := 1000, 0
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v > 0 && v < limit {
		limit = v
	}
	if v, err := strconv.Atoi(q.Get("offset")); err == nil && v > 0 {
		offset = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*order
	for _, o := range s.st.orders {
		if s.orderMatchesLocked(o, q) {
			matched = append(matched, o)
		}
	}
	slices.SortFunc(matched, func(a, b *order) int { return a.ID - b.ID })
	if strings.HasPrefix(q.Get("sort"), "-") {
		slices.Reverse(matched)
	}
	total := len(matched)
	page := []listItem{}
	for i := offset; i < total && len(page) < limit; i++ {
		o := matched[i]
		prod, _ := s.productLocked(o.Product)
		item := listItem{
			ID: o.ID, Certificate: s.certViewLocked(o, false), Status: o.Status,
			DateCreated: formatTime(o.Placed), ValidityYears: (o.ValidityDays + 364) / 365,
			Container:     idName{ID: 5, Name: "Fake Division"},
			Product:       productView{NameID: prod.NameID, Name: prod.Name, Type: prod.Type},
			ProductNameID: prod.NameID,
		}
		if org, ok := s.organizationLocked(o.OrganizationID); ok {
			item.Organization = &idName{ID: org.ID, Name: org.Name}
		}
		page = append(page, item)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"orders": page,
		"page":   map[string]int{"total": total, "limit": limit, "offset": offset},
	})
}

// orderMatchesLocked applies the documented filters the fake supports;
// others are ignored.
func (s *Server) orderMatchesLocked(o *order, q map[string][]string) bool {
	get := func(k string) (string, bool) {
		v, ok := q["filters["+k+"]"]
		if !ok || len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	if v, ok := get("id"); ok && v != strconv.Itoa(o.ID) {
		return false
	}
	if v, ok := get("status"); ok && v != o.Status {
		return false
	}
	if v, ok := get("common_name"); ok && !strings.EqualFold(v, o.CommonName) {
		return false
	}
	if v, ok := get("product_name_id"); ok && v != o.Product {
		return false
	}
	if v, ok := get("organization_id"); ok && v != strconv.Itoa(o.OrganizationID) {
		return false
	}
	if v, ok := get("certificate_id"); ok && (o.CertificateID == 0 || v != strconv.Itoa(o.CertificateID)) {
		return false
	}
	if v, ok := get("serial_number"); ok && (o.Serial == "" || !strings.EqualFold(v, o.Serial)) {
		return false
	}
	if v, ok := get("domain_name"); ok && !strings.EqualFold(v, o.CommonName) && !slices.ContainsFunc(o.DNSNames, func(n string) bool { return strings.EqualFold(n, v) }) {
		return false
	}
	// filters[search] matches email or common_name; the fake has no email.
	if v, ok := get("search"); ok && !strings.Contains(strings.ToLower(o.CommonName), strings.ToLower(v)) {
		return false
	}
	return true
}

// updateOrderStatus is PUT /order/certificate/{order_id}/status, which can
// only cancel a pending order [DC:orders/update-order-status.html].
func (s *Server) updateOrderStatus(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Status string `json:"status"`
		Note   string `json:"note"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.findOrderLocked(r.PathValue("id"))
	switch {
	case o == nil:
		writeError(w, http.StatusNotFound, "not_found|order", "The specified order was not found.")
	case body.Status != StatusCanceled:
		writeError(w, http.StatusBadRequest, "invalid_status", "Only canceled is allowed.")
	case o.Status != StatusPending && o.Status != StatusNeedsApproval:
		writeError(w, http.StatusBadRequest, "invalid_status", "The order cannot be canceled in status "+o.Status+".")
	default:
		o.Status, o.rejectReason = StatusCanceled, body.Note
		w.WriteHeader(http.StatusNoContent)
	}
}
