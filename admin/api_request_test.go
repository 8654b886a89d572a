package admin

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/acmegate/acmegate/storage"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc…"},
		{"ééé", 3, "é…"}, // never half a character
		{strings.Repeat("x", maxDetail+10), maxDetail, strings.Repeat("x", maxDetail) + "…"},
	} {
		got := truncate(tc.in, tc.n)
		if got != tc.want || !utf8.ValidString(got) {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
	if d := newAPIError(kindInvalid, 400, "%s", strings.Repeat("é", 5000)).detail; len(d) > maxDetail+len("…") || !utf8.ValidString(d) {
		t.Errorf("a long detail is %d bytes, valid UTF-8 %v", len(d), utf8.ValidString(d))
	}
}

func TestPageSlice(t *testing.T) {
	all := []int{1, 2, 3, 4, 5}
	var got []int
	p := storage.Page{Limit: 2}
	for range 5 {
		items, next, err := pageSlice(all, p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, items...)
		if next == "" {
			break
		}
		p.Cursor = next
	}
	if len(got) != 5 || got[4] != 5 {
		t.Errorf("pages gave %v", got)
	}
	for _, bad := range []string{"x", "b2Zmc2V0IC0x", "c2VxIDE"} {
		if _, _, err := pageSlice(all, storage.Page{Cursor: bad, Limit: 2}); err == nil {
			t.Errorf("cursor %q accepted", bad)
		}
	}
}

func TestParseReason(t *testing.T) {
	for raw, want := range map[string]int{``: 0, `null`: 0, `1`: 1, `"keyCompromise"`: 1, `"superseded"`: 4, `9`: 9} {
		got, err := parseReason(json.RawMessage(raw))
		if err != nil || got != want {
			t.Errorf("parseReason(%s) = %d, %v; want %d", raw, got, err, want)
		}
	}
	for _, raw := range []string{`2`, `6`, `"certificateHold"`, `"KeyCompromise"`, `1.5`, `{}`} {
		if _, err := parseReason(json.RawMessage(raw)); err == nil || !strings.Contains(err.Error(), "reason:") {
			t.Errorf("parseReason(%s) = %v, want a reason error", raw, err)
		}
	}
}
