package postgres

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

const orderColumns = `id, directory, account_id, status, expires, not_before, not_after,
    identifiers, authz_ids, error, csr, certificate_id, profile, upstream_ref, created_at, updated_at,
    approval, approval_by, approval_reason, approval_deadline, replaces, replaces_certificate_id`

const (
	sqlInsertOrder = `INSERT INTO orders (` + orderColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
    $17, $18, $19, $20, $21, $22)`
	sqlGetOrder = `SELECT ` + orderColumns + ` FROM orders WHERE id = $1`
	// Keyset pagination on (created_at, id), newest first: stable under
	// concurrent inserts and a backward range scan of orders_account_created
	// whatever the page number.
	sqlListOrderIDsFirst = `SELECT id, created_at FROM orders WHERE account_id = $1
ORDER BY created_at DESC, id DESC LIMIT $2`
	sqlListOrderIDsAfter = `SELECT id, created_at FROM orders
WHERE account_id = $1 AND (created_at, id) < ($2::timestamptz, $3::text)
ORDER BY created_at DESC, id DESC LIMIT $4`
	// The status condition is the optimistic-concurrency check: of two
	// concurrent finalizations the second UPDATE waits for the first's row
	// lock, re-reads the row, finds it processing and matches nothing, so it
	// inserts no job either.
	sqlBeginFinalize = `WITH moved AS (
    UPDATE orders SET status = 'processing', csr = $2, updated_at = $3
    WHERE id = $1 AND status = ANY ($4::text[])
    RETURNING id),
queued AS (
    INSERT INTO jobs (` + jobColumns + `)
    SELECT $5::text, $6::text, $7::text, $8::timestamptz, $9::integer, $10::text,
           $11::timestamptz, $12::timestamptz, $13::text, $14::timestamptz
    FROM moved)
SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1), EXISTS (SELECT 1 FROM moved)`
	// A serial already taken fails the certificates_serial constraint and
	// with it the whole statement: the order stays processing.
	sqlCompleteOrder = `WITH moved AS (
    UPDATE orders SET status = 'valid', certificate_id = $2, updated_at = $3
    WHERE id = $1 AND status = 'processing'
    RETURNING id),
issued AS (
    INSERT INTO certificates (` + certificateColumns + `)
    SELECT $2::text, $4::text, $5::text, moved.id, $6::text, $7::text, $8::text[],
           $9::timestamptz, $10::timestamptz, $11::bytea, $12::bytea[], $13::text, $14::text,
           $15::text, $16::text, $17::timestamptz, $18::integer, $19::timestamptz, $21::text,
           $22::boolean
    FROM moved),
dropped AS (
    DELETE FROM jobs WHERE kind = $20 AND ref IN (SELECT id FROM moved))
SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1), EXISTS (SELECT 1 FROM moved)`
	// sqlCompleteOrder in one step from a finalizable status: the second
	// of two concurrent finalizations waits for the first's row lock,
	// re-reads the row, finds it valid and inserts no certificate.
	sqlFinalizeOrder = `WITH moved AS (
    UPDATE orders SET status = 'valid', certificate_id = $2, updated_at = $3, csr = $23
    WHERE id = $1 AND status = ANY ($20::text[])
    RETURNING id),
issued AS (
    INSERT INTO certificates (` + certificateColumns + `)
    SELECT $2::text, $4::text, $5::text, moved.id, $6::text, $7::text, $8::text[],
           $9::timestamptz, $10::timestamptz, $11::bytea, $12::bytea[], $13::text, $14::text,
           $15::text, $16::text, $17::timestamptz, $18::integer, $19::timestamptz, $21::text,
           $22::boolean
    FROM moved)
SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1), EXISTS (SELECT 1 FROM moved)`
	sqlFailOrder = `WITH failed AS (
    UPDATE orders SET status = 'invalid', error = $2, updated_at = $3
    WHERE id = $1 AND status NOT IN ('valid', 'invalid')
    RETURNING id),
dropped AS (
    DELETE FROM jobs WHERE kind = $4 AND ref IN (SELECT id FROM failed))
SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1), EXISTS (SELECT 1 FROM failed)`
	// RFC 9773 §5: a certificate is replaced by one order at most. Of two
	// concurrent renewals the second UPDATE waits for the first's row lock,
	// re-reads the row, finds replaced_by set and matches nothing.
	sqlMarkReplaced = `WITH marked AS (
    UPDATE certificates SET replaced_by = $1 WHERE id = $2 AND replaced_by = ''
    RETURNING 1)
SELECT EXISTS (SELECT 1 FROM certificates WHERE id = $2), EXISTS (SELECT 1 FROM marked)`
	sqlSetOrderUpstreamRef = `WITH changed AS (
    UPDATE orders SET upstream_ref = $2 WHERE id = $1 AND status = 'processing'
    RETURNING 1)
SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1), EXISTS (SELECT 1 FROM changed)`
)

// Page sizes of ListOrderIDs.
const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

// CreateOrder inserts the new authorizations with their challenges, then o,
// in one implicit transaction and one round trip: a duplicate id anywhere
// rolls back all of it. An order that replaces a certificate, or whose
// journal holds audit entries, takes an explicit transaction instead.
func (s *Store) CreateOrder(ctx context.Context, o *storage.Order, newAuthzs []*storage.Authorization, j *storage.Journal) error {
	jn, err := newJournal(j)
	if err != nil {
		return fmt.Errorf("postgres: create order %q: %w", o.ID, err)
	}
	b := &pgx.Batch{}
	if o.ReplacesCertificateID != "" {
		b.Queue(sqlMarkReplaced, o.ID, o.ReplacesCertificateID)
	}
	for _, a := range newAuthzs {
		queueAuthz(b, a)
	}
	b.Queue(sqlInsertOrder,
		o.ID, o.Directory, o.AccountID, string(o.Status), o.Expires,
		optTime(o.NotBefore), optTime(o.NotAfter), nonNil(o.Identifiers), nonNil(o.AuthzIDs),
		optBytes(o.Error), o.CSR, o.CertificateID, o.Profile, o.UpstreamRef,
		o.CreatedAt, o.UpdatedAt,
		string(o.Approval), o.ApprovalBy, o.ApprovalReason, optTime(o.ApprovalDeadline),
		o.Replaces, o.ReplacesCertificateID)
	switch {
	case o.ReplacesCertificateID != "":
		err = s.transition(ctx, b, replacingVerdict(o, b.Len()), jn)
	case len(jn.Audit) == 0:
		jn.queueEvents(b)
		err = s.sendBatch(ctx, b)
	default:
		err = s.transition(ctx, b, execAll(b.Len()), jn)
	}
	if err != nil {
		return fmt.Errorf("postgres: create order %q: %w", o.ID, err)
	}
	return nil
}

// replacingVerdict reads the n results of a batch whose first statement is
// sqlMarkReplaced, and refuses the order when the certificate is missing
// (ErrNotFound) or already replaced (ErrConflict). A batch alone cannot do
// this: the mark's refusal is an answer, not an error, so an implicit
// transaction would commit the order anyway. The mark's verdict is read
// before any insert's error, so a missing certificate is reported as
// ErrNotFound whatever else is wrong.
func replacingVerdict(o *storage.Order, n int) verdict {
	return func(br pgx.BatchResults) error {
		var found, marked bool
		if err := br.QueryRow().Scan(&found, &marked); err != nil {
			return err
		}
		switch {
		case !found:
			return notFound("certificate", o.ReplacesCertificateID)
		case !marked:
			return conflict("certificate", o.ReplacesCertificateID, "is already replaced")
		}
		return execAll(n - 1)(br)
	}
}

// execAll reads n results of statements that return no rows.
func execAll(n int) verdict {
	return func(br pgx.BatchResults) error {
		for range n {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		return nil
	}
}

// GetOrder returns the order or ErrNotFound.
func (s *Store) GetOrder(ctx context.Context, id string) (*storage.Order, error) {
	o, err := scanOrder(s.queryRow(ctx, sqlGetOrder, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("order", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get order %q: %w", id, err)
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
	query, args := sqlListOrderIDsFirst, []any{accountID, limit + 1}
	if p.Cursor != "" {
		created, id, err := decodeCursor(p.Cursor)
		if err != nil {
			return nil, "", err
		}
		query, args = sqlListOrderIDsAfter, []any{accountID, created, id, limit + 1}
	}
	var ids []string
	var lastCreated time.Time
	more := false
	err := s.queryEach(ctx, func(rows pgx.Rows) error {
		if len(ids) == limit {
			// The extra row only says there is another page.
			more = true
			return nil
		}
		var id string
		if err := rows.Scan(&id, scanTime(&lastCreated)); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	}, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("postgres: list orders of %q: %w", accountID, err)
	}
	if !more {
		return ids, "", nil
	}
	return ids, encodeCursor(lastCreated, ids[len(ids)-1]), nil
}

// encodeCursor makes the opaque page cursor: base64url of "created id",
// created in RFC 3339 with the microseconds PostgreSQL stores.
func encodeCursor(created time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(created.UTC().Format(time.RFC3339Nano) + " " + id))
}

func decodeCursor(c string) (time.Time, string, error) {
	errMalformed := errors.New("postgres: malformed page cursor")
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", errMalformed
	}
	ts, id, ok := strings.Cut(string(raw), " ")
	if !ok {
		return time.Time{}, "", errMalformed
	}
	created, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, "", errMalformed
	}
	return created, id, nil
}

// BeginFinalize moves the order to processing with its CSR and inserts the
// issuance job, provided its status is one of from.
func (s *Store) BeginFinalize(ctx context.Context, orderID string, from []storage.Status, csr []byte, job *storage.Job, now time.Time, j *storage.Journal) error {
	if job == nil {
		return fmt.Errorf("postgres: begin finalize %q: nil job", orderID)
	}
	args := append([]any{orderID, csr, now, statusStrings(from)}, jobArgs(job)...)
	return s.guardedJournal(ctx, j, "begin finalize", "order", orderID, "is not in a finalizable state",
		sqlBeginFinalize, args...)
}

// statusStrings binds statuses as a text[].
func statusStrings(from []storage.Status) []string {
	statuses := make([]string, len(from))
	for i, st := range from {
		statuses[i] = string(st)
	}
	return statuses
}

// FinalizeOrder records the CSR, inserts c and moves the order c.OrderID
// to valid pointing at c, provided its status is one of from, in one
// statement (with j, one transaction): finalization in one step, for a CA
// that issues while the request waits.
func (s *Store) FinalizeOrder(ctx context.Context, from []storage.Status, csr []byte, c *storage.Certificate, now time.Time, j *storage.Journal) error {
	return s.guardedJournal(ctx, j, "finalize order", "order", c.OrderID, "is not in a finalizable state",
		sqlFinalizeOrder,
		c.OrderID, c.ID, now,
		c.Directory, c.AccountID, c.Serial, c.Issuer, nonNil(c.Names),
		c.NotBefore, c.NotAfter, nonNil(c.ChainPEM), nonNil(c.Alternates), c.Profile, c.Backend,
		c.UpstreamRef, string(c.Status), optTime(c.RevokedAt), c.RevocationReason, c.CreatedAt,
		statusStrings(from), c.ReplacedBy, c.RenewEarly, csr)
}

// CompleteOrder moves the order from processing to valid pointing at c,
// inserts c and drops the order's issue jobs, in one statement.
func (s *Store) CompleteOrder(ctx context.Context, c *storage.Certificate, now time.Time, j *storage.Journal) error {
	return s.guardedJournal(ctx, j, "complete order", "order", c.OrderID, "is not processing", sqlCompleteOrder,
		c.OrderID, c.ID, now,
		c.Directory, c.AccountID, c.Serial, c.Issuer, nonNil(c.Names),
		c.NotBefore, c.NotAfter, nonNil(c.ChainPEM), nonNil(c.Alternates), c.Profile, c.Backend,
		c.UpstreamRef, string(c.Status), optTime(c.RevokedAt), c.RevocationReason, c.CreatedAt,
		string(storage.JobIssue), c.ReplacedBy, c.RenewEarly)
}

// FailOrder moves the order to invalid with problem and drops its issue
// jobs; ErrConflict if it is already valid or invalid.
func (s *Store) FailOrder(ctx context.Context, orderID string, problem []byte, now time.Time, j *storage.Journal) error {
	return s.guardedJournal(ctx, j, "fail order", "order", orderID, "is already final", sqlFailOrder,
		orderID, optBytes(problem), now, string(storage.JobIssue))
}

// SetOrderUpstreamRef records the backend's reference of a processing order;
// ErrConflict if the order is not processing.
func (s *Store) SetOrderUpstreamRef(ctx context.Context, orderID, ref string) error {
	return s.guarded(ctx, "set upstream ref of order", "order", orderID, "is not processing",
		sqlSetOrderUpstreamRef, orderID, ref)
}

func scanOrder(r scanner) (*storage.Order, error) {
	var o storage.Order
	var status, approval string
	err := r.Scan(&o.ID, &o.Directory, &o.AccountID, &status, scanTime(&o.Expires),
		scanTime(&o.NotBefore), scanTime(&o.NotAfter), &o.Identifiers, &o.AuthzIDs,
		&o.Error, &o.CSR, &o.CertificateID, &o.Profile, &o.UpstreamRef,
		scanTime(&o.CreatedAt), scanTime(&o.UpdatedAt),
		&approval, &o.ApprovalBy, &o.ApprovalReason, scanTime(&o.ApprovalDeadline),
		&o.Replaces, &o.ReplacesCertificateID)
	if err != nil {
		return nil, err
	}
	o.Status = storage.Status(status)
	o.Approval = storage.ApprovalState(approval)
	return &o, nil
}
