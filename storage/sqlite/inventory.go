package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/acmegate/acmegate/storage"
)

const (
	// Valid certificates expiring in [?1, ?2): a range of
	// certificates_status_not_after.
	sqlCountExpiringCertificates = `SELECT directory, count(*) FROM certificates
WHERE status = 'valid' AND not_after >= ? AND not_after < ?
GROUP BY directory`
	// The jobs table holds pending work only (a job is deleted when it
	// completes), so counting it whole stays cheap. ?1 is now; a free lease
	// has lease_owner '' (and the zero lease_until).
	sqlCountJobs = `SELECT kind,
    coalesce(sum(lease_owner = '' OR lease_until <= ?1), 0),
    coalesce(sum(lease_owner <> '' AND lease_until > ?1), 0),
    coalesce(sum(last_error <> ''), 0)
FROM jobs GROUP BY kind`
	// The repeated last_error <> '' lets SQLite use the partial index
	// jobs_failing.
	sqlListFailingJobs = `SELECT ` + jobColumns + ` FROM jobs
WHERE last_error <> '' ORDER BY created_at DESC, id DESC LIMIT ?`
)

// ListAccounts returns one page of the accounts matching f, newest first,
// keyset-paginated on (created_at, id).
func (s *Store) ListAccounts(ctx context.Context, f storage.AccountFilter, p storage.Page) ([]*storage.Account, string, error) {
	out, next, err := listCreatedPage(ctx, s, "accounts", accountColumns, accountsWhere(f), p, scanAccount,
		func(a *storage.Account) (time.Time, string) { return a.CreatedAt, a.ID })
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: list accounts: %w", err)
	}
	return out, next, nil
}

// ListOrders returns one page of the orders matching f, newest first,
// keyset-paginated on (created_at, id).
func (s *Store) ListOrders(ctx context.Context, f storage.OrderFilter, p storage.Page) ([]*storage.Order, string, error) {
	out, next, err := listCreatedPage(ctx, s, "orders", orderColumns, ordersWhere(f), p, scanOrder,
		func(o *storage.Order) (time.Time, string) { return o.CreatedAt, o.ID })
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: list orders: %w", err)
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
		return nil, "", fmt.Errorf("sqlite: list certificates: %w", err)
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
		w.add(`EXISTS (SELECT 1 FROM json_each(orders.identifiers)
    WHERE json_extract(value, '$.value') LIKE ? ESCAPE '\')`, containsPattern(f.Name))
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
		w.add(`EXISTS (SELECT 1 FROM json_each(certificates.names) WHERE value LIKE ? ESCAPE '\')`,
			containsPattern(f.Name))
	}
	return &w
}

// createdQuery builds the statement of one page of table's rows matching
// w, newest first on (created_at, id), asking for limit+1 rows; w.args
// are its arguments.
func createdQuery(table, columns string, w *where, p storage.Page) (string, int, error) {
	limit := pageLimit(p.Limit)
	if p.Cursor != "" {
		t, id, err := decodeListCursor(p.Cursor, orderCreated)
		if err != nil {
			return "", 0, err
		}
		w.add("(created_at, id) < (?, ?)", tval(t), id)
	}
	query := `SELECT ` + columns + ` FROM ` + table + w.sql() + `
ORDER BY created_at DESC, id DESC LIMIT ?`
	w.args = append(w.args, limit+1)
	return query, limit, nil
}

// listCreatedPage lists one page of table's rows matching w, newest first
// on (created_at, id).
func listCreatedPage[T any](ctx context.Context, s *Store, table, columns string, w *where, p storage.Page,
	scan func(scanner) (T, error), key func(T) (time.Time, string)) ([]T, string, error) {
	query, limit, err := createdQuery(table, columns, w, p)
	if err != nil {
		return nil, "", err
	}
	return listPage(ctx, s, limit, scan, key, orderCreated, query, w.args...)
}

// expiryQuery builds the statement of one page of the certificates
// matching w, soonest expiry first on (not_after, id), asking for limit+1
// rows; w.args are its arguments.
func expiryQuery(w *where, p storage.Page) (string, int, error) {
	limit := pageLimit(p.Limit)
	if p.Cursor != "" {
		t, id, err := decodeListCursor(p.Cursor, orderExpiry)
		if err != nil {
			return "", 0, err
		}
		w.add("(not_after, id) > (?, ?)", tval(t), id)
	}
	query := `SELECT ` + certificateColumns + ` FROM certificates` + w.sql() + `
ORDER BY not_after, id LIMIT ?`
	w.args = append(w.args, limit+1)
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
	rows, err := s.reader().query(ctx, sqlCountExpiringCertificates, tval(now), tval(before))
	if err != nil {
		return nil, fmt.Errorf("sqlite: count expiring certificates: %w", err)
	}
	defer rows.Close()
	out := make(map[string]int)
	for rows.Next() {
		var dir string
		var n int
		if err := rows.Scan(&dir, &n); err != nil {
			return nil, fmt.Errorf("sqlite: count expiring certificates: %w", err)
		}
		out[dir] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count expiring certificates: %w", err)
	}
	return out, nil
}

// CountJobs counts the jobs of each kind that are queued, running and
// failing at now.
func (s *Store) CountJobs(ctx context.Context, now time.Time) (map[storage.JobKind]storage.JobCounts, error) {
	rows, err := s.reader().query(ctx, sqlCountJobs, tval(now))
	if err != nil {
		return nil, fmt.Errorf("sqlite: count jobs: %w", err)
	}
	defer rows.Close()
	out := make(map[storage.JobKind]storage.JobCounts)
	for rows.Next() {
		var kind string
		var c storage.JobCounts
		if err := rows.Scan(&kind, &c.Queued, &c.Running, &c.Failing); err != nil {
			return nil, fmt.Errorf("sqlite: count jobs: %w", err)
		}
		out[storage.JobKind(kind)] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count jobs: %w", err)
	}
	return out, nil
}

// ListFailingJobs returns up to limit jobs whose LastError is set, most
// recently created first. A limit of 0 or less means 100; more than 1000
// means 1000.
func (s *Store) ListFailingJobs(ctx context.Context, limit int) ([]*storage.Job, error) {
	out, err := queryAll(ctx, s.reader(), scanJob, sqlListFailingJobs, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list failing jobs: %w", err)
	}
	return out, nil
}
