package acme

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// jsonMembersRef is jsonMembers as it was before the single-pass scanner:
// the encoding/json Decoder token loop. It is the reference the scanner
// must agree with, input for input.
func jsonMembersRef(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	members := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string) // object keys are always strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := members[name]; dup {
			return nil, fmt.Errorf("member %q appears twice", truncate(name, 32))
		}
		members[name] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return members, nil
}

// parseFlattenedRef is parseFlattened as it was before, on jsonMembersRef
// and json.Unmarshal, up to the point where both hand over to go-jose.
func parseFlattenedRef(body []byte) (protectedHeader, error) {
	var h protectedHeader
	fields, err := jsonMembersRef(body)
	if err != nil {
		return h, err
	}
	for k := range fields {
		switch k {
		case "protected", "payload", "signature":
		default:
			return h, fmt.Errorf("member %q", k)
		}
	}
	var f flattenedJWS
	if err := json.Unmarshal(body, &f); err != nil {
		return h, err
	}
	if _, ok := fields["payload"]; !ok || f.Protected == "" || f.Signature == "" {
		return h, errors.New("member missing")
	}
	hdrJSON, err := decodeBase64URL(f.Protected)
	if err != nil {
		return h, err
	}
	hdrFields, err := jsonMembersRef(hdrJSON)
	if err != nil {
		return h, err
	}
	for _, k := range []string{"x5c", "x5u", "jku", "crit", "b64"} {
		if _, ok := hdrFields[k]; ok {
			return h, fmt.Errorf("header member %q", k)
		}
	}
	for _, m := range []struct {
		name string
		dst  *string
	}{{"alg", &h.Alg}, {"nonce", &h.Nonce}, {"url", &h.URL}, {"kid", &h.KID}} {
		if raw, ok := hdrFields[m.name]; ok {
			if err := json.Unmarshal(raw, m.dst); err != nil {
				return h, err
			}
		}
	}
	h.JWK = hdrFields["jwk"]
	if h.Alg == "" || !algAllowed(h.Alg) {
		return h, errors.New("alg")
	}
	if _, err := decodeBase64URL(f.Payload); err != nil {
		return h, err
	}
	if _, err := decodeBase64URL(f.Signature); err != nil {
		return h, err
	}
	jws, err := jose.ParseSignedJSON(string(body), accountAlgs)
	if err != nil {
		return h, err
	}
	if len(jws.Signatures) != 1 {
		return h, errors.New("signatures")
	}
	if len(h.JWK) > 0 {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(h.JWK); err != nil {
			return h, err
		}
		if !k.Valid() || !k.IsPublic() {
			return h, errors.New("jwk")
		}
	}
	return h, nil
}

// diffMembers compares jsonMembers with the reference on b and describes
// the first difference, or returns "".
func diffMembers(b []byte) string {
	got, gerr := jsonMembers(b)
	want, werr := jsonMembersRef(b)
	if (gerr == nil) != (werr == nil) {
		return fmt.Sprintf("jsonMembers error %v, reference error %v", gerr, werr)
	}
	if gerr != nil {
		// The hostile catalogue and clients rely on the duplicate wording.
		if g, w := strings.Contains(gerr.Error(), "appears twice"), strings.Contains(werr.Error(), "appears twice"); g != w {
			return fmt.Sprintf("jsonMembers error %q, reference error %q", gerr, werr)
		}
		return ""
	}
	if len(got) != len(want) {
		return fmt.Sprintf("%d members, reference %d", len(got), len(want))
	}
	for _, m := range got {
		w, ok := want[m.name]
		if !ok {
			return fmt.Sprintf("member %q not in the reference %v", m.name, want)
		}
		if !bytes.Equal(m.value, w) {
			return fmt.Sprintf("member %q is %q, reference %q", m.name, m.value, w)
		}
	}
	return ""
}

// diffParse compares parseFlattened with the reference on a request body.
func diffParse(body []byte) string {
	p, gerr := parseFlattened(body)
	want, werr := parseFlattenedRef(body)
	if (gerr == nil) != (werr == nil) {
		return fmt.Sprintf("parseFlattened error %v, reference error %v", gerr, werr)
	}
	if gerr != nil {
		return ""
	}
	got := p.header
	if got.Alg != want.Alg || got.Nonce != want.Nonce || got.URL != want.URL || got.KID != want.KID || !bytes.Equal(got.JWK, want.JWK) {
		return fmt.Sprintf("header %+v, reference %+v", got, want)
	}
	return ""
}

func TestJSONMembersTable(t *testing.T) {
	type member struct{ name, value string }
	deep := func(n int, open, close string) string {
		return `{"a":` + strings.Repeat(open, n) + strings.Repeat(close, n) + `}`
	}
	many := func(n int, dup string) string {
		var sb strings.Builder
		sb.WriteString("{")
		for i := range n {
			fmt.Fprintf(&sb, `"m%d":%d,`, i, i)
		}
		sb.WriteString(`"` + dup + `":true}`)
		return sb.String()
	}
	tests := []struct {
		name    string
		in      string
		want    []member // in document order, when accepted
		wantErr string   // substring of the error, when refused
	}{
		{name: "empty object", in: `{}`, want: []member{}},
		{name: "empty object in whitespace", in: " \t\r\n{ \t\r\n} \t\r\n", want: []member{}},
		{name: "one member", in: `{"a":1}`, want: []member{{"a", "1"}}},
		{name: "whitespace everywhere", in: ` { "a" : 1 , "b" : [ 1 , 2 ] , "c" :"x"} `,
			want: []member{{"a", "1"}, {"b", "[ 1 , 2 ]"}, {"c", `"x"`}}},
		{name: "every value type", in: `{"s":"x","n":-0.5e+10,"t":true,"f":false,"z":null,"o":{"k":[]},"a":[{},"]"]}`,
			want: []member{{"s", `"x"`}, {"n", "-0.5e+10"}, {"t", "true"}, {"f", "false"}, {"z", "null"}, {"o", `{"k":[]}`}, {"a", `[{},"]"]`}}},
		{name: "strings holding brackets and escaped quotes", in: `{"a":"}\"{","b":["\\",{"c":"]\"["}]}`,
			want: []member{{"a", `"}\"{"`}, {"b", `["\\",{"c":"]\"["}]`}}},
		{name: "escaped name is unescaped", in: `{"\u0061lg":"ES256"}`, want: []member{{"alg", `"ES256"`}}},
		{name: "escaped solidus in name", in: `{"a\/b":1}`, want: []member{{"a/b", "1"}}},
		{name: "escaped and plain spelling of a name", in: `{"alg":"none","\u0061lg":"ES256"}`, wantErr: `"alg" appears twice`},
		{name: "non-ASCII name", in: `{"é":1}`, want: []member{{"é", "1"}}},
		{name: "invalid UTF-8 names both read as U+FFFD", in: "{\"\xff\":1,\"\xfe\":2}", wantErr: "appears twice"},
		{name: "lone surrogate reads as U+FFFD", in: `{"\ud800":1,"\ufffd":2}`, wantErr: "appears twice"},
		{name: "names differing in case are distinct", in: `{"alg":1,"ALG":2,"Alg":3}`,
			want: []member{{"alg", "1"}, {"ALG", "2"}, {"Alg", "3"}}},
		{name: "duplicate", in: `{"a":1,"a":1}`, wantErr: `"a" appears twice`},
		{name: "duplicate with other members between", in: `{"a":1,"b":2,"a":3}`, wantErr: "appears twice"},
		{name: "nested duplicates are the value's business", in: `{"a":{"b":1,"b":2}}`, want: []member{{"a", `{"b":1,"b":2}`}}},
		{name: "duplicate before a syntax error", in: `{"a":1,"a":2,`, wantErr: "appears twice"},
		{name: "syntax error before a duplicate", in: `{"a":1,"a":x}`, wantErr: "invalid"},
		{name: "many members", in: many(5000, "x"), want: nil},
		{name: "many members, duplicate last", in: many(5000, "m4321"), wantErr: `"m4321" appears twice`},
		{name: "duplicate of the 16th member as the 17th", in: many(16, "m15"), wantErr: "appears twice"},
		{name: "duplicate of the 1st member as the 18th", in: many(17, "m0"), wantErr: "appears twice"},

		{name: "empty input", in: ``, wantErr: "not a JSON object"},
		{name: "whitespace only", in: " \n", wantErr: "not a JSON object"},
		{name: "array", in: `[]`, wantErr: "not a JSON object"},
		{name: "string", in: `"{}"`, wantErr: "not a JSON object"},
		{name: "number", in: `1`, wantErr: "not a JSON object"},
		{name: "null", in: `null`, wantErr: "not a JSON object"},
		{name: "close brace", in: `}`, wantErr: "not a JSON object"},
		{name: "byte order mark", in: "\xef\xbb\xbf{}", wantErr: "not a JSON object"},
		{name: "compact serialization", in: `eyJhbGciOiJFUzI1NiJ9.e30.c2ln`, wantErr: "not a JSON object"},
		{name: "unterminated", in: `{`, wantErr: "end of JSON input"},
		{name: "unterminated after member", in: `{"a":1`, wantErr: "end of JSON input"},
		{name: "unterminated value", in: `{"protected":`, wantErr: "end of JSON input"},
		{name: "second object", in: `{}{}`, wantErr: "data after"},
		{name: "trailing garbage", in: `{"a":1} x`, wantErr: "data after"},
		{name: "trailing comma after object", in: `{},`, wantErr: "data after"},
		{name: "trailing NUL", in: "{}\x00", wantErr: "data after"},
		{name: "extra close brace", in: `{}}`, wantErr: "data after"},
		{name: "trailing comma", in: `{"a":1,}`, wantErr: "want a member name"},
		{name: "leading comma", in: `{,"a":1}`, wantErr: "want a member name"},
		{name: "missing colon", in: `{"a" 1}`, wantErr: "has no value"},
		{name: "missing value", in: `{"a":}`, wantErr: "invalid JSON value"},
		{name: "missing comma", in: `{"a":1 "b":2}`, wantErr: "after a member"},
		{name: "closed with bracket", in: `{"a":1]`, wantErr: "after a member"},
		{name: "unquoted name", in: `{a:1}`, wantErr: "want a member name"},
		{name: "single-quoted name", in: `{'a':1}`, wantErr: "want a member name"},
		{name: "number as name", in: `{1:2}`, wantErr: "want a member name"},
		{name: "control character in name", in: "{\"a\nb\":1}", wantErr: "invalid member name"},
		{name: "bad escape in name", in: `{"\q":1}`, wantErr: "invalid member name"},
		{name: "short unicode escape in name", in: `{"\u12":1}`, wantErr: "invalid member name"},
		{name: "leading zero", in: `{"a":01}`, wantErr: "after a member"},
		{name: "truncated literal", in: `{"a":tru}`, wantErr: "invalid JSON value"},
		{name: "literal with tail", in: `{"a":truex}`, wantErr: "after a member"},
		// The Decoder ended a number or literal at the first byte that
		// cannot continue it, so it saw the duplicate before the stray byte.
		{name: "duplicate whose number has a tail", in: `{"a":1,"a":0a}`, wantErr: "appears twice"},
		{name: "duplicate whose literal has a tail", in: `{"a":1,"a":nullx}`, wantErr: "appears twice"},
		{name: "duplicate whose array has a tail", in: `{"a":1,"a":[1]]}`, wantErr: "appears twice"},
		{name: "truncated number", in: `{"a":-`, wantErr: "end of JSON input"},
		{name: "exponent without digits", in: `{"a":1e+}`, wantErr: "invalid JSON value"},
		{name: "truncated literal at the end", in: `{"a":fal`, wantErr: "end of JSON input"},
		{name: "two literals", in: `{"a":true false}`, wantErr: "after a member"},
		{name: "lone minus", in: `{"a":-}`, wantErr: "invalid JSON value"},
		{name: "number without fraction digits", in: `{"a":1.}`, wantErr: "invalid JSON value"},
		{name: "number with plus", in: `{"a":+1}`, wantErr: "invalid JSON value"},
		{name: "NaN", in: `{"a":NaN}`, wantErr: "invalid JSON value"},
		{name: "control character in value", in: "{\"a\":\"\x01\"}", wantErr: "invalid string"},
		{name: "bad escape in value", in: `{"a":"\x41"}`, wantErr: "invalid string"},
		{name: "unterminated string value", in: `{"a":"x}`, wantErr: "invalid string"},
		{name: "escaped quote at the end", in: `{"a":"x\"}`, wantErr: "invalid string"},
		{name: "trailing comma in array", in: `{"a":[1,]}`, wantErr: "invalid JSON value"},
		{name: "member without value in nested object", in: `{"a":{"b"}}`, wantErr: "invalid JSON value"},
		{name: "mismatched brackets", in: `{"a":[}]}`, wantErr: "invalid JSON value"},
		{name: "bad string in nested value", in: "{\"a\":[\"\x02\"]}", wantErr: "invalid string"},
		{name: "unterminated nested value", in: `{"a":[[[`, wantErr: "end of JSON input"},

		// encoding/json's scanner allows 10000 levels per value; the
		// Decoder checked each value on its own, and so does jsonMembers.
		{name: "value nested 10000 deep", in: deep(10000, "[", "]"), want: []member{{"a", strings.Repeat("[", 10000) + strings.Repeat("]", 10000)}}},
		{name: "value nested 10001 deep", in: deep(10001, "[", "]"), wantErr: "invalid JSON value"},
		{name: "objects nested 10001 deep", in: deep(10001, `{"a":`, `}`), wantErr: "invalid JSON value"},
		{name: "value nested a million deep", in: deep(1_000_000, "[", "]"), wantErr: "invalid JSON value"},
		{name: "a million open brackets", in: `{"a":` + strings.Repeat("[", 1_000_000), wantErr: "end of JSON input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			if d := diffMembers(in); d != "" {
				t.Errorf("differs from the reference: %s", d)
			}
			got, err := jsonMembers(in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tt.want == nil { // checked against the reference only
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d members, want %d", len(got), len(tt.want))
			}
			for i, m := range got {
				if m.name != tt.want[i].name || string(m.value) != tt.want[i].value {
					t.Errorf("member %d is %q: %.40q, want %q: %.40q", i, m.name, m.value, tt.want[i].name, tt.want[i].value)
				}
			}
		})
	}
}

// TestJSONMembersValuesAliasInput pins that values are views of the input,
// which parseFlattened relies on to keep jwk without a copy.
func TestJSONMembersValuesAliasInput(t *testing.T) {
	in := []byte(`{"jwk":{"kty":"EC"}}`)
	got, err := jsonMembers(in)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := got.get("jwk")
	if !ok || string(v) != `{"kty":"EC"}` {
		t.Fatalf("jwk = %q, %v", v, ok)
	}
	if &v[0] != &in[7] {
		t.Fatal("jwk value is a copy, not a view of the input")
	}
	if _, ok := got.get("JWK"); ok {
		t.Fatal("get matched a name case-insensitively")
	}
}

// TestUnmarshalString compares the fast path with json.Unmarshal.
func TestUnmarshalString(t *testing.T) {
	for _, raw := range []string{`"abc"`, `""`, `"a\"b"`, `"\u00e9"`, "\"\xff\"", `"é"`, `null`, `1`, `{}`, `[]`, `true`} {
		got, want := "keep", "keep"
		gerr := unmarshalString([]byte(raw), &got)
		werr := json.Unmarshal([]byte(raw), &want)
		if (gerr == nil) != (werr == nil) || got != want {
			t.Errorf("unmarshalString(%s) = %q, %v; json.Unmarshal: %q, %v", raw, got, gerr, want, werr)
		}
	}
}

// TestJSONMembersAllocations pins the point of the scanner: a JWS body and
// a protected header cost one allocation each, the member slice.
func TestJSONMembersAllocations(t *testing.T) {
	body, hdr := benchJWSParts()
	for name, in := range map[string][]byte{"body": body, "header": hdr} {
		if n := testing.AllocsPerRun(100, func() {
			if _, err := jsonMembers(in); err != nil {
				t.Fatal(err)
			}
		}); n > 1 {
			t.Errorf("%s: %v allocations, want at most 1", name, n)
		}
	}
}

// TestJSONMembersRandom compares jsonMembers with the reference on random
// objects and their mutations, seeded so that a failure reproduces.
func TestJSONMembersRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(8555, 7515))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	accepted := 0
	for range n {
		b := mutateJSON(r, []byte(randomObject(r, 0)))
		if d := diffMembers(b); d != "" {
			t.Fatalf("on %q: %s", b, d)
		}
		if _, err := jsonMembers(b); err == nil {
			accepted++
		}
	}
	// Both verdicts must be well represented for the comparison to mean
	// anything.
	if accepted < n/10 || accepted > n*9/10 {
		t.Fatalf("%d of %d random inputs accepted; the generator has drifted", accepted, n)
	}
	t.Logf("%d of %d random inputs accepted by both", accepted, n)
}

// randomObject writes a random JSON object rich in the shapes the scanner
// must get right: escapes, brackets in strings, repeated names, odd spacing.
func randomObject(r *rand.Rand, depth int) string {
	var sb strings.Builder
	sb.WriteString(randomSpace(r) + "{")
	for i := range r.IntN(5) {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(randomSpace(r) + randomString(r) + randomSpace(r) + ":" + randomSpace(r) + randomValue(r, depth+1) + randomSpace(r))
	}
	sb.WriteString("}" + randomSpace(r))
	return sb.String()
}

func randomValue(r *rand.Rand, depth int) string {
	n := 9
	if depth > 3 {
		n = 7 // no more nesting
	}
	switch r.IntN(n) {
	case 0, 1:
		return randomString(r)
	case 2:
		return []string{"0", "-1", "1.5", "2e10", "-0.0E-3", "01", "1.", "-", ".5", "1e"}[r.IntN(10)]
	case 3:
		return []string{"true", "false", "null", "nul", "True"}[r.IntN(5)]
	case 4, 5, 6:
		return randomString(r)
	case 7:
		return randomObject(r, depth)
	default:
		var sb strings.Builder
		sb.WriteString("[")
		for i := range r.IntN(4) {
			if i > 0 {
				sb.WriteString(",")
			}
			sb.WriteString(randomSpace(r) + randomValue(r, depth+1))
		}
		return sb.String() + "]"
	}
}

func randomString(r *rand.Rand) string {
	parts := []string{"a", "alg", "kid", "jwk", "payload", `\u0061`, `\"`, `\\`, `\/`, `\n`, "{", "}", "[", "]", ",", ":", "é", "\xff", `\ud800`, `\ufffd`, " "}
	var sb strings.Builder
	sb.WriteString(`"`)
	for range r.IntN(3) {
		sb.WriteString(parts[r.IntN(len(parts))])
	}
	return sb.String() + `"`
}

func randomSpace(r *rand.Rand) string {
	return []string{"", "", "", " ", "\n\t", "\r "}[r.IntN(6)]
}

// mutateJSON applies a few random byte edits, most of which break the
// syntax in ways a scanner could miss.
func mutateJSON(r *rand.Rand, b []byte) []byte {
	const alphabet = "{}[]\",:\\ \n\x00\x1fatrue0-.eu"
	for range r.IntN(3) {
		if len(b) == 0 {
			break
		}
		i := r.IntN(len(b))
		c := alphabet[r.IntN(len(alphabet))]
		switch r.IntN(4) {
		case 0:
			b = append(b[:i:i], b[i+1:]...)
		case 1:
			b = append(b[:i:i], append([]byte{c}, b[i:]...)...)
		case 2:
			b[i] = c
		case 3:
			b = append(b, b[:i]...) // a copy of a prefix as trailing data
		}
	}
	return b
}

// corpusInputs returns every string and []byte value of the fuzz corpora
// under testdata/fuzz, and the protected headers inside those that are JWS
// bodies.
func corpusInputs(t testing.TB) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no fuzz corpus under testdata/fuzz")
	}
	var out [][]byte
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(data)) {
			line = strings.TrimSpace(line)
			var lit string
			switch {
			case strings.HasPrefix(line, "[]byte(") && strings.HasSuffix(line, ")"):
				lit = line[len("[]byte(") : len(line)-1]
			case strings.HasPrefix(line, "string(") && strings.HasSuffix(line, ")"):
				lit = line[len("string(") : len(line)-1]
			default:
				continue
			}
			v, err := strconv.Unquote(lit)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			out = append(out, []byte(v))
			var f flattenedJWS
			if json.Unmarshal([]byte(v), &f) == nil {
				if hdr, err := base64.RawURLEncoding.DecodeString(f.Protected); err == nil {
					out = append(out, hdr)
				}
			}
		}
	}
	return out
}

// TestJSONMembersCorpus replays the fuzz corpora of the whole package
// through both implementations.
func TestJSONMembersCorpus(t *testing.T) {
	inputs := corpusInputs(t)
	for _, in := range inputs {
		if d := diffMembers(in); d != "" {
			t.Errorf("on %q: %s", in, d)
		}
		if d := diffParse(in); d != "" {
			t.Errorf("parseFlattened on %q: %s", in, d)
		}
	}
	t.Logf("%d corpus inputs agree", len(inputs))
}

// FuzzJSONMembers compares jsonMembers with the Decoder loop it replaced.
func FuzzJSONMembers(f *testing.F) {
	for _, in := range corpusInputs(f) {
		f.Add(in)
	}
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"\u0061":1,"a":2}`, `{"a":[{"b":"]}"}]}`, `{"a":"\"}`, "{\"\xff\":1}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if d := diffMembers(b); d != "" {
			t.Fatal(d)
		}
		// b as a protected header too, for the header reading that
		// follows jsonMembers in parseFlattened.
		body := []byte(`{"protected":"` + base64.RawURLEncoding.EncodeToString(b) + `","payload":"","signature":"AAAA"}`)
		if d := diffParse(body); d != "" {
			t.Fatalf("as a protected header: %s", d)
		}
	})
}

// FuzzParseFlattenedDiff compares parseFlattened with its previous
// version on request bodies: same verdict, same header.
func FuzzParseFlattenedDiff(f *testing.F) {
	for _, in := range corpusInputs(f) {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if d := diffParse(body); d != "" {
			t.Fatal(d)
		}
	})
}

// benchJWSParts returns a signed-shaped ES256 kid request body and its
// protected header, the inputs jsonMembers sees per request.
func benchJWSParts() (body, hdr []byte) {
	enc := base64.RawURLEncoding
	hdr = []byte(`{"alg":"ES256","kid":"https://acme.bench/acme/default/account/0b6f5d3e-8d0c-4bb6-9d4e-2f1a7f0e3c11","nonce":"AAAAAGnN2yR8kq3n0mQ5x0aZc9Zp1u7vXbQe","url":"https://acme.bench/acme/default/new-order"}`)
	payload := []byte(`{"identifiers":[{"type":"dns","value":"a.bench.test"}]}`)
	sig := bytes.Repeat([]byte{0xa5}, 64)
	body = []byte(`{"protected":"` + enc.EncodeToString(hdr) + `","payload":"` + enc.EncodeToString(payload) + `","signature":"` + enc.EncodeToString(sig) + `"}`)
	return body, hdr
}

// BenchmarkJSONMembers measures jsonMembers alone against the reference.
func BenchmarkJSONMembers(b *testing.B) {
	body, hdr := benchJWSParts()
	jwkHdr := []byte(`{"alg":"ES256","jwk":{"crv":"P-256","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},"nonce":"AAAAAGnN2yR8kq3n0mQ5x0aZc9Zp1u7vXbQe","url":"https://acme.bench/acme/default/new-account"}`)
	for _, in := range []struct {
		name string
		b    []byte
	}{{"body", body}, {"kidHeader", hdr}, {"jwkHeader", jwkHdr}} {
		b.Run(in.name+"/impl=scanner", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in.b)))
			for b.Loop() {
				if _, err := jsonMembers(in.b); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(in.name+"/impl=decoder", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in.b)))
			for b.Loop() {
				if _, err := jsonMembersRef(in.b); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
