package acme

import (
	"context"

	"github.com/acmegate/acmegate/storage"
)

// stamp fills in what the server's timeline events and audit entries carry
// beyond what their call site says: At defaults to now; an event caused by a
// request carries the request's id, to find its log event, and an audit
// entry the client's address; Outcome defaults to success. Events and
// entries written with a transition (journal) and those appended on their
// own (record, audit) are stamped alike, so a reader cannot tell which way
// an entry took.
func (s *Server) stamp(ctx context.Context, events []*storage.OrderEvent, entries []*storage.AuditEntry) {
	now := s.clock.Now()
	var reqID, clientIP string
	if ev, ok := ctx.Value(requestEventKey{}).(*requestEvent); ok {
		reqID, clientIP = ev.RequestID, ev.ClientIP
	}
	for _, e := range events {
		if e.At.IsZero() {
			e.At = now
		}
		if e.RequestID == "" {
			e.RequestID = reqID
		}
	}
	for _, e := range entries {
		if e.At.IsZero() {
			e.At = now
		}
		if e.Outcome == "" {
			e.Outcome = storage.OutcomeSuccess
		}
		if e.ClientIP == "" {
			e.ClientIP = clientIP
		}
	}
}

// journal is the storage.Journal of a transition: the timeline events and
// audit entries the store writes in the transition's own transaction, so
// that they cost no commit of their own and a crash never keeps the
// transition without them (or them without it).
func (s *Server) journal(ctx context.Context, events []*storage.OrderEvent, entries ...*storage.AuditEntry) *storage.Journal {
	s.stamp(ctx, events, entries)
	return &storage.Journal{Events: events, Audit: entries}
}
