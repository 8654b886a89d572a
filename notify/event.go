// Package notify tells people and systems what happened: it turns events
// (approval required, order failed, certificate issued, revoked or expiring,
// upstream CA errors) into persisted deliveries to webhooks (signed JSON
// over HTTP) and e-mail recipients (SMTP with STARTTLS), each retried with
// backoff by a leased job and logged for the operators.
//
// It knows storage (webhooks, deliveries, jobs) and nothing of ACME or HTTP
// handlers: the protocol layer hands it Events.
package notify

import "time"

// Event types.
const (
	ApprovalRequired    = "approval.required"
	OrderFailed         = "order.failed"
	CertificateIssued   = "certificate.issued"
	CertificateRevoked  = "certificate.revoked"
	CertificateExpiring = "certificate.expiring"
	UpstreamError       = "upstream.error"
)

// EventTypes lists every event type, for validation and documentation.
var EventTypes = []string{ApprovalRequired, OrderFailed, CertificateIssued, CertificateRevoked, CertificateExpiring, UpstreamError}

// Event is something operators may want to hear about. It is also the JSON
// body of a webhook delivery.
type Event struct {
	// ID is unique per event; Notify sets it when empty. Receivers use it
	// to drop duplicates (a delivery may be retried after a lost answer).
	ID            string    `json:"id"`
	Type          string    `json:"type"`
	At            time.Time `json:"at"`
	Directory     string    `json:"directory,omitempty"`
	AccountID     string    `json:"account_id,omitempty"`
	OrderID       string    `json:"order_id,omitempty"`
	CertificateID string    `json:"certificate_id,omitempty"`
	Serial        string    `json:"serial,omitempty"`
	Names         []string  `json:"names,omitempty"`
	// NotAfter is the certificate's expiry, for issued and expiring events.
	NotAfter *time.Time `json:"not_after,omitempty"`
	// DaysLeft is set on certificate.expiring.
	DaysLeft int    `json:"days_left,omitempty"`
	Backend  string `json:"backend,omitempty"`
	// Detail says what happened in words (the problem detail of a failed
	// order, the upstream's error, the revocation reason).
	Detail string `json:"detail,omitempty"`
}
