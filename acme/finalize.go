package acme

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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

// issueGrace is how long the issuance job created by a finalization waits
// before it runs: a synchronous backend finishes within the request, so the
// job only ever runs when the request's process died half-way.
const issueGrace = 30 * time.Second

type finalizeRequest struct {
	CSR string `json:"csr"`
}

// handleFinalize checks the CSR against the order and policy and hands it to
// the CA backend (RFC 8555 §7.4). The order moves to processing and an
// issuance job is stored in the same transaction, so a crash at any point
// leaves an order that the job finishes.
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
	backend, _, err := s.backendFor(ctx, order)
	if err != nil {
		return err
	}
	sync, _ := backend.(ca.Synchronous)
	inline := sync != nil && sync.Synchronous()
	runAt := now
	if inline {
		runAt = now.Add(issueGrace)
	}
	job := &storage.Job{
		ID:        uuid.NewString(),
		Kind:      storage.JobIssue,
		Ref:       order.ID,
		RunAt:     runAt,
		Deadline:  now.Add(s.cfg.IssuanceDeadline),
		CreatedAt: now,
	}
	if err := s.store.BeginFinalize(ctx, order.ID, []storage.Status{storage.StatusPending}, der, job, now); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return OrderNotReady("the order is already being finalized")
		}
		return fmt.Errorf("begin finalize: %w", err)
	}
	order.Status, order.CSR = storage.StatusProcessing, der
	requested := &storage.OrderEvent{OrderID: order.ID, At: now, Kind: EventFinalizeRequested, Actor: accountActor(req.Account.ID)}
	if !inline {
		s.record(ctx, requested)
		// An upstream CA: the leased job submits and polls.
		s.nudge()
		return s.writeOrder(w, order, authzs, http.StatusOK)
	}
	// A synchronous backend issues now: the request's event goes into the
	// timeline with the issuance's, one write instead of two.
	if err := s.issue(ctx, order, now, requested); err != nil {
		var retry *errRetryLater
		if !errors.As(err, &retry) {
			// The job will try again; the client sees processing.
			s.log.Warn("issuance deferred to job", "order", order.ID, "error", err)
		}
	}
	// issue marks order valid when it recorded the certificate (and the
	// request's event) itself; in any other outcome the stored order says
	// what happened.
	if order.Status != storage.StatusValid {
		s.record(ctx, requested)
		if order, err = s.store.GetOrder(ctx, order.ID); err != nil {
			return fmt.Errorf("read order: %w", err)
		}
	}
	return s.writeOrder(w, order, authzs, http.StatusOK)
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
	wait := backoff(j.Attempts)
	// An upstream that said when to come back (429 Retry-After) is
	// believed, within the backoff's ceiling.
	var ce *ca.Error
	if errors.As(err, &ce) && ce.RetryAfter > 0 {
		wait = min(ce.RetryAfter, 5*time.Minute)
	}
	return &errRetryLater{after: wait, cause: err}
}

// issue submits the order's CSR to the backend, or polls the submission it
// already made, and records the outcome. A nil error means the order reached
// a final state; errRetryLater means the backend is still working. since is
// when the finalization was accepted, for the issuance latency metric.
// before are timeline events appended with the issued event when issue
// records the certificate, and only then (order.Status is then valid).
func (s *Server) issue(ctx context.Context, order *storage.Order, since time.Time, before ...*storage.OrderEvent) error {
	csr, err := x509.ParseCertificateRequest(order.CSR)
	if err != nil {
		return s.failOrder(ctx, order, BadCSR("the stored CSR cannot be parsed: %v", err))
	}
	backend, product, err := s.backendFor(ctx, order)
	if err != nil {
		return err
	}
	var res ca.IssueResult
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
		if p, permanent := caProblem(err); permanent {
			return s.failOrder(ctx, order, p)
		}
		return fmt.Errorf("backend %s: %w", backend.Name(), err)
	}
	if res.Pending {
		if res.Ref != "" && res.Ref != order.UpstreamRef {
			if err := s.store.SetOrderUpstreamRef(ctx, order.ID, res.Ref); err != nil {
				return fmt.Errorf("record upstream reference: %w", err)
			}
			s.record(ctx, &storage.OrderEvent{OrderID: order.ID, Kind: EventSubmitted, Actor: "backend:" + backend.Name(), Detail: "upstream reference " + res.Ref})
		}
		return &errRetryLater{after: max(res.RetryAfter, time.Second), cause: errors.New("the certificate authority is still processing the order")}
	}
	if len(res.Chain) == 0 {
		return fmt.Errorf("backend %s returned neither a certificate nor a pending reference", backend.Name())
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
	completed := s.clock.Now()
	if err := s.store.CompleteOrder(ctx, cert, completed); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil // another worker recorded it first
		}
		return fmt.Errorf("record certificate: %w", err)
	}
	// What CompleteOrder stored, so the caller needs not read it back.
	order.Status, order.CertificateID, order.UpdatedAt = storage.StatusValid, cert.ID, completed
	s.metrics.issued(backend.Name(), s.clock.Now().Sub(since))
	s.record(ctx, append(before, &storage.OrderEvent{OrderID: order.ID, Kind: EventIssued, Actor: "backend:" + backend.Name(),
		Detail: fmt.Sprintf("serial %s, valid until %s", cert.Serial, timeString(cert.NotAfter))})...)
	s.audit(ctx, &storage.AuditEntry{At: cert.CreatedAt, Actor: actorSystem, Directory: cert.Directory, Action: AuditCertificateIssue,
		Object: certRef(cert.Serial), Detail: fmt.Sprintf("order %s of account %s, backend %s, names %s, valid until %s",
			order.ID, order.AccountID, cert.Backend, strings.Join(cert.Names, ", "), timeString(cert.NotAfter))})
	s.notify(ctx, issuedEvent(cert))
	return nil
}

// failOrder makes a processing order invalid with problem p.
func (s *Server) failOrder(ctx context.Context, order *storage.Order, p *Problem) error {
	pj, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode problem: %w", err)
	}
	if err := s.store.FailOrder(ctx, order.ID, pj, s.clock.Now()); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil
		}
		return fmt.Errorf("fail order: %w", err)
	}
	s.record(ctx, &storage.OrderEvent{OrderID: order.ID, Kind: EventFailed, Actor: actorSystem, Detail: p.Detail})
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
