package acmeproxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/ca"
)

// problemPrefix is the namespace of the RFC 8555 §6.7 error types.
const problemPrefix = "urn:ietf:params:acme:error:"

// temporaryProblems are the RFC 8555 §6.7 types that say "try again later";
// every other problem from a 4xx response is the upstream refusing.
var temporaryProblems = map[string]bool{
	"rateLimited":    true,
	"badNonce":       true, // x/crypto retries it; if it still fails, so can we
	"serverInternal": true,
}

// classify turns an error from x/crypto/acme into a *ca.Error: a refusal by
// the upstream (rejectedIdentifier, unauthorized, caa, badCSR, a failed
// authorization or an invalid order) is ca.Rejected with the upstream's
// words; network errors, 5xx, rateLimited and timeouts are ca.Unavailable.
// doing says what the backend was doing, for the detail.
func classify(err error, doing string) error {
	if err == nil {
		return nil
	}
	var ce *ca.Error
	if errors.As(err, &ce) {
		return err
	}
	var (
		pe   *acme.Error
		ae   *acme.AuthorizationError
		oe   *acme.OrderError
		kind = ca.Unavailable
		up   string
	)
	switch {
	case errors.As(err, &pe):
		up = problemString(pe)
		typ := strings.TrimPrefix(pe.ProblemType, problemPrefix)
		switch {
		case typ == "alreadyRevoked":
			kind = ca.AlreadyRevoked
		case pe.StatusCode >= 500, temporaryProblems[typ]:
			kind = ca.Unavailable
		case pe.StatusCode >= 400:
			kind = ca.Rejected
		}
		e := &ca.Error{Kind: kind, Detail: fmt.Sprintf("upstream ACME CA refused %s: %s", doing, pe.Detail), Upstream: up, Err: err}
		if kind == ca.Unavailable {
			e.Detail = fmt.Sprintf("upstream ACME CA unavailable while %s", doing)
			if d, ok := acme.RateLimit(pe); ok {
				e.RetryAfter = d
			} else if pe.Header != nil {
				e.RetryAfter = retryAfter(pe.Header.Get("Retry-After"))
			}
		}
		return e
	case errors.As(err, &ae):
		// RFC 8555 §7.5.1: the upstream could not validate the identifier.
		return &ca.Error{Kind: ca.Rejected, Detail: fmt.Sprintf("upstream ACME CA did not validate %s: %s", ae.Identifier, ae.Error()), Upstream: ae.Error(), Err: err}
	case errors.As(err, &oe):
		d := fmt.Sprintf("upstream ACME order is %s", oe.Status)
		if oe.Problem != nil {
			up = problemString(oe.Problem)
			d += ": " + oe.Problem.Detail
		}
		return &ca.Error{Kind: ca.Rejected, Detail: d, Upstream: up, Err: err}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &ca.Error{Kind: ca.Unavailable, Detail: fmt.Sprintf("timed out %s at the upstream ACME CA", doing), Err: err}
	}
	return &ca.Error{Kind: ca.Unavailable, Detail: fmt.Sprintf("upstream ACME CA unreachable while %s", doing), Err: err}
}

// problemString renders a problem and its subproblems (RFC 8555 §6.7.1) for
// the operator.
func problemString(p *acme.Error) string {
	s := p.ProblemType + ": " + p.Detail
	for _, sp := range p.Subproblems {
		s += "; " + sp.String()
	}
	return s
}

// orderProblem returns the *ca.Error for an upstream order in state invalid.
func orderProblem(o *acme.Order) error {
	return classify(&acme.OrderError{OrderURL: o.URI, Status: o.Status, Problem: o.Error}, "the order")
}

// retryAfter parses a Retry-After header in seconds or as an HTTP date
// (RFC 9110 §10.2.3); zero when absent or unparseable.
func retryAfter(v string) (d time.Duration) {
	if v == "" {
		return 0
	}
	var secs int
	if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
