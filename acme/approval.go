package acme

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/acmegate/acmegate/notify"
	"github.com/acmegate/acmegate/storage"
)

// Approval workflow: a directory (or one of its profiles) can require an
// operator's approval before a finalized order is issued. Finalize then
// leaves the order processing with its approval pending; an operator
// approves (the issue job is created and issuance proceeds) or rejects (the
// order becomes invalid with an unauthorized problem carrying the reason).
// Pending approvals lapse after the directory's approval timeout.

// approvalRetryAfter is the Retry-After of an order awaiting approval: a
// human decides, so there is no point in polling every second.
const approvalRetryAfter = 30 * time.Second

// defaultApprovalTimeout is how long an approval may stay pending.
const defaultApprovalTimeout = 72 * time.Hour

// needsApproval reports whether an order of profile needs approval.
func (d *directory) needsApproval(profile string) bool {
	if d.settings.RequireApproval {
		return true
	}
	p, ok := d.profiles[profile]
	return ok && p.RequireApproval
}

func (d *directory) approvalTimeout() time.Duration {
	if d.settings.ApprovalTimeout > 0 {
		return d.settings.ApprovalTimeout
	}
	return defaultApprovalTimeout
}

// approvalStore is what deciding approvals needs from storage.
type approvalStore interface {
	storage.OrderStore
	storage.ApprovalStore
	storage.EventStore
}

// Approvals lets operators decide pending approvals (CLI, admin API).
type Approvals struct {
	Store approvalStore
	// IssuanceDeadline bounds the issuance after approval. Default: 24h.
	IssuanceDeadline time.Duration
	// Clock defaults to the system clock.
	Clock Clock
}

func (a *Approvals) now() time.Time {
	if a.Clock == nil {
		return systemClock{}.Now()
	}
	return a.Clock.Now()
}

// errNotPending: the order has no pending approval.
var errNotPending = errors.New("the order is not awaiting approval")

// Approve lets the order's issuance proceed.
func (a *Approvals) Approve(ctx context.Context, orderID, by, reason string) error {
	now := a.now()
	deadline := a.IssuanceDeadline
	if deadline == 0 {
		deadline = 24 * time.Hour
	}
	job := &storage.Job{ID: uuid.NewString(), Kind: storage.JobIssue, Ref: orderID, RunAt: now, Deadline: now.Add(deadline), CreatedAt: now}
	if err := a.Store.ApproveOrder(ctx, orderID, by, reason, job, now); err != nil {
		return approvalError(orderID, err)
	}
	a.appendEvent(ctx, &storage.OrderEvent{OrderID: orderID, At: now, Kind: EventApproved, Actor: "operator:" + by, Detail: reason})
	return nil
}

// Reject makes the order invalid with an unauthorized problem that carries
// the reason to the subscriber.
func (a *Approvals) Reject(ctx context.Context, orderID, by, reason string) error {
	if reason == "" {
		return errors.New("a rejection needs a reason: the subscriber sees it")
	}
	now := a.now()
	p, err := json.Marshal(Unauthorized("an operator rejected the order: %s", reason))
	if err != nil {
		return fmt.Errorf("encode problem: %w", err)
	}
	if err := a.Store.RejectOrder(ctx, orderID, by, reason, p, now); err != nil {
		return approvalError(orderID, err)
	}
	a.appendEvent(ctx, &storage.OrderEvent{OrderID: orderID, At: now, Kind: EventRejected, Actor: "operator:" + by, Detail: reason})
	return nil
}

// Pending lists the orders awaiting approval in directory dir ("" for all).
func (a *Approvals) Pending(ctx context.Context, dir string) ([]*storage.Order, error) {
	return a.Store.ListPendingApprovals(ctx, dir)
}

func (a *Approvals) appendEvent(ctx context.Context, e *storage.OrderEvent) {
	if err := a.Store.AppendOrderEvents(ctx, e); err != nil {
		slog.Warn("append order event", slog.String("order", e.OrderID), slog.Any("error", err))
	}
}

func approvalError(orderID string, err error) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("order %s does not exist", orderID)
	case errors.Is(err, storage.ErrConflict):
		return fmt.Errorf("order %s: %w", orderID, errNotPending)
	}
	return fmt.Errorf("order %s: %w", orderID, err)
}

// expireApprovals is the sweep that lets pending approvals lapse.
func (s *Server) expireApprovals(ctx context.Context, now time.Time) {
	p, _ := json.Marshal(Unauthorized("the order was not approved in time"))
	ids, err := s.store.ExpireApprovals(ctx, now, p)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("expire approvals", slog.Any("error", err))
		}
		return
	}
	for _, id := range ids {
		s.record(ctx, &storage.OrderEvent{OrderID: id, At: now, Kind: EventApprovalExpired, Actor: actorSystem})
		// Lapses are rare: reading each order for its directory, account
		// and names costs nothing that matters.
		o, err := s.store.GetOrder(ctx, id)
		if err != nil {
			s.log.Warn("read expired order", slog.String("order", id), slog.Any("error", err))
			o = &storage.Order{ID: id}
		}
		s.audit(ctx, &storage.AuditEntry{At: now, Actor: actorSystem, Directory: o.Directory, Action: AuditApprovalExpire,
			Object: orderRef(id), Detail: "no operator approved the order in time; it is invalid"})
		s.notify(ctx, notify.Event{Type: notify.OrderFailed, At: now, Directory: o.Directory, AccountID: o.AccountID, OrderID: id,
			Names: orderNames(o), Detail: "the order was not approved in time"})
	}
}
