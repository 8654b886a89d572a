package storage

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"
)

// The time layouts the stores write their cursors' keys in: SQLite's
// fixed-width one (storage/sqlite timeLayout, how it stores every time)
// and PostgreSQL's RFC 3339 with trimmed fractions.
const (
	sqliteLayout   = "2006-01-02T15:04:05.000000000Z"
	postgresLayout = time.RFC3339Nano
)

func TestPageLimit(t *testing.T) {
	for in, want := range map[int]int{
		-1 << 62: DefaultPageLimit, -1: DefaultPageLimit, 0: DefaultPageLimit,
		1: 1, 99: 99, 100: 100, 101: 101, 1000: 1000,
		1001: MaxPageLimit, 1 << 62: MaxPageLimit,
	} {
		if got := PageLimit(in); got != want {
			t.Errorf("PageLimit(%d) = %d, want %d", in, got, want)
		}
	}
	if DefaultPageLimit != 100 || MaxPageLimit != 1000 {
		t.Errorf("page sizes %d and %d, documented as 100 and 1000", DefaultPageLimit, MaxPageLimit)
	}
}

// TestCursorEncoding pins the bytes of the cursors: cursors already handed
// out by either store, before their code was shared, must still decode,
// and the stores must keep issuing the same ones.
func TestCursorEncoding(t *testing.T) {
	at := time.Date(2026, 1, 31, 9, 8, 7, 123400000, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name, layout string
		order        KeyOrder
		at           time.Time
		id, want     string
	}{
		// base64url of "created 2026-01-31T08:08:07.123400000Z order-1"
		{"sqlite created", sqliteLayout, ByCreated, at, "order-1", "Y3JlYXRlZCAyMDI2LTAxLTMxVDA4OjA4OjA3LjEyMzQwMDAwMFogb3JkZXItMQ"},
		// "expiry 2026-01-31T08:08:07.000000000Z cert 1": the id may hold spaces.
		{"sqlite expiry", sqliteLayout, ByExpiry, at.Truncate(time.Second), "cert 1", "ZXhwaXJ5IDIwMjYtMDEtMzFUMDg6MDg6MDcuMDAwMDAwMDAwWiBjZXJ0IDE"},
		// "created 2026-01-31T08:08:07.1234Z order-1"
		{"postgres created", postgresLayout, ByCreated, at, "order-1", "Y3JlYXRlZCAyMDI2LTAxLTMxVDA4OjA4OjA3LjEyMzRaIG9yZGVyLTE"},
		// "expiry 2026-01-31T08:08:07Z cert 1"
		{"postgres expiry", postgresLayout, ByExpiry, at.Truncate(time.Second), "cert 1", "ZXhwaXJ5IDIwMjYtMDEtMzFUMDg6MDg6MDdaIGNlcnQgMQ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := EncodeKeyCursor(tc.layout, tc.order, tc.at, tc.id); got != tc.want {
				t.Errorf("EncodeKeyCursor = %q, want %q", got, tc.want)
			}
			gotAt, gotID, err := DecodeKeyCursor(tc.layout, tc.want, tc.order)
			if err != nil || !gotAt.Equal(tc.at) || gotAt.Location() != time.UTC || gotID != tc.id {
				t.Errorf("DecodeKeyCursor(%q) = %v, %q, %v; want %v in UTC, %q", tc.want, gotAt, gotID, err, tc.at, tc.id)
			}
		})
	}
	if got, want := EncodeSeqCursor(42), "c2VxIDQy"; got != want { // "seq 42"
		t.Errorf("EncodeSeqCursor(42) = %q, want %q", got, want)
	}
}

func TestKeyCursorRoundTrip(t *testing.T) {
	times := []time.Time{
		time.Date(2026, 1, 31, 9, 8, 7, 1, time.UTC),
		time.Date(2026, 1, 31, 9, 8, 7, 999999999, time.FixedZone("", -7*3600)),
		time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC),
		{},
	}
	for _, layout := range []string{sqliteLayout, postgresLayout} {
		for _, order := range []KeyOrder{ByCreated, ByExpiry} {
			for _, at := range times {
				for _, id := range []string{"", "order-1", "id with spaces", "ünïcode"} {
					c := EncodeKeyCursor(layout, order, at, id)
					gotAt, gotID, err := DecodeKeyCursor(layout, c, order)
					if err != nil || !gotAt.Equal(at) || gotAt.Location() != time.UTC || gotID != id {
						t.Errorf("%s %s (%v, %q): decoded %v, %q, %v", layout, order, at, id, gotAt, gotID, err)
					}
				}
			}
		}
	}
}

func TestSeqCursorRoundTrip(t *testing.T) {
	for _, seq := range []int64{1, 2, 50000, 1<<63 - 1} {
		got, err := DecodeSeqCursor(EncodeSeqCursor(seq))
		if err != nil || got != seq {
			t.Errorf("seq %d decoded as %d, %v", seq, got, err)
		}
	}
}

func TestMalformedCursors(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	now := time.Date(2026, 1, 31, 9, 8, 7, 0, time.UTC)
	for name, c := range map[string]string{
		"empty":                     "",
		"not base64":                "!!!",
		"padded base64":             b64("created 2026-01-31T09:08:07Z x") + "==",
		"no separator":              b64("no-separator"),
		"no id":                     b64("created 2026-01-31T09:08:07.000000000Z"),
		"not a time":                b64("created yesterday order-1"),
		"another order":             EncodeKeyCursor(sqliteLayout, ByExpiry, now, "cert-1"),
		"unknown order":             b64("newest 2026-01-31T09:08:07.000000000Z x"),
		"a seq cursor":              EncodeSeqCursor(5),
		"the other store's layout":  EncodeKeyCursor(postgresLayout, ByCreated, now, "order-1"),
		"order-less (ListOrderIDs)": b64("2026-01-31T09:08:07.000000000Z order-1"),
	} {
		if _, _, err := DecodeKeyCursor(sqliteLayout, c, ByCreated); !errors.Is(err, ErrBadCursor) {
			t.Errorf("DecodeKeyCursor(%s %q) error %v, want ErrBadCursor", name, c, err)
		}
	}
	for name, c := range map[string]string{
		"empty":         "",
		"not base64":    "!!!",
		"trailing junk": EncodeSeqCursor(5) + "!",
		"no prefix":     b64("5"),
		"zero":          b64("seq 0"),
		"negative":      b64("seq -3"),
		"not a number":  b64("seq five"),
		"too large":     b64("seq 9223372036854775808"),
		"a key cursor":  EncodeKeyCursor(sqliteLayout, ByCreated, now, "x"),
	} {
		if _, err := DecodeSeqCursor(c); !errors.Is(err, ErrBadCursor) {
			t.Errorf("DecodeSeqCursor(%s %q) error %v, want ErrBadCursor", name, c, err)
		}
	}
}
