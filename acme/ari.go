package acme

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/acmegate/acmegate/storage"
)

// ACME Renewal Information (ARI, RFC 9773): clients ask when to renew each
// certificate and say which certificate a new order replaces.

// ariRetryAfter is how often clients should ask again (RFC 9773 §4.3
// suggests hours).
const ariRetryAfter = 6 * time.Hour

// defaultRenewalFraction places the suggested window at two thirds of a
// certificate's lifetime, where most ACME clients renew anyway.
const defaultRenewalFraction = 2.0 / 3.0

// certID is the RFC 9773 §4.1 unique identifier of a certificate:
// base64url(AKI keyIdentifier) "." base64url(DER serial content octets).
func certID(c *x509.Certificate) string {
	return base64.RawURLEncoding.EncodeToString(c.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(serialOctets(c.SerialNumber))
}

// serialOctets are the DER content octets of a positive serial: big-endian
// with a leading zero when the high bit is set.
func serialOctets(n *big.Int) []byte {
	b := n.Bytes()
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	return b
}

// findByCertID returns the stored certificate and its leaf for an ARI
// certificate identifier, or a problem.
func (s *Server) findByCertID(ctx context.Context, dir, id string) (*storage.Certificate, *x509.Certificate, error) {
	akiPart, serialPart, ok := strings.Cut(id, ".")
	aki, err1 := base64.RawURLEncoding.DecodeString(akiPart)
	serial, err2 := base64.RawURLEncoding.DecodeString(serialPart)
	if !ok || err1 != nil || err2 != nil || len(aki) == 0 || len(serial) == 0 {
		return nil, nil, Malformed("%q is not an ARI certificate identifier (base64url AKI, a dot, base64url serial)", truncate(id, 128))
	}
	cert, err := s.store.GetCertificateBySerial(ctx, new(big.Int).SetBytes(serial).Text(16))
	if errors.Is(err, storage.ErrNotFound) || (err == nil && cert.Directory != dir) {
		return nil, nil, notFound("certificate")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read certificate: %w", err)
	}
	block, _ := pem.Decode(cert.ChainPEM)
	if block == nil {
		return nil, nil, fmt.Errorf("certificate %s has no PEM", cert.ID)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse certificate %s: %w", cert.ID, err)
	}
	if certID(leaf) != id {
		return nil, nil, notFound("certificate")
	}
	return cert, leaf, nil
}

type renewalInfo struct {
	SuggestedWindow struct {
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"suggestedWindow"`
	ExplanationURL string `json:"explanationURL,omitempty"`
}

// handleRenewalInfo answers GET renewalInfo/{certID} (RFC 9773 §4.2): a
// short window around the profile's renewal point, or a window in the past
// for a revoked certificate or one an operator flagged for early renewal.
func (s *Server) handleRenewalInfo(w http.ResponseWriter, r *http.Request, d *directory) error {
	cert, _, err := s.findByCertID(r.Context(), d.name, mux.Vars(r)["certID"])
	if err != nil {
		return err
	}
	start, end := s.renewalWindow(d, cert)
	var out renewalInfo
	out.SuggestedWindow.Start, out.SuggestedWindow.End = timeString(start), timeString(end)
	setRetryAfter(w, ariRetryAfter)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) renewalWindow(d *directory, cert *storage.Certificate) (time.Time, time.Time) {
	now := s.clock.Now()
	if cert.Status == storage.StatusRevoked || cert.Status == storage.StatusRevocationPending || cert.RenewEarly {
		// RFC 9773 §4.2: a window in the past means "renew now".
		return now.Add(-2 * time.Hour), now.Add(-time.Hour)
	}
	fraction := defaultRenewalFraction
	if p, ok := d.profiles[cert.Profile]; ok && p.RenewalFraction > 0 && p.RenewalFraction < 1 {
		fraction = p.RenewalFraction
	}
	life := cert.NotAfter.Sub(cert.NotBefore)
	center := cert.NotBefore.Add(time.Duration(float64(life) * fraction))
	half := life / 60 // 1.5 days of a 90-day certificate
	return center.Add(-half).Truncate(time.Second), center.Add(half).Truncate(time.Second)
}

// checkReplaces resolves newOrder's "replaces" (RFC 9773 §5): the
// certificate must be one of this account's, share an identifier with the
// order, and not be replaced already.
func (s *Server) checkReplaces(ctx context.Context, d *directory, acct *storage.Account, id string, ids []storage.Identifier) (*storage.Certificate, error) {
	cert, _, err := s.findByCertID(ctx, d.name, id)
	if err != nil {
		return nil, err
	}
	if cert.AccountID != acct.ID {
		return nil, Unauthorized("the certificate named in replaces belongs to another account")
	}
	if cert.ReplacedBy != "" {
		return nil, AlreadyReplaced("the certificate %s is already replaced by order %s", id, s.orderURL(d.name, cert.ReplacedBy))
	}
	shared := false
	for _, n := range cert.Names {
		for _, oid := range ids {
			if strings.EqualFold(n, oid.Value) {
				shared = true
			}
		}
	}
	if !shared {
		return nil, Malformed("the order shares no identifier with the certificate it replaces")
	}
	return cert, nil
}
