package validation

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzCAA decides fuzzed CAA record sets (RFC 8659, RFC 8657), one record
// per line as "flags tag value", for a fuzzed request, and compares the
// decision with a second reading of the RFCs written here: issuance is
// allowed exactly when no critical property has an unknown tag and either
// no considered property (issue, or issuewild for a wildcard that has one)
// exists or one of them is well formed, names this CA and has accounturi
// and validationmethods parameters that fit the request. A refusal is
// always a KindCAA *Error.
func FuzzCAA(f *testing.F) {
	f.Fuzz(func(t *testing.T, records string, wildcard bool, accountURI, method string) {
		set := &caaSet{identifier: "www.example.com", name: "example.com", owner: "example.com"}
		for _, line := range strings.SplitN(records, "\n", 16) {
			flag, rest, _ := strings.Cut(line, " ")
			tag, value, _ := strings.Cut(rest, " ")
			n, _ := strconv.Atoi(flag)
			set.records = append(set.records, &dns.CAA{Flag: uint8(n), Tag: tag, Value: value})
		}
		r := CAARequest{Identifier: "www.example.com", Wildcard: wildcard, Identities: []string{"CA.Example.com."}, AccountURI: accountURI, Method: method}
		err := set.authorize(r)
		if err != nil {
			var ve *Error
			if !errors.As(err, &ve) || ve.Kind != KindCAA {
				t.Fatalf("refusal is not a KindCAA *Error: %v", err)
			}
		}
		if want := caaOracle(set.records, r); want != (err == nil) {
			t.Fatalf("records %q, request %+v: allowed %v (%v), the RFC reading says %v", records, r, err == nil, err, want)
		}
	})
}

// caaOracle is an independent reading of RFC 8659 §4 and RFC 8657 for the
// identity "ca.example.com".
func caaOracle(records []*dns.CAA, r CAARequest) bool {
	var issue, wild []string
	for _, c := range records {
		switch strings.ToLower(c.Tag) {
		case "issue":
			issue = append(issue, c.Value)
		case "issuewild":
			wild = append(wild, c.Value)
		case "iodef":
		default:
			if c.Flag&0x80 != 0 {
				return false
			}
		}
	}
	considered := issue
	if r.Wildcard && len(wild) > 0 {
		considered = wild
	}
	if len(considered) == 0 {
		return true
	}
	for _, v := range considered {
		if oracleAuthorizes(v, r) {
			return true
		}
	}
	return false
}

func oracleAuthorizes(value string, r CAARequest) bool {
	parts := strings.Split(value, ";")
	if strings.ToLower(strings.Trim(parts[0], " \t")) != "ca.example.com" {
		return false
	}
	for _, p := range parts[1:] {
		p = strings.Trim(p, " \t")
		if p == "" {
			continue
		}
		tag, val, ok := strings.Cut(p, "=")
		tag, val = strings.Trim(tag, " \t"), strings.Trim(val, " \t")
		if !ok || !oracleLabel(tag, false) {
			return false
		}
		for _, c := range []byte(val) {
			if c < 0x21 || c > 0x7e {
				return false
			}
		}
		switch strings.ToLower(tag) {
		case "accounturi":
			if val != r.AccountURI {
				return false
			}
		case "validationmethods":
			methods := strings.Split(val, ",")
			for _, m := range methods {
				if !oracleLabel(m, true) {
					return false
				}
			}
			if !slices.Contains(methods, r.Method) {
				return false
			}
		}
	}
	return true
}

// oracleLabel: (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT)), or with
// edgeHyphens 1*(ALPHA / DIGIT / "-").
func oracleLabel(s string, edgeHyphens bool) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && !(c == '-' && (edgeHyphens || (i > 0 && i < len(s)-1))) {
			return false
		}
	}
	return true
}
