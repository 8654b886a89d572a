package policy

import (
	"fmt"
	"strings"
)

// Kind is the RFC 8555 §6.7 error type of a policy decision, without the
// "urn:ietf:params:acme:error:" prefix.
type Kind string

// Kinds of refusal. The acme package maps each one to the problem type of the
// same name.
const (
	// KindMalformed: the identifier or request is not well formed.
	KindMalformed Kind = "malformed"
	// KindRejectedIdentifier: the identifier is well formed but the server
	// will not issue for it.
	KindRejectedIdentifier Kind = "rejectedIdentifier"
	// KindUnsupportedIdentifier: the identifier type is unknown.
	KindUnsupportedIdentifier Kind = "unsupportedIdentifier"
	// KindCompound: several identifiers are refused for different reasons;
	// the subproblems say which (RFC 8555 §6.7).
	KindCompound Kind = "compound"
	// KindBadCSR: the finalize CSR is unacceptable.
	KindBadCSR Kind = "badCSR"
	// KindBadPublicKey: an account key is not supported.
	KindBadPublicKey Kind = "badPublicKey"
)

// Error is a refusal with a precise reason. When it concerns one identifier,
// Identifier names it as the client sent it. A refusal of several
// identifiers carries one sub-error per refused identifier in Sub, which
// the acme package sends as RFC 8555 §6.7.1 subproblems.
type Error struct {
	Kind Kind
	// Detail is the reason, written for the subscriber. It never contains
	// secrets.
	Detail string
	// Identifier is the identifier this error concerns, if any.
	Identifier *Identifier
	// Sub holds one error per refused identifier.
	Sub []*Error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Identifier != nil {
		return fmt.Sprintf("%s: %s %q: %s", e.Kind, e.Identifier.Type, e.Identifier.Value, e.Detail)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Detail)
}

// newError builds an *Error with a formatted detail.
func newError(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Detail: fmt.Sprintf(format, args...)}
}

// maxDetailed is how many refused identifiers the top-level detail spells
// out before referring the reader to the subproblems.
const maxDetailed = 3

// combine folds per-identifier refusals into one error. RFC 8555 §6.7.1:
// the top-level problem describes the request, and each subproblem names
// the identifier that caused it. The top-level kind is the sub-errors' kind
// when they agree, and compound otherwise. The sub-errors are kept even when
// there is only one, so that the client always learns which identifier
// failed from a machine-readable field.
func combine(sub []*Error) *Error {
	kind := sub[0].Kind
	parts := make([]string, 0, min(len(sub), maxDetailed))
	for i, s := range sub {
		if s.Kind != kind {
			kind = KindCompound
		}
		if i < maxDetailed {
			parts = append(parts, fmt.Sprintf("%q: %s", s.Identifier.Value, s.Detail))
		}
	}
	detail := "cannot issue for " + strings.Join(parts, "; ")
	if more := len(sub) - maxDetailed; more > 0 {
		detail += fmt.Sprintf(" (and %d more; see the subproblems)", more)
	}
	return &Error{Kind: kind, Detail: detail, Sub: sub}
}
