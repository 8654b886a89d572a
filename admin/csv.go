package admin

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// certificateCSVHeader is the first line of every inventory export; reports
// and the API write the same columns.
var certificateCSVHeader = []string{
	"id", "serial", "directory", "names", "status", "not_before", "not_after",
	"days_left", "issuer", "profile", "backend", "upstream_ref", "account_id", "order_id",
	"revoked_at", "revocation_reason", "created_at",
}

// WriteCertificatesCSV writes certs as CSV with a header line; days_left is
// counted from now.
func WriteCertificatesCSV(w io.Writer, certs []*storage.Certificate, now time.Time) error {
	cw := NewCertificatesCSV(w, now)
	if err := cw.Write(certs); err != nil {
		return err
	}
	return cw.Flush()
}

// CertificatesCSV writes an inventory export page by page, so an export of
// any size streams: the header line comes first, once, even when no
// certificate follows.
type CertificatesCSV struct {
	cw     *csv.Writer
	now    time.Time
	header bool
}

// NewCertificatesCSV starts an export to w; days_left is counted from now.
func NewCertificatesCSV(w io.Writer, now time.Time) *CertificatesCSV {
	return &CertificatesCSV{cw: csv.NewWriter(w), now: now}
}

// Write adds certs to the export.
func (x *CertificatesCSV) Write(certs []*storage.Certificate) error {
	if !x.header {
		if err := x.cw.Write(certificateCSVHeader); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
		x.header = true
	}
	for _, c := range certs {
		rec := []string{
			c.ID, c.Serial, c.Directory, strings.Join(c.Names, " "), string(c.Status),
			csvTime(c.NotBefore), csvTime(c.NotAfter),
			strconv.Itoa(int(c.NotAfter.Sub(x.now).Hours() / 24)),
			c.Issuer, c.Profile, c.Backend, c.UpstreamRef, c.AccountID, c.OrderID,
			csvTime(c.RevokedAt), csvReason(c), csvTime(c.CreatedAt),
		}
		for i, f := range rec {
			rec[i] = csvSafe(f)
		}
		if err := x.cw.Write(rec); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	return nil
}

// Flush writes out what is buffered (the header at least).
func (x *CertificatesCSV) Flush() error {
	if err := x.Write(nil); err != nil {
		return err
	}
	x.cw.Flush()
	if err := x.cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func csvReason(c *storage.Certificate) string {
	if c.Status != storage.StatusRevoked {
		return ""
	}
	return strconv.Itoa(c.RevocationReason)
}

// csvSafe defuses spreadsheet formula injection: a subscriber chooses the
// names in its CSR, and a cell starting with = + - @ would be evaluated by
// the spreadsheet an operator opens the export in.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
