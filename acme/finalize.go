package acme

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/notify"
	"github.com/acmegate/acmegate/policy"
	"github.com/acmegate/acmegate/storage"
)

type finalizeRequest struct {
	CSR string `json:"csr"`
}

// handleFinalize checks the CSR against the order and policy and hands it to
// the CA backend (RFC 8555 §7.4). A synchronous backend (the local CA)
// issues within the request, and the certificate is recorded with the CSR
// and the order's move to valid in one transaction (finalizeNow). For any
// other backend the order moves to processing and an issuance job is
// stored in the same transaction, so a crash at any point leaves an order
// that the job finishes.
func (s *Server) handleFinalize(w http.ResponseWriter, r *http.Request, d *directory) error {
	req, err := s.postForAccount(r, d)
	if err != nil {
		return err
	}
	ctx := r.Context()
	order, authzs, err := s.loadOrder(ctx, req, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	var body finalizeRequest
	if err := decodePayload(req, &body); err != nil {
		return err
	}
	now := s.clock.Now()
	if st := orderStatus(order, authzs, now); st != storage.StatusReady {
		return OrderNotReady("the order is %s, not ready; it can only be finalized once all its authorizations are valid", st)
	}
	der, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(body.CSR, "="))
	if err != nil || len(der) == 0 {
		return BadCSR("csr must be a base64url-encoded DER PKCS#10 request")
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return BadCSR("csr could not be parsed: %v", err)
	}
	ids := make([]policy.Identifier, len(order.Identifiers))
	for i, id := range order.Identifiers {
		ids[i] = policy.Identifier{Type: policy.IdentifierType(id.Type), Value: id.Value}
	}
	if err := d.policy.CheckCSR(csr, ids, req.JWK.Key); err != nil {
		return policyProblem(err)
	}
	if d.needsApproval(order.Profile) {
		return s.awaitApproval(w, r, d, req, order, authzs, der)
	}
	backend, product, err := s.backendFor(ctx, order)
	if err != nil {
		return err
	}
	requested := &storage.OrderEvent{OrderID: order.ID, At: now, Kind: EventFinalizeRequested, Actor: accountActor(req.Account.ID)}
	if sync, _ := backend.(ca.Synchronous); sync != nil && sync.Synchronous() {
		return s.finalizeNow(ctx, w, order, authzs, csr, backend, product, requested)
	}
	// An upstream CA: the leased job submits and polls.
	if err := s.beginFinalize(ctx, order, der, now, requested); err != nil {
		return err
	}
	s.nudge()
	return s.writeOrder(w, order, authzs, http.StatusOK)
}

// finalizeNow finalizes order with a synchronous backend: it issues first,
// then records the CSR, the certificate and the order's move to valid,
// with the timeline (finalize-requested, issued) and the audit entry, in
// one FinalizeOrder. requested is the request's finalize-requested event.
// When the backend fails, the order takes the job's way (beginFinalize),
// so that the job retries, or becomes invalid for a refusal no retry
// mends.
func (s *Server) finalizeNow(ctx context.Context, w http.ResponseWriter, order *storage.Order, authzs []*storage.Authorization,
	csr *x509.CertificateRequest, backend ca.Backend, product string, requested *storage.OrderEvent) error {
	since := requested.At
	cert, err := s.obtain(ctx, order, csr, backend, product)
	if err != nil {
		p, permanent := caProblem(err)
		if err := s.beginFinalize(ctx, order, csr.Raw, s.clock.Now().Add(retryDelay(err, 1)), requested); err != nil {
			return err
		}
		if permanent {
			if err := s.failOrder(ctx, order, p); err != nil {
				return err
			}
		} else {
			// The job will try again; the client sees processing.
			s.log.Warn("issuance deferred to job", slog.String("order", order.ID), slog.Any("error", err))
		}
		if order, err = s.store.GetOrder(ctx, order.ID); err != nil {
			return fmt.Errorf("read order: %w", err)
		}
		return s.writeOrder(w, order, authzs, http.StatusOK)
	}
	err = s.store.FinalizeOrder(ctx, []storage.Status{storage.StatusPending}, csr.Raw, cert, cert.CreatedAt,
		s.issuedJournal(ctx, order, cert, requested))
	if errors.Is(err, storage.ErrConflict) {
		// A concurrent finalization of the order got there first; the
		// stored order is the answer. The certificate signed here is
		// dropped, and that is safe: a synchronous backend signs in this
		// process and keeps no record of what it signs (the local CA
		// keeps only its keys), and the certificate was neither stored
		// nor sent, so it never left the process and nobody can use it.
		if order, err = s.store.GetOrder(ctx, order.ID); err != nil {
			return fmt.Errorf("read order: %w", err)
		}
		return s.writeOrder(w, order, authzs, http.StatusOK)
	}
	if err != nil {
		// Nothing was stored; the order is still ready and the client
		// may finalize it again.
		return fmt.Errorf("record certificate: %w", err)
	}
	order.CSR = csr.Raw
	s.issued(ctx, order, cert, since)
	return s.writeOrder(w, order, authzs, http.StatusOK)
}

// beginFinalize moves the pending order to processing with its CSR der and
// an issuance job due at runAt, with the request's finalize-requested event
// requested, in one transaction.
func (s *Server) beginFinalize(ctx context.Context, order *storage.Order, der []byte, runAt time.Time, requested *storage.OrderEvent) error {
	now := requested.At
	job := &storage.Job{
		ID:        uuid.NewString(),
		Kind:      storage.JobIssue,
		Ref:       order.ID,
		RunAt:     runAt,
		Deadline:  now.Add(s.cfg.IssuanceDeadline),
		CreatedAt: now,
	}
	err := s.store.BeginFinalize(ctx, order.ID, []storage.Status{storage.StatusPending}, der, job, now,
		s.journal(ctx, []*storage.OrderEvent{requested}))
	if errors.Is(err, storage.ErrConflict) {
		return OrderNotReady("the order is already being finalized")
	}
	if err != nil {
		return fmt.Errorf("begin finalize: %w", err)
	}
	order.Status, order.CSR = storage.StatusProcessing, der
	return nil
}

// runIssuance is the issue job: it finishes an order left processing.
func (s *Server) runIssuance(ctx context.Context, j *storage.Job) error {
	order, err := s.store.GetOrder(ctx, j.Ref)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read order: %w", err)
	}
	if order.Status != storage.StatusProcessing {
		return nil
	}
	// The job was created when finalize (or the approval) was accepted.
	err = s.issue(ctx, order, j.CreatedAt)
	if err == nil {
		return nil
	}
	if s.clock.Now().After(j.Deadline) {
		prob := ServerInternal(err)
		prob.Detail = fmt.Sprintf("the certificate authority did not issue the certificate before the deadline: %v", publicCause(err))
		return s.failOrder(ctx, order, prob)
	}
	var retry *errRetryLater
	if errors.As(err, &retry) {
		return err
	}
	return &errRetryLater{after: retryDelay(err, j.Attempts), cause: err}
}

// retryDelay is how long to wait before issuance attempt attempts+1 after
// err: the backoff, or what an upstream that said when to come back (429
// Retry-After) asked for, within the backoff's ceiling.
func retryDelay(err error, attempts int) time.Duration {
	var ce *ca.Error
	if errors.As(err, &ce) && ce.RetryAfter > 0 {
		return min(ce.RetryAfter, 5*time.Minute)
	}
	return backoff(attempts)
}

// issue submits the order's CSR to the backend, or polls the submission it
// already made, and records the outcome (the job's way). A nil error means
// the order reached a final state; errRetryLater means the backend is still
// working. since is when the finalization was accepted, for the issuance
// latency metric.
func (s *Server) issue(ctx context.Context, order *storage.Order, since time.Time) error {
	csr, err := x509.ParseCertificateRequest(order.CSR)
	if err != nil {
		return s.failOrder(ctx, order, BadCSR("the stored CSR cannot be parsed: %v", err))
	}
	backend, product, err := s.backendFor(ctx, order)
	if err != nil {
		return err
	}
	cert, err := s.obtain(ctx, order, csr, backend, product)
	if err != nil {
		if p, permanent := caProblem(err); permanent {
			return s.failOrder(ctx, order, p)
		}
		return err
	}
	if err := s.store.CompleteOrder(ctx, cert, cert.CreatedAt, s.issuedJournal(ctx, order, cert)); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil // another worker recorded it first
		}
		return fmt.Errorf("record certificate: %w", err)
	}
	s.issued(ctx, order, cert, since)
	return nil
}

// obtain asks backend for order's certificate: it submits csr, or polls
// the submission already made (order.UpstreamRef). It returns the
// certificate to record; errRetryLater when the backend is still working
// (recording the upstream reference of a new submission); or the backend's
// error, permanent or not as caProblem says.
func (s *Server) obtain(ctx context.Context, order *storage.Order, csr *x509.CertificateRequest, backend ca.Backend, product string) (*storage.Certificate, error) {
	var res ca.IssueResult
	var err error
	op, start := opIssue, time.Now()
	if order.UpstreamRef != "" {
		op = opPoll
		res, err = backend.Poll(ctx, order.UpstreamRef)
	} else {
		ids := make([]ca.Identifier, len(order.Identifiers))
		for i, id := range order.Identifiers {
			ids[i] = ca.Identifier{Type: string(id.Type), Value: id.Value}
		}
		res, err = backend.Issue(ctx, ca.IssueRequest{
			OrderID:     order.ID,
			CSR:         csr,
			Identifiers: ids,
			Profile:     product,
			NotBefore:   order.NotBefore,
			NotAfter:    order.NotAfter,
		})
	}
	s.metrics.upstream(backend.Name(), op, time.Since(start), err)
	if err != nil {
		if sync, _ := backend.(ca.Synchronous); sync == nil || !sync.Synchronous() {
			// Operators hear of an upstream CA failing, once per attempt.
			s.notify(ctx, notify.Event{Type: notify.UpstreamError, Directory: order.Directory, AccountID: order.AccountID,
				OrderID: order.ID, Names: orderNames(order), Backend: backend.Name(), Detail: op + ": " + err.Error()})
		}
		return nil, fmt.Errorf("backend %s: %w", backend.Name(), err)
	}
	if res.Pending {
		if res.Ref != "" && res.Ref != order.UpstreamRef {
			if err := s.store.SetOrderUpstreamRef(ctx, order.ID, res.Ref); err != nil {
				return nil, fmt.Errorf("record upstream reference: %w", err)
			}
			s.record(ctx, &storage.OrderEvent{OrderID: order.ID, Kind: EventSubmitted, Actor: "backend:" + backend.Name(), Detail: "upstream reference " + res.Ref})
		}
		return nil, &errRetryLater{after: max(res.RetryAfter, time.Second), cause: errors.New("the certificate authority is still processing the order")}
	}
	if len(res.Chain) == 0 {
		return nil, fmt.Errorf("backend %s returned neither a certificate nor a pending reference", backend.Name())
	}
	leaf := res.Chain[0]
	cert := &storage.Certificate{
		ID:          uuid.NewString(),
		Directory:   order.Directory,
		AccountID:   order.AccountID,
		OrderID:     order.ID,
		Serial:      leaf.SerialNumber.Text(16),
		Issuer:      leaf.Issuer.String(),
		Names:       certNames(leaf),
		NotBefore:   leaf.NotBefore.UTC(),
		NotAfter:    leaf.NotAfter.UTC(),
		ChainPEM:    ca.ChainPEM(res.Chain),
		Profile:     order.Profile,
		Backend:     backend.Name(),
		UpstreamRef: res.Ref,
		Status:      storage.StatusValid,
		CreatedAt:   s.clock.Now(),
	}
	for _, alt := range res.Alternates {
		cert.Alternates = append(cert.Alternates, ca.ChainPEM(alt))
	}
	return cert, nil
}

// issuedJournal is what recording cert records with it: the events before
// (the request's, when it issued), the issued event and the
// certificate.issue audit entry.
func (s *Server) issuedJournal(ctx context.Context, order *storage.Order, cert *storage.Certificate, before ...*storage.OrderEvent) *storage.Journal {
	return s.journal(ctx,
		append(before, &storage.OrderEvent{OrderID: order.ID, At: cert.CreatedAt, Kind: EventIssued, Actor: "backend:" + cert.Backend,
			Detail: fmt.Sprintf("serial %s, valid until %s", cert.Serial, timeString(cert.NotAfter))}),
		&storage.AuditEntry{At: cert.CreatedAt, Actor: actorSystem, Directory: cert.Directory, Action: AuditCertificateIssue,
			Object: certRef(cert.Serial), Detail: fmt.Sprintf("order %s of account %s, backend %s, names %s, valid until %s",
				order.ID, order.AccountID, cert.Backend, strings.Join(cert.Names, ", "), timeString(cert.NotAfter))})
}

// issued updates order to what recording cert stored, so the caller needs
// not read it back, and tells metrics and notifications. since is when the
// finalization was accepted.
func (s *Server) issued(ctx context.Context, order *storage.Order, cert *storage.Certificate, since time.Time) {
	order.Status, order.CertificateID, order.UpdatedAt = storage.StatusValid, cert.ID, cert.CreatedAt
	s.metrics.issued(cert.Backend, s.clock.Now().Sub(since))
	s.notify(ctx, issuedEvent(cert))
}

// failOrder makes a processing order invalid with problem p.
func (s *Server) failOrder(ctx context.Context, order *storage.Order, p *Problem) error {
	pj, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode problem: %w", err)
	}
	j := s.journal(ctx, []*storage.OrderEvent{{OrderID: order.ID, Kind: EventFailed, Actor: actorSystem, Detail: p.Detail}})
	if err := s.store.FailOrder(ctx, order.ID, pj, s.clock.Now(), j); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil
		}
		return fmt.Errorf("fail order: %w", err)
	}
	s.notify(ctx, notify.Event{Type: notify.OrderFailed, Directory: order.Directory, AccountID: order.AccountID,
		OrderID: order.ID, Names: orderNames(order), Detail: p.Detail})
	return nil
}

// certNames lists a certificate's SANs as identifier values.
func certNames(c *x509.Certificate) []string {
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// backendFor returns the backend and product that issue an order: those
// of its profile in its directory.
func (s *Server) backendFor(ctx context.Context, order *storage.Order) (ca.Backend, string, error) {
	if order.Profile == "" {
		return s.backend, "", nil
	}
	d, err := s.dirs.get(ctx, order.Directory)
	if err != nil {
		return nil, "", fmt.Errorf("directory of order %s: %w", order.ID, err)
	}
	p, ok := d.profiles[order.Profile]
	if !ok {
		return s.backend, order.Profile, nil
	}
	b, ok := s.backends[p.Backend]
	if !ok {
		return nil, "", fmt.Errorf("order %s: backend %q of profile %q is not configured", order.ID, p.Backend, order.Profile)
	}
	return b, p.Product, nil
}

// backendNamed returns the backend that issued a certificate.
func (s *Server) backendNamed(name string) ca.Backend {
	if b, ok := s.backends[name]; ok {
		return b
	}
	return s.backend
}

// awaitApproval leaves a finalized order processing until an operator
// approves or rejects it.
func (s *Server) awaitApproval(w http.ResponseWriter, r *http.Request, d *directory, req *authedRequest, order *storage.Order, authzs []*storage.Authorization, der []byte) error {
	ctx := r.Context()
	now := s.clock.Now()
	deadline := now.Add(d.approvalTimeout())
	if err := s.store.BeginApproval(ctx, order.ID, []storage.Status{storage.StatusPending}, der, deadline, now); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return OrderNotReady("the order is already being finalized")
		}
		return fmt.Errorf("begin approval: %w", err)
	}
	s.record(ctx,
		&storage.OrderEvent{OrderID: order.ID, Kind: EventFinalizeRequested, Actor: accountActor(req.Account.ID)},
		&storage.OrderEvent{OrderID: order.ID, Kind: EventAwaitingApproval, Actor: actorSystem, Detail: "until " + timeString(deadline)})
	s.notify(ctx, notify.Event{Type: notify.ApprovalRequired, Directory: order.Directory, AccountID: order.AccountID,
		OrderID: order.ID, Names: orderNames(order), Detail: "awaiting an operator's approval until " + timeString(deadline)})
	order, err := s.store.GetOrder(ctx, order.ID)
	if err != nil {
		return fmt.Errorf("read order: %w", err)
	}
	return s.writeOrder(w, order, authzs, http.StatusOK)
}
