package postgres

import (
	"context"
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

// pageLimit applies the listings' page size rule, storage.PageLimit.
func pageLimit(limit int) int { return storage.PageLimit(limit) }

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
	key func(T) (time.Time, string), order storage.KeyOrder, query string, args ...any) ([]T, string, error) {
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

// Sort orders of the keyset listings (see storage.KeyOrder).
const (
	orderCreated = storage.ByCreated // (created_at, id) descending
	orderExpiry  = storage.ByExpiry  // (not_after, id) ascending
)

// The cursors are storage's (storage.EncodeKeyCursor, EncodeSeqCursor).
// Their sort keys are written in RFC 3339 (to the microsecond PostgreSQL
// stores), so that cursors stay byte-identical to those issued before the
// code was shared; a malformed one is storage.ErrBadCursor.

// encodeListCursor makes the cursor of a keyset listing in order whose
// last row has sort key t and id.
func encodeListCursor(order storage.KeyOrder, t time.Time, id string) string {
	return storage.EncodeKeyCursor(time.RFC3339Nano, order, t, id)
}

// decodeListCursor reads a cursor of encodeListCursor made for order.
func decodeListCursor(c string, order storage.KeyOrder) (time.Time, string, error) {
	t, id, err := storage.DecodeKeyCursor(time.RFC3339Nano, c, order)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("postgres: %w", err)
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
		return 0, fmt.Errorf("postgres: %w", err)
	}
	return seq, nil
}
