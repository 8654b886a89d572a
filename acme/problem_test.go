package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestProblemConstructors(t *testing.T) {
	cases := []struct {
		p      *Problem
		typ    ProblemType
		status int
	}{
		{AccountDoesNotExist("x"), ProblemAccountDoesNotExist, 400},
		{AlreadyRevoked("x"), ProblemAlreadyRevoked, 400},
		{BadCSR("x"), ProblemBadCSR, 400},
		{BadNonce("x"), ProblemBadNonce, 400},
		{BadPublicKey("x"), ProblemBadPublicKey, 400},
		{BadRevocationReason("x"), ProblemBadRevocationReason, 400},
		{BadSignatureAlgorithm("x"), ProblemBadSignatureAlgorithm, 400},
		{CAA("x"), ProblemCAA, 403},
		{Compound("x"), ProblemCompound, 400},
		{Connection("x"), ProblemConnection, 400},
		{DNS("x"), ProblemDNS, 400},
		{ExternalAccountRequired("x"), ProblemExternalAccountRequired, 401},
		{IncorrectResponse("x"), ProblemIncorrectResponse, 400},
		{InvalidContact("x"), ProblemInvalidContact, 400},
		{Malformed("x"), ProblemMalformed, 400},
		{OrderNotReady("x"), ProblemOrderNotReady, 403},
		{RateLimited("x"), ProblemRateLimited, 429},
		{RejectedIdentifier("x"), ProblemRejectedIdentifier, 400},
		{ServerInternal(errors.New("db down")), ProblemServerInternal, 500},
		{TLS("x"), ProblemTLS, 400},
		{Unauthorized("x"), ProblemUnauthorized, 403},
		{UnsupportedContact("x"), ProblemUnsupportedContact, 400},
		{UnsupportedIdentifier("x"), ProblemUnsupportedIdentifier, 400},
		{UserActionRequired("x"), ProblemUserActionRequired, 403},
		{InvalidProfile("x"), ProblemInvalidProfile, 400},
		{AlreadyReplaced("x"), ProblemAlreadyReplaced, 409},
	}
	for _, tc := range cases {
		t.Run(string(tc.typ), func(t *testing.T) {
			if tc.p.Type != tc.typ || tc.p.Status != tc.status {
				t.Errorf("got %s %d, want %s %d", tc.p.Type, tc.p.Status, tc.typ, tc.status)
			}
			if !strings.HasPrefix(string(tc.p.Type), "urn:ietf:params:acme:error:") {
				t.Errorf("type %q is not an ACME URN", tc.p.Type)
			}
			if got := statusFor(tc.typ); got != tc.status {
				t.Errorf("statusFor = %d, want %d", got, tc.status)
			}
		})
	}
}

func TestProblemJSONAndSubproblems(t *testing.T) {
	p := RejectedIdentifier("cannot issue").WithSubproblems(
		Malformed("bad label").WithIdentifier("dns", "a..b"),
		RejectedIdentifier("forbidden").WithIdentifier("dns", "c.example"),
	)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"cannot issue","status":400,"subproblems":[` +
		`{"type":"urn:ietf:params:acme:error:malformed","detail":"bad label","status":400,"identifier":{"type":"dns","value":"a..b"}},` +
		`{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"forbidden","status":400,"identifier":{"type":"dns","value":"c.example"}}]}`
	if string(b) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", b, want)
	}
}

func TestProblemForHidesInternalErrors(t *testing.T) {
	secret := errors.New("pq: password authentication failed for user admin")
	p := problemFor(fmt.Errorf("read order: %w", secret))
	if p.Type != ProblemServerInternal || p.Status != http.StatusInternalServerError {
		t.Fatalf("got %s %d", p.Type, p.Status)
	}
	b, _ := json.Marshal(p)
	if strings.Contains(string(b), "password") {
		t.Errorf("internal cause leaked to the client: %s", b)
	}
	if !errors.Is(p, secret) {
		t.Error("the cause is not kept for the log")
	}
	// A problem wrapped in context is sent as it is.
	inner := BadNonce("stale")
	if got := problemFor(fmt.Errorf("verify: %w", inner)); got != inner {
		t.Errorf("problemFor lost the wrapped problem: %v", got)
	}
}
