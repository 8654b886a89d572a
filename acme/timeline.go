package acme

import (
	"context"
	"log/slog"

	"github.com/acmegate/acmegate/storage"
)

// The order timeline: every step of an order, with its time and actor, for
// the operators' dashboard. Events are appended after the transition they
// describe has committed; a crash in between loses the event, never the
// transition, and a failure to append is logged, not returned, because the
// subscriber's request succeeded.

// Event kinds (storage.OrderEvent.Kind).
const (
	EventCreated           = "created"
	EventAuthzReused       = "authorization-reused"
	EventPreValidated      = "pre-validated"
	EventValidated         = "validated"
	EventValidationFailed  = "validation-failed"
	EventFinalizeRequested = "finalize-requested"
	EventAwaitingApproval  = "awaiting-approval"
	EventApproved          = "approved"
	EventRejected          = "rejected"
	EventSubmitted         = "submitted"
	EventIssued            = "issued"
	EventDownloaded        = "downloaded"
	EventRevoked           = "revoked"
	EventRevocationPending = "revocation-pending"
	EventRevocationFailed  = "revocation-failed"
	EventFailed            = "failed"
	EventApprovalExpired   = "approval-expired"
	actorSystem            = "system"
)

func accountActor(id string) string { return "account:" + id }

// record appends timeline events, logging rather than failing.
func (s *Server) record(ctx context.Context, events ...*storage.OrderEvent) {
	if len(events) == 0 {
		return
	}
	now := s.clock.Now()
	// Events caused by a request carry its id, to find its log event.
	var reqID string
	if ev, ok := ctx.Value(requestEventKey{}).(*requestEvent); ok {
		reqID = ev.RequestID
	}
	for _, e := range events {
		if e.At.IsZero() {
			e.At = now
		}
		if e.RequestID == "" {
			e.RequestID = reqID
		}
	}
	if err := s.store.AppendOrderEvents(context.WithoutCancel(ctx), events...); err != nil {
		s.log.Warn("append order events", slog.Any("error", err))
	}
}
