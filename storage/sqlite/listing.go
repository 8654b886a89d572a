package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// The operators' listings filter on any combination of a few columns. Their
// statements are built per call from the filter's set fields, so each is a
// plain conjunction SQLite plans on the matching index, where one fixed
// statement with "(? = '' OR column = ?)" for every field would defeat
// every index. They are not prepared: there are up to 2^n of them, they
// serve operators rather than subscribers, and parsing one costs
// microseconds next to reading a page.

// pageLimit applies the listings' page size rule, storage.PageLimit.
func pageLimit(limit int) int { return storage.PageLimit(limit) }

// where collects the conditions of a dynamic statement and their arguments.
type where struct {
	conds []string
	args  []any
}

// add appends a condition; its ? placeholders take args in order.
func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// eq adds column = value unless value is "" (a zero filter field matches
// everything).
func (w *where) eq(column, value string) {
	if value != "" {
		w.add(column+" = ?", value)
	}
}

// since adds column >= t unless t is zero; before adds column < t.
func (w *where) since(column string, t time.Time) {
	if !t.IsZero() {
		w.add(column+" >= ?", tval(t))
	}
}

func (w *where) before(column string, t time.Time) {
	if !t.IsZero() {
		w.add(column+" < ?", tval(t))
	}
}

// sql returns " WHERE c1 AND c2 …", or "" without conditions.
func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// containsPattern is the LIKE pattern (with ESCAPE '\') of the values that
// contain s: the wildcards % and _ in s match themselves. SQLite's LIKE
// ignores the case of ASCII letters, the only letters names hold (IDNs
// are stored as A-labels).
func containsPattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// queryDynamic runs a statement built at run time on the read pool.
func (s *Store) queryDynamic(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	return rows, nil
}

// listPage runs a page query built with limit+1 rows and scans them: the
// extra row only says there is a next page. key returns the sort key and
// id of a row, from which the next page's cursor is made.
func listPage[T any](ctx context.Context, s *Store, limit int, scan func(scanner) (T, error),
	key func(T) (time.Time, string), order storage.KeyOrder, query string, args ...any) ([]T, string, error) {
	rows, err := s.queryDynamic(ctx, query, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []T
	more := false
	for rows.Next() {
		if len(out) == limit {
			more = true
			break
		}
		v, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", classify(err)
	}
	if !more {
		return out, "", nil
	}
	t, id := key(out[len(out)-1])
	return out, encodeListCursor(order, t, id), nil
}

// Sort orders of the keyset listings (see storage.KeyOrder).
const (
	orderCreated = storage.ByCreated // (created_at, id) descending
	orderExpiry  = storage.ByExpiry  // (not_after, id) ascending
)

// The cursors are storage's (storage.EncodeKeyCursor, EncodeSeqCursor).
// Their sort keys are written in timeLayout, as every time is stored, so
// that cursors stay byte-identical to those issued before the code was
// shared; a malformed one is storage.ErrBadCursor.

// encodeListCursor makes the cursor of a keyset listing in order whose
// last row has sort key t and id.
func encodeListCursor(order storage.KeyOrder, t time.Time, id string) string {
	return storage.EncodeKeyCursor(timeLayout, order, t, id)
}

// decodeListCursor reads a cursor of encodeListCursor made for order.
func decodeListCursor(c string, order storage.KeyOrder) (time.Time, string, error) {
	t, id, err := storage.DecodeKeyCursor(timeLayout, c, order)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("sqlite: %w", err)
	}
	return t, id, nil
}

// encodeSeqCursor makes the cursor of the audit listing whose last entry
// has seq.
func encodeSeqCursor(seq int64) string { return storage.EncodeSeqCursor(seq) }

// decodeSeqCursor reads a cursor of encodeSeqCursor.
func decodeSeqCursor(c string) (int64, error) {
	seq, err := storage.DecodeSeqCursor(c)
	if err != nil {
		return 0, fmt.Errorf("sqlite: %w", err)
	}
	return seq, nil
}
