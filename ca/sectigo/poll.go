package sectigo

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/acmegate/acmegate/ca"
)

// Poll reports on the enrollment ref (an sslId that Issue returned): still
// pending, issued (the chain, leaf first, without the root), or refused.
func (b *Backend) Poll(ctx context.Context, ref string) (ca.IssueResult, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(ref), 10, 64)
	if err != nil || id <= 0 {
		return ca.IssueResult{}, ca.Errorf(ca.Rejected, "%q is not a Sectigo certificate id", ref)
	}
	d, err := b.details(ctx, id)
	if err != nil {
		return ca.IssueResult{}, err
	}
	return b.progress(ctx, id, d)
}

// details reads GET /api/ssl/v1/{sslId} (upstream-apis.md §1.5).
func (b *Backend) details(ctx context.Context, id int64) (*details, error) {
	var d details
	err := b.c.call(ctx, "read the certificate request", http.MethodGet, "/api/ssl/v1/"+strconv.FormatInt(id, 10), nil, nil, &d)
	if err != nil {
		var e *ca.Error
		if hasCode(err, codeWrongSSLID, codeCertNotFound) && errors.As(err, &e) {
			e.Kind = ca.Rejected
			e.Detail = fmt.Sprintf("Sectigo Certificate Manager has no certificate request %d", id)
		}
		return nil, err
	}
	return &d, nil
}

// progress turns an enrollment's details into a result. upstream-apis.md
// §1.5: keep polling on any status but the final ones, and decide issuance
// by a successful collect rather than by the status alone.
func (b *Backend) progress(ctx context.Context, id int64, d *details) (ca.IssueResult, error) {
	ref := strconv.FormatInt(id, 10)
	status := strings.TrimSpace(string(d.Status))
	reason := b.c.redact(oneLine(d.Reason, 512))
	switch normalizeStatus(status) {
	case "declined", "rejected", "invalid":
		detail := fmt.Sprintf("Sectigo Certificate Manager %s the request", strings.ToLower(status))
		if reason != "" {
			detail += ": " + reason
		}
		return ca.IssueResult{}, &ca.Error{Kind: ca.Rejected, Detail: detail, Upstream: upstreamStatus(status, reason)}
	case "revoked", "expired", "replaced":
		return ca.IssueResult{}, &ca.Error{
			Kind:     ca.Rejected,
			Detail:   fmt.Sprintf("the certificate was %s in Sectigo Certificate Manager before acmegate collected it", strings.ToLower(status)),
			Upstream: upstreamStatus(status, reason),
		}
	case "requested", "awaitingapproval", "notenrolled", "init":
		// Waiting for an SCM administrator to approve, which can take
		// hours; collecting now would only be told to wait.
		return ca.IssueResult{Pending: true, Ref: ref, RetryAfter: b.approvalInterval}, nil
	}
	chain, err := b.collect(ctx, id)
	if err != nil {
		return ca.IssueResult{}, err
	}
	if chain == nil {
		return ca.IssueResult{Pending: true, Ref: ref, RetryAfter: b.pollInterval}, nil
	}
	return ca.IssueResult{Chain: chain, Ref: ref}, nil
}

// collect downloads the certificate and its chain (upstream-apis.md §1.5).
// A nil chain and nil error mean "not issued yet".
func (b *Backend) collect(ctx context.Context, id int64) ([]*x509.Certificate, error) {
	const op = "collect the certificate"
	path := "/api/ssl/v1/collect/" + strconv.FormatInt(id, 10)
	query := url.Values{"format": {b.collectFormat}}
	if b.legacyCollect {
		path += "/" + b.collectFormat // a fixed set of plain names
		query = nil
	}
	r, err := b.c.send(ctx, op, http.MethodGet, path, query, nil)
	if err != nil {
		return nil, err
	}
	body := bytes.TrimSpace(r.body)
	// An error body is read whatever the status: the pending answers are
	// recognised by their code, not by the HTTP status (upstream-apis.md
	// §1.5, client rule).
	if r.status < 200 || r.status > 299 || (len(body) > 0 && body[0] == '{') {
		se := b.c.decodeStatus(r)
		switch {
		case se.HasCode && r.status < 500 && pendingCodes[se.Code]:
			return nil, nil
		case se.HasCode && (se.Code == codeRevoked || se.Code == codeRevokedSMIME):
			return nil, &ca.Error{Kind: ca.Rejected, Detail: "the certificate was revoked in Sectigo Certificate Manager before acmegate collected it", Upstream: se.words()}
		case r.status >= 200 && r.status <= 299 && !se.HasCode:
			return nil, &ca.Error{Kind: ca.Unavailable, Detail: "Sectigo Certificate Manager sent JSON instead of a certificate", Upstream: b.c.excerpt(r)}
		}
		if r.status >= 200 && r.status <= 299 {
			r.status = http.StatusBadRequest // an error body with a success status
		}
		return nil, b.c.statusError(op, r)
	}
	if len(body) == 0 {
		// upstream-apis.md §1.5: an empty 200 is "not ready" to some
		// clients; harmless to treat it so.
		return nil, nil
	}
	chain, err := orderChain(body)
	if err != nil {
		return nil, &ca.Error{Kind: ca.Unavailable, Detail: "the certificate Sectigo Certificate Manager sent cannot be read", Upstream: b.c.excerpt(r), Err: err}
	}
	return chain, nil
}

// normalizeStatus folds SCM's status spellings together ("SA Approved",
// "SAApproved", "Awaiting Approval").
func normalizeStatus(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '_' || r == '-' {
			return -1
		}
		return r
	}, strings.ToLower(s))
}

func upstreamStatus(status, reason string) string {
	s := fmt.Sprintf("status %q", status)
	if reason != "" {
		s += ": " + reason
	}
	return s
}
