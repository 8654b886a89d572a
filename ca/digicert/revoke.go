package digicert

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/acmegate/acmegate/ca"
)

// Revoke revokes cert: it finds the certificate's id through the order
// list (filters[serial_number] [DC:orders/list-orders]) and calls
// PUT /certificate/{certificate_id}/revoke (§2.6).
//
// DigiCert answers 204 when it revoked at once (skip_approval honoured,
// which needs an admin key and Config.SkipApproval), or 201 with a
// "revoke" request in status "pending" that an approver must approve in
// CertCentral. Revoke returns nil in both cases: in the second the
// revocation is lodged with the CA and its completion is out of acmegate's
// hands, and an error would only make the caller retry and lodge a
// duplicate request. The pending case is logged at Warn with the request
// id so operators can approve it.
//
// The RFC 5280 reason goes into the request's comments: the certificate
// revoke call documents no reason field (only the order revoke's
// revocation_reason, whose values are unconfirmed).
func (b *Backend) Revoke(ctx context.Context, cert *x509.Certificate, reason ca.RevocationReason) error {
	if cert == nil || cert.SerialNumber == nil {
		return ca.Errorf(ca.Rejected, "no certificate to revoke")
	}
	if !reason.Valid() {
		return ca.Errorf(ca.Rejected, "revocation reason %d is not an RFC 5280 CRLReason", int(reason))
	}
	serial := serialHex(cert.SerialNumber)
	o, err := b.orderBySerial(ctx, serial)
	if err != nil {
		return err
	}
	if strings.EqualFold(o.Status, "revoked") {
		return &ca.Error{Kind: ca.AlreadyRevoked, Detail: fmt.Sprintf("DigiCert CertCentral reports certificate %s already revoked", serial)}
	}
	// The certificate id when the list shows it; otherwise the serial,
	// which the revoke path accepts too [DC:certificates/revoke-certificate.html].
	target := serial
	if o.Certificate.ID > 0 {
		target = strconv.FormatInt(int64(o.Certificate.ID), 10)
	}
	body := revokeRequest{
		Comments:     fmt.Sprintf("Revoked through acmegate, reason %s (RFC 5280 code %d)", reason, int(reason)),
		SkipApproval: b.skipApproval,
	}
	r, err := b.call(ctx, "revoke the certificate", http.MethodPut, "/certificate/"+target+"/revoke", nil, body, "application/json")
	if err != nil {
		return err
	}
	if r.status == http.StatusNoContent || len(strings.TrimSpace(string(r.body))) == 0 {
		b.log.InfoContext(ctx, "DigiCert revoked the certificate", "serial", serial, "digicert_order", int64(o.ID), "reason", reason.String())
		return nil
	}
	var rq apiRequest
	if err := json.Unmarshal(r.body, &rq); err != nil {
		// The revocation was accepted (2xx); only its receipt is
		// unreadable.
		b.log.WarnContext(ctx, "DigiCert accepted the revocation with an unreadable answer", "serial", serial, "status", r.status)
		return nil
	}
	switch strings.ToLower(rq.Status) {
	case "approved", "revoked", "":
		b.log.InfoContext(ctx, "DigiCert revoked the certificate", "serial", serial, "digicert_order", int64(o.ID), "reason", reason.String())
	default:
		b.log.WarnContext(ctx, "DigiCert revocation awaits approval in CertCentral", "serial", serial,
			"digicert_order", int64(o.ID), "request", int64(rq.ID), "status", rq.Status)
	}
	return nil
}

// orderBySerial finds the order whose certificate has serial.
func (b *Backend) orderBySerial(ctx context.Context, serial string) (apiOrder, error) {
	var found []apiOrder
	err := b.eachOrder(ctx, "find the certificate to revoke", url.Values{"filters[serial_number]": {serial}}, func(o apiOrder) {
		found = append(found, o)
	})
	if err != nil {
		return apiOrder{}, err
	}
	if len(found) == 0 {
		return apiOrder{}, ca.Errorf(ca.Rejected, "DigiCert CertCentral has no certificate with serial %s in this account", serial)
	}
	return found[0], nil
}
