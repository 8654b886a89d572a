package storage

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// The paged listings of both stores share their page size rule and the
// format of their cursors, so that the rule is stated once and the two
// cannot drift apart. A cursor is opaque to callers; to the store that
// made it, it is base64url (unpadded) of text naming the position after
// the last row of a page.

// Page sizes of the listings (Page.Limit).
const (
	// DefaultPageLimit is the page size asked for with a Limit of 0 or less.
	DefaultPageLimit = 100
	// MaxPageLimit caps the page size.
	MaxPageLimit = 1000
)

// PageLimit applies the listings' page size rule to a Page.Limit: 0 or
// less means DefaultPageLimit, more than MaxPageLimit means MaxPageLimit.
func PageLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultPageLimit
	case limit > MaxPageLimit:
		return MaxPageLimit
	}
	return limit
}

// KeyOrder is the sort order of a keyset listing whose key is a time and
// a row id. It is named in the listing's cursors, so that a cursor made
// for one order is refused by a listing in another instead of silently
// starting from a wrong position.
type KeyOrder string

// The sort orders of the keyset listings.
const (
	ByCreated KeyOrder = "created" // (created_at, id) descending
	ByExpiry  KeyOrder = "expiry"  // (not_after, id) ascending
)

// EncodeKeyCursor makes the cursor of a keyset listing in order whose last
// row has sort key at and id: base64url of "order time id", the time in
// layout (each store writes times as it stores them, so that the key
// compares exactly to its column).
func EncodeKeyCursor(layout string, order KeyOrder, at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(string(order) + " " + at.UTC().Format(layout) + " " + id))
}

// DecodeKeyCursor reads a cursor EncodeKeyCursor made with layout for
// order. Anything else, including a cursor of another order, is
// ErrBadCursor.
func DecodeKeyCursor(layout, cursor string, order KeyOrder) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return time.Time{}, "", ErrBadCursor
	}
	parts := strings.SplitN(string(raw), " ", 3)
	if len(parts) != 3 || parts[0] != string(order) {
		return time.Time{}, "", ErrBadCursor
	}
	at, err := time.Parse(layout, parts[1])
	if err != nil {
		return time.Time{}, "", ErrBadCursor
	}
	return at, parts[2], nil
}

// EncodeSeqCursor makes the cursor of a listing by sequence number (the
// audit log) whose last row has seq: base64url of "seq N".
func EncodeSeqCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("seq " + strconv.FormatInt(seq, 10)))
}

// DecodeSeqCursor reads a cursor of EncodeSeqCursor. Anything else,
// including a seq below 1 (no row has one), is ErrBadCursor.
func DecodeSeqCursor(cursor string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, ErrBadCursor
	}
	n, ok := strings.CutPrefix(string(raw), "seq ")
	if !ok {
		return 0, ErrBadCursor
	}
	seq, err := strconv.ParseInt(n, 10, 64)
	if err != nil || seq < 1 {
		return 0, ErrBadCursor
	}
	return seq, nil
}
