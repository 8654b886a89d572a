package admin

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// Reports over the certificate inventory. The admin API's listings and
// the `acmegate report` verbs share these functions and the JSON shape of
// a certificate, so an export from either says the same thing.

// CertificateView is a certificate of the inventory as the admin API and
// the reports show it.
type CertificateView struct {
	ID        string         `json:"id"`
	Serial    string         `json:"serial"`
	Directory string         `json:"directory"`
	Names     []string       `json:"names"`
	Status    storage.Status `json:"status"`
	NotBefore time.Time      `json:"not_before"`
	NotAfter  time.Time      `json:"not_after"`
	// DaysLeft counts whole days from the time of the answer to NotAfter
	// (negative once expired).
	DaysLeft    int    `json:"days_left"`
	Issuer      string `json:"issuer"`
	Profile     string `json:"profile,omitempty"`
	Backend     string `json:"backend,omitempty"`
	UpstreamRef string `json:"upstream_ref,omitempty"`
	AccountID   string `json:"account_id,omitempty"`
	OrderID     string `json:"order_id,omitempty"`
	// RevokedAt and RevocationReason (RFC 5280 §5.3.1) are set once the
	// certificate is revoked.
	RevokedAt        *time.Time `json:"revoked_at,omitempty"`
	RevocationReason *int       `json:"revocation_reason,omitempty"`
	ReplacedBy       string     `json:"replaced_by,omitempty"`
	RenewEarly       bool       `json:"renew_early,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
	// ChainPEM is the leaf and its issuers; only the single-certificate
	// answer carries it.
	ChainPEM string `json:"chain_pem,omitempty"`
}

// NewCertificateView is c as shown at now, with its PEM chain when
// withChain is set.
func NewCertificateView(c *storage.Certificate, now time.Time, withChain bool) CertificateView {
	v := CertificateView{
		ID: c.ID, Serial: c.Serial, Directory: c.Directory, Names: c.Names, Status: c.Status,
		NotBefore: c.NotBefore, NotAfter: c.NotAfter, DaysLeft: int(c.NotAfter.Sub(now).Hours() / 24),
		Issuer: c.Issuer, Profile: c.Profile, Backend: c.Backend, UpstreamRef: c.UpstreamRef,
		AccountID: c.AccountID, OrderID: c.OrderID, RevokedAt: timePtr(c.RevokedAt), ReplacedBy: c.ReplacedBy,
		RenewEarly: c.RenewEarly, CreatedAt: c.CreatedAt,
	}
	if v.Names == nil {
		v.Names = []string{}
	}
	if c.Status == storage.StatusRevoked || c.Status == storage.StatusRevocationPending {
		r := c.RevocationReason
		v.RevocationReason = &r
	}
	if withChain {
		v.ChainPEM = string(c.ChainPEM)
	}
	return v
}

// reportPageSize is how many certificates a report reads per query.
const reportPageSize = 1000

// EachCertificate calls fn with every page of the certificates matching
// f, in the order f asks for, until fn fails or the pages run out.
func EachCertificate(ctx context.Context, st storage.InventoryStore, f storage.CertificateFilter, fn func([]*storage.Certificate) error) error {
	p := storage.Page{Limit: reportPageSize}
	for {
		certs, next, err := st.ListCertificates(ctx, f, p)
		if err != nil {
			return fmt.Errorf("list certificates: %w", err)
		}
		if len(certs) > 0 {
			if err := fn(certs); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		p.Cursor = next
	}
}

// collect returns every certificate matching f.
func collect(ctx context.Context, st storage.InventoryStore, f storage.CertificateFilter) ([]*storage.Certificate, error) {
	var all []*storage.Certificate
	err := EachCertificate(ctx, st, f, func(page []*storage.Certificate) error {
		all = append(all, page...)
		return nil
	})
	return all, err
}

// ExpiringFilter selects the valid certificates of directory dir ("" for
// all) that expire within days of now and have not expired yet, soonest
// first.
func ExpiringFilter(now time.Time, days int, dir string) storage.CertificateFilter {
	return storage.CertificateFilter{
		Directory: dir, Status: storage.StatusValid, ByExpiry: true,
		ExpiringAfter: now, ExpiringBefore: now.Add(time.Duration(days) * 24 * time.Hour),
	}
}

// ExpiringCertificates returns the valid certificates of directory dir (""
// for all) that expire within days of now, soonest first.
func ExpiringCertificates(ctx context.Context, st storage.InventoryStore, now time.Time, days int, dir string) ([]*storage.Certificate, error) {
	return collect(ctx, st, ExpiringFilter(now, days, dir))
}

// IssuedCertificates returns the certificates of directory dir ("" for
// all) issued (stored) at or after since, newest first, revoked ones
// included.
func IssuedCertificates(ctx context.Context, st storage.InventoryStore, since time.Time, dir string) ([]*storage.Certificate, error) {
	return collect(ctx, st, storage.CertificateFilter{Directory: dir, IssuedSince: since})
}

// ParseSince reads a report's starting point: an RFC 3339 time, a number
// of days back from now ("7d"), or a Go duration back from now ("36h").
func ParseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if n, ok := strings.CutSuffix(v, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days >= 0 {
			return now.Add(-time.Duration(days) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-31T00:00:00Z), a number of days (7d) nor a duration (36h)", v)
}
