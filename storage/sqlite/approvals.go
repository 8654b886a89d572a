package sqlite

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// An order awaiting approval is processing with approval 'pending'. Every
// decision repeats both conditions: an order failed meanwhile (FailOrder
// leaves the approval alone) is no longer awaiting anyone, and the partial
// index orders_approval_pending holds exactly the orders that are.
const (
	sqlBeginApproval = `UPDATE orders SET status = 'processing', csr = ?, approval = 'pending',
    approval_by = '', approval_reason = '', approval_deadline = ?, updated_at = ?
WHERE id = ? AND status IN (SELECT value FROM json_each(?))`
	// A lapsed approval (deadline not after now) is refused even before the
	// sweeper has expired it, so the outcome does not depend on when
	// ExpireApprovals last ran. ?4 is now.
	sqlApproveOrder = `UPDATE orders SET approval = 'approved', approval_by = ?1, approval_reason = ?2,
    updated_at = ?4
WHERE id = ?3 AND approval = 'pending' AND status = 'processing' AND approval_deadline > ?4`
	sqlRejectOrder = `UPDATE orders SET approval = 'rejected', approval_by = ?1, approval_reason = ?2,
    status = 'invalid', error = ?5, updated_at = ?4
WHERE id = ?3 AND approval = 'pending' AND status = 'processing' AND approval_deadline > ?4`
	// Without INDEXED BY SQLite, planning without statistics, prefers the
	// equality on status of orders_status_updated, which holds every
	// processing order, to the partial index of the few awaiting approval.
	sqlListPendingApprovals = `SELECT ` + orderColumns + ` FROM orders INDEXED BY orders_approval_pending
WHERE approval = 'pending' AND status = 'processing'
ORDER BY created_at, id`
	// Left to itself SQLite prefers orders_directory_created, an equality
	// on directory, and would read every order of the directory to find
	// the few awaiting approval.
	sqlListPendingApprovalsIn = `SELECT ` + orderColumns + ` FROM orders INDEXED BY orders_approval_pending
WHERE approval = 'pending' AND status = 'processing' AND directory = ?
ORDER BY created_at, id`
	// One statement on the single write connection: concurrent sweepers,
	// in this process or another, run it one after the other, and the
	// second finds nothing left to expire. The approver is left empty: no
	// operator decided. ?1 is now. INDEXED BY as in sqlListPendingApprovals.
	sqlExpireApprovals = `UPDATE orders INDEXED BY orders_approval_pending
SET approval = 'rejected', status = 'invalid', error = ?2, updated_at = ?1
WHERE approval = 'pending' AND status = 'processing' AND approval_deadline <= ?1
RETURNING id`
)

// BeginApproval moves the order to processing with its CSR and a pending
// approval lapsing at deadline, provided its status is one of from.
func (s *Store) BeginApproval(ctx context.Context, orderID string, from []storage.Status, csr []byte, deadline, now time.Time) error {
	if deadline.IsZero() {
		// The zero time sorts before every instant: the approval would have
		// lapsed before it began.
		return fmt.Errorf("sqlite: begin approval of order %q: zero deadline", orderID)
	}
	return s.inWrite(ctx, func(q queryer) error {
		n, err := q.execAffected(ctx, sqlBeginApproval, csr, tval(deadline), tval(now), orderID, jval(nonNil(from)))
		if err != nil {
			return fmt.Errorf("sqlite: begin approval of order %q: %w", orderID, err)
		}
		if n == 0 {
			return missingOrConflict(ctx, q, sqlOrderExists, "order", orderID, "is not in a finalizable state")
		}
		return nil
	})
}

// ApproveOrder records the approval of a pending order and inserts its
// issue job, in one transaction; ErrConflict if the approval is not pending
// or has lapsed.
func (s *Store) ApproveOrder(ctx context.Context, orderID, by, reason string, job *storage.Job, now time.Time) error {
	if job == nil {
		return fmt.Errorf("sqlite: approve order %q: nil job", orderID)
	}
	return s.inWrite(ctx, func(q queryer) error {
		n, err := q.execAffected(ctx, sqlApproveOrder, by, reason, orderID, tval(now))
		if err != nil {
			return fmt.Errorf("sqlite: approve order %q: %w", orderID, err)
		}
		if n == 0 {
			return missingOrConflict(ctx, q, sqlOrderExists, "order", orderID, "is not awaiting approval")
		}
		if err := insertJob(ctx, q, job); err != nil {
			return fmt.Errorf("sqlite: approve order %q: %w", orderID, err)
		}
		return nil
	})
}

// RejectOrder records the rejection of a pending order, which becomes
// invalid with problem; ErrConflict if the approval is not pending or has
// lapsed. Issue jobs are dropped as FailOrder drops them: none should
// exist before an approval, and an invalid order must never keep one.
func (s *Store) RejectOrder(ctx context.Context, orderID, by, reason string, problem []byte, now time.Time) error {
	return s.inWrite(ctx, func(q queryer) error {
		n, err := q.execAffected(ctx, sqlRejectOrder, by, reason, orderID, tval(now), problem)
		if err != nil {
			return fmt.Errorf("sqlite: reject order %q: %w", orderID, err)
		}
		if n == 0 {
			return missingOrConflict(ctx, q, sqlOrderExists, "order", orderID, "is not awaiting approval")
		}
		if _, err := q.exec(ctx, sqlDeleteIssueJobs, string(storage.JobIssue), orderID); err != nil {
			return fmt.Errorf("sqlite: reject order %q: delete jobs: %w", orderID, err)
		}
		return nil
	})
}

// ListPendingApprovals returns the orders of dir ("" for every directory)
// awaiting approval, oldest first.
func (s *Store) ListPendingApprovals(ctx context.Context, dir string) ([]*storage.Order, error) {
	query, args := sqlListPendingApprovals, []any(nil)
	if dir != "" {
		query, args = sqlListPendingApprovalsIn, []any{dir}
	}
	out, err := queryAll(ctx, s.reader(), scanOrder, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list pending approvals of %q: %w", dir, err)
	}
	return out, nil
}

// ExpireApprovals rejects the pending approvals whose deadline is not after
// now, making their orders invalid with problem, and returns the ids of
// those orders, sorted.
func (s *Store) ExpireApprovals(ctx context.Context, now time.Time, problem []byte) ([]string, error) {
	var ids []string
	err := s.inWrite(ctx, func(q queryer) error {
		var err error
		ids, err = queryAll(ctx, q, scanString, sqlExpireApprovals, tval(now), problem)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: expire approvals: %w", err)
	}
	// RETURNING yields rows in no promised order.
	slices.Sort(ids)
	return ids, nil
}

func scanString(r scanner) (string, error) {
	var v string
	err := r.Scan(&v)
	return v, err
}
