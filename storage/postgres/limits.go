package postgres

import (
	"context"
	"fmt"
	"time"
)

// The counts rate limits read. Each is one index range scan.
const (
	sqlCountOrdersInDirectory = `SELECT count(*) FROM orders WHERE directory = $1 AND created_at >= $2`
	// An account belongs to one directory, so orders_account_created finds
	// its orders and the directory condition only confirms them.
	sqlCountOrdersOfAccount = `SELECT count(*) FROM orders
WHERE account_id = $1 AND directory = $2 AND created_at >= $3`
	// The literal status lets generic plans use the partial index
	// challenges_account_failed.
	sqlCountFailedValidations = `SELECT count(*) FROM challenges
WHERE account_id = $1 AND status = 'invalid' AND updated_at >= $2`
	sqlCountPendingAuthzs = `SELECT count(*) FROM authorizations
WHERE account_id = $1 AND status = 'pending' AND expires > $2`
)

// CountOrders counts the orders of dir, of accountID when it is not "",
// created at or after since.
func (s *Store) CountOrders(ctx context.Context, dir, accountID string, since time.Time) (int, error) {
	query, args := sqlCountOrdersInDirectory, []any{dir, since}
	if accountID != "" {
		query, args = sqlCountOrdersOfAccount, []any{accountID, dir, since}
	}
	n, err := s.count(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("postgres: count orders of %q/%q: %w", dir, accountID, err)
	}
	return n, nil
}

// CountFailedValidations counts accountID's challenges that became invalid
// at or after since.
func (s *Store) CountFailedValidations(ctx context.Context, accountID string, since time.Time) (int, error) {
	n, err := s.count(ctx, sqlCountFailedValidations, accountID, since)
	if err != nil {
		return 0, fmt.Errorf("postgres: count failed validations of %q: %w", accountID, err)
	}
	return n, nil
}

// CountPendingAuthorizations counts accountID's pending authorizations that
// expire after now.
func (s *Store) CountPendingAuthorizations(ctx context.Context, accountID string, now time.Time) (int, error) {
	n, err := s.count(ctx, sqlCountPendingAuthzs, accountID, now)
	if err != nil {
		return 0, fmt.Errorf("postgres: count pending authorizations of %q: %w", accountID, err)
	}
	return n, nil
}

// count runs a SELECT count(*).
func (s *Store) count(ctx context.Context, sql string, args ...any) (int, error) {
	var n int64
	if err := s.queryRow(ctx, sql, args...).Scan(&n); err != nil {
		return 0, err
	}
	return int(n), nil
}
