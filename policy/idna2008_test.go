package policy

import (
	"strings"
	"testing"
)

func TestIDNA2008Property(t *testing.T) {
	t.Parallel()
	tests := []struct {
		r    rune
		want idnaProperty
	}{
		{'a', idnaPValid},
		{'7', idnaPValid},
		{'-', idnaPValid},
		{'ü', idnaPValid},              // Ll
		{'中', idnaPValid},              // Lo
		{'\u0301', idnaPValid},         // Mn, COMBINING ACUTE ACCENT
		{'\u0903', idnaPValid},         // Mc, DEVANAGARI SIGN VISARGA
		{'\u02B0', idnaPValid},         // Lm, MODIFIER LETTER SMALL H
		{'\u0967', idnaPValid},         // Nd, DEVANAGARI DIGIT ONE
		{'\u00DF', idnaPValid},         // exception: sharp s
		{'\u06FD', idnaPValid},         // exception: an So made PVALID
		{'\u3007', idnaPValid},         // exception: an Nl made PVALID
		{'\u200C', idnaContextJ},       // ZWNJ
		{'\u200D', idnaContextJ},       // ZWJ
		{'\u00B7', idnaContextO},       // MIDDLE DOT
		{'\u0661', idnaContextO},       // ARABIC-INDIC DIGIT ONE
		{'\u06F1', idnaContextO},       // EXTENDED ARABIC-INDIC DIGIT ONE
		{'\u30FB', idnaContextO},       // KATAKANA MIDDLE DOT
		{'\U0001F4A9', idnaDisallowed}, // So, the emoji of the finding
		{'\u2764', idnaDisallowed},     // So
		{'\u0640', idnaDisallowed},     // exception: ARABIC TATWEEL is Lm
		{'\u302E', idnaDisallowed},     // exception: HANGUL SINGLE DOT TONE MARK is Mc
		{'\u034F', idnaDisallowed},     // COMBINING GRAPHEME JOINER: Mn but default ignorable
		{'\uFE0F', idnaDisallowed},     // VARIATION SELECTOR-16: Mn but default ignorable
		{'\u3000', idnaDisallowed},     // IDEOGRAPHIC SPACE
		{'\uFDD0', idnaDisallowed},     // noncharacter
		{'\u20DD', idnaDisallowed},     // Me in Combining Diacritical Marks for Symbols
		{'\U0001D165', idnaDisallowed}, // Mc in Musical Symbols
		{'\u1100', idnaDisallowed},     // old Hangul jamo (Lo)
		{'\uD7B0', idnaDisallowed},     // old Hangul jamo, Extended-B (Lo)
		{'\u2160', idnaDisallowed},     // Nl, ROMAN NUMERAL ONE
		{'\u00B2', idnaDisallowed},     // No, SUPERSCRIPT TWO
		{'_', idnaDisallowed},
		{'\u0378', idnaDisallowed}, // unassigned
		{'\uE000', idnaDisallowed}, // private use
		{'\u00AD', idnaDisallowed}, // Cf, SOFT HYPHEN
	}
	for _, tc := range tests {
		if got := idna2008Property(tc.r); got != tc.want {
			t.Errorf("idna2008Property(%U) = %d, want %d", tc.r, got, tc.want)
		}
	}
}

// TestIDNA2008Refusal covers the contextual rules (RFC 5892 Appendix A),
// including those the bidi rule hides from CheckIdentifiers.
func TestIDNA2008Refusal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		u    string
		want string // substring of the reason; "" when valid
	}{
		{u: "bücher"},
		{u: "col·lecció"},
		{u: "͵α"},
		{u: "א׳"},
		{u: "א״"},
		{u: "ア・イ"},
		{u: "中・"},
		{u: "ب١٢"},
		{u: "ب۱۲"},
		{u: "a\u200db"}, // CONTEXTJ is left to x/net/idna
		{u: "💩", want: "IDNA2008 does not allow U+1F4A9"},
		{u: "ab💩", want: "U+1F4A9"},
		{u: "a·b", want: `U+00B7 is allowed only between two "l"`},
		{u: "l·", want: `U+00B7 is allowed only between two "l"`},
		{u: "·l", want: `U+00B7 is allowed only between two "l"`},
		{u: "α͵", want: "U+0375 is allowed only before a Greek character"},
		{u: "͵a", want: "U+0375 is allowed only before a Greek character"},
		{u: "׳א", want: "U+05F3 is allowed only after a Hebrew character"},
		{u: "a״", want: "U+05F4 is allowed only after a Hebrew character"},
		{u: "・", want: "U+30FB is allowed only in a label with Hiragana, Katakana or Han characters"},
		{u: "١۱", want: "U+0661 is allowed only in a label without Extended Arabic-Indic digits"},
		{u: "۱١", want: "U+06F1 is allowed only in a label without Arabic-Indic digits"},
	}
	for _, tc := range tests {
		got := idna2008Refusal(tc.u)
		switch {
		case tc.want == "" && got != "":
			t.Errorf("idna2008Refusal(%q) = %q, want valid", tc.u, got)
		case tc.want != "" && !strings.Contains(got, tc.want):
			t.Errorf("idna2008Refusal(%q) = %q, want it to contain %q", tc.u, got, tc.want)
		}
	}
}
