package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

const (
	// Valid certificates expiring in [$1, $2): a range of
	// certificates_status_not_after.
	sqlCountExpiringCertificates = `SELECT directory, count(*) FROM certificates
WHERE status = 'valid' AND not_after >= $1 AND not_after < $2
GROUP BY directory`
	// The jobs table holds pending work only (a job is deleted when it
	// completes), so counting it whole stays cheap. A free lease has
	// lease_owner '' and lease_until NULL.
	sqlCountJobs = `SELECT kind,
    count(*) FILTER (WHERE lease_owner = '' OR lease_until IS NULL OR lease_until <= $1),
    count(*) FILTER (WHERE lease_owner <> '' AND lease_until > $1),
    count(*) FILTER (WHERE last_error <> '')
FROM jobs GROUP BY kind`
	// The literal last_error <> '' lets generic plans use the partial
	// index jobs_failing.
	sqlListFailingJobs = `SELECT ` + jobColumns + ` FROM jobs
WHERE last_error <> '' ORDER BY created_at DESC, id DESC LIMIT $1`
)

// ListAccounts returns one page of the accounts matching f, newest first,
// keyset-paginated on (created_at, id).
func (s *Store) ListAccounts(ctx context.Context, f storage.AccountFilter, p storage.Page) ([]*storage.Account, string, error) {
	out, next, err := listCreatedPage(ctx, s, "accounts", accountColumns, accountsWhere(f), p, scanAccount,
		func(a *storage.Account) (time.Time, string) { return a.CreatedAt, a.ID })
	if err != nil {
		return nil, "", fmt.Errorf("postgres: list accounts: %w", err)
	}
	return out, next, nil
}

// ListOrders returns one page of the orders matching f, newest first,
// keyset-paginated on (created_at, id).
func (s *Store) ListOrders(ctx context.Context, f storage.OrderFilter, p storage.Page) ([]*storage.Order, string, error) {
	out, next, err := listCreatedPage(ctx, s, "orders", orderColumns, ordersWhere(f), p, scanOrder,
		func(o *storage.Order) (time.Time, string) { return o.CreatedAt, o.ID })
	if err != nil {
		return nil, "", fmt.Errorf("postgres: list orders: %w", err)
	}
	return out, next, nil
}

// ListCertificates returns one page of the certificates matching f, newest
// first on (created_at, id) or, with f.ByExpiry, soonest expiry first on
// (not_after, id).
func (s *Store) ListCertificates(ctx context.Context, f storage.CertificateFilter, p storage.Page) ([]*storage.Certificate, string, error) {
	w := certificatesWhere(f)
	var (
		out  []*storage.Certificate
		next string
		err  error
	)
	if f.ByExpiry {
		out, next, err = s.listExpiry(ctx, w, p)
	} else {
		out, next, err = listCreatedPage(ctx, s, "certificates", certificateColumns, w, p, scanCertificate,
			func(c *storage.Certificate) (time.Time, string) { return c.CreatedAt, c.ID })
	}
	if err != nil {
		return nil, "", fmt.Errorf("postgres: list certificates: %w", err)
	}
	return out, next, nil
}

// accountsWhere is the condition of the accounts f selects.
func accountsWhere(f storage.AccountFilter) *where {
	var w where
	w.eq("directory", f.Directory)
	w.eq("status", string(f.Status))
	return &w
}

// ordersWhere is the condition of the orders f selects.
func ordersWhere(f storage.OrderFilter) *where {
	var w where
	w.eq("directory", f.Directory)
	w.eq("account_id", f.AccountID)
	w.eq("status", string(f.Status))
	w.eq("approval", string(f.Approval))
	w.since("created_at", f.CreatedSince)
	w.before("created_at", f.CreatedBefore)
	w.since("updated_at", f.UpdatedSince)
	if f.Name != "" {
		w.add(`EXISTS (SELECT 1 FROM jsonb_array_elements(orders.identifiers) AS i
    WHERE i->>'value' ILIKE ?)`, containsPattern(f.Name))
	}
	return &w
}

// certificatesWhere is the condition of the certificates f selects.
func certificatesWhere(f storage.CertificateFilter) *where {
	var w where
	w.eq("directory", f.Directory)
	w.eq("status", string(f.Status))
	w.before("not_after", f.ExpiringBefore)
	w.since("not_after", f.ExpiringAfter)
	w.since("created_at", f.IssuedSince)
	if f.Name != "" {
		w.add(`EXISTS (SELECT 1 FROM unnest(certificates.names) AS n WHERE n ILIKE ?)`,
			containsPattern(f.Name))
	}
	return &w
}

// expiryQuery builds the statement of one page of the certificates
// matching w, soonest expiry first on (not_after, id), asking for limit+1
// rows.
func expiryQuery(w *where, p storage.Page) (string, int, error) {
	limit := pageLimit(p.Limit)
	if p.Cursor != "" {
		t, id, err := decodeListCursor(p.Cursor, orderExpiry)
		if err != nil {
			return "", 0, err
		}
		w.add("(not_after, id) > (?::timestamptz, ?::text)", t, id)
	}
	query := `SELECT ` + certificateColumns + ` FROM certificates` + w.sql() + `
ORDER BY not_after, id LIMIT ` + w.next(limit+1)
	return query, limit, nil
}

// listExpiry lists one page of the certificates matching w, soonest expiry
// first on (not_after, id).
func (s *Store) listExpiry(ctx context.Context, w *where, p storage.Page) ([]*storage.Certificate, string, error) {
	query, limit, err := expiryQuery(w, p)
	if err != nil {
		return nil, "", err
	}
	return listPage(ctx, s, limit, scanCertificate,
		func(c *storage.Certificate) (time.Time, string) { return c.NotAfter, c.ID },
		orderExpiry, query, w.args...)
}

// CountExpiringCertificates counts, per directory, the valid certificates
// whose NotAfter is in [now, before).
func (s *Store) CountExpiringCertificates(ctx context.Context, now, before time.Time) (map[string]int, error) {
	out := make(map[string]int)
	err := s.queryEach(ctx, func(rows pgx.Rows) error {
		var dir string
		var n int
		if err := rows.Scan(&dir, &n); err != nil {
			return err
		}
		out[dir] = n
		return nil
	}, sqlCountExpiringCertificates, now, before)
	if err != nil {
		return nil, fmt.Errorf("postgres: count expiring certificates: %w", err)
	}
	return out, nil
}

// CountJobs counts the jobs of each kind that are queued, running and
// failing at now.
func (s *Store) CountJobs(ctx context.Context, now time.Time) (map[storage.JobKind]storage.JobCounts, error) {
	out := make(map[storage.JobKind]storage.JobCounts)
	err := s.queryEach(ctx, func(rows pgx.Rows) error {
		var kind string
		var c storage.JobCounts
		if err := rows.Scan(&kind, &c.Queued, &c.Running, &c.Failing); err != nil {
			return err
		}
		out[storage.JobKind(kind)] = c
		return nil
	}, sqlCountJobs, now)
	if err != nil {
		return nil, fmt.Errorf("postgres: count jobs: %w", err)
	}
	return out, nil
}

// ListFailingJobs returns up to limit jobs whose LastError is set, most
// recently created first. A limit of 0 or less means 100; more than 1000
// means 1000.
func (s *Store) ListFailingJobs(ctx context.Context, limit int) ([]*storage.Job, error) {
	var out []*storage.Job
	err := s.queryEach(ctx, func(rows pgx.Rows) error {
		j, err := scanJob(rows)
		if err != nil {
			return err
		}
		out = append(out, j)
		return nil
	}, sqlListFailingJobs, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: list failing jobs: %w", err)
	}
	return out, nil
}
