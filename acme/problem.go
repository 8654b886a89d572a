package acme

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// ProblemType is an RFC 8555 §6.7 error type URN.
type ProblemType string

// Error types of RFC 8555 §6.7 (and the profiles draft's invalidProfile).
const (
	ProblemAccountDoesNotExist     ProblemType = "urn:ietf:params:acme:error:accountDoesNotExist"
	ProblemAlreadyRevoked          ProblemType = "urn:ietf:params:acme:error:alreadyRevoked"
	ProblemBadCSR                  ProblemType = "urn:ietf:params:acme:error:badCSR"
	ProblemBadNonce                ProblemType = "urn:ietf:params:acme:error:badNonce"
	ProblemBadPublicKey            ProblemType = "urn:ietf:params:acme:error:badPublicKey"
	ProblemBadRevocationReason     ProblemType = "urn:ietf:params:acme:error:badRevocationReason"
	ProblemBadSignatureAlgorithm   ProblemType = "urn:ietf:params:acme:error:badSignatureAlgorithm"
	ProblemCAA                     ProblemType = "urn:ietf:params:acme:error:caa"
	ProblemCompound                ProblemType = "urn:ietf:params:acme:error:compound"
	ProblemConnection              ProblemType = "urn:ietf:params:acme:error:connection"
	ProblemDNS                     ProblemType = "urn:ietf:params:acme:error:dns"
	ProblemExternalAccountRequired ProblemType = "urn:ietf:params:acme:error:externalAccountRequired"
	ProblemIncorrectResponse       ProblemType = "urn:ietf:params:acme:error:incorrectResponse"
	ProblemInvalidContact          ProblemType = "urn:ietf:params:acme:error:invalidContact"
	ProblemMalformed               ProblemType = "urn:ietf:params:acme:error:malformed"
	ProblemOrderNotReady           ProblemType = "urn:ietf:params:acme:error:orderNotReady"
	ProblemRateLimited             ProblemType = "urn:ietf:params:acme:error:rateLimited"
	ProblemRejectedIdentifier      ProblemType = "urn:ietf:params:acme:error:rejectedIdentifier"
	ProblemServerInternal          ProblemType = "urn:ietf:params:acme:error:serverInternal"
	ProblemTLS                     ProblemType = "urn:ietf:params:acme:error:tls"
	ProblemUnauthorized            ProblemType = "urn:ietf:params:acme:error:unauthorized"
	ProblemUnsupportedContact      ProblemType = "urn:ietf:params:acme:error:unsupportedContact"
	ProblemUnsupportedIdentifier   ProblemType = "urn:ietf:params:acme:error:unsupportedIdentifier"
	ProblemUserActionRequired      ProblemType = "urn:ietf:params:acme:error:userActionRequired"
	ProblemInvalidProfile          ProblemType = "urn:ietf:params:acme:error:invalidProfile"
	ProblemAlreadyReplaced         ProblemType = "urn:ietf:params:acme:error:alreadyReplaced"
)

// Identifier is an ACME identifier on the wire.
type Identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Problem is an RFC 7807 problem document as RFC 8555 §6.7 uses it. It is
// also an error, so domain code can return one where the precise type
// matters; everything else is mapped by problemFor at the edge.
type Problem struct {
	Type        ProblemType `json:"type"`
	Detail      string      `json:"detail,omitempty"`
	Status      int         `json:"status,omitempty"`
	Identifier  *Identifier `json:"identifier,omitempty"`
	Subproblems []*Problem  `json:"subproblems,omitempty"`
	// Algorithms lists the accepted JWS algorithms on badSignatureAlgorithm
	// (RFC 8555 §6.2).
	Algorithms []string `json:"algorithms,omitempty"`
	// RetryAfter, when set, is sent as the Retry-After header (rateLimited).
	RetryAfter time.Duration `json:"-"`
	// Location, when set, is sent as the Location header (the conflicting
	// account of a keyChange, RFC 8555 §7.3.5).
	Location string `json:"-"`
	// cause is the internal error behind a serverInternal problem: logged,
	// never sent.
	cause error
}

// Error implements error.
func (p *Problem) Error() string {
	if p.Identifier != nil {
		return fmt.Sprintf("%s: %s (%s %s)", p.Type, p.Detail, p.Identifier.Type, p.Identifier.Value)
	}
	return fmt.Sprintf("%s: %s", p.Type, p.Detail)
}

// Unwrap returns the internal cause, which is logged but never sent.
func (p *Problem) Unwrap() error { return p.cause }

// LogValue renders the problem for structured logs.
func (p *Problem) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("type", string(p.Type)), slog.String("detail", p.Detail), slog.Int("status", p.Status)}
	if p.cause != nil {
		attrs = append(attrs, slog.String("cause", p.cause.Error()))
	}
	return slog.GroupValue(attrs...)
}

// WithSubproblems attaches per-identifier problems (RFC 8555 §6.7.1).
func (p *Problem) WithSubproblems(sub ...*Problem) *Problem {
	p.Subproblems = append(p.Subproblems, sub...)
	return p
}

// WithIdentifier names the identifier a problem concerns.
func (p *Problem) WithIdentifier(typ, value string) *Problem {
	p.Identifier = &Identifier{Type: typ, Value: value}
	return p
}

func newProblem(t ProblemType, status int, format string, args ...any) *Problem {
	return &Problem{Type: t, Status: status, Detail: fmt.Sprintf(format, args...)}
}

// Constructors, one per RFC 8555 §6.7 type, with the HTTP status the RFC and
// common practice (Boulder, Pebble) give each.

// AccountDoesNotExist is 400 (RFC 8555 §7.3.1: onlyReturnExisting).
func AccountDoesNotExist(format string, a ...any) *Problem {
	return newProblem(ProblemAccountDoesNotExist, http.StatusBadRequest, format, a...)
}

// AlreadyRevoked is 400.
func AlreadyRevoked(format string, a ...any) *Problem {
	return newProblem(ProblemAlreadyRevoked, http.StatusBadRequest, format, a...)
}

// BadCSR is 400.
func BadCSR(format string, a ...any) *Problem {
	return newProblem(ProblemBadCSR, http.StatusBadRequest, format, a...)
}

// BadNonce is 400; the response always carries a fresh Replay-Nonce.
func BadNonce(format string, a ...any) *Problem {
	return newProblem(ProblemBadNonce, http.StatusBadRequest, format, a...)
}

// BadPublicKey is 400.
func BadPublicKey(format string, a ...any) *Problem {
	return newProblem(ProblemBadPublicKey, http.StatusBadRequest, format, a...)
}

// BadRevocationReason is 400.
func BadRevocationReason(format string, a ...any) *Problem {
	return newProblem(ProblemBadRevocationReason, http.StatusBadRequest, format, a...)
}

// BadSignatureAlgorithm is 400.
func BadSignatureAlgorithm(format string, a ...any) *Problem {
	return newProblem(ProblemBadSignatureAlgorithm, http.StatusBadRequest, format, a...)
}

// CAA is 403.
func CAA(format string, a ...any) *Problem {
	return newProblem(ProblemCAA, http.StatusForbidden, format, a...)
}

// Compound is 400 and carries subproblems.
func Compound(format string, a ...any) *Problem {
	return newProblem(ProblemCompound, http.StatusBadRequest, format, a...)
}

// Connection is 400.
func Connection(format string, a ...any) *Problem {
	return newProblem(ProblemConnection, http.StatusBadRequest, format, a...)
}

// DNS is 400.
func DNS(format string, a ...any) *Problem {
	return newProblem(ProblemDNS, http.StatusBadRequest, format, a...)
}

// ExternalAccountRequired is 401.
func ExternalAccountRequired(format string, a ...any) *Problem {
	return newProblem(ProblemExternalAccountRequired, http.StatusUnauthorized, format, a...)
}

// IncorrectResponse is 400.
func IncorrectResponse(format string, a ...any) *Problem {
	return newProblem(ProblemIncorrectResponse, http.StatusBadRequest, format, a...)
}

// InvalidContact is 400.
func InvalidContact(format string, a ...any) *Problem {
	return newProblem(ProblemInvalidContact, http.StatusBadRequest, format, a...)
}

// Malformed is 400.
func Malformed(format string, a ...any) *Problem {
	return newProblem(ProblemMalformed, http.StatusBadRequest, format, a...)
}

// OrderNotReady is 403 (RFC 8555 §7.4).
func OrderNotReady(format string, a ...any) *Problem {
	return newProblem(ProblemOrderNotReady, http.StatusForbidden, format, a...)
}

// RateLimited is 429.
func RateLimited(format string, a ...any) *Problem {
	return newProblem(ProblemRateLimited, http.StatusTooManyRequests, format, a...)
}

// RejectedIdentifier is 400.
func RejectedIdentifier(format string, a ...any) *Problem {
	return newProblem(ProblemRejectedIdentifier, http.StatusBadRequest, format, a...)
}

// ServerInternal is 500. Its detail is always generic; the cause is logged.
func ServerInternal(cause error) *Problem {
	p := newProblem(ProblemServerInternal, http.StatusInternalServerError, "the server could not process the request")
	p.cause = cause
	return p
}

// TLS is 400.
func TLS(format string, a ...any) *Problem {
	return newProblem(ProblemTLS, http.StatusBadRequest, format, a...)
}

// Unauthorized is 403.
func Unauthorized(format string, a ...any) *Problem {
	return newProblem(ProblemUnauthorized, http.StatusForbidden, format, a...)
}

// UnsupportedContact is 400.
func UnsupportedContact(format string, a ...any) *Problem {
	return newProblem(ProblemUnsupportedContact, http.StatusBadRequest, format, a...)
}

// UnsupportedIdentifier is 400.
func UnsupportedIdentifier(format string, a ...any) *Problem {
	return newProblem(ProblemUnsupportedIdentifier, http.StatusBadRequest, format, a...)
}

// UserActionRequired is 403.
func UserActionRequired(format string, a ...any) *Problem {
	return newProblem(ProblemUserActionRequired, http.StatusForbidden, format, a...)
}

// InvalidProfile is 400 (draft-aaron-acme-profiles).
func InvalidProfile(format string, a ...any) *Problem {
	return newProblem(ProblemInvalidProfile, http.StatusBadRequest, format, a...)
}

// AlreadyReplaced is 409 (RFC 9773 §7.4): a newOrder's "replaces" names a
// certificate another order already replaces.
func AlreadyReplaced(format string, a ...any) *Problem {
	return newProblem(ProblemAlreadyReplaced, http.StatusConflict, format, a...)
}

// notFound is a malformed 404: RFC 8555 names no type for an unknown
// resource, and Boulder and Pebble answer malformed with 404.
func notFound(what string) *Problem {
	return newProblem(ProblemMalformed, http.StatusNotFound, "%s not found", what)
}

// problemFor is the one place where errors become problem documents. A
// *Problem anywhere in the chain is sent as it is; anything else is a server
// fault whose cause is logged and never sent.
func problemFor(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	return ServerInternal(err)
}
