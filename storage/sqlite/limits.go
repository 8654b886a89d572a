package sqlite

import (
	"context"
	"fmt"
	"time"
)

// The counts rate limits read. Each is one index range scan: counting reads
// index entries only, never the rows.
const (
	sqlCountOrdersInDirectory = `SELECT count(*) FROM orders WHERE directory = ? AND created_at >= ?`
	// An account belongs to one directory, so orders_account_created finds
	// its orders and the directory condition only confirms them. Without
	// INDEXED BY SQLite picks orders_directory_created, which would count
	// through the orders of every account of the directory.
	sqlCountOrdersOfAccount = `SELECT count(*) FROM orders INDEXED BY orders_account_created
WHERE account_id = ? AND directory = ? AND created_at >= ?`
	// The literal status lets SQLite use the partial index
	// challenges_account_failed.
	sqlCountFailedValidations = `SELECT count(*) FROM challenges
WHERE account_id = ? AND status = 'invalid' AND updated_at >= ?`
	sqlCountPendingAuthzs = `SELECT count(*) FROM authorizations
WHERE account_id = ? AND status = 'pending' AND expires > ?`
)

// CountOrders counts the orders of dir, of accountID when it is not "",
// created at or after since.
func (s *Store) CountOrders(ctx context.Context, dir, accountID string, since time.Time) (int, error) {
	query, args := sqlCountOrdersInDirectory, []any{dir, tval(since)}
	if accountID != "" {
		query, args = sqlCountOrdersOfAccount, []any{accountID, dir, tval(since)}
	}
	n, err := s.count(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count orders of %q/%q: %w", dir, accountID, err)
	}
	return n, nil
}

// CountFailedValidations counts accountID's challenges that became invalid
// at or after since.
func (s *Store) CountFailedValidations(ctx context.Context, accountID string, since time.Time) (int, error) {
	n, err := s.count(ctx, sqlCountFailedValidations, accountID, tval(since))
	if err != nil {
		return 0, fmt.Errorf("sqlite: count failed validations of %q: %w", accountID, err)
	}
	return n, nil
}

// CountPendingAuthorizations counts accountID's pending authorizations that
// expire after now.
func (s *Store) CountPendingAuthorizations(ctx context.Context, accountID string, now time.Time) (int, error) {
	n, err := s.count(ctx, sqlCountPendingAuthzs, accountID, tval(now))
	if err != nil {
		return 0, fmt.Errorf("sqlite: count pending authorizations of %q: %w", accountID, err)
	}
	return n, nil
}

// count runs a SELECT count(*) on the read pool.
func (s *Store) count(ctx context.Context, query string, args ...any) (int, error) {
	var n int
	if err := s.reader().queryRow(ctx, query, args...).Scan(&n); err != nil {
		return 0, err
	}
	return n, nil
}
