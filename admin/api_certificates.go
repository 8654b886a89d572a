package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/storage"
)

// The certificate inventory: listings with filters, one certificate with
// its chain, the chain as PEM, a CSV export, and revocation.

var certificateStatuses = []string{string(storage.StatusValid), string(storage.StatusRevoked), string(storage.StatusRevocationPending)}

// maxExpiryDays bounds expiring_within_days (ten years).
const maxExpiryDays = 3650

// certificateFilter reads the inventory filters of a listing or export.
func (c *call) certificateFilter(now time.Time) (storage.CertificateFilter, error) {
	if err := c.checkQuery("directory", "name", "status", "expiring_before", "expiring_within_days", "issued_since", "sort"); err != nil {
		return storage.CertificateFilter{}, err
	}
	f := storage.CertificateFilter{Directory: c.query("directory"), Name: c.query("name")}
	status, err := c.queryEnum("status", certificateStatuses...)
	if err != nil {
		return f, err
	}
	f.Status = storage.Status(status)
	if f.ExpiringBefore, err = c.queryTime("expiring_before"); err != nil {
		return f, err
	}
	if c.query("expiring_within_days") != "" {
		if !f.ExpiringBefore.IsZero() {
			return f, invalid("expiring_within_days", "give either expiring_before or expiring_within_days, not both")
		}
		days, err := c.queryInt("expiring_within_days", 0, maxExpiryDays)
		if err != nil {
			return f, err
		}
		// "Expiring within N days" leaves out what has already expired.
		f.ExpiringAfter, f.ExpiringBefore = now, now.Add(time.Duration(days)*24*time.Hour)
	}
	if f.IssuedSince, err = c.queryTime("issued_since"); err != nil {
		return f, err
	}
	sort, err := c.queryEnum("sort", "expiry", "created")
	if err != nil {
		return f, err
	}
	f.ByExpiry = sort == "expiry"
	return f, nil
}

func (s *Server) listCertificates(c *call) error {
	now := s.clock.Now()
	f, err := c.certificateFilter(now)
	if err != nil {
		return err
	}
	p, err := c.page()
	if err != nil {
		return err
	}
	certs, next, err := s.store.ListCertificates(c.r.Context(), f, p)
	if err != nil {
		return listError(fmt.Errorf("list certificates: %w", err), p)
	}
	views := make([]CertificateView, len(certs))
	for i, cert := range certs {
		views[i] = NewCertificateView(cert, now, false)
	}
	replyPage(c, views, next)
	return nil
}

// exportCertificates streams every certificate matching the filters as
// CSV, page after page; a failure midway cuts the connection.
func (s *Server) exportCertificates(c *call) error {
	now := s.clock.Now()
	f, err := c.certificateFilter(now)
	if err != nil {
		return err
	}
	if c.query("cursor") != "" || c.query("limit") != "" {
		return invalid("cursor", "the CSV export holds every matching certificate; it takes no cursor or limit")
	}
	ctx := c.r.Context()
	// Read the first page before answering, so that a database failure
	// is still a clean 500.
	certs, next, err := s.store.ListCertificates(ctx, f, storage.Page{Limit: reportPageSize})
	if err != nil {
		return fmt.Errorf("list certificates: %w", err)
	}
	c.w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	c.w.Header().Set("Content-Disposition", `attachment; filename="certificates-`+now.Format("20060102T150405Z")+`.csv"`)
	c.w.WriteHeader(http.StatusOK)
	c.written = true
	out := NewCertificatesCSV(c.w, now)
	for {
		if err := out.Write(certs); err != nil {
			return err
		}
		if next == "" {
			return out.Flush()
		}
		if certs, next, err = s.store.ListCertificates(ctx, f, storage.Page{Cursor: next, Limit: reportPageSize}); err != nil {
			return fmt.Errorf("list certificates: %w", err)
		}
	}
}

func (s *Server) loadCertificate(c *call) (*storage.Certificate, error) {
	id := c.vars("id")
	cert, err := s.store.GetCertificate(c.r.Context(), id)
	if err != nil {
		return nil, storeError(err, fmt.Sprintf("certificate %q", id))
	}
	return cert, nil
}

func (s *Server) getCertificate(c *call) error {
	cert, err := s.loadCertificate(c)
	if err != nil {
		return err
	}
	c.reply(http.StatusOK, NewCertificateView(cert, s.clock.Now(), true))
	return nil
}

// getCertificatePEM answers with the chain as RFC 8555 §9.1 serves it.
func (s *Server) getCertificatePEM(c *call) error {
	cert, err := s.loadCertificate(c)
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "application/pem-certificate-chain")
	c.w.Header().Set("Content-Length", strconv.Itoa(len(cert.ChainPEM)))
	c.w.WriteHeader(http.StatusOK)
	c.written = true
	_, _ = c.w.Write(cert.ChainPEM)
	return nil
}

// parseReason reads a revocation reason given as its RFC 5280 §5.3.1 code
// or name; absent means 0 (unspecified). Only the reasons the protocol
// layer accepts for end-entity certificates are taken.
func parseReason(raw json.RawMessage) (int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	reasons := acme.RevocationReasons()
	var names []string
	for code, n := range reasons {
		names = append(names, fmt.Sprintf("%d (%s)", code, n))
	}
	slices.Sort(names)
	allowed := strings.Join(names, ", ")
	var code int
	if err := json.Unmarshal(raw, &code); err == nil {
		if _, ok := reasons[code]; ok {
			return code, nil
		}
		return 0, invalid("reason", "code %d is not accepted; use one of %s", code, allowed)
	}
	var name string
	if err := json.Unmarshal(raw, &name); err != nil {
		return 0, invalid("reason", "must be an RFC 5280 reason code or name, such as 1 or \"keyCompromise\"")
	}
	for code, n := range reasons {
		if n == name {
			return code, nil
		}
	}
	return 0, invalid("reason", "%q is not accepted; use one of %s", name, allowed)
}

func (s *Server) revokeCertificate(c *call) error {
	var req struct {
		Reason json.RawMessage `json:"reason"`
	}
	if err := c.decodeBody(&req, true); err != nil {
		return err
	}
	reason, err := parseReason(req.Reason)
	if err != nil {
		return err
	}
	cert, err := s.loadCertificate(c)
	if err != nil {
		return err
	}
	c.dir = cert.Directory
	switch cert.Status {
	case storage.StatusRevoked:
		return conflict("certificate %s was already revoked at %s", cert.ID, cert.RevokedAt.Format(time.RFC3339))
	case storage.StatusRevocationPending:
		return conflict("certificate %s is already being revoked: the CA has not confirmed it yet", cert.ID)
	}
	if s.cfg.Revoker == nil {
		return unavailable("this server was started without revocation")
	}
	ctx := c.r.Context()
	err = s.cfg.Revoker.RevokeCertificate(ctx, cert.ID, reason, c.actor())
	var (
		reasonErr *acme.RevocationReasonError
		caErr     *ca.Error
	)
	switch {
	case err == nil, errors.Is(err, acme.ErrRevocationPending):
	case errors.As(err, &reasonErr):
		return invalid("reason", "%v", reasonErr)
	case errors.Is(err, storage.ErrConflict):
		return conflict("certificate %s was revoked, or its revocation asked for, by someone else meanwhile", cert.ID)
	case errors.As(err, &caErr):
		return newAPIError(kindUpstream, http.StatusBadGateway, "the certificate authority refused the revocation: %s", caErr.Detail)
	default:
		return storeError(err, fmt.Sprintf("certificate %q", cert.ID))
	}
	if cert, err = s.store.GetCertificate(ctx, cert.ID); err != nil {
		return fmt.Errorf("read the revoked certificate: %w", err)
	}
	status := http.StatusOK
	c.detail = fmt.Sprintf("revoked certificate %s (serial %s) with reason %d", cert.ID, cert.Serial, reason)
	if cert.Status == storage.StatusRevocationPending {
		// The CA could not be reached: a job retries the revocation.
		status = http.StatusAccepted
		c.detail = fmt.Sprintf("asked for the revocation of certificate %s (serial %s) with reason %d; the CA has not confirmed it yet", cert.ID, cert.Serial, reason)
	}
	c.reply(status, NewCertificateView(cert, s.clock.Now(), false))
	return nil
}
