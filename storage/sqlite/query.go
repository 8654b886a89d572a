package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/acmegate/acmegate/storage"
)

// statements lists every SQL statement the store runs. Open prepares each of
// them once on each pool, so a request pays for binding and stepping, never
// for parsing. A statement missing from this list fails loudly at its first
// use instead of silently being re-parsed on every call.
func statements() []string {
	return []string{
		sqlInsertAccount, sqlGetAccount, sqlGetAccountByThumbprint,
		sqlUpdateAccount, sqlChangeAccountKey, sqlAccountExists, sqlAccountEpoch,

		sqlInsertDirectory, sqlPutDirectory, sqlGetDirectory, sqlListDirectories,
		sqlPutBackendCatalog, sqlGetBackendCatalog,

		sqlInsertEABKey, sqlGetEABKey, sqlListEABKeys, sqlEABKeyExists,
		sqlBindEABKey, sqlRevokeEABKey, sqlDeactivateEABAccounts,

		sqlInsertOrder, sqlGetOrder, sqlListOrderIDsFirst, sqlListOrderIDsAfter,
		sqlBeginFinalize, sqlFinalizeOrder, sqlCompleteOrder, sqlFailOrder, sqlSetOrderUpstreamRef,
		sqlOrderExists, sqlDeleteIssueJobs, sqlMarkReplaced,

		sqlBeginApproval, sqlApproveOrder, sqlRejectOrder, sqlListPendingApprovals,
		sqlListPendingApprovalsIn, sqlExpireApprovals,

		sqlInsertEvent, sqlListOrderEvents,

		sqlCountOrdersInDirectory, sqlCountOrdersOfAccount, sqlCountFailedValidations,
		sqlCountPendingAuthzs,

		sqlInsertAuthz, sqlInsertChallenge, sqlGetAuthzs, sqlGetAuthzWithChallenges, sqlGetChallengesOf,
		sqlFindReusableAuthz, sqlDeactivateAuthz, sqlAuthzExists,
		sqlGetChallenge, sqlStartChallenge, sqlFinishChallenge, sqlFollowChallenge,
		sqlChallengeExists, sqlDeleteChallengeJobs,

		sqlInsertCertificate, sqlGetCertificate, sqlGetCertificateBySerial,
		sqlRevokeCertificate, sqlCertificateExists, sqlSetRenewEarly,

		sqlInsertJob, sqlMarkRevocationPending, sqlLeaseJobs, sqlJobDue, sqlCompleteJob, sqlRetryJob, sqlReleaseJobs, sqlRenewLease,

		sqlRedeemNonce, sqlPurgeNonces, sqlGetSecret, sqlInsertSecret,

		sqlInsertAdminToken, sqlGetAdminToken, sqlListAdminTokens, sqlRevokeAdminToken,
		sqlTouchAdminToken, sqlAdminTokenExists,

		sqlLastAudit, sqlInsertAudit, sqlScanAudit,

		sqlInsertWebhook, sqlGetWebhook, sqlListWebhooks, sqlListWebhooksOf, sqlDeleteWebhook,
		sqlInsertDelivery, sqlGetDelivery, sqlUpdateDelivery,

		sqlCountExpiringCertificates, sqlCountJobs, sqlListFailingJobs,

		sqlClaimSweep,
	}
}

// prepareAll prepares every statement on db.
func prepareAll(ctx context.Context, db *sql.DB) (map[string]*sql.Stmt, error) {
	stmts := make(map[string]*sql.Stmt)
	for _, q := range statements() {
		if _, dup := stmts[q]; dup {
			continue
		}
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			closeAll(stmts)
			return nil, fmt.Errorf("sqlite: prepare %.60q: %w", q, err)
		}
		stmts[q] = st
	}
	return stmts, nil
}

// closeAll closes prepared statements, returning the first error.
func closeAll(stmts map[string]*sql.Stmt) error {
	var errs []error
	for _, st := range stmts {
		if err := st.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// queryer runs the store's prepared statements, inside tx when it is set and
// as single autocommit statements otherwise.
type queryer struct {
	stmts map[string]*sql.Stmt
	tx    *sql.Tx
	// ctx, when set, replaces the context a method passes: the group
	// commit runs a started write to its end (see batch.go).
	ctx context.Context
}

// context is the context a statement runs under.
func (q queryer) context(ctx context.Context) context.Context {
	if q.ctx != nil {
		return q.ctx
	}
	return ctx
}

func (q queryer) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	ctx = q.context(ctx)
	st, ok := q.stmts[query]
	if !ok {
		return nil, fmt.Errorf("sqlite: statement not prepared: %.60q", query)
	}
	if q.tx != nil {
		// StmtContext reuses the statement already prepared on the
		// transaction's connection (database/sql keeps one per connection).
		return q.tx.StmtContext(ctx, st), nil
	}
	return st, nil
}

// exec runs a statement that returns no rows, mapping uniqueness violations
// to storage.ErrConflict.
func (q queryer) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = q.context(ctx)
	st, err := q.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return nil, classify(err)
	}
	return res, nil
}

// execAffected runs a statement and returns how many rows it changed.
func (q queryer) execAffected(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: rows affected: %w", err)
	}
	return n, nil
}

// query runs a statement that returns rows.
func (q queryer) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = q.context(ctx)
	st, err := q.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, classify(err)
	}
	return rows, nil
}

// row is a single-row result whose preparation may have failed.
type row struct {
	r   *sql.Row
	err error
}

// Scan scans the row; sql.ErrNoRows is returned unchanged so callers can
// turn it into storage.ErrNotFound with their own context.
func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	if err := r.r.Scan(dest...); err != nil {
		return classify(err)
	}
	return nil
}

// queryRow runs a statement that returns at most one row.
func (q queryer) queryRow(ctx context.Context, query string, args ...any) row {
	ctx = q.context(ctx)
	st, err := q.stmt(ctx, query)
	if err != nil {
		return row{err: err}
	}
	return row{r: st.QueryRowContext(ctx, args...)}
}

// classify maps SQLite uniqueness violations to storage.ErrConflict, keeping
// the driver error in the chain for logs.
func classify(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", storage.ErrConflict, err)
		}
	}
	return err
}

// notFound wraps storage.ErrNotFound with what was looked for.
func notFound(kind, id string) error {
	return fmt.Errorf("sqlite: %s %q: %w", kind, id, storage.ErrNotFound)
}

// conflict wraps storage.ErrConflict with why the write was refused.
func conflict(kind, id, why string) error {
	return fmt.Errorf("sqlite: %s %q %s: %w", kind, id, why, storage.ErrConflict)
}

// missingOrConflict explains a conditional UPDATE that changed no row: the
// row is either absent (ErrNotFound) or in a state the condition refused
// (ErrConflict). existsQuery selects 1 for the id; it runs in the same
// transaction, so the answer describes the state the UPDATE saw.
func missingOrConflict(ctx context.Context, q queryer, existsQuery, kind, id, why string) error {
	var one int
	err := q.queryRow(ctx, existsQuery, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return notFound(kind, id)
	case err != nil:
		return fmt.Errorf("sqlite: check %s %q: %w", kind, id, err)
	default:
		return conflict(kind, id, why)
	}
}

// queryAll runs a statement and returns every row it yields, each read by
// scan.
func queryAll[T any](ctx context.Context, q queryer, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}
