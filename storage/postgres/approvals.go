package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

// An order awaiting approval is processing with approval 'pending'. Every
// decision repeats both conditions: an order failed meanwhile (FailOrder
// leaves the approval alone) is no longer awaiting anyone, and the partial
// index orders_approval_pending holds exactly the orders that are.
const (
	sqlBeginApproval = `WITH moved AS (
    UPDATE orders SET status = 'processing', csr = $2, approval = 'pending', approval_by = '',
        approval_reason = '', approval_deadline = $3, updated_at = $4
    WHERE id = $1 AND status = ANY ($5::text[])
    RETURNING 1)
SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1), EXISTS (SELECT 1 FROM moved)`
	// Of two concurrent decisions the second UPDATE waits for the first's
	// row lock, re-reads the row, finds it decided and matches nothing, so
	// it inserts no job either. A lapsed approval (deadline not after now,
	// $4) is refused even before the sweeper has expired it, so the outcome
	// does not depend on when ExpireApprovals last ran.
	sqlApproveOrder = `WITH approved AS (
    UPDATE orders SET approval = 'approved', approval_by = $2, approval_reason = $3, updated_at = $4
    WHERE id = $1 AND approval = 'pending' AND status = 'processing' AND approval_deadline > $4
    RETURNING id),
queued AS (
    INSERT INTO jobs (` + jobColumns + `)
    SELECT $5::text, $6::text, $7::text, $8::timestamptz, $9::integer, $10::text,
           $11::timestamptz, $12::timestamptz, $13::text, $14::timestamptz
    FROM approved)
SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1), EXISTS (SELECT 1 FROM approved)`
	// Issue jobs are dropped as FailOrder drops them: none should exist
	// before an approval, and an invalid order must never keep one.
	sqlRejectOrder = `WITH rejected AS (
    UPDATE orders SET approval = 'rejected', approval_by = $2, approval_reason = $3,
        status = 'invalid', error = $5, updated_at = $4
    WHERE id = $1 AND approval = 'pending' AND status = 'processing' AND approval_deadline > $4
    RETURNING id),
dropped AS (
    DELETE FROM jobs WHERE kind = $6 AND ref IN (SELECT id FROM rejected))
SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1), EXISTS (SELECT 1 FROM rejected)`
	sqlListPendingApprovals = `SELECT ` + orderColumns + ` FROM orders
WHERE approval = 'pending' AND status = 'processing'
ORDER BY created_at, id`
	sqlListPendingApprovalsIn = `SELECT ` + orderColumns + ` FROM orders
WHERE approval = 'pending' AND status = 'processing' AND directory = $1
ORDER BY created_at, id`
	// Every instance sweeps. SKIP LOCKED makes concurrent sweepers divide
	// the lapsed approvals instead of queueing behind each other's row
	// locks; a row another sweeper (or an operator's decision) holds is
	// left to it, and the WHERE is re-checked on the locked row, so no
	// order is expired twice. MATERIALIZED runs the locking SELECT once (see
	// sqlLeaseJobs). The approver is left empty: no operator decided. $1 is
	// now.
	sqlExpireApprovals = `WITH due AS MATERIALIZED (
    SELECT id FROM orders
    WHERE approval = 'pending' AND status = 'processing' AND approval_deadline <= $1
    FOR UPDATE SKIP LOCKED)
UPDATE orders SET approval = 'rejected', status = 'invalid', error = $2, updated_at = $1
WHERE id IN (SELECT id FROM due)
RETURNING id`
)

// BeginApproval moves the order to processing with its CSR and a pending
// approval lapsing at deadline, provided its status is one of from.
func (s *Store) BeginApproval(ctx context.Context, orderID string, from []storage.Status, csr []byte, deadline, now time.Time) error {
	if deadline.IsZero() {
		// NULL, the zero time, is how the table says "never awaited".
		return fmt.Errorf("postgres: begin approval of order %q: zero deadline", orderID)
	}
	statuses := make([]string, len(from))
	for i, st := range from {
		statuses[i] = string(st)
	}
	return s.guarded(ctx, "begin approval of order", "order", orderID, "is not in a finalizable state",
		sqlBeginApproval, orderID, csr, deadline, now, statuses)
}

// ApproveOrder records the approval of a pending order and inserts its
// issue job, in one statement; ErrConflict if the approval is not pending
// or has lapsed.
func (s *Store) ApproveOrder(ctx context.Context, orderID, by, reason string, job *storage.Job, now time.Time) error {
	if job == nil {
		return fmt.Errorf("postgres: approve order %q: nil job", orderID)
	}
	args := append([]any{orderID, by, reason, now}, jobArgs(job)...)
	return s.guarded(ctx, "approve order", "order", orderID, "is not awaiting approval",
		sqlApproveOrder, args...)
}

// RejectOrder records the rejection of a pending order, which becomes
// invalid with problem, in one statement; ErrConflict if the approval is
// not pending or has lapsed.
func (s *Store) RejectOrder(ctx context.Context, orderID, by, reason string, problem []byte, now time.Time) error {
	return s.guarded(ctx, "reject order", "order", orderID, "is not awaiting approval",
		sqlRejectOrder, orderID, by, reason, now, optBytes(problem), string(storage.JobIssue))
}

// ListPendingApprovals returns the orders of dir ("" for every directory)
// awaiting approval, oldest first.
func (s *Store) ListPendingApprovals(ctx context.Context, dir string) ([]*storage.Order, error) {
	query, args := sqlListPendingApprovals, []any(nil)
	if dir != "" {
		query, args = sqlListPendingApprovalsIn, []any{dir}
	}
	var out []*storage.Order
	err := s.queryEach(ctx, func(rows pgx.Rows) error {
		o, err := scanOrder(rows)
		if err != nil {
			return err
		}
		out = append(out, o)
		return nil
	}, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list pending approvals of %q: %w", dir, err)
	}
	return out, nil
}

// ExpireApprovals rejects the pending approvals whose deadline is not after
// now, making their orders invalid with problem, and returns the ids of
// those orders, sorted.
func (s *Store) ExpireApprovals(ctx context.Context, now time.Time, problem []byte) ([]string, error) {
	var ids []string
	err := s.queryEach(ctx, func(rows pgx.Rows) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	}, sqlExpireApprovals, now, optBytes(problem))
	if err != nil {
		return nil, fmt.Errorf("postgres: expire approvals: %w", err)
	}
	// RETURNING yields rows in no promised order.
	slices.Sort(ids)
	return ids, nil
}
