package acme

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// The order timeline: every step of an order, with its time and actor, for
// the operators' dashboard. The events of a state transition are written
// in the transition's own transaction (storage.Journal, see journal): they
// cost no commit of their own, and a crash keeps both or neither. Events
// that go with no transition of their own are appended on their own
// (record) after what they describe; a crash in between loses the event,
// never the transition, and a failure to append is logged, not returned,
// because the subscriber's request succeeded.
//
// "downloaded" events are buffered in memory and appended in batches
// (eventBatch): a certificate download is a read, and one write per
// download would cost the hot path of every issuance a commit for an
// informational line. A crash loses at most the events not yet flushed
// (a quarter of a second's downloads, or fewer than batchSize); that is
// acceptable because nothing depends on them: they record no state, no
// decision reads them, and the certificate and the order are stored
// already. A graceful shutdown flushes them (Run).

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

// record appends timeline events that go with no transition, logging
// rather than failing.
func (s *Server) record(ctx context.Context, events ...*storage.OrderEvent) {
	if len(events) == 0 {
		return
	}
	s.stamp(ctx, events, nil)
	if err := s.store.AppendOrderEvents(context.WithoutCancel(ctx), events...); err != nil {
		s.log.Warn("append order events", slog.Any("error", err))
	}
}

// recordLater buffers an informational event for the next batch (see the
// package comment on "downloaded" events).
func (s *Server) recordLater(ctx context.Context, e *storage.OrderEvent) {
	s.stamp(ctx, []*storage.OrderEvent{e}, nil)
	s.events.add(ctx, e)
}

const (
	// batchInterval is how often Run appends the buffered events.
	batchInterval = 250 * time.Millisecond
	// batchSize is how many buffered events make the request that adds
	// the last one append them at once, so the buffer stays bounded even
	// when nothing runs the flusher (a Server used without Run).
	batchSize = 256
	// flushTimeout bounds one append of a batch.
	flushTimeout = 5 * time.Second
)

// eventBatch buffers timeline events to append them with one
// AppendOrderEvents per batch.
type eventBatch struct {
	store storage.EventStore
	log   *slog.Logger
	mu    sync.Mutex
	buf   []*storage.OrderEvent
}

// add buffers e; the batchSize-th event appends the batch.
func (b *eventBatch) add(ctx context.Context, e *storage.OrderEvent) {
	b.mu.Lock()
	b.buf = append(b.buf, e)
	full := len(b.buf) >= batchSize
	b.mu.Unlock()
	if full {
		// The request's own cancellation must not drop the whole batch.
		b.flushLogged(context.WithoutCancel(ctx))
	}
}

// flush appends everything buffered in one write. Events that fail to be
// appended are dropped, as record drops them: they are informational, and
// keeping them would let a storage outage grow the buffer without bound.
func (b *eventBatch) flush(ctx context.Context) error {
	b.mu.Lock()
	events := b.buf
	b.buf = nil
	b.mu.Unlock()
	if len(events) == 0 {
		return nil
	}
	return b.store.AppendOrderEvents(ctx, events...)
}

func (b *eventBatch) flushLogged(ctx context.Context) {
	if err := b.flush(ctx); err != nil {
		b.log.Warn("append buffered order events", slog.Any("error", err))
	}
}

// run appends the buffer every batchInterval until ctx ends; the caller
// flushes once more after the last request (Run does).
func (b *eventBatch) run(ctx context.Context) {
	t := time.NewTicker(batchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// A batch under way is finished even if ctx ends meanwhile,
			// bounded like the final flush.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			b.flushLogged(fctx)
			cancel()
		}
	}
}
