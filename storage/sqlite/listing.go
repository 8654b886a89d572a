package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strconv"
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

// pageLimit applies the listings' page size rule: 0 or less means 100,
// more than 1000 means 1000.
func pageLimit(limit int) int {
	switch {
	case limit <= 0:
		return defaultPageLimit
	case limit > maxPageLimit:
		return maxPageLimit
	}
	return limit
}

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
	key func(T) (time.Time, string), order, query string, args ...any) ([]T, string, error) {
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

// Sort orders of the keyset listings, named in their cursors so that a
// cursor of one order is refused by a listing in another.
const (
	orderCreated = "created" // (created_at, id) descending
	orderExpiry  = "expiry"  // (not_after, id) ascending
)

var errMalformedCursor = fmt.Errorf("sqlite: %w", storage.ErrBadCursor)

// encodeListCursor makes the opaque cursor of a keyset listing: base64url of
// "order time id", the sort key and the id of the last row of the page.
func encodeListCursor(order string, t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(order + " " + t.UTC().Format(timeLayout) + " " + id))
}

// decodeListCursor reads a cursor of encodeListCursor made for order.
func decodeListCursor(c, order string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", errMalformedCursor
	}
	parts := strings.SplitN(string(raw), " ", 3)
	if len(parts) != 3 || parts[0] != order {
		return time.Time{}, "", errMalformedCursor
	}
	t, err := time.Parse(timeLayout, parts[1])
	if err != nil {
		return time.Time{}, "", errMalformedCursor
	}
	return t, parts[2], nil
}

// encodeSeqCursor is the cursor of the audit listing: base64url of
// "seq N", the seq of the last entry of the page.
func encodeSeqCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("seq " + strconv.FormatInt(seq, 10)))
}

func decodeSeqCursor(c string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, errMalformedCursor
	}
	n, ok := strings.CutPrefix(string(raw), "seq ")
	if !ok {
		return 0, errMalformedCursor
	}
	seq, err := strconv.ParseInt(n, 10, 64)
	if err != nil || seq < 1 {
		return 0, errMalformedCursor
	}
	return seq, nil
}
