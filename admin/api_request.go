package admin

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/acmegate/acmegate/storage"
)

// Reading requests: JSON bodies, query parameters and page cursors.

// errTooLarge is the problem of a body larger than maxBodyBytes.
func errTooLarge() error {
	return newAPIError(kindTooLarge, http.StatusRequestEntityTooLarge, "the request body exceeds %d KiB", maxBodyBytes>>10)
}

// decodeBody decodes the request's JSON object into v, refusing unknown
// fields and trailing data. An empty body is an error unless optional.
func (c *call) decodeBody(v any, optional bool) error {
	if ct := c.r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return newAPIError(kindUnsupportedMedia, http.StatusUnsupportedMediaType, "send the request body as application/json, not %q", ct)
		}
	}
	raw, err := io.ReadAll(c.r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errTooLarge()
		}
		return malformed("the request body could not be read: %v", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		if optional {
			return nil
		}
		return malformed("the request needs a JSON object as its body")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return malformed("the request body holds more than one JSON value")
	}
	return nil
}

// decodeError says precisely what is wrong with a body.
func decodeError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return malformed("the request body is not valid JSON (at byte %d): %v", syntax.Offset, err)
	case errors.As(err, &typ):
		return invalid(fieldPath(typ.Field), "must be a JSON %s, not %s", typ.Type.Kind(), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("the request body ends in the middle of a JSON value")
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return malformed("unknown field %s in the request body", f)
	}
	// Other decoding errors come from a field's own UnmarshalJSON and
	// describe the value, never the request as a whole.
	return malformed("the request body could not be decoded: %v", err)
}

// Query parameters.

// query returns the query parameter called name.
func (c *call) query(name string) string { return c.r.URL.Query().Get(name) }

// queryTime reads an RFC 3339 time parameter; zero when absent.
func (c *call) queryTime(name string) (time.Time, error) {
	v := c.query(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, invalid(name, "%q is not an RFC 3339 time such as 2026-01-31T00:00:00Z", v)
	}
	return t.UTC(), nil
}

// queryInt reads a non-negative integer parameter no greater than max; def
// when absent.
func (c *call) queryInt(name string, def, max int) (int, error) {
	v := c.query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max {
		return 0, invalid(name, "%q must be a whole number from 0 to %d", v, max)
	}
	return n, nil
}

// queryEnum reads a parameter that must be one of allowed ("" when absent).
func (c *call) queryEnum(name string, allowed ...string) (string, error) {
	v := c.query(name)
	if v == "" {
		return "", nil
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", invalid(name, "%q must be one of %s", v, strings.Join(allowed, ", "))
}

// checkQuery refuses parameters the route does not know: a misspelt filter
// must not silently list everything.
func (c *call) checkQuery(known ...string) error {
	for k := range c.r.URL.Query() {
		ok := k == "cursor" || k == "limit"
		for _, n := range known {
			ok = ok || k == n
		}
		if !ok {
			return invalid(k, "unknown query parameter; this listing takes %s", strings.Join(append(known, "cursor", "limit"), ", "))
		}
	}
	return nil
}

// Pagination: every listing takes ?cursor=&limit= and answers
// {"items": […], "next_cursor": "…"} with a Link rel="next" header.

const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// pageBody is a page of a listing.
type pageBody[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// page reads ?cursor= and ?limit=.
func (c *call) page() (storage.Page, error) {
	limit := defaultPageSize
	if v := c.query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return storage.Page{}, invalid("limit", "%q must be a whole number from 1 to %d", v, maxPageSize)
		}
		limit = n
	}
	return storage.Page{Cursor: c.query("cursor"), Limit: limit}, nil
}

// listError turns the error of a listing into its problem: a cursor the
// store refuses is the caller's mistake.
func listError(err error, p storage.Page) error {
	if errors.Is(err, storage.ErrBadCursor) {
		return invalid("cursor", "not a cursor this listing returned")
	}
	return err
}

// replyPage answers with one page of items and, when there is a next page,
// a Link header to it.
func replyPage[T any](c *call, items []T, next string) {
	if items == nil {
		items = []T{}
	}
	if next != "" {
		u := url.URL{Path: c.r.URL.Path}
		q := c.r.URL.Query()
		q.Set("cursor", next)
		u.RawQuery = q.Encode()
		c.w.Header().Add("Link", "<"+u.String()+`>; rel="next"`)
	}
	c.reply(http.StatusOK, pageBody[T]{Items: items, NextCursor: next})
}

// pageSlice pages a listing the store returns whole (directories, EAB
// keys, webhooks, tokens): the cursor is the offset of the next item.
func pageSlice[T any](all []T, p storage.Page) ([]T, string, error) {
	start := 0
	if p.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(p.Cursor)
		n, aerr := strconv.Atoi(strings.TrimPrefix(string(raw), "offset "))
		if err != nil || aerr != nil || !strings.HasPrefix(string(raw), "offset ") || n < 0 {
			return nil, "", invalid("cursor", "not a cursor this listing returned")
		}
		start = min(n, len(all))
	}
	end := min(start+p.Limit, len(all))
	next := ""
	if end < len(all) {
		next = base64.RawURLEncoding.EncodeToString([]byte("offset " + strconv.Itoa(end)))
	}
	return all[start:end], next, nil
}

// timePtr is t for JSON, nil when zero (so the field is left out).
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// truncate shortens a caller's value quoted in a problem detail (and so
// in the audit trail) to n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a character boundary: PostgreSQL refuses invalid UTF-8.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
