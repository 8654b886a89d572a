package sqlite

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// timeLayout is how every timestamp is stored: UTC, fixed width, nanosecond
// precision. Fixed width makes TEXT comparison and ORDER BY agree with time
// order, so range conditions (expiry, run_at, pagination) use plain indexes.
// The zero time.Time is 0001-01-01T00:00:00.000000000Z: it round-trips as
// zero without NULLs and sorts before every real time, which is the meaning
// the queries want (a zero lease_until is a free lease, a zero run_at runs at
// once).
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// zeroTime is the zero time.Time as stored, for SQL that needs the literal.
const zeroTime = "0001-01-01T00:00:00.000000000Z"

// timeValue binds a time.Time as a timeLayout string.
type timeValue struct{ t time.Time }

// tval binds t as a stored timestamp.
func tval(t time.Time) timeValue { return timeValue{t} }

// Value implements driver.Valuer. Years outside 1–9999 would break the fixed
// width, and with it the ordering, so they are refused rather than stored.
func (v timeValue) Value() (driver.Value, error) {
	u := v.t.UTC()
	if y := u.Year(); y < 1 || y > 9999 {
		return nil, fmt.Errorf("sqlite: time %s out of storable range (years 1-9999)", v.t)
	}
	return u.Format(timeLayout), nil
}

// timeScanner reads a timeLayout string into *t, in UTC.
type timeScanner struct{ t *time.Time }

// tscan scans a stored timestamp into t.
func tscan(t *time.Time) timeScanner { return timeScanner{t} }

// Scan implements sql.Scanner.
func (s timeScanner) Scan(src any) error {
	var text string
	switch v := src.(type) {
	case string:
		text = v
	case []byte:
		text = string(v)
	default:
		return fmt.Errorf("sqlite: timestamp column holds %T, want text", src)
	}
	t, err := time.Parse(timeLayout, text)
	if err != nil {
		return fmt.Errorf("sqlite: bad stored timestamp: %w", err)
	}
	*s.t = t.UTC()
	return nil
}

// jsonValue binds v as JSON text (string lists, identifiers).
type jsonValue struct{ v any }

// jval binds v as a JSON column.
func jval(v any) jsonValue { return jsonValue{v} }

// Value implements driver.Valuer.
func (v jsonValue) Value() (driver.Value, error) {
	b, err := json.Marshal(v.v)
	if err != nil {
		return nil, fmt.Errorf("sqlite: encode json column: %w", err)
	}
	return string(b), nil
}

// jsonScanner decodes a JSON column into dst, a pointer.
type jsonScanner struct{ dst any }

// jscan scans a JSON column into dst.
func jscan(dst any) jsonScanner { return jsonScanner{dst} }

// Scan implements sql.Scanner.
func (s jsonScanner) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("sqlite: json column holds %T, want text", src)
	}
	if err := json.Unmarshal(b, s.dst); err != nil {
		return fmt.Errorf("sqlite: decode json column: %w", err)
	}
	return nil
}
