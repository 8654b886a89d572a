package sectigo

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFlexInt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    flexInt
		wantErr bool
	}{
		{`55`, 55, false},
		{`"55"`, 55, false},
		{`" -183 "`, -183, false},
		{`55.0`, 55, false},
		{`null`, 0, false},
		{`""`, 0, false},
		{`55.5`, 0, true},
		{`"abc"`, 0, true},
		{`true`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got flexInt
			err := json.Unmarshal([]byte(tt.in), &got)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("flexInt(%s) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestDecodeLiberally: the shapes decode with numbers as strings, lists as
// strings, extra fields, and a decline reason under any of its names.
func TestDecodeLiberally(t *testing.T) {
	t.Parallel()
	var d details
	in := `{"sslId":"", "id":"1234", "status":"Declined", "comments":"x acmegate-order:o1",
		"subjectAlternativeNames":"a.example, b.example", "declineMsg":" no budget ", "somethingNew":{"a":[1]}}`
	if err := json.Unmarshal([]byte(in), &d); err != nil {
		t.Fatal(err)
	}
	want := details{ID: 1234, Status: "Declined", Comments: "x acmegate-order:o1", SANs: flexStrings{"a.example", "b.example"}, Reason: "no budget"}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}
	if d.id() != 1234 {
		t.Errorf("id() = %d", d.id())
	}

	var types []certTypeWire
	if err := json.Unmarshal([]byte(`[{"id":"1018","name":"OV","terms":["365",730],"keyTypes":{"RSA":[2048,"4096"]},"useSecondaryOrgName":"false"}]`), &types); err != nil {
		t.Fatal(err)
	}
	if types[0].ID != 1018 || len(types[0].Terms) != 2 || types[0].Terms[0] != 365 || types[0].KeyTypes["RSA"][0] != "2048" {
		t.Errorf("cert type = %+v", types[0])
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{now.Add(2 * time.Minute).Format(http.TimeFormat), 2 * time.Minute},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"99999999", maxRetryAfter},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.header != "" {
			h.Set("Retry-After", tt.header)
		}
		if got := retryAfter(h, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tt.header, got, tt.want)
		}
	}
}

func TestHasMarker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		comments string
		want     bool
	}{
		{"Requested through acmegate. acmegate-order:o1", true},
		{"acmegate-order:o1", true},
		{"acmegate-order:o10", false},
		{"acmegate-order:o1x and more", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := hasMarker(tt.comments, "acmegate-order:o1"); got != tt.want {
			t.Errorf("hasMarker(%q) = %v", tt.comments, got)
		}
	}
}

func TestOneLine(t *testing.T) {
	t.Parallel()
	if got := oneLine("a\r\n\tb\x00  c", 100); got != "a b c" {
		t.Errorf("oneLine = %q", got)
	}
	if got := oneLine("héllo wörld", 2); got != "h…" {
		t.Errorf("oneLine cut = %q", got)
	}
}
