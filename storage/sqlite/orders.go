package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/acmegate/acmegate/storage"
)

const orderColumns = `id, directory, account_id, status, expires, not_before, not_after,
    identifiers, authz_ids, error, csr, certificate_id, profile, upstream_ref, created_at, updated_at,
    approval, approval_by, approval_reason, approval_deadline, replaces, replaces_certificate_id`

const (
	sqlInsertOrder = `INSERT INTO orders (` + orderColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlGetOrder = `SELECT ` + orderColumns + ` FROM orders WHERE id = ?`
	// Keyset pagination on (created_at, id), newest first: stable under
	// concurrent inserts and an index range scan on orders_account_created
	// whatever the page number.
	sqlListOrderIDsFirst = `SELECT id, created_at FROM orders WHERE account_id = ?
ORDER BY created_at DESC, id DESC LIMIT ?`
	sqlListOrderIDsAfter = `SELECT id, created_at FROM orders
WHERE account_id = ? AND (created_at, id) < (?, ?)
ORDER BY created_at DESC, id DESC LIMIT ?`
	// The status condition is the optimistic-concurrency check: of two
	// concurrent finalizations only the first UPDATE matches a row.
	sqlBeginFinalize = `UPDATE orders SET status = 'processing', csr = ?, updated_at = ?
WHERE id = ? AND status IN (SELECT value FROM json_each(?))`
	sqlFinalizeOrder = `UPDATE orders SET status = 'valid', csr = ?, certificate_id = ?, updated_at = ?
WHERE id = ? AND status IN (SELECT value FROM json_each(?))`
	sqlCompleteOrder = `UPDATE orders SET status = 'valid', certificate_id = ?, updated_at = ?
WHERE id = ? AND status = 'processing'`
	sqlFailOrder = `UPDATE orders SET status = 'invalid', error = ?, updated_at = ?
WHERE id = ? AND status NOT IN ('valid', 'invalid')`
	sqlSetOrderUpstreamRef = `UPDATE orders SET upstream_ref = ? WHERE id = ? AND status = 'processing'`
	sqlOrderExists         = `SELECT 1 FROM orders WHERE id = ?`
	sqlDeleteIssueJobs     = `DELETE FROM jobs WHERE kind = ? AND ref = ?`
	// RFC 9773 §5: a certificate is replaced by one order at most. The
	// replaced_by condition decides between concurrent renewals.
	sqlMarkReplaced = `UPDATE certificates SET replaced_by = ? WHERE id = ? AND replaced_by = ''`
)

// Page sizes of ListOrderIDs.
const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

// CreateOrder inserts the new authorizations with their challenges, then o,
// in one transaction: a duplicate id anywhere rolls back all of it. When o
// replaces a certificate, marking it comes first, so a missing certificate
// is reported as ErrNotFound whatever else is wrong.
func (s *Store) CreateOrder(ctx context.Context, o *storage.Order, newAuthzs []*storage.Authorization, j *storage.Journal) error {
	return s.transition(ctx, "create order", o.ID, j, func(q queryer) error {
		if o.ReplacesCertificateID != "" {
			n, err := q.execAffected(ctx, sqlMarkReplaced, o.ID, o.ReplacesCertificateID)
			if err != nil {
				return fmt.Errorf("sqlite: create order %q: mark certificate %q replaced: %w", o.ID, o.ReplacesCertificateID, err)
			}
			if n == 0 {
				return missingOrConflict(ctx, q, sqlCertificateExists, "certificate", o.ReplacesCertificateID, "is already replaced")
			}
		}
		for _, a := range newAuthzs {
			if err := insertAuthz(ctx, q, a); err != nil {
				return fmt.Errorf("sqlite: create order %q: %w", o.ID, err)
			}
		}
		_, err := q.exec(ctx, sqlInsertOrder,
			o.ID, o.Directory, o.AccountID, string(o.Status), tval(o.Expires),
			tval(o.NotBefore), tval(o.NotAfter), jval(nonNil(o.Identifiers)), jval(nonNil(o.AuthzIDs)),
			o.Error, o.CSR, o.CertificateID, o.Profile, o.UpstreamRef,
			tval(o.CreatedAt), tval(o.UpdatedAt),
			string(o.Approval), o.ApprovalBy, o.ApprovalReason, tval(o.ApprovalDeadline),
			o.Replaces, o.ReplacesCertificateID)
		if err != nil {
			return fmt.Errorf("sqlite: create order %q: %w", o.ID, err)
		}
		return nil
	})
}

// GetOrder returns the order or ErrNotFound.
func (s *Store) GetOrder(ctx context.Context, id string) (*storage.Order, error) {
	o, err := scanOrder(s.reader().queryRow(ctx, sqlGetOrder, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("order", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get order %q: %w", id, err)
	}
	return o, nil
}

// ListOrderIDs returns one page of an account's order ids, newest first.
// A Limit of 0 or less means 100; more than 1000 means 1000. The cursor
// encodes the last row's (created_at, id).
func (s *Store) ListOrderIDs(ctx context.Context, accountID string, p storage.Page) ([]string, string, error) {
	limit := p.Limit
	switch {
	case limit <= 0:
		limit = defaultPageLimit
	case limit > maxPageLimit:
		limit = maxPageLimit
	}
	var rows *sql.Rows
	var err error
	if p.Cursor == "" {
		rows, err = s.reader().query(ctx, sqlListOrderIDsFirst, accountID, limit+1)
	} else {
		created, id, cerr := decodeCursor(p.Cursor)
		if cerr != nil {
			return nil, "", cerr
		}
		rows, err = s.reader().query(ctx, sqlListOrderIDsAfter, accountID, tval(created), id, limit+1)
	}
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: list orders of %q: %w", accountID, err)
	}
	defer rows.Close()
	var ids []string
	var lastCreated time.Time
	more := false
	for rows.Next() {
		if len(ids) == limit {
			// The extra row only says there is another page.
			more = true
			break
		}
		var id string
		if err := rows.Scan(&id, tscan(&lastCreated)); err != nil {
			return nil, "", fmt.Errorf("sqlite: list orders of %q: %w", accountID, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("sqlite: list orders of %q: %w", accountID, err)
	}
	if !more {
		return ids, "", nil
	}
	return ids, encodeCursor(lastCreated, ids[len(ids)-1]), nil
}

// encodeCursor makes the opaque page cursor: base64url of "created id".
func encodeCursor(created time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(created.UTC().Format(timeLayout) + " " + id))
}

func decodeCursor(c string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", errors.New("sqlite: malformed page cursor")
	}
	ts, id, ok := strings.Cut(string(raw), " ")
	if !ok {
		return time.Time{}, "", errors.New("sqlite: malformed page cursor")
	}
	created, err := time.Parse(timeLayout, ts)
	if err != nil {
		return time.Time{}, "", errors.New("sqlite: malformed page cursor")
	}
	return created, id, nil
}

// BeginFinalize moves the order to processing with its CSR and inserts the
// issuance job, provided its status is one of from.
func (s *Store) BeginFinalize(ctx context.Context, orderID string, from []storage.Status, csr []byte, job *storage.Job, now time.Time, j *storage.Journal) error {
	if job == nil {
		return fmt.Errorf("sqlite: begin finalize %q: nil job", orderID)
	}
	return s.transition(ctx, "begin finalize", orderID, j, func(q queryer) error {
		n, err := q.execAffected(ctx, sqlBeginFinalize, csr, tval(now), orderID, jval(nonNil(from)))
		if err != nil {
			return fmt.Errorf("sqlite: begin finalize %q: %w", orderID, err)
		}
		if n == 0 {
			return missingOrConflict(ctx, q, sqlOrderExists, "order", orderID, "is not in a finalizable state")
		}
		if err := insertJob(ctx, q, job); err != nil {
			return fmt.Errorf("sqlite: begin finalize %q: %w", orderID, err)
		}
		return nil
	})
}

// FinalizeOrder records the CSR, inserts c and moves the order c.OrderID
// to valid pointing at c, provided its status is one of from: finalization
// in one transaction, for a CA that issues while the request waits. The
// UPDATE comes first, so a refused finalization inserts no certificate.
func (s *Store) FinalizeOrder(ctx context.Context, from []storage.Status, csr []byte, c *storage.Certificate, now time.Time, j *storage.Journal) error {
	return s.transition(ctx, "finalize order", c.OrderID, j, func(q queryer) error {
		n, err := q.execAffected(ctx, sqlFinalizeOrder, csr, c.ID, tval(now), c.OrderID, jval(nonNil(from)))
		if err != nil {
			return fmt.Errorf("sqlite: finalize order %q: %w", c.OrderID, err)
		}
		if n == 0 {
			return missingOrConflict(ctx, q, sqlOrderExists, "order", c.OrderID, "is not in a finalizable state")
		}
		if err := insertCertificate(ctx, q, c); err != nil {
			return fmt.Errorf("sqlite: finalize order %q: %w", c.OrderID, err)
		}
		return nil
	})
}

// CompleteOrder moves the order from processing to valid pointing at c,
// inserts c and drops the order's issue jobs.
func (s *Store) CompleteOrder(ctx context.Context, c *storage.Certificate, now time.Time, j *storage.Journal) error {
	return s.transition(ctx, "complete order", c.OrderID, j, func(q queryer) error {
		n, err := q.execAffected(ctx, sqlCompleteOrder, c.ID, tval(now), c.OrderID)
		if err != nil {
			return fmt.Errorf("sqlite: complete order %q: %w", c.OrderID, err)
		}
		if n == 0 {
			return missingOrConflict(ctx, q, sqlOrderExists, "order", c.OrderID, "is not processing")
		}
		if err := insertCertificate(ctx, q, c); err != nil {
			return fmt.Errorf("sqlite: complete order %q: %w", c.OrderID, err)
		}
		if _, err := q.exec(ctx, sqlDeleteIssueJobs, string(storage.JobIssue), c.OrderID); err != nil {
			return fmt.Errorf("sqlite: complete order %q: delete jobs: %w", c.OrderID, err)
		}
		return nil
	})
}

// FailOrder moves the order to invalid with problem and drops its issue
// jobs; ErrConflict if it is already valid or invalid.
func (s *Store) FailOrder(ctx context.Context, orderID string, problem []byte, now time.Time, j *storage.Journal) error {
	return s.transition(ctx, "fail order", orderID, j, func(q queryer) error {
		n, err := q.execAffected(ctx, sqlFailOrder, problem, tval(now), orderID)
		if err != nil {
			return fmt.Errorf("sqlite: fail order %q: %w", orderID, err)
		}
		if n == 0 {
			return missingOrConflict(ctx, q, sqlOrderExists, "order", orderID, "is already final")
		}
		if _, err := q.exec(ctx, sqlDeleteIssueJobs, string(storage.JobIssue), orderID); err != nil {
			return fmt.Errorf("sqlite: fail order %q: delete jobs: %w", orderID, err)
		}
		return nil
	})
}

// SetOrderUpstreamRef records the backend's reference of a processing order;
// ErrConflict if the order is not processing.
func (s *Store) SetOrderUpstreamRef(ctx context.Context, orderID, ref string) error {
	return s.inWrite(ctx, func(q queryer) error {
		n, err := q.execAffected(ctx, sqlSetOrderUpstreamRef, ref, orderID)
		if err != nil {
			return fmt.Errorf("sqlite: set upstream ref of order %q: %w", orderID, err)
		}
		if n == 0 {
			return missingOrConflict(ctx, q, sqlOrderExists, "order", orderID, "is not processing")
		}
		return nil
	})
}

func scanOrder(r scanner) (*storage.Order, error) {
	var o storage.Order
	var status, approval string
	err := r.Scan(&o.ID, &o.Directory, &o.AccountID, &status, tscan(&o.Expires),
		tscan(&o.NotBefore), tscan(&o.NotAfter), jscan(&o.Identifiers), jscan(&o.AuthzIDs),
		&o.Error, &o.CSR, &o.CertificateID, &o.Profile, &o.UpstreamRef,
		tscan(&o.CreatedAt), tscan(&o.UpdatedAt),
		&approval, &o.ApprovalBy, &o.ApprovalReason, tscan(&o.ApprovalDeadline),
		&o.Replaces, &o.ReplacesCertificateID)
	if err != nil {
		return nil, err
	}
	o.Status = storage.Status(status)
	o.Approval = storage.ApprovalState(approval)
	return &o, nil
}
