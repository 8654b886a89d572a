package acme

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/policy"
)

// problemMakers build a problem of every RFC 8555 §6.7 type from a detail
// the fuzzer chooses, through the constructors handlers use.
var problemMakers = []func(string) *Problem{
	func(d string) *Problem { return AccountDoesNotExist("%s", d) },
	func(d string) *Problem { return AlreadyRevoked("%s", d) },
	func(d string) *Problem { return BadCSR("%s", d) },
	func(d string) *Problem { return BadNonce("%s", d) },
	func(d string) *Problem { return BadPublicKey("%s", d) },
	func(d string) *Problem { return BadRevocationReason("%s", d) },
	func(d string) *Problem { return BadSignatureAlgorithm("%s", d) },
	func(d string) *Problem { return CAA("%s", d) },
	func(d string) *Problem { return Compound("%s", d) },
	func(d string) *Problem { return Connection("%s", d) },
	func(d string) *Problem { return DNS("%s", d) },
	func(d string) *Problem { return ExternalAccountRequired("%s", d) },
	func(d string) *Problem { return IncorrectResponse("%s", d) },
	func(d string) *Problem { return InvalidContact("%s", d) },
	func(d string) *Problem { return Malformed("%s", d) },
	func(d string) *Problem { return OrderNotReady("%s", d) },
	func(d string) *Problem { return RateLimited("%s", d) },
	func(d string) *Problem { return RejectedIdentifier("%s", d) },
	func(d string) *Problem { return TLS("%s", d) },
	func(d string) *Problem { return Unauthorized("%s", d) },
	func(d string) *Problem { return UnsupportedContact("%s", d) },
	func(d string) *Problem { return UnsupportedIdentifier("%s", d) },
	func(d string) *Problem { return UserActionRequired("%s", d) },
	func(d string) *Problem { return InvalidProfile("%s", d) },
	func(d string) *Problem { return AlreadyReplaced("%s", d) },
	func(d string) *Problem { return notFound(d) },
	// A server fault: the detail is the internal cause, never to be sent.
	func(d string) *Problem { return problemFor(errors.New(serverCauseMark + d)) },
	// A policy refusal, converted as the handlers convert it.
	func(d string) *Problem {
		return policyErrorProblem(&policy.Error{Kind: policy.KindRejectedIdentifier, Detail: d})
	},
}

// serverCauseMark starts every internal cause FuzzProblem makes, so it can
// tell whether one leaked into a response.
const serverCauseMark = "internal-cause:"

// FuzzProblem encodes problem documents (RFC 7807 as RFC 8555 §6.7 uses
// them) of every type, with a fuzzed detail, identifier, subproblems,
// algorithm list and Retry-After, through the server's one writer.
//
// Invariants: the response is application/problem+json with the problem's
// status (4xx or 5xx) and exactly one JSON object that decodes back to the
// same problem (strings with invalid UTF-8 come back with U+FFFD, as JSON
// requires); a server fault never shows its cause and always says when to
// retry; a stored problem reads back unchanged.
func FuzzProblem(f *testing.F) {
	s := &Server{cfg: Config{RetryAfter: 3 * time.Second}}
	f.Fuzz(func(t *testing.T, maker uint8, detail, idType, idValue, subs, algs string, retry uint16) {
		p := problemMakers[int(maker)%len(problemMakers)](detail)
		if idType != "" || idValue != "" {
			p.WithIdentifier(idType, idValue)
		}
		if subs != "" {
			for i, line := range strings.SplitN(subs, "\n", 20) {
				p.WithSubproblems(problemMakers[i%len(problemMakers)](line).WithIdentifier("dns", line))
			}
		}
		if algs != "" {
			p.Algorithms = strings.Split(algs, ",")
		}
		p.RetryAfter = time.Duration(retry) * time.Second
		_ = p.Error()
		_ = p.LogValue()

		rec := httptest.NewRecorder()
		s.writeProblem(rec, p)
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("Content-Type %q", ct)
		}
		if rec.Code != p.Status || rec.Code < 400 || rec.Code > 599 {
			t.Fatalf("HTTP status %d for a problem with status %d", rec.Code, p.Status)
		}
		if ra := rec.Header().Get("Retry-After"); rec.Code >= 500 || p.RetryAfter > 0 {
			if n, err := strconv.Atoi(ra); err != nil || n < 1 {
				t.Fatalf("Retry-After %q on a %d with RetryAfter %s", ra, rec.Code, p.RetryAfter)
			}
		}
		body := rec.Body.Bytes()
		dec := json.NewDecoder(bytes.NewReader(body))
		var got Problem
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("problem body is not JSON: %v: %q", err, body)
		}
		if dec.More() {
			t.Fatalf("problem body holds more than one JSON value: %q", body)
		}
		if p.Type == ProblemServerInternal {
			if bytes.Contains(body, []byte(serverCauseMark)) {
				t.Fatalf("a server fault's cause was sent: %q", body)
			}
		}
		if want := sentForm(p); !reflect.DeepEqual(&got, want) {
			t.Fatalf("problem did not survive encoding:\n sent %#v\n  got %#v", want, &got)
		}
		// A problem stored on an order or challenge reads back the same.
		if back := decodeProblem(body); !reflect.DeepEqual(back, &got) {
			t.Fatalf("stored problem read back as %#v, want %#v", back, &got)
		}
	})
}

// sentForm is p as a client decodes it: only the JSON fields, strings with
// each invalid UTF-8 byte replaced by U+FFFD (encoding/json does that).
func sentForm(p *Problem) *Problem {
	q := &Problem{Type: ProblemType(validUTF8(string(p.Type))), Detail: validUTF8(p.Detail), Status: p.Status}
	if p.Identifier != nil {
		q.Identifier = &Identifier{Type: validUTF8(p.Identifier.Type), Value: validUTF8(p.Identifier.Value)}
	}
	for _, s := range p.Subproblems {
		q.Subproblems = append(q.Subproblems, sentForm(s))
	}
	for _, a := range p.Algorithms {
		q.Algorithms = append(q.Algorithms, validUTF8(a))
	}
	return q
}

// validUTF8 replaces each invalid byte with U+FFFD, as a []rune conversion
// and encoding/json both do.
func validUTF8(s string) string { return string([]rune(s)) }
