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
	backend := s.backendNamed(cert.Backend)
	if err := backend.Revoke(ctx, leaf, ca.RevocationReason(reason)); err != nil && !errors.Is(err, ca.AlreadyRevoked) {
		if p, permanent := caProblem(err); permanent {
			return p
		}
		// The CA is unreachable: never record the certificate as revoked
		// before the CA confirms it. Record the request and retry it.
		return s.revocationPending(ctx, cert, reason, actor, err)
	}
	if err := s.store.RevokeCertificate(ctx, cert.ID, reason, s.clock.Now()); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return AlreadyRevoked("the certificate is already revoked")
		}
		return fmt.Errorf("record revocation: %w", err)
	}
	s.record(ctx, &storage.OrderEvent{OrderID: cert.OrderID, Kind: EventRevoked, Actor: actor, Detail: "reason " + allowedReasons[reason]})
	w.WriteHeader(http.StatusOK)
	return nil
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
// queues the job that retries it, then tells the client to come back.
func (s *Server) revocationPending(ctx context.Context, cert *storage.Certificate, reason int, actor string, cause error) error {
	now := s.clock.Now()
	if cert.Status == storage.StatusValid {
		job := &storage.Job{ID: uuid.NewString(), Kind: storage.JobRevoke, Ref: cert.ID, RunAt: now.Add(backoff(1)),
			Deadline: now.Add(revocationDeadline), CreatedAt: now}
		err := s.store.MarkRevocationPending(ctx, cert.ID, reason, job, now)
		if err != nil && !errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("record pending revocation: %w", err)
		}
		if err == nil {
			s.record(ctx, &storage.OrderEvent{OrderID: cert.OrderID, Kind: EventRevocationPending, Actor: actor, Detail: "reason " + allowedReasons[reason]})
			s.nudge()
		}
	}
	p := ServerInternal(cause)
	p.Detail = "the certificate authority could not be reached; the revocation is recorded as pending and is retried until the certificate authority confirms it"
	return p
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
	err = backend.Revoke(ctx, leaf, ca.RevocationReason(cert.RevocationReason))
	switch {
	case err == nil || errors.Is(err, ca.AlreadyRevoked):
		if err := s.store.RevokeCertificate(ctx, cert.ID, cert.RevocationReason, s.clock.Now()); err != nil && !errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("record revocation: %w", err)
		}
		s.record(ctx, &storage.OrderEvent{OrderID: cert.OrderID, Kind: EventRevoked, Actor: "backend:" + backend.Name(), Detail: "confirmed by the certificate authority after a retry"})
		return nil
	case ca.KindOf(err).Permanent() || s.clock.Now().After(j.Deadline):
		// Left revocation-pending for an operator: the timeline says why.
		s.record(ctx, &storage.OrderEvent{OrderID: cert.OrderID, Kind: EventRevocationFailed, Actor: "backend:" + backend.Name(), Detail: publicCause(err)})
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
