package digicert

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/acmegate/acmegate/ca"
)

// downloadFormat is the bundle Poll downloads. pem_all is assumed to hold
// the leaf, the intermediates and the root; its order is unconfirmed, so
// buildChain orders it (and drops the root) itself.
const downloadFormat = "pem_all"

// Poll reads the order behind ref (GET /order/certificate/{order_id},
// §2.5). While DigiCert validates or waits for an approver the result is
// Pending; once issued, Poll downloads the chain. A rejected, denied or
// canceled order is ca.Rejected with the approver's reason.
func (b *Backend) Poll(ctx context.Context, ref string) (ca.IssueResult, error) {
	orderID, _, err := parseRef(ref)
	if err != nil {
		return ca.IssueResult{}, err
	}
	o, err := b.orderInfo(ctx, "check the order", orderID)
	if err != nil {
		return ca.IssueResult{}, err
	}
	return b.resultFor(ctx, o)
}

// orderInfo reads one order.
func (b *Backend) orderInfo(ctx context.Context, action string, id int64) (apiOrder, error) {
	var o apiOrder
	if _, err := b.callJSON(ctx, action, http.MethodGet, "/order/certificate/"+strconv.FormatInt(id, 10), nil, nil, &o); err != nil {
		return apiOrder{}, err
	}
	if strings.TrimSpace(o.Status) == "" {
		// An empty or cut-short answer says nothing about the order: never
		// read it as a state.
		return apiOrder{}, &ca.Error{Kind: ca.Unavailable,
			Detail: fmt.Sprintf("DigiCert CertCentral's answer to %s carried no order status; will retry", action)}
	}
	if o.ID <= 0 {
		o.ID = flexInt(id)
	}
	return o, nil
}

// resultFor turns an order's status into a result. The statuses and their
// meaning are Keyfactor's [kf-dc GetCertificateStatusFromCA], the most
// complete public mapping (§2.5).
func (b *Backend) resultFor(ctx context.Context, o apiOrder) (ca.IssueResult, error) {
	ref := makeRef(int64(o.ID), int64(o.Certificate.ID))
	pending := ca.IssueResult{Pending: true, Ref: ref}
	switch status := strings.ToLower(strings.TrimSpace(o.Status)); status {
	case "issued", "approved":
		// "approved" is also the state of an approved request whose
		// certificate is not out yet: only a certificate decides.
		if status == "approved" && o.Certificate.ID <= 0 && o.Certificate.SerialNumber == "" {
			return pending, nil
		}
		chain, err := b.download(ctx, o)
		switch {
		case err != nil:
			return ca.IssueResult{}, err
		case chain == nil:
			return pending, nil
		}
		return ca.IssueResult{Chain: chain, Ref: ref}, nil
	case "rejected", "denied", "canceled", "cancelled":
		reason := b.rejectionReason(ctx, o)
		e := &ca.Error{Kind: ca.Rejected, Detail: fmt.Sprintf("DigiCert CertCentral order %d was %s", int64(o.ID), status),
			Upstream: "order status " + status}
		if reason != "" {
			e.Detail += ": " + reason
			e.Upstream += ": " + reason
		}
		return ca.IssueResult{}, e
	case "revoked":
		return ca.IssueResult{}, ca.Errorf(ca.Rejected, "the certificate of DigiCert CertCentral order %d was revoked before acmegate collected it", int64(o.ID))
	case "expired":
		// Keyfactor counts it as issued, but a certificate that expired
		// before it was collected is of no use to the subscriber.
		return ca.IssueResult{}, ca.Errorf(ca.Rejected, "the certificate of DigiCert CertCentral order %d expired before acmegate collected it", int64(o.ID))
	case "needs_approval", "pending", "processing", "reissue_pending", "waiting_pickup", "submitted":
		return pending, nil
	default:
		// Liberal: an unknown status is not a failure we can name; keep
		// polling, the caller's deadline bounds it.
		b.log.WarnContext(ctx, "unknown DigiCert order status; still waiting", "digicert_order", int64(o.ID), "status", o.Status)
		return pending, nil
	}
}

// download fetches the issued certificate with its chain and orders it. A
// 404 means not downloadable yet (the fake's answer; DigiCert's is
// unconfirmed): the result is nil, nil and the order stays pending.
func (b *Backend) download(ctx context.Context, o apiOrder) ([]*x509.Certificate, error) {
	path := "/certificate/download/order/" + strconv.FormatInt(int64(o.ID), 10) + "/format/" + downloadFormat
	if o.Certificate.ID > 0 {
		path = "/certificate/" + strconv.FormatInt(int64(o.Certificate.ID), 10) + "/download/format/" + downloadFormat
	}
	r, err := b.call(ctx, "download the certificate", http.MethodGet, path, nil, nil, "*/*")
	if r != nil && r.status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	certs, err := parseCertificates(r.body)
	if err == nil {
		var chain []*x509.Certificate
		chain, err = buildChain(certs, o.Certificate.SerialNumber)
		if err == nil {
			return chain, nil
		}
	}
	return nil, &ca.Error{Kind: ca.Unavailable, Detail: fmt.Sprintf("the certificate bundle DigiCert CertCentral serves for order %d is unusable; will retry", int64(o.ID)), Err: err}
}

// chainFromJSON orders the certificate_chain of an order answer, which
// lists the leaf first, then intermediates, then the root (§2.4).
func chainFromJSON(list []apiChainCert) ([]*x509.Certificate, error) {
	var all []*x509.Certificate
	for i, c := range list {
		certs, err := parseCertificates([]byte(c.PEM))
		if err != nil {
			return nil, fmt.Errorf("certificate_chain[%d]: %w", i, err)
		}
		all = append(all, certs...)
	}
	if len(all) == 0 {
		return nil, errors.New("certificate_chain is empty")
	}
	return buildChain(all, "")
}

// rejectionReason finds the approver's words for a failed order: the
// processor_comment of its rejected request, read from GET /request/{id}
// when order info does not show it (§2.5). It returns "" when there is
// none or it cannot be read (logged: the order is failed either way).
func (b *Backend) rejectionReason(ctx context.Context, o apiOrder) string {
	var id flexInt
	for _, r := range o.Requests {
		if r.ProcessorComment != "" {
			return b.redact(r.ProcessorComment)
		}
		st := strings.ToLower(r.Status)
		if id == 0 || st == "rejected" || st == "denied" {
			id = r.ID
		}
	}
	if id <= 0 {
		return ""
	}
	var rq apiRequest
	if _, err := b.callJSON(ctx, "read the rejected request", http.MethodGet, "/request/"+strconv.FormatInt(int64(id), 10), nil, nil, &rq); err != nil {
		b.log.WarnContext(ctx, "cannot read why DigiCert rejected the order", "digicert_order", int64(o.ID), "request", int64(id), "error", err)
		return ""
	}
	return b.redact(rq.ProcessorComment)
}
