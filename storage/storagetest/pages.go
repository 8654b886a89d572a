package storagetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// allPages walks a keyset listing page by page with limit and returns every
// row in listing order and the size of each page. It fails the test if the
// listing does not end within maxPages.
func allPages[T any](t *testing.T, limit, maxPages int, list func(storage.Page) ([]T, string, error)) ([]T, []int) {
	t.Helper()
	var (
		all    []T
		sizes  []int
		cursor string
	)
	for page := 0; ; page++ {
		if page == maxPages {
			t.Fatalf("pagination does not end after %d pages", maxPages)
		}
		rows, next, err := list(storage.Page{Cursor: cursor, Limit: limit})
		must(t, "list page", err)
		all = append(all, rows...)
		sizes = append(sizes, len(rows))
		if next == "" {
			return all, sizes
		}
		cursor = next
	}
}

// pageSizes is what allPages returns for n rows in pages of limit: full
// pages, then the rest.
func pageSizes(n, limit int) []int {
	var out []int
	for ; n > limit; n -= limit {
		out = append(out, limit)
	}
	return append(out, n)
}

// newestFirst sorts rows as the keyset listings do: by key time, latest
// first, then by id, greatest first.
func newestFirst[T any](rows []T, key func(T) (time.Time, string)) {
	slices.SortStableFunc(rows, func(a, b T) int {
		ta, ia := key(a)
		tb, ib := key(b)
		if c := tb.Compare(ta); c != 0 {
			return c
		}
		return strings.Compare(ib, ia)
	})
}

// soonestFirst sorts rows by key time, earliest first, then by id.
func soonestFirst[T any](rows []T, key func(T) (time.Time, string)) {
	slices.SortStableFunc(rows, func(a, b T) int {
		ta, ia := key(a)
		tb, ib := key(b)
		if c := ta.Compare(tb); c != 0 {
			return c
		}
		return strings.Compare(ia, ib)
	})
}

// filter returns the rows for which keep is true, in order.
func filter[T any](rows []T, keep func(T) bool) []T {
	var out []T
	for _, r := range rows {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}
