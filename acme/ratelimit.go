package acme

import (
	"context"
	"fmt"
	"time"
)

// RateLimitSettings are a directory's rate limits; zero means no limit.
// They are counted in the shared database, so they hold across instances.
type RateLimitSettings struct {
	// OrdersPerHour limits new orders in the whole directory.
	OrdersPerHour int `json:"orders_per_hour,omitempty" yaml:"orders_per_hour"`
	// AccountOrdersPerHour limits new orders per account.
	AccountOrdersPerHour int `json:"account_orders_per_hour,omitempty" yaml:"account_orders_per_hour"`
	// AccountFailedValidationsPerHour stops an account whose validations
	// keep failing from ordering more.
	AccountFailedValidationsPerHour int `json:"account_failed_validations_per_hour,omitempty" yaml:"account_failed_validations_per_hour"`
	// AccountPendingAuthorizations limits the pending authorizations an
	// account may hold at once.
	AccountPendingAuthorizations int `json:"account_pending_authorizations,omitempty" yaml:"account_pending_authorizations"`
}

// rateLimitRetry is the Retry-After of an hourly limit: the window slides,
// so some room frees up well before the hour is over.
const rateLimitRetry = 5 * time.Minute

// checkRateLimits refuses a new order (newAuthz when forOrder is false)
// that would exceed one of the directory's limits, naming the limit.
func (s *Server) checkRateLimits(ctx context.Context, d *directory, accountID string, forOrder bool) error {
	l := d.settings.RateLimits
	if l == (RateLimitSettings{}) {
		return nil
	}
	now := s.clock.Now()
	hourAgo := now.Add(-time.Hour)
	// name is the limit's metric label: its settings key.
	type check struct {
		name  string
		limit int
		count func() (int, error)
		what  string
		retry time.Duration
	}
	checks := []check{
		{"account_pending_authorizations", l.AccountPendingAuthorizations, func() (int, error) { return s.store.CountPendingAuthorizations(ctx, accountID, now) },
			"pending authorizations per account", time.Minute},
	}
	if forOrder {
		checks = append(checks,
			check{"orders_per_hour", l.OrdersPerHour, func() (int, error) { return s.store.CountOrders(ctx, d.name, "", hourAgo) },
				"new orders per hour in directory " + d.name, rateLimitRetry},
			check{"account_orders_per_hour", l.AccountOrdersPerHour, func() (int, error) { return s.store.CountOrders(ctx, d.name, accountID, hourAgo) },
				"new orders per hour per account", rateLimitRetry},
			check{"account_failed_validations_per_hour", l.AccountFailedValidationsPerHour, func() (int, error) { return s.store.CountFailedValidations(ctx, accountID, hourAgo) },
				"failed validations per hour per account", rateLimitRetry},
		)
	}
	for _, c := range checks {
		if c.limit <= 0 {
			continue
		}
		n, err := c.count()
		if err != nil {
			return fmt.Errorf("count for rate limit %q: %w", c.what, err)
		}
		if n >= c.limit {
			s.metrics.rateLimit(c.name)
			p := RateLimited("rate limit of %d %s reached (%d now); try again later", c.limit, c.what, n)
			p.RetryAfter = c.retry
			return p
		}
	}
	return nil
}
