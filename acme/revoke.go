package acme

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/notify"
	"github.com/acmegate/acmegate/storage"
)

type revokeRequest struct {
	Certificate string `json:"certificate"`
	Reason      *int   `json:"reason"`
}

// allowedReasons are the RFC 5280 §5.3.1 reason codes a subscriber may
// give: unspecified, keyCompromise, affiliationChanged, superseded,
// cessationOfOperation, privilegeWithdrawn. CA-only codes (cACompromise,
// certificateHold, removeFromCRL, aACompromise) and the unused 7 are refused.
var allowedReasons = map[int]string{0: "unspecified", 1: "keyCompromise", 3: "affiliationChanged", 4: "superseded", 5: "cessationOfOperation", 9: "privilegeWithdrawn"}

// handleRevoke revokes a certificate (RFC 8555 §7.6). The request is signed
// either by an account that ordered the certificate or holds valid
// authorizations for all its names, or by the certificate's own key.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request, d *directory) error {
	dir := d.name
	req, err := s.postForAccountOrKey(r, d)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var body revokeRequest
	if err := decodePayload(req, &body); err != nil {
		return err
	}
	der, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(body.Certificate, "="))
	if err != nil || len(der) == 0 {
		return Malformed("certificate must be a base64url-encoded DER certificate")
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return Malformed("certificate could not be parsed: %v", err)
	}
	reason := 0
	if body.Reason != nil {
		reason = *body.Reason
		if _, ok := allowedReasons[reason]; !ok {
			return BadRevocationReason("reason code %d is not accepted; use one of 0 (unspecified), 1 (keyCompromise), 3 (affiliationChanged), 4 (superseded), 5 (cessationOfOperation), 9 (privilegeWithdrawn)", reason)
		}
	}
	cert, err := s.store.GetCertificateBySerial(ctx, leaf.SerialNumber.Text(16))
	if errors.Is(err, storage.ErrNotFound) || (err == nil && (cert.Directory != dir || !sameLeaf(cert.ChainPEM, der))) {
		return notFound("certificate (it was not issued by this directory)")
	}
	if err != nil {
		return fmt.Errorf("read certificate: %w", err)
	}
	if req.Account != nil {
		eventFrom(ctx).Account = req.Account.ID
		if err := s.mayRevoke(r, req.Account, cert, leaf); err != nil {
			return err
		}
	} else if !publicKeysEqual(req.JWK.Key, leaf.PublicKey) {
		return Unauthorized("the request is signed neither by an account nor by the certificate's key")
	}
	if cert.Status == storage.StatusRevoked {
		return AlreadyRevoked("the certificate was revoked at %s", timeString(cert.RevokedAt))
	}
	actor := "certificate-key"
	if req.Account != nil {
		actor = accountActor(req.Account.ID)
	}
	err = s.revoke(ctx, cert, leaf, reason, actor)
	if errors.Is(err, ErrRevocationPending) {
		// The CA is unreachable: the request is recorded and retried; the
		// client is told to come back.
		p := ServerInternal(err)
		p.Detail = ErrRevocationPending.Error()
		return p
	}
	if p, permanent := caProblem(err); permanent {
		return p
	}
	if errors.Is(err, storage.ErrConflict) {
		return AlreadyRevoked("the certificate is already revoked")
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// ErrRevocationPending says a revocation could not be confirmed by the
// certificate authority: it is recorded as pending (the certificate is
// revocation-pending) and a job retries it until the CA confirms it.
var ErrRevocationPending = errors.New("the certificate authority could not be reached; the revocation is recorded as pending and is retried until the certificate authority confirms it")

// revoke asks the certificate's CA to revoke it and records the outcome,
// for subscribers and operators alike. It returns nil once the certificate
// is revoked; an error wrapping ErrRevocationPending (and the CA's error)
// when the CA could not be reached; one wrapping the CA's permanent
// *ca.Error when it refused; one wrapping storage.ErrConflict when the
// certificate was revoked meanwhile.
func (s *Server) revoke(ctx context.Context, cert *storage.Certificate, leaf *x509.Certificate, reason int, actor string) error {
	backend := s.backendNamed(cert.Backend)
	start := time.Now()
	err := backend.Revoke(ctx, leaf, ca.RevocationReason(reason))
	s.metrics.upstream(backend.Name(), opRevoke, time.Since(start), err)
	if err != nil && !errors.Is(err, ca.AlreadyRevoked) {
		if ca.KindOf(err).Permanent() {
			return fmt.Errorf("certificate authority %s refused the revocation: %w", backend.Name(), err)
		}
		// The CA is unreachable: never record the certificate as revoked
		// before the CA confirms it. Record the request and retry it.
		if perr := s.revocationPending(ctx, cert, reason, actor); perr != nil {
			return perr
		}
		return fmt.Errorf("%w: %w", ErrRevocationPending, err)
	}
	now := s.clock.Now()
	if err := s.store.RevokeCertificate(ctx, cert.ID, reason, now); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("certificate %s is already revoked: %w", cert.ID, err)
		}
		return fmt.Errorf("record revocation: %w", err)
	}
	s.revoked(ctx, cert, reason, actor, now, "")
	return nil
}

// revoked records a revocation the CA confirmed: timeline, audit trail and
// notification. note, if any, follows the reason in their details.
func (s *Server) revoked(ctx context.Context, cert *storage.Certificate, reason int, actor string, at time.Time, note string) {
	detail := "reason " + reasonName(reason)
	if note != "" {
		detail += "; " + note
	}
	if cert.OrderID != "" { // imported certificates have no order
		s.record(ctx, &storage.OrderEvent{OrderID: cert.OrderID, At: at, Kind: EventRevoked, Actor: actor, Detail: detail})
	}
	auditActor := actor
	if strings.HasPrefix(actor, "backend:") {
		// The audit trail's actors are people and the system; the
		// backend that confirmed is in the detail.
		auditActor = actorSystem
	}
	s.audit(ctx, &storage.AuditEntry{At: at, Actor: auditActor, Directory: cert.Directory, Action: AuditCertificateRevoke,
		Object: certRef(cert.Serial), Detail: detail})
	s.notify(ctx, revokedEvent(cert, detail+"; by "+actor))
}

// mayRevoke: the issuing account may revoke, and so may an account holding
// valid authorizations for every name in the certificate (RFC 8555 §7.6).
func (s *Server) mayRevoke(r *http.Request, acct *storage.Account, cert *storage.Certificate, leaf *x509.Certificate) error {
	if cert.AccountID == acct.ID {
		return nil
	}
	now := s.clock.Now()
	for _, name := range certNames(leaf) {
		id := storage.Identifier{Type: storage.IdentifierDNS, Value: strings.ToLower(name)}
		if leaf.DNSNames == nil || !contains(leaf.DNSNames, name) {
			id.Type = storage.IdentifierIP
		}
		base, wildcard := splitWildcard(id)
		if _, err := s.store.FindReusableAuthorization(r.Context(), acct.ID, base, wildcard, now); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return Unauthorized("the account neither ordered this certificate nor holds a valid authorization for %s", name)
			}
			return fmt.Errorf("look up authorization: %w", err)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// sameLeaf reports whether the first certificate of a PEM chain is der.
func sameLeaf(chainPEM, der []byte) bool {
	b, _ := pem.Decode(chainPEM)
	return b != nil && bytes.Equal(b.Bytes, der)
}

// equaler is what every crypto/* public key type implements.
type equaler interface{ Equal(x crypto.PublicKey) bool }

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}

// revocationDeadline bounds how long an unconfirmed revocation is retried
// before operators are left to act on it.
const revocationDeadline = 7 * 24 * time.Hour

// revocationPending records a revocation the CA could not be asked for and
// queues the job that retries it. A certificate already revocation-pending
// keeps its job.
func (s *Server) revocationPending(ctx context.Context, cert *storage.Certificate, reason int, actor string) error {
	if cert.Status != storage.StatusValid {
		return nil
	}
	now := s.clock.Now()
	job := &storage.Job{ID: uuid.NewString(), Kind: storage.JobRevoke, Ref: cert.ID, RunAt: now.Add(backoff(1)),
		Deadline: now.Add(revocationDeadline), CreatedAt: now}
	err := s.store.MarkRevocationPending(ctx, cert.ID, reason, job, now)
	if errors.Is(err, storage.ErrConflict) {
		return nil // revoked or marked pending meanwhile
	}
	if err != nil {
		return fmt.Errorf("record pending revocation: %w", err)
	}
	if cert.OrderID != "" {
		s.record(ctx, &storage.OrderEvent{OrderID: cert.OrderID, At: now, Kind: EventRevocationPending, Actor: actor, Detail: "reason " + reasonName(reason)})
	}
	s.audit(ctx, &storage.AuditEntry{At: now, Actor: actor, Directory: cert.Directory, Action: AuditRevocationPending,
		Object: certRef(cert.Serial), Detail: "reason " + reasonName(reason) + "; the certificate authority could not be reached, retried until it confirms"})
	s.nudge()
	return nil
}

// runRevocation is the revoke job: it asks the CA again for a revocation
// that could not be confirmed.
func (s *Server) runRevocation(ctx context.Context, j *storage.Job) error {
	cert, err := s.store.GetCertificate(ctx, j.Ref)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read certificate: %w", err)
	}
	if cert.Status != storage.StatusRevocationPending {
		return nil
	}
	block, _ := pem.Decode(cert.ChainPEM)
	if block == nil {
		return fmt.Errorf("certificate %s has no PEM", cert.ID)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("parse certificate %s: %w", cert.ID, err)
	}
	backend := s.backendNamed(cert.Backend)
	start := time.Now()
	err = backend.Revoke(ctx, leaf, ca.RevocationReason(cert.RevocationReason))
	s.metrics.upstream(backend.Name(), opRevoke, time.Since(start), err)
	if err != nil && !errors.Is(err, ca.AlreadyRevoked) {
		s.notify(ctx, notify.Event{Type: notify.UpstreamError, Directory: cert.Directory, AccountID: cert.AccountID, OrderID: cert.OrderID,
			CertificateID: cert.ID, Serial: cert.Serial, Names: cert.Names, Backend: backend.Name(), Detail: opRevoke + ": " + err.Error()})
	}
	switch {
	case err == nil || errors.Is(err, ca.AlreadyRevoked):
		now := s.clock.Now()
		if err := s.store.RevokeCertificate(ctx, cert.ID, cert.RevocationReason, now); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return nil // recorded by another worker
			}
			return fmt.Errorf("record revocation: %w", err)
		}
		s.revoked(ctx, cert, cert.RevocationReason, "backend:"+backend.Name(), now, "confirmed by the certificate authority "+backend.Name()+" after a retry")
		return nil
	case ca.KindOf(err).Permanent() || s.clock.Now().After(j.Deadline):
		// Left revocation-pending for an operator: the timeline says why.
		if cert.OrderID != "" {
			s.record(ctx, &storage.OrderEvent{OrderID: cert.OrderID, Kind: EventRevocationFailed, Actor: "backend:" + backend.Name(), Detail: publicCause(err)})
		}
		s.audit(ctx, &storage.AuditEntry{Actor: actorSystem, Directory: cert.Directory, Action: AuditCertificateRevoke, Object: certRef(cert.Serial),
			Outcome: storage.OutcomeFailure, Detail: "the pending revocation was given up: " + publicCause(err)})
		s.log.Error("revocation failed", slog.String("certificate", cert.ID), slog.Any("error", err))
		return nil
	}
	wait := backoff(j.Attempts)
	var ce *ca.Error
	if errors.As(err, &ce) && ce.RetryAfter > 0 {
		wait = min(ce.RetryAfter, 5*time.Minute)
	}
	return &errRetryLater{after: wait, cause: err}
}
