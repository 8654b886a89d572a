package digicert

import (
	"cmp"
	"context"
	"encoding/pem"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acmegate/acmegate/ca"
)

// notBeforeSlack is how far in the future a requested notBefore may be and
// still be served by DigiCert, which starts certificates at issuance.
const notBeforeSlack = time.Hour

// listPageSize is the limit sent when listing orders; DigiCert's examples
// and clients use 1000, the documented maximum is unconfirmed.
const listPageSize = 1000

// maxListPages bounds one listing: 50 000 orders.
const maxListPages = 50

// OrderComment is the text Issue writes into a DigiCert order's comments.
// It carries the acmegate order id, so that a submission whose answer was
// lost can be found again: DigiCert documents no idempotency key, so this
// is acmegate's own design (upstream-apis.md §2.4). It is exported for
// operators' tools and for tests that look orders up in CertCentral.
func OrderComment(orderID string) string {
	return "Requested through acmegate " + orderMarker(orderID)
}

// orderMarker is the part of OrderComment that Issue searches for; the
// brackets keep order "1" from matching order "12".
func orderMarker(orderID string) string { return "[acmegate-order:" + orderID + "]" }

// Issue places a DigiCert order for req, or continues with the one already
// placed for req.OrderID. DigiCert issues at once when the organization
// and every name are pre-validated and no approval is needed; the result
// then carries the chain. Otherwise it is Pending, with Ref to Poll.
//
// Idempotency: before placing, Issue lists recent orders with the same
// common name and product and reads their comments for req.OrderID's
// marker (see OrderComment). A lookup that fails returns the error rather
// than risk a second order.
func (b *Backend) Issue(ctx context.Context, req ca.IssueRequest) (ca.IssueResult, error) {
	if req.OrderID == "" || strings.ContainsAny(req.OrderID, "[]\r\n") {
		return ca.IssueResult{}, ca.Errorf(ca.Rejected, "order id %q cannot be recorded at DigiCert", req.OrderID)
	}
	if req.CSR == nil || len(req.CSR.Raw) == 0 {
		return ca.IssueResult{}, ca.Errorf(ca.Rejected, "no certificate signing request")
	}
	prof, err := b.profile(req.Profile)
	if err != nil {
		return ca.IssueResult{}, err
	}
	cn, others, err := certificateNames(req.Identifiers)
	if err != nil {
		return ca.IssueResult{}, err
	}
	days, err := b.validityDays(prof, req.NotBefore, req.NotAfter)
	if err != nil {
		return ca.IssueResult{}, err
	}

	// Two Issue calls for one order in this process must not both find
	// nothing and both place it.
	unlock := b.inflight.lock(req.OrderID)
	defer unlock()

	found, err := b.findOrder(ctx, req.OrderID, prof.Product, cn, others)
	if err != nil {
		return ca.IssueResult{}, err
	}
	if found != nil {
		b.log.InfoContext(ctx, "DigiCert order already placed; continuing with it", "order", req.OrderID, "digicert_order", int64(found.ID), "status", found.Status)
		return b.resultFor(ctx, *found)
	}

	body := orderRequest{
		// DigiCert reads no names from the CSR: every name is sent
		// explicitly [DC:orders/order-basic-ov.html].
		Certificate: orderCertificate{
			CommonName:    cn,
			DNSNames:      others,
			CSR:           string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: req.CSR.Raw})),
			SignatureHash: "sha256",
		},
		OrderValidity: orderValidity{Days: days},
		Comments:      OrderComment(req.OrderID),
		SkipApproval:  b.skipApproval,
	}
	if b.orgID != 0 {
		body.Organization = &orgRef{ID: b.orgID}
	}
	var placed placedOrder
	if _, err := b.callJSON(ctx, "place the order", http.MethodPost, "/order/certificate/"+prof.Product, nil, body, &placed); err != nil {
		return ca.IssueResult{}, err
	}
	if placed.ID <= 0 {
		// The order may exist; the retry's lookup will find it.
		return ca.IssueResult{}, &ca.Error{Kind: ca.Unavailable, Detail: "DigiCert CertCentral's answer to the order carries no order id; will retry"}
	}
	ref := makeRef(int64(placed.ID), int64(placed.CertificateID))
	b.log.InfoContext(ctx, "DigiCert order placed", "order", req.OrderID, "digicert_order", int64(placed.ID), "product", prof.Product)
	if len(placed.CertificateChain) > 0 {
		chain, err := chainFromJSON(placed.CertificateChain)
		if err == nil {
			return ca.IssueResult{Chain: chain, Ref: ref}, nil
		}
		// The order is issued; Poll downloads the chain instead.
		b.log.WarnContext(ctx, "DigiCert's certificate_chain is unusable; will download it", "digicert_order", int64(placed.ID), "error", err)
	}
	return ca.IssueResult{Pending: true, Ref: ref}, nil
}

// certificateNames splits the identifiers into DigiCert's common_name (the
// first DNS name, or the first identifier when there is none) and
// dns_names (the rest, IP addresses included, without duplicates).
func certificateNames(ids []ca.Identifier) (cn string, others []string, err error) {
	if len(ids) == 0 {
		return "", nil, ca.Errorf(ca.Rejected, "no identifiers to certify")
	}
	for _, id := range ids {
		if id.Type != ca.IdentifierDNS && id.Type != ca.IdentifierIP {
			return "", nil, ca.Errorf(ca.Rejected, "DigiCert cannot certify identifier type %q", id.Type)
		}
		if id.Value == "" {
			return "", nil, ca.Errorf(ca.Rejected, "empty %s identifier", id.Type)
		}
	}
	cn = ids[0].Value
	if i := slices.IndexFunc(ids, func(id ca.Identifier) bool { return id.Type == ca.IdentifierDNS }); i >= 0 {
		cn = ids[i].Value
	}
	for _, id := range ids {
		if !strings.EqualFold(id.Value, cn) && !slices.ContainsFunc(others, func(o string) bool { return strings.EqualFold(o, id.Value) }) {
			others = append(others, id.Value)
		}
	}
	return cn, others, nil
}

// validityDays works out order_validity.days: the profile's, or fewer when
// the request asks for an earlier notAfter. DigiCert starts certificates at
// issuance, so a notBefore in the future cannot be honoured.
func (b *Backend) validityDays(prof ProfileMap, notBefore, notAfter time.Time) (int, error) {
	now := b.now()
	if !notBefore.IsZero() && notBefore.After(now.Add(notBeforeSlack)) {
		return 0, ca.Errorf(ca.Rejected, "DigiCert cannot issue a certificate that starts in the future (%s)", notBefore.UTC().Format(time.RFC3339))
	}
	if notAfter.IsZero() {
		return prof.ValidityDays, nil
	}
	d := notAfter.Sub(now)
	if d <= 0 {
		return 0, ca.Errorf(ca.Rejected, "the requested notAfter %s has passed", notAfter.UTC().Format(time.RFC3339))
	}
	days := int((d + 24*time.Hour - 1) / (24 * time.Hour))
	if days > prof.ValidityDays {
		return 0, ca.Errorf(ca.Rejected, "the requested validity of %d days exceeds profile %q's %d days", days, prof.Name, prof.ValidityDays)
	}
	return days, nil
}

// findOrder looks for an order already placed for orderID: recent orders
// with the same common name and product (filters[common_name],
// filters[product_name_id] [DC:orders/list-orders]) and the same names,
// whose comments carry orderID's marker. The list does not show comments,
// so each candidate's order info is read, newest first.
func (b *Backend) findOrder(ctx context.Context, orderID, product, cn string, others []string) (*apiOrder, error) {
	const action = "look for an order already placed"
	want := nameSet(cn, others)
	cutoff := b.now().Add(-b.window)
	var candidates []apiOrder
	err := b.eachOrder(ctx, action, url.Values{"filters[common_name]": {cn}, "filters[product_name_id]": {product}}, func(o apiOrder) {
		if t, ok := o.created(); ok && t.Before(cutoff) {
			return
		}
		if o.Certificate.CommonName != "" && !nameSet(o.Certificate.CommonName, o.Certificate.DNSNames).equal(want) {
			return
		}
		candidates = append(candidates, o)
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(candidates, func(a, c apiOrder) int { return cmp.Compare(c.ID, a.ID) })
	marker := orderMarker(orderID)
	for _, c := range candidates {
		o, err := b.orderInfo(ctx, action, int64(c.ID))
		if err != nil {
			return nil, err
		}
		if o.carries(marker) {
			return &o, nil
		}
	}
	return nil, nil
}

// carries reports whether the order's comments, or those of one of its
// requests (where order info shows the comments sent with the order),
// contain marker.
func (o apiOrder) carries(marker string) bool {
	if strings.Contains(o.Comments, marker) {
		return true
	}
	return slices.ContainsFunc(o.Requests, func(r apiRequest) bool { return strings.Contains(r.Comments, marker) })
}

// eachOrder lists orders matching filters, page by page, calling fn for
// each.
func (b *Backend) eachOrder(ctx context.Context, action string, filters url.Values, fn func(apiOrder)) error {
	q := url.Values{}
	for k, v := range filters {
		q[k] = v
	}
	q.Set("limit", strconv.Itoa(b.pageSize))
	offset := 0
	for range maxListPages {
		q.Set("offset", strconv.Itoa(offset))
		var page orderList
		if _, err := b.callJSON(ctx, action, http.MethodGet, "/order/certificate", q, nil, &page); err != nil {
			return err
		}
		for _, o := range page.Orders {
			if o.ID > 0 {
				fn(o)
			}
		}
		offset += len(page.Orders)
		if len(page.Orders) == 0 || offset >= int(page.Page.Total) {
			return nil
		}
	}
	return &ca.Error{Kind: ca.Unavailable, Detail: "DigiCert CertCentral's order list is longer than acmegate reads"}
}

// names is a case-insensitive set of certificate names.
type names map[string]bool

func nameSet(cn string, others []string) names {
	s := names{strings.ToLower(cn): true}
	for _, n := range others {
		s[strings.ToLower(n)] = true
	}
	return s
}

func (s names) equal(o names) bool {
	if len(s) != len(o) {
		return false
	}
	for n := range s {
		if !o[n] {
			return false
		}
	}
	return true
}

// makeRef encodes the order id, and the certificate id when known, as the
// Ref acmegate persists: "542772" or "542772/456789123".
func makeRef(orderID, certID int64) string {
	ref := strconv.FormatInt(orderID, 10)
	if certID > 0 {
		ref += "/" + strconv.FormatInt(certID, 10)
	}
	return ref
}

// parseRef decodes makeRef's form.
func parseRef(ref string) (orderID, certID int64, err error) {
	o, c, hasCert := strings.Cut(strings.TrimSpace(ref), "/")
	orderID, err = strconv.ParseInt(o, 10, 64)
	if err != nil || orderID <= 0 {
		return 0, 0, ca.Errorf(ca.Rejected, "%q is not a DigiCert order reference", ref)
	}
	if hasCert {
		if certID, err = strconv.ParseInt(c, 10, 64); err != nil || certID < 0 {
			return 0, 0, ca.Errorf(ca.Rejected, "%q is not a DigiCert order reference", ref)
		}
	}
	return orderID, certID, nil
}
