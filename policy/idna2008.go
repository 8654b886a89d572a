package policy

import (
	"fmt"
	"unicode"
)

// golang.org/x/net/idna implements UTS #46, which is more permissive than
// IDNA2008: it treats the code points UTS #46 marks NV8 and XV8 ("valid, but
// not in IDNA2008": symbols, punctuation, emoji) as valid, so
// idna.Registration.ToUnicode decodes "xn--ls8h" to U+1F4A9 PILE OF POO
// without complaint. RFC 5891 §5.4 requires a registry (and RFC 8555 §7.1.4
// a CA) to accept only U-labels of PVALID code points and of CONTEXTJ and
// CONTEXTO code points whose rule holds. This file computes the RFC 5892
// derived property from the standard library's Unicode tables and applies
// the CONTEXTO rules of RFC 5892 Appendix A; x/net/idna keeps the checks it
// does implement (NFC, hyphens, leading marks, CONTEXTJ, bidi).

// idnaProperty is an RFC 5892 §2 derived property value. UNASSIGNED is folded
// into disallowed: both refuse the code point.
type idnaProperty int

const (
	idnaDisallowed idnaProperty = iota
	idnaPValid
	idnaContextJ
	idnaContextO
)

// idna2008Property derives the IDNA2008 property of r (RFC 5892 §3), in the
// order the RFC gives its rules. Two rules are left to the UTS #46 check that
// runs first: Unstable (§2.2, NFKC_Casefold changes the code point), because
// idna.Registration refuses every code point UTS #46 maps, and that mapping
// is NFKC_Casefold; and BackwardCompatible (§2.7), which is empty.
func idna2008Property(r rune) idnaProperty {
	// §2.6 Exceptions (table F.1).
	switch r {
	case 0x00DF, 0x03C2, 0x06FD, 0x06FE, 0x0F0B, 0x3007:
		return idnaPValid
	case 0x00B7, 0x0375, 0x05F3, 0x05F4, 0x30FB:
		return idnaContextO
	case 0x0640, 0x07FA, 0x302E, 0x302F, 0x3031, 0x3032, 0x3033, 0x3034, 0x3035, 0x303B:
		return idnaDisallowed
	}
	switch {
	case isArabicIndicDigit(r), isExtendedArabicIndicDigit(r):
		return idnaContextO
	// §2.5 LDH.
	case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '-':
		return idnaPValid
	// §2.8 JoinControl: ZWNJ and ZWJ, whose rules x/net/idna checks.
	case unicode.Is(unicode.Join_Control, r):
		return idnaContextJ
	// §2.3 IgnorableProperties: Default_Ignorable_Code_Point (derived from
	// Other_Default_Ignorable_Code_Point, Cf and Variation_Selector; Cf
	// never passes LetterDigits below), White_Space and
	// Noncharacter_Code_Point.
	case unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector, unicode.White_Space, unicode.Noncharacter_Code_Point):
		return idnaDisallowed
	// §2.4 IgnorableBlocks: Combining Diacritical Marks for Symbols,
	// Musical Symbols, Ancient Greek Musical Notation.
	case 0x20D0 <= r && r <= 0x20FF, 0x1D100 <= r && r <= 0x1D24F:
		return idnaDisallowed
	// §2.9 OldHangulJamo: Hangul_Syllable_Type L, V or T, which fill the
	// Hangul Jamo block and its Extended-A and -B blocks (the rest of
	// those is unassigned).
	case 0x1100 <= r && r <= 0x11FF, 0xA960 <= r && r <= 0xA97F, 0xD7B0 <= r && r <= 0xD7FF:
		return idnaDisallowed
	// §2.1 LetterDigits. Unassigned code points (§2.10) have no category
	// and fall through.
	case unicode.In(r, unicode.Ll, unicode.Lu, unicode.Lo, unicode.Nd, unicode.Lm, unicode.Mn, unicode.Mc):
		return idnaPValid
	}
	return idnaDisallowed
}

func isArabicIndicDigit(r rune) bool         { return 0x0660 <= r && r <= 0x0669 }
func isExtendedArabicIndicDigit(r rune) bool { return 0x06F0 <= r && r <= 0x06F9 }

// idna2008Refusal returns why the U-label u is not valid under IDNA2008, or
// "" when every code point is PVALID, CONTEXTJ (checked by x/net/idna) or
// CONTEXTO with its rule satisfied.
func idna2008Refusal(u string) string {
	label := []rune(u)
	for i, r := range label {
		switch idna2008Property(r) {
		case idnaPValid, idnaContextJ:
		case idnaContextO:
			if where := contextORule(label, i); where != "" {
				return fmt.Sprintf("%U is allowed only %s (RFC 5892 Appendix A)", r, where)
			}
		default:
			return fmt.Sprintf("IDNA2008 does not allow %U in a domain name (RFC 5892)", r)
		}
	}
	return ""
}

// contextORule applies the CONTEXTO rule of label[i] (RFC 5892 Appendix A.3
// to A.9) and returns where the code point is allowed when the rule fails,
// or "".
func contextORule(label []rune, i int) string {
	r := label[i]
	switch {
	case r == 0x00B7: // A.3 MIDDLE DOT: Catalan "l·l".
		if i > 0 && i < len(label)-1 && label[i-1] == 'l' && label[i+1] == 'l' {
			return ""
		}
		return `between two "l"`
	case r == 0x0375: // A.4 GREEK LOWER NUMERAL SIGN (KERAIA).
		if i < len(label)-1 && unicode.Is(unicode.Greek, label[i+1]) {
			return ""
		}
		return "before a Greek character"
	case r == 0x05F3 || r == 0x05F4: // A.5, A.6 HEBREW GERESH, GERSHAYIM.
		if i > 0 && unicode.Is(unicode.Hebrew, label[i-1]) {
			return ""
		}
		return "after a Hebrew character"
	case r == 0x30FB: // A.7 KATAKANA MIDDLE DOT (whose own script is Common).
		for _, c := range label {
			if unicode.In(c, unicode.Hiragana, unicode.Katakana, unicode.Han) {
				return ""
			}
		}
		return "in a label with Hiragana, Katakana or Han characters"
	case isArabicIndicDigit(r): // A.8: the two digit sets do not mix.
		for _, c := range label {
			if isExtendedArabicIndicDigit(c) {
				return "in a label without Extended Arabic-Indic digits"
			}
		}
		return ""
	case isExtendedArabicIndicDigit(r): // A.9.
		for _, c := range label {
			if isArabicIndicDigit(c) {
				return "in a label without Arabic-Indic digits"
			}
		}
		return ""
	}
	return "nowhere: no rule is defined for it"
}
