package ca

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies a backend error by what the caller should do about it.
// A Kind is itself an error, so errors.Is(err, ca.Rejected) works on any
// error that wraps an *Error of that kind.
type Kind int

// The kinds of backend error. The zero Kind is not a kind; KindOf returns it
// only for a nil error.
const (
	// Unavailable is temporary: the upstream could not be reached, timed
	// out, answered 5xx, rate-limited us, or is in maintenance. Retry later
	// with backoff (Error.RetryAfter is the upstream's hint, if any).
	Unavailable Kind = iota + 1
	// Rejected is permanent: the CA refuses this request (unknown profile,
	// validity too long, a name it will not issue for, an order the
	// upstream cancelled). The order becomes invalid with Error.Detail.
	Rejected
	// Unsupported is permanent: the backend cannot perform the operation at
	// all (polling a synchronous CA, revoking through a CA without an API
	// for it).
	Unsupported
	// AlreadyRevoked is permanent: the upstream reports the certificate is
	// already revoked (RFC 8555 §6.7 alreadyRevoked). Callers usually record
	// the revocation rather than fail.
	AlreadyRevoked
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Unavailable:
		return "unavailable"
	case Rejected:
		return "rejected"
	case Unsupported:
		return "unsupported"
	case AlreadyRevoked:
		return "already revoked"
	default:
		return fmt.Sprintf("kind(%d)", int(k))
	}
}

// Error makes a Kind usable as an errors.Is target.
func (k Kind) Error() string { return "ca: " + k.String() }

// Permanent reports whether retrying cannot change the outcome.
func (k Kind) Permanent() bool {
	return k == Rejected || k == Unsupported || k == AlreadyRevoked
}

// Error is the error a Backend returns. Detail is for the subscriber (it ends
// up in the ACME problem document); Upstream and Err are for operators.
type Error struct {
	// Kind says whether to give up or retry.
	Kind Kind
	// Detail is a human-readable explanation fit to show the ACME client.
	Detail string
	// Upstream is the upstream CA's own words (error code and message),
	// verbatim, for the order timeline and the operator; "" when the
	// backend has no upstream or the upstream said nothing.
	Upstream string
	// RetryAfter is the upstream's hint for an Unavailable error; zero means
	// the caller's own backoff.
	RetryAfter time.Duration
	// Err is the underlying cause, if any. It may be technical and is not
	// meant for the subscriber.
	Err error
}

// Errorf returns an *Error of kind k whose Detail is formatted from format and
// a. Use the Err field, not %w, to attach a cause.
func Errorf(k Kind, format string, a ...any) *Error {
	return &Error{Kind: k, Detail: fmt.Sprintf(format, a...)}
}

// Error formats the kind, the detail, the upstream's words and the cause.
func (e *Error) Error() string {
	s := e.Kind.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Upstream != "" {
		s += " (upstream: " + e.Upstream + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is e's Kind, so errors.Is(err, ca.Rejected) holds.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// KindOf returns the Kind of the first *Error in err's chain. An error that
// carries no *Error (a bug, a forgotten wrap, a cancelled context) is
// Unavailable: retrying within the caller's deadline is the safe answer to
// an error nobody classified. KindOf(nil) is the zero Kind.
func KindOf(err error) Kind {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) && e.Kind != 0 {
		return e.Kind
	}
	return Unavailable
}
