package acme

import (
	"errors"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/policy"
)

// policyProblem turns a policy refusal into its problem document, with one
// subproblem per refused identifier (RFC 8555 §6.7.1).
func policyProblem(err error) error {
	var pe *policy.Error
	if !errors.As(err, &pe) {
		return err
	}
	return policyErrorProblem(pe)
}

func policyErrorProblem(pe *policy.Error) *Problem {
	t := ProblemType("urn:ietf:params:acme:error:" + string(pe.Kind))
	p := &Problem{Type: t, Status: statusFor(t), Detail: pe.Detail}
	if pe.Identifier != nil {
		p.Identifier = &Identifier{Type: string(pe.Identifier.Type), Value: pe.Identifier.Value}
	}
	for _, sub := range pe.Sub {
		p.Subproblems = append(p.Subproblems, policyErrorProblem(sub))
	}
	return p
}

// caProblem reports whether a backend error is a permanent refusal and, if
// so, the problem that makes the order invalid with the upstream's reason.
func caProblem(err error) (*Problem, bool) {
	var ce *ca.Error
	if !errors.As(err, &ce) || !ce.Kind.Permanent() {
		return nil, false
	}
	if ce.Kind == ca.AlreadyRevoked {
		return AlreadyRevoked("the certificate authority reports the certificate is already revoked: %s", ce.Detail), true
	}
	return Unauthorized("the certificate authority refused the request: %s", ce.Detail), true
}

// publicCause is the part of a backend error that may be shown to a
// subscriber: a backend's own detail, never an internal error's text.
func publicCause(err error) string {
	var ce *ca.Error
	if errors.As(err, &ce) {
		return ce.Detail
	}
	return "the certificate authority is unavailable"
}
