package policy

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// Glob labels of a pattern.
const (
	globOne  = "*"  // exactly one label
	globMany = "**" // one or more labels
)

// pattern is a compiled AllowedPatterns or DeniedPatterns entry: its labels,
// left to right, each a glob or a normalised literal label.
type pattern struct {
	text   string // as normalised, for messages
	labels []string
}

// compilePatterns compiles the entries of a Config field.
func compilePatterns(field string, entries []string) ([]pattern, error) {
	out := make([]pattern, 0, len(entries))
	for _, e := range entries {
		pt, err := compilePattern(e)
		if err != nil {
			return nil, fmt.Errorf("policy: %s: %q: %w", field, e, err)
		}
		out = append(out, pt)
	}
	return out, nil
}

// compilePattern checks one pattern and normalises its literal labels as
// domains are (lower case, A-labels), so that matching compares strings.
func compilePattern(entry string) (pattern, error) {
	// One trailing dot is the root's, as in a zone file.
	text := strings.TrimSuffix(entry, ".")
	if text == "" {
		return pattern{}, errors.New("the pattern is empty")
	}
	labels := strings.Split(text, ".")
	for i, label := range labels {
		switch {
		case label == globOne || label == globMany:
			continue
		case strings.Contains(label, "*"):
			return pattern{}, fmt.Errorf("the label %q mixes \"*\" with other characters; \"*\" and \"**\" must be whole labels", label)
		case label == "":
			return pattern{}, errors.New("the pattern contains an empty label")
		}
		if !isASCII(label) {
			alabel, err := idna.Lookup.ToASCII(label)
			if err != nil {
				return pattern{}, fmt.Errorf("the label %q contains non-ASCII characters and has no valid A-label form", label)
			}
			label = alabel
		}
		label = strings.ToLower(label)
		if err := wellFormedLabel(label); err != nil {
			return pattern{}, errors.New(err.Detail)
		}
		labels[i] = label
	}
	return pattern{text: strings.Join(labels, "."), labels: labels}, nil
}

// matches reports whether the labels of a DNS identifier match the pattern.
//
// The leftmost label of a wildcard identifier is "*", standing for any one
// label. When covered is false (allow-lists), it is matched only by a glob,
// so the identifier matches only when every name it covers does. When
// covered is true (deny-lists), it is matched by any pattern label, so the
// identifier matches when some name it covers does.
func (pt pattern) matches(name []string, covered bool) bool {
	// Dynamic programming over suffixes, right to left, in O(len(pattern)
	// × len(name)): next[j] says whether the pattern's labels after the
	// current one match name[j:]. Backtracking over "**" could take
	// exponential time on a pattern with several of them.
	next := make([]bool, len(name)+1)
	cur := make([]bool, len(name)+1)
	next[len(name)] = true // no pattern left matches no name left
	for i := len(pt.labels) - 1; i >= 0; i-- {
		cur[len(name)] = false // a pattern label needs a name label
		for j := len(name) - 1; j >= 0; j-- {
			switch pl := pt.labels[i]; pl {
			case globMany:
				// Take name[j] and either stop here or take more.
				cur[j] = next[j+1] || cur[j+1]
			case globOne:
				cur[j] = next[j+1]
			default:
				cur[j] = (name[j] == pl || covered && name[j] == globOne) && next[j+1]
			}
		}
		next, cur = cur, next
	}
	return next[0]
}

// matching returns the first of patterns that name matches.
func matching(patterns []pattern, name []string, covered bool) (pattern, bool) {
	for _, pt := range patterns {
		if pt.matches(name, covered) {
			return pt, true
		}
	}
	return pattern{}, false
}

// patternTexts lists patterns for a message.
func patternTexts(patterns []pattern) []string {
	out := make([]string, len(patterns))
	for i, pt := range patterns {
		out[i] = pt.text
	}
	return out
}
