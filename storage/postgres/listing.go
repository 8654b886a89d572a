package postgres

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

// The operators' listings filter on any combination of a few columns. Their
// statements are built per call from the filter's set fields, so each is a
// plain conjunction the planner matches to an index, where one fixed
// statement with "($1 = '' OR column = $1)" for every field would leave
// generic plans no index to use. pgx prepares and caches each distinct
// text like any other statement; there are at most a few dozen.

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

// add appends a condition whose ? placeholders take args in order; they
// become $n, numbered after the arguments already added.
func (w *where) add(cond string, args ...any) {
	var b strings.Builder
	n := len(w.args)
	for _, r := range cond {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	w.conds = append(w.conds, b.String())
	w.args = append(w.args, args...)
}

// next returns the placeholder of one more argument, v.
func (w *where) next(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
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
		w.add(column+" >= ?::timestamptz", t)
	}
}

func (w *where) before(column string, t time.Time) {
	if !t.IsZero() {
		w.add(column+" < ?::timestamptz", t)
	}
}

// sql returns " WHERE c1 AND c2 …", or "" without conditions.
func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// containsPattern is the ILIKE pattern of the values that contain s: the
// wildcards % and _ in s match themselves, escaped with a backslash, LIKE's
// default escape character (no ESCAPE clause, so the statement does not
// depend on standard_conforming_strings).
func containsPattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// listPage runs a page query that asks for limit+1 rows and scans them: the
// extra row only says there is a next page. key returns the sort key and
// id of a row, from which the next page's cursor is made.
func listPage[T any](ctx context.Context, s *Store, limit int, scan func(scanner) (T, error),
	key func(T) (time.Time, string), order, query string, args ...any) ([]T, string, error) {
	var out []T
	more := false
	err := s.queryEach(ctx, func(rows pgx.Rows) error {
		if len(out) == limit {
			more = true
			return nil
		}
		v, err := scan(rows)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	}, query, args...)
	if err != nil {
		return nil, "", err
	}
	if !more {
		return out, "", nil
	}
	t, id := key(out[len(out)-1])
	return out, encodeListCursor(order, t, id), nil
}

// createdQuery builds the statement of one page of table's rows matching
// w, newest first on (created_at, id), asking for limit+1 rows.
func createdQuery(table, columns string, w *where, p storage.Page) (string, int, error) {
	limit := pageLimit(p.Limit)
	if p.Cursor != "" {
		t, id, err := decodeListCursor(p.Cursor, orderCreated)
		if err != nil {
			return "", 0, err
		}
		w.add("(created_at, id) < (?::timestamptz, ?::text)", t, id)
	}
	query := `SELECT ` + columns + ` FROM ` + table + w.sql() + `
ORDER BY created_at DESC, id DESC LIMIT ` + w.next(limit+1)
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

// Sort orders of the keyset listings, named in their cursors so that a
// cursor of one order is refused by a listing in another.
const (
	orderCreated = "created" // (created_at, id) descending
	orderExpiry  = "expiry"  // (not_after, id) ascending
)

var errMalformedCursor = fmt.Errorf("postgres: %w", storage.ErrBadCursor)

// encodeListCursor makes the opaque cursor of a keyset listing: base64url of
// "order time id", the sort key (RFC 3339, to the microsecond PostgreSQL
// stores) and the id of the last row of the page.
func encodeListCursor(order string, t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(order + " " + t.UTC().Format(time.RFC3339Nano) + " " + id))
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
	t, err := time.Parse(time.RFC3339Nano, parts[1])
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
