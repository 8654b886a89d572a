package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// step is one timed part of an issuance.
type step int

const (
	stepNewOrder   step = iota // POST newOrder
	stepAuthz                  // POST-as-GET of every authorization
	stepChallenge              // respond, POST the challenge, poll the authorization until valid
	stepFinalize               // POST finalize with the CSR
	stepWaitIssued             // poll the order until valid (0 when finalize returned it valid)
	stepDownload               // POST-as-GET of the certificate chain
	numSteps
)

// stepNames are the keys of Report.Steps.
var stepNames = [numSteps]string{"new_order", "authz", "challenge", "finalize", "wait_issued", "download"}

// Resource statuses (RFC 8555 §7.1.6).
const (
	statusValid   = "valid"
	statusInvalid = "invalid"
)

type identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type orderDoc struct {
	Status         string   `json:"status"`
	Authorizations []string `json:"authorizations"`
	Finalize       string   `json:"finalize"`
	Certificate    string   `json:"certificate"`
	Error          *problem `json:"error"`
}

type challengeDoc struct {
	Type   string   `json:"type"`
	URL    string   `json:"url"`
	Token  string   `json:"token"`
	Status string   `json:"status"`
	Error  *problem `json:"error"`
}

type authzDoc struct {
	Status     string         `json:"status"`
	Identifier identifier     `json:"identifier"`
	Challenges []challengeDoc `json:"challenges"`
}

// flowError is a failure the client found itself (no problem document).
type flowError struct {
	kind string // acmebench:protocol, acmebench:verify, ...
	err  error
}

func (e *flowError) Error() string { return e.kind + ": " + e.err.Error() }
func (e *flowError) Unwrap() error { return e.err }

func protocolErr(format string, args ...any) error {
	return &flowError{kind: "acmebench:protocol", err: fmt.Errorf(format, args...)}
}

// errorType names the kind of a failed flow for Report.Errors: the
// problem type when the server sent one.
func errorType(err error) string {
	var p *problem
	var fe *flowError
	switch {
	case errors.As(err, &p):
		return p.Type
	case errors.As(err, &fe):
		return fe.kind
	case errors.Is(err, context.DeadlineExceeded):
		return "acmebench:timeout"
	case errors.Is(err, context.Canceled):
		return "acmebench:canceled"
	default:
		return "acmebench:transport"
	}
}

// flowResult is the outcome of one issuance.
type flowResult struct {
	total time.Duration
	steps [numSteps]time.Duration
	err   error
}

// csrFor makes a fresh CSR for name, signed by key, or by a fresh P-256
// key when key is nil. It runs before the flow's clock starts. RSA keys are
// made once per worker instead (as a client reusing its key on renewal
// does): generating a 2048-bit key takes the client tens of milliseconds
// of the CPU it shares with the server.
func csrFor(name string, key crypto.Signer) ([]byte, error) {
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("certificate key: %w", err)
		}
		key = k
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, key)
	if err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	return der, nil
}

// flowEnv is what every flow of a run shares.
type flowEnv struct {
	mode         string
	resp         *responders
	roots        *x509.CertPool // nil: the chain is checked for names only
	pollInterval time.Duration
	maxRetryWait time.Duration
	ctr          *counters
}

// issue runs one complete issuance for name with the prepared CSR.
func (e *flowEnv) issue(ctx context.Context, c *client, name string, csr []byte) flowResult {
	var res flowResult
	start := time.Now()
	mark := start
	lap := func(s step) {
		now := time.Now()
		res.steps[s] = now.Sub(mark)
		mark = now
	}
	chain, err := e.run(ctx, c, name, csr, lap)
	res.total = time.Since(start)
	if err == nil {
		err = verifyChain(chain, name, e.roots)
	}
	res.err = err
	return res
}

// run is the flow proper; lap closes each step.
func (e *flowEnv) run(ctx context.Context, c *client, name string, csr []byte, lap func(step)) ([]byte, error) {
	payload, err := json.Marshal(map[string]any{"identifiers": []identifier{{Type: "dns", Value: name}}})
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, c.dir.NewOrder, payload)
	if err != nil {
		return nil, fmt.Errorf("newOrder: %w", err)
	}
	orderURL := resp.header.Get("Location")
	var order orderDoc
	if err := json.Unmarshal(resp.body, &order); err != nil || orderURL == "" {
		return nil, protocolErr("newOrder: bad order (Location %q): %v", orderURL, err)
	}
	lap(stepNewOrder)

	authzs := make([]authzDoc, len(order.Authorizations))
	for i, u := range order.Authorizations {
		if err := c.getJSON(ctx, u, &authzs[i]); err != nil {
			return nil, fmt.Errorf("authorization: %w", err)
		}
	}
	lap(stepAuthz)

	for i, az := range authzs {
		if err := e.validate(ctx, c, order.Authorizations[i], az); err != nil {
			return nil, err
		}
	}
	lap(stepChallenge)

	payload, err = json.Marshal(map[string]string{"csr": base64.RawURLEncoding.EncodeToString(csr)})
	if err != nil {
		return nil, err
	}
	if resp, err = c.post(ctx, order.Finalize, payload); err != nil {
		return nil, fmt.Errorf("finalize: %w", err)
	}
	if err := json.Unmarshal(resp.body, &order); err != nil {
		return nil, protocolErr("finalize: bad order: %v", err)
	}
	lap(stepFinalize)

	if order.Status != statusValid || order.Certificate == "" {
		if err := e.poll(ctx, c, orderURL, resp.header, &order, func() string { return order.Status }); err != nil {
			return nil, fmt.Errorf("order: %w", err)
		}
		if order.Status != statusValid {
			return nil, orderFailure(&order)
		}
	}
	lap(stepWaitIssued)

	resp, err = c.postAccept(ctx, order.Certificate, nil, "application/pem-certificate-chain")
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	lap(stepDownload)
	return resp.body, nil
}

// validate brings one authorization to valid with the run's challenge
// mode. Like lego, it takes a challenge returned valid as the
// authorization's validity (one valid challenge makes the authorization
// valid, RFC 8555 §7.1.6) and polls the authorization only otherwise.
func (e *flowEnv) validate(ctx context.Context, c *client, authzURL string, az authzDoc) error {
	if az.Status == statusValid {
		return nil
	}
	if az.Status != "pending" {
		return protocolErr("authorization for %s is %s", az.Identifier.Value, az.Status)
	}
	want := e.mode
	if want == challengeNone {
		// An always-valid server still waits for a challenge to be
		// answered; nothing is published.
		want = challengeHTTP01
	}
	idx := slices.IndexFunc(az.Challenges, func(ch challengeDoc) bool { return ch.Type == want })
	if idx < 0 && e.mode == challengeNone && len(az.Challenges) > 0 {
		idx = 0
	}
	if idx < 0 {
		return protocolErr("authorization for %s offers no %s challenge", az.Identifier.Value, want)
	}
	ch := az.Challenges[idx]
	keyAuth := c.keyAuthorization(ch.Token)
	switch e.mode {
	case challengeHTTP01:
		e.resp.setHTTP(ch.Token, keyAuth)
		defer e.resp.deleteHTTP(ch.Token)
	case challengeDNS01:
		sum := sha256.Sum256([]byte(keyAuth))
		e.resp.setTXT(az.Identifier.Value, base64.RawURLEncoding.EncodeToString(sum[:]))
		defer e.resp.deleteTXT(az.Identifier.Value)
	}
	resp, err := c.post(ctx, ch.URL, []byte("{}"))
	if err != nil {
		return fmt.Errorf("challenge: %w", err)
	}
	var got challengeDoc
	if err := json.Unmarshal(resp.body, &got); err != nil {
		return protocolErr("challenge: %v", err)
	}
	switch got.Status {
	case statusValid:
		return nil
	case statusInvalid:
		return challengeFailure(az.Identifier.Value, got.Error)
	}
	if err := e.poll(ctx, c, authzURL, resp.header, &az, func() string { return az.Status }); err != nil {
		return fmt.Errorf("authorization: %w", err)
	}
	if az.Status != statusValid {
		for _, ch := range az.Challenges {
			if ch.Error != nil {
				return challengeFailure(az.Identifier.Value, ch.Error)
			}
		}
		return protocolErr("authorization for %s ended %s", az.Identifier.Value, az.Status)
	}
	return nil
}

// poll fetches url into v until status() is valid or invalid. Before each
// fetch it waits the Retry-After of the previous response when there is one
// (RFC 8555 §7.5.1, §7.4); otherwise the first fetch goes at once (as
// x/crypto/acme's WaitAuthorization and WaitOrder do) and later ones after
// the fixed poll interval, so every server is polled alike.
func (e *flowEnv) poll(ctx context.Context, c *client, url string, prev http.Header, v any, status func() string) error {
	for first := true; ; first = false {
		wait, ok := retryAfter(prev, time.Now())
		if !ok {
			wait = e.pollInterval
			if first {
				wait = 0
			}
		}
		if wait > e.maxRetryWait {
			return protocolErr("Retry-After %v exceeds -max-retry-wait", wait)
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		e.ctr.polls.Add(1)
		resp, err := c.post(ctx, url, nil)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(resp.body, v); err != nil {
			return protocolErr("poll %s: %v", url, err)
		}
		if s := status(); s == statusValid || s == statusInvalid {
			return nil
		}
		prev = resp.header
	}
}

// getJSON is a POST-as-GET decoded into v.
func (c *client) getJSON(ctx context.Context, url string, v any) error {
	resp, err := c.post(ctx, url, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.body, v); err != nil {
		return protocolErr("%s: %v", url, err)
	}
	return nil
}

func challengeFailure(name string, p *problem) error {
	if p == nil {
		return protocolErr("challenge for %s invalid without an error", name)
	}
	return fmt.Errorf("challenge for %s: %w", name, p)
}

func orderFailure(o *orderDoc) error {
	if o.Error != nil {
		return fmt.Errorf("order invalid: %w", o.Error)
	}
	return protocolErr("order ended %s", o.Status)
}

// verifyChain checks the downloaded PEM chain: the leaf names exactly
// name, and it verifies to roots when roots are given.
func verifyChain(chainPEM []byte, name string, roots *x509.CertPool) error {
	var certs []*x509.Certificate
	for rest := chainPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return &flowError{kind: "acmebench:verify", err: fmt.Errorf("parse chain: %w", err)}
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return &flowError{kind: "acmebench:verify", err: errors.New("no certificate in the chain")}
	}
	leaf := certs[0]
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != name {
		return &flowError{kind: "acmebench:verify", err: fmt.Errorf("leaf names %v, want [%s]", leaf.DNSNames, name)}
	}
	if roots == nil {
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return &flowError{kind: "acmebench:verify", err: err}
	}
	return nil
}
