package acmeproxy

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/ca"
)

// Issue orders req.Identifiers upstream, answers the challenges the upstream
// still wants, finalizes with req.CSR and returns the chain if the upstream
// issues within FinalizeWait, or Pending with the order URL as Ref.
func (b *Backend) Issue(ctx context.Context, req ca.IssueRequest) (ca.IssueResult, error) {
	if req.CSR == nil || len(req.Identifiers) == 0 {
		return ca.IssueResult{}, ca.Errorf(ca.Rejected, "the request has no CSR or no identifiers")
	}
	if req.Profile != "" && !b.hasProfile(req.Profile) {
		return ca.IssueResult{}, ca.Errorf(ca.Rejected, "backend %s has no profile %q", b.name, req.Profile)
	}
	if err := b.register(ctx); err != nil {
		return ca.IssueResult{}, err
	}
	o, err := b.order(ctx, req)
	if err != nil {
		return ca.IssueResult{}, err
	}
	res, err := b.advance(ctx, o, req.CSR.Raw)
	switch {
	case err != nil && ca.KindOf(err).Permanent(), err == nil && !res.Pending:
		// Final either way: a retry is a new submission.
		b.setOrderRef(req.OrderID, "")
	}
	return res, err
}

// order returns the upstream order for req: the one a previous attempt in
// this process created, if it is still usable, or a new one.
func (b *Backend) order(ctx context.Context, req ca.IssueRequest) (*acme.Order, error) {
	if ref := b.orderRef(req.OrderID); ref != "" {
		o, err := b.client.GetOrder(ctx, ref)
		switch {
		case err == nil && o.Status != acme.StatusInvalid:
			return o, nil
		case err == nil:
			// The previous attempt failed upstream; it was reported to the
			// caller as temporary, so a fresh order may succeed.
			b.log.InfoContext(ctx, "upstream order invalid, ordering again", "order", req.OrderID, "upstream_order", ref)
		case ca.KindOf(classify(err, "")) == ca.Unavailable:
			return nil, classify(err, "fetching the order")
		}
	}
	ids := make([]acme.AuthzID, len(req.Identifiers))
	for i, id := range req.Identifiers {
		ids[i] = acme.AuthzID{Type: id.Type, Value: id.Value}
	}
	var opts []acme.OrderOption
	if !req.NotBefore.IsZero() {
		opts = append(opts, acme.WithOrderNotBefore(req.NotBefore))
	}
	if !req.NotAfter.IsZero() {
		opts = append(opts, acme.WithOrderNotAfter(req.NotAfter))
	}
	// RFC 8555 §7.4: newOrder.
	o, err := b.client.AuthorizeOrder(ctx, ids, opts...)
	if err != nil {
		return nil, classify(err, "creating the order")
	}
	if o.URI == "" {
		return nil, ca.Errorf(ca.Unavailable, "upstream ACME CA returned an order without a Location")
	}
	b.setOrderRef(req.OrderID, o.URI)
	b.log.DebugContext(ctx, "upstream order created", "order", req.OrderID, "upstream_order", o.URI)
	return o, nil
}

// advance takes the order from whatever state it is in as far as it goes
// without a long wait.
func (b *Backend) advance(ctx context.Context, o *acme.Order, csr []byte) (ca.IssueResult, error) {
	switch o.Status {
	case acme.StatusPending:
		if err := b.authorize(ctx, o); err != nil {
			return ca.IssueResult{}, err
		}
		// RFC 8555 §7.4: the order becomes ready once every authorization
		// is valid.
		r, err := b.client.WaitOrder(ctx, o.URI)
		if err != nil {
			return ca.IssueResult{}, classify(err, "waiting for the order to be ready")
		}
		o = r
		if o.Status == acme.StatusValid {
			return b.collect(ctx, o)
		}
		return b.finalize(ctx, o, csr)
	case acme.StatusReady:
		return b.finalize(ctx, o, csr)
	case acme.StatusProcessing:
		return b.pending(o), nil
	case acme.StatusValid:
		return b.collect(ctx, o)
	case acme.StatusInvalid:
		return ca.IssueResult{}, orderProblem(o)
	}
	return ca.IssueResult{}, ca.Errorf(ca.Unavailable, "upstream order %s has unexpected status %q", o.URI, o.Status)
}

// authorize answers the dns-01 challenge of every authorization of o that is
// not valid yet, one at a time, so that a wildcard and its base name, which
// share the record name, never need two values at once.
func (b *Backend) authorize(ctx context.Context, o *acme.Order) error {
	for _, u := range o.AuthzURLs {
		z, err := b.client.GetAuthorization(ctx, u)
		if err != nil {
			return classify(err, "fetching an authorization")
		}
		name := z.Identifier.Value
		if z.Wildcard {
			// RFC 8555 §7.1.4: the identifier is the base name, "*."
			// stripped, and wildcard is true.
			name = "*." + name
		}
		switch z.Status {
		case acme.StatusValid:
			continue
		case acme.StatusPending:
		default:
			return ca.Errorf(ca.Rejected, "upstream authorization for %s is %s", name, z.Status)
		}
		if b.solve == nil {
			return ca.Errorf(ca.Rejected, "upstream ACME CA wants a challenge for %s and no dns-01 solver is configured (only pre-validated names can be proxied)", name)
		}
		var ch *acme.Challenge
		for _, c := range z.Challenges {
			if c.Type == "dns-01" {
				ch = c
			}
		}
		if ch == nil {
			return ca.Errorf(ca.Rejected, "upstream ACME CA offers no dns-01 challenge for %s", name)
		}
		if err := b.solveDNS01(ctx, z, ch); err != nil {
			return err
		}
	}
	return nil
}

// solveDNS01 publishes the TXT record (RFC 8555 §8.4), tells the upstream to
// validate, waits for the verdict and removes the record.
func (b *Backend) solveDNS01(ctx context.Context, z *acme.Authorization, ch *acme.Challenge) (err error) {
	value, err := b.client.DNS01ChallengeRecord(ch.Token)
	if err != nil {
		return ca.Errorf(ca.Unavailable, "computing the dns-01 record: %v", err)
	}
	fqdn := "_acme-challenge." + strings.TrimSuffix(z.Identifier.Value, ".") + "."
	if err := b.solve(ctx, ActionPresent, fqdn, value); err != nil {
		return &ca.Error{Kind: ca.Unavailable, Detail: "the dns-01 hook could not publish " + fqdn, Err: err}
	}
	defer func() {
		// Clean up even when ctx is done; the hook bounds itself.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultExecTimeout)
		defer cancel()
		if cerr := b.solve(cctx, ActionCleanup, fqdn, value); cerr != nil {
			b.log.WarnContext(ctx, "dns-01 cleanup failed", "fqdn", fqdn, "err", cerr)
		}
	}()
	if _, err := b.client.Accept(ctx, ch); err != nil {
		return classify(err, "answering the dns-01 challenge for "+z.Identifier.Value)
	}
	if _, err := b.client.WaitAuthorization(ctx, z.URI); err != nil {
		return classify(err, "validating "+z.Identifier.Value)
	}
	return nil
}

// finalize submits the CSR (RFC 8555 §7.4) and waits at most FinalizeWait
// for the certificate; past that the order is Pending.
func (b *Backend) finalize(ctx context.Context, o *acme.Order, csr []byte) (ca.IssueResult, error) {
	fctx, cancel := context.WithTimeout(ctx, b.finalizeWait)
	defer cancel()
	der, _, err := b.client.CreateCertFromOrder(fctx, o, csr, true)
	if err == nil {
		chain, perr := parseChain(der)
		if perr != nil {
			return ca.IssueResult{}, perr
		}
		return ca.IssueResult{Chain: chain, Ref: o.URI}, nil
	}
	if ctx.Err() != nil || fctx.Err() == nil {
		return ca.IssueResult{}, classify(err, "finalizing the order")
	}
	// Only our own short wait ran out: find out how far the upstream got.
	// An order still "ready" never saw the CSR; the caller retries Issue,
	// which finalizes the same order again.
	cur, gerr := b.client.GetOrder(ctx, o.URI)
	if gerr != nil {
		return ca.IssueResult{}, classify(gerr, "fetching the order")
	}
	switch cur.Status {
	case acme.StatusProcessing:
		return b.pending(cur), nil
	case acme.StatusValid:
		return b.collect(ctx, cur)
	case acme.StatusInvalid:
		return ca.IssueResult{}, orderProblem(cur)
	}
	return ca.IssueResult{}, &ca.Error{Kind: ca.Unavailable, Detail: "finalizing the upstream order timed out", Err: err}
}

// Poll fetches the upstream order ref (RFC 8555 §7.4): valid returns the
// chain, processing Pending, invalid the order's error as ca.Rejected.
func (b *Backend) Poll(ctx context.Context, ref string) (ca.IssueResult, error) {
	if err := b.register(ctx); err != nil {
		return ca.IssueResult{}, err
	}
	o, err := b.client.GetOrder(ctx, ref)
	if err != nil {
		return ca.IssueResult{}, classify(err, "fetching the order")
	}
	switch o.Status {
	case acme.StatusValid:
		return b.collect(ctx, o)
	case acme.StatusProcessing:
		return b.pending(o), nil
	case acme.StatusInvalid:
		return ca.IssueResult{}, orderProblem(o)
	}
	// pending or ready: Issue returns Pending only once the CSR is in, so
	// this order was never finalized and Poll, without the CSR, cannot.
	return ca.IssueResult{}, ca.Errorf(ca.Rejected, "upstream order %s is %s: it was never finalized", ref, o.Status)
}

// collect downloads the certificate of a valid order (RFC 8555 §7.4.2).
func (b *Backend) collect(ctx context.Context, o *acme.Order) (ca.IssueResult, error) {
	if o.CertURL == "" {
		return ca.IssueResult{}, ca.Errorf(ca.Unavailable, "upstream order %s is valid without a certificate URL", o.URI)
	}
	der, err := b.client.FetchCert(ctx, o.CertURL, true)
	if err != nil {
		return ca.IssueResult{}, classify(err, "downloading the certificate")
	}
	chain, err := parseChain(der)
	if err != nil {
		return ca.IssueResult{}, err
	}
	return ca.IssueResult{Chain: chain, Ref: o.URI}, nil
}

func (b *Backend) pending(o *acme.Order) ca.IssueResult {
	return ca.IssueResult{Pending: true, Ref: o.URI, RetryAfter: b.pollInterval}
}

func (b *Backend) hasProfile(name string) bool {
	for _, p := range b.profiles {
		if p.Name == name {
			return true
		}
	}
	return false
}

// Revoke revokes cert at the upstream, signed with the account key and its
// kid (RFC 8555 §7.6).
func (b *Backend) Revoke(ctx context.Context, cert *x509.Certificate, reason ca.RevocationReason) error {
	if cert == nil {
		return ca.Errorf(ca.Rejected, "no certificate to revoke")
	}
	if err := b.register(ctx); err != nil {
		return err
	}
	if err := b.client.RevokeCert(ctx, nil, cert.Raw, acme.CRLReasonCode(reason)); err != nil {
		return classify(err, "revoking the certificate")
	}
	return nil
}

// parseChain parses the DER certificates x/crypto extracted from the
// application/pem-certificate-chain (RFC 8555 §9.1): leaf first. A trailing
// self-signed root is dropped, as ca.IssueResult.Chain wants.
func parseChain(der [][]byte) ([]*x509.Certificate, error) {
	if len(der) == 0 {
		return nil, ca.Errorf(ca.Unavailable, "upstream ACME CA returned an empty certificate chain")
	}
	chain := make([]*x509.Certificate, 0, len(der))
	for i, d := range der {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, &ca.Error{Kind: ca.Unavailable, Detail: fmt.Sprintf("upstream ACME CA returned an unparseable certificate (#%d)", i), Err: err}
		}
		chain = append(chain, c)
	}
	if n := len(chain); n > 1 {
		last := chain[n-1]
		if last.CheckSignatureFrom(last) == nil && bytes.Equal(last.RawIssuer, last.RawSubject) {
			chain = chain[:n-1]
		}
	}
	return chain, nil
}
