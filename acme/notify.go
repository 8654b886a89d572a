package acme

import (
	"context"
	"strconv"

	"github.com/acmegate/acmegate/notify"
	"github.com/acmegate/acmegate/storage"
)

// Notifier hears about what operators may want to know: approvals to give,
// failed orders, issued and revoked certificates, upstream CA errors.
// *notify.Notifier is the implementation.
//
// Notify is called after the transition has committed, synchronously, on
// the request or job that made it, with a context that is not cancelled
// when the request ends. It reports nothing back: a notification that
// cannot be queued must not fail the subscriber's request, so Notify logs
// its own failures. It should only persist the event (deliveries are sent
// by jobs), not talk to the network.
type Notifier interface {
	Notify(ctx context.Context, ev notify.Event)
}

// notify hands ev to the configured notifier, if any.
func (s *Server) notify(ctx context.Context, ev notify.Event) {
	if s.cfg.Notifier == nil {
		return
	}
	if ev.At.IsZero() {
		ev.At = s.clock.Now()
	}
	s.cfg.Notifier.Notify(context.WithoutCancel(ctx), ev)
}

// orderNames lists an order's identifier values.
func orderNames(o *storage.Order) []string {
	names := make([]string, len(o.Identifiers))
	for i, id := range o.Identifiers {
		names[i] = id.Value
	}
	return names
}

// issuedEvent is the certificate.issued event of cert.
func issuedEvent(cert *storage.Certificate) notify.Event {
	notAfter := cert.NotAfter
	return notify.Event{
		Type: notify.CertificateIssued, Directory: cert.Directory, AccountID: cert.AccountID, OrderID: cert.OrderID,
		CertificateID: cert.ID, Serial: cert.Serial, Names: cert.Names, NotAfter: &notAfter, Backend: cert.Backend,
	}
}

// revokedEvent is the certificate.revoked event of cert.
func revokedEvent(cert *storage.Certificate, detail string) notify.Event {
	notAfter := cert.NotAfter
	return notify.Event{
		Type: notify.CertificateRevoked, Directory: cert.Directory, AccountID: cert.AccountID, OrderID: cert.OrderID,
		CertificateID: cert.ID, Serial: cert.Serial, Names: cert.Names, NotAfter: &notAfter, Backend: cert.Backend,
		Detail: detail,
	}
}

// reasonName is the RFC 5280 name of a revocation reason code.
func reasonName(code int) string {
	if n, ok := allowedReasons[code]; ok {
		return n
	}
	return "code " + strconv.Itoa(code)
}
