package acme

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// decodeBase64URLRef is decodeBase64URL as it was: decode, then encode
// again and compare, which allocates the second encoding.
func decodeBase64URLRef(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if base64.RawURLEncoding.EncodeToString(b) != s {
		return nil, errors.New("not in canonical form")
	}
	return b, nil
}

// diffBase64 compares decodeBase64URL with the reference on s and
// describes the difference, or returns "".
func diffBase64(s string) string {
	got, gerr := decodeBase64URL(s)
	want, werr := decodeBase64URLRef(s)
	if (gerr == nil) != (werr == nil) {
		return "error " + errString(gerr) + ", reference error " + errString(werr)
	}
	if !bytes.Equal(got, want) {
		return "decoded " + strconv.Quote(string(got)) + ", reference " + strconv.Quote(string(want))
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return strconv.Quote(err.Error())
}

// base64TestAlphabet is the base64url alphabet with the characters a
// decoder might treat specially: the standard alphabet's + and /, padding,
// the CR and LF Go's decoder skips, and a space.
const base64TestAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=\r\n "

// TestDecodeBase64URLExhaustive compares the two on every string of up to
// three characters of base64TestAlphabet: every spare-bit pattern of a
// final group of 2 or 3 characters, every placement of a line break.
func TestDecodeBase64URLExhaustive(t *testing.T) {
	a := base64TestAlphabet
	check := func(s string) {
		if d := diffBase64(s); d != "" {
			t.Fatalf("%q: %s", s, d)
		}
	}
	check("")
	for i := range len(a) {
		check(a[i : i+1])
		for j := range len(a) {
			check(string([]byte{a[i], a[j]}))
			for k := range len(a) {
				check(string([]byte{a[i], a[j], a[k]}))
			}
		}
	}
}

// TestDecodeBase64URLRandom compares the two on canonical encodings of
// random bytes, then on each of them with one character changed or a line
// break inserted, and on random strings of the test alphabet.
func TestDecodeBase64URLRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := base64TestAlphabet
	accepted, refused := 0, 0
	for range 5000 {
		b := make([]byte, rng.IntN(70))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		enc := base64.RawURLEncoding.EncodeToString(b)
		variants := []string{enc, enc + "\n", "\r" + enc}
		if len(enc) > 0 {
			i := rng.IntN(len(enc))
			c := []byte(enc)
			c[i] = a[rng.IntN(len(a))]
			variants = append(variants, string(c), enc[:i]+"\n"+enc[i:], enc[:i]+"\r\n"+enc[i:], enc[:i])
			// The last character with each of its 64 values: the spare
			// bits are all that differ.
			last := []byte(enc)
			for _, v := range []byte(a[:64]) {
				last[len(last)-1] = v
				variants = append(variants, string(last))
			}
		}
		r := make([]byte, rng.IntN(12))
		for i := range r {
			r[i] = a[rng.IntN(len(a))]
		}
		variants = append(variants, string(r))
		for _, s := range variants {
			if d := diffBase64(s); d != "" {
				t.Fatalf("%q: %s", s, d)
			}
			if _, err := decodeBase64URL(s); err == nil {
				accepted++
			} else {
				refused++
			}
		}
	}
	// Not blind: both outcomes occur often.
	if accepted < 5000 || refused < 5000 {
		t.Fatalf("accepted %d, refused %d: the inputs do not exercise both outcomes", accepted, refused)
	}
}

// TestDecodeBase64URLFuzzSeeds compares the two on the seeds of the JWS
// and EAB fuzz targets: every seed value, and every string in it that is
// part of a JSON object (the JWS members, header and payload members).
func TestDecodeBase64URLFuzzSeeds(t *testing.T) {
	n := 0
	for _, target := range []string{"FuzzParseJWS", "FuzzVerifyJWS", "FuzzEAB", "FuzzPayload"} {
		files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no seeds for %s", target)
		}
		for _, f := range files {
			for _, v := range fuzzSeedValues(t, f) {
				for _, s := range base64Candidates(v) {
					n++
					if d := diffBase64(s); d != "" {
						t.Fatalf("%s: %q: %s", f, s, d)
					}
				}
			}
		}
	}
	if n < 200 {
		t.Fatalf("only %d strings compared", n)
	}
}

// fuzzSeedValues returns the string and []byte values of a seed file of
// the "go test fuzz v1" format.
func fuzzSeedValues(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		for _, prefix := range []string{"[]byte(", "string("} {
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				v, err := strconv.Unquote(strings.TrimSuffix(rest, ")"))
				if err != nil {
					t.Fatalf("%s: %v in %q", path, err, line)
				}
				out = append(out, v)
			}
		}
	}
	return out
}

// base64Candidates returns v, its dot-separated parts (a compact JWS),
// and every string inside it when it is JSON, recursively decoding the
// strings that are base64url JSON (a protected header).
func base64Candidates(v string) []string {
	out := []string{v}
	out = append(out, strings.Split(v, ".")...)
	var walk func(x any, depth int)
	walk = func(x any, depth int) {
		switch x := x.(type) {
		case string:
			out = append(out, x)
			if depth < 3 {
				if b, err := base64.RawURLEncoding.DecodeString(x); err == nil {
					var inner any
					if json.Unmarshal(b, &inner) == nil {
						walk(inner, depth+1)
					}
				}
			}
		case map[string]any:
			for k, e := range x {
				out = append(out, k)
				walk(e, depth)
			}
		case []any:
			for _, e := range x {
				walk(e, depth)
			}
		}
	}
	var j any
	if json.Unmarshal([]byte(v), &j) == nil {
		walk(j, 0)
	}
	return out
}

// FuzzDecodeBase64URLDiff compares the two on arbitrary input.
func FuzzDecodeBase64URLDiff(f *testing.F) {
	for _, s := range []string{"", "A", "AA", "AB", "AAA", "AAB", "AAAA", "AA\nAA", "AAA\n", "\r\nAAAA", "QQ", "QR", "QUI", "QUJ", "-_-_", "+/+/", "AA==", "AAA="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d := diffBase64(s); d != "" {
			t.Fatalf("%q: %s", s, d)
		}
	})
}

// TestDecodeBase64URLAllocs pins the point of the change: one allocation,
// the decoded bytes.
func TestDecodeBase64URLAllocs(t *testing.T) {
	s := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte("acmegate"), 40))
	if n := testing.AllocsPerRun(100, func() {
		if _, err := decodeBase64URL(s); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Fatalf("%v allocations per decode, want 1", n)
	}
}

// BenchmarkDecodeBase64URL compares the check with the re-encoding it
// replaced, on a member the size of an ES256 request's protected header.
func BenchmarkDecodeBase64URL(b *testing.B) {
	s := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte("acmegate"), 30))
	for _, impl := range []struct {
		name   string
		decode func(string) ([]byte, error)
	}{{"check", decodeBase64URL}, {"reencode", decodeBase64URLRef}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := impl.decode(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
