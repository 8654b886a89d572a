package acme

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/acmegate/acmegate/storage"
)

// Entry points for operators (the admin API and the CLI). They do what the
// protocol does on a subscriber's behalf, through the same code, and record
// it in the timeline, the audit trail and the notifications with the
// operator as the actor.

// RevocationReasonError is the error of a revocation reason code that may
// not be given: only the RFC 5280 §5.3.1 codes for end-entity certificates
// an ACME server accepts (0, 1, 3, 4, 5, 9) are. An API answers it with 400.
type RevocationReasonError struct {
	Reason int
}

func (e *RevocationReasonError) Error() string {
	codes := make([]int, 0, len(allowedReasons))
	for c := range allowedReasons {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	list := make([]string, len(codes))
	for i, c := range codes {
		list[i] = strconv.Itoa(c) + " (" + allowedReasons[c] + ")"
	}
	return fmt.Sprintf("revocation reason %d is not accepted; use one of %s", e.Reason, strings.Join(list, ", "))
}

// RevocationReasons maps the reason codes a revocation may give to their
// RFC 5280 names.
func RevocationReasons() map[int]string {
	out := make(map[int]string, len(allowedReasons))
	for c, n := range allowedReasons {
		out[c] = n
	}
	return out
}

// RevokeCertificate revokes the certificate with id certID on the operator
// actor's behalf ("token:NAME", "operator:NAME"), exactly as a subscriber's
// revocation would: the certificate's CA is asked first, and only its
// confirmation makes the certificate revoked. It returns
//   - nil: the certificate is revoked;
//   - an error wrapping ErrRevocationPending: the CA could not be reached;
//     the certificate is revocation-pending and a job retries until the CA
//     confirms;
//   - a *RevocationReasonError for a reason code that may not be given;
//   - an error wrapping storage.ErrNotFound for an unknown certificate;
//   - an error wrapping storage.ErrConflict when it is already revoked or a
//     revocation is already pending;
//   - an error wrapping the CA's *ca.Error when the CA refused.
func (s *Server) RevokeCertificate(ctx context.Context, certID string, reason int, actor string) error {
	if _, ok := allowedReasons[reason]; !ok {
		return &RevocationReasonError{Reason: reason}
	}
	if actor == "" {
		return errors.New("revoke certificate: the operator's name is needed for the audit trail")
	}
	cert, err := s.store.GetCertificate(ctx, certID)
	if err != nil {
		return fmt.Errorf("certificate %s: %w", certID, err)
	}
	switch cert.Status {
	case storage.StatusRevoked:
		return fmt.Errorf("certificate %s was revoked at %s: %w", certID, timeString(cert.RevokedAt), storage.ErrConflict)
	case storage.StatusRevocationPending:
		return fmt.Errorf("a revocation of certificate %s is already pending: %w", certID, storage.ErrConflict)
	}
	block, _ := pem.Decode(cert.ChainPEM)
	if block == nil {
		return fmt.Errorf("certificate %s has no PEM", certID)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("parse certificate %s: %w", certID, err)
	}
	return s.revoke(ctx, cert, leaf, reason, actor)
}
