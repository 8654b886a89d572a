package admin

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/storage"
)

// Certificates: the inventory with its filters and CSV export, the
// certificate page and the revocation form.

var dashCertStatuses = []string{"valid", "revoked", "revocation-pending"}

// dashMaxDays bounds the "expiring within" filter (ten years).
const dashMaxDays = 3650

// certFilterForm is the inventory's filter form as submitted.
type certFilterForm struct {
	Directory, Name, Status, Sort string
	Days                          string
}

// certificatesData is what the inventory shows.
type certificatesData struct {
	Filter      certFilterForm
	Directories []string
	Statuses    []string
	Certs       []*storage.Certificate
	Pager       dashPager
	// CSV is the export link with the same filters.
	CSV string
}

// Filters is the inventory's filter form.
func (c *certificatesData) Filters() filterForm {
	f := c.Filter
	return filterForm{Action: dashboardPrefix + "certificates", Export: c.CSV, Fields: []filterField{
		directoryField(f.Directory, c.Directories),
		choiceField("Status", "status", f.Status, "any", c.Statuses),
		{Kind: "search", Label: "Name contains", Name: "name", Value: f.Name, Placeholder: "example.com"},
		{Kind: "number", Label: "Expiring within (days)", Name: "days", Value: f.Days, Min: "0", Max: strconv.Itoa(dashMaxDays), Placeholder: "30"},
		selectField("Sort", "sort", f.Sort,
			filterOption{Value: "", Label: "default"},
			filterOption{Value: "expiry", Label: "expiry, soonest first"},
			filterOption{Value: "newest", Label: "newest first"}),
	}}
}

// certFilter reads the inventory's filters from the query.
func (d *dashReq) certFilter() (storage.CertificateFilter, certFilterForm, error) {
	form := certFilterForm{Directory: d.query("directory"), Name: d.query("name"), Days: d.query("days")}
	f := storage.CertificateFilter{Directory: form.Directory, Name: form.Name}
	var err error
	if form.Status, err = d.queryEnum("status", dashCertStatuses...); err != nil {
		return f, form, err
	}
	f.Status = storage.Status(form.Status)
	if form.Sort, err = d.queryEnum("sort", "expiry", "newest"); err != nil {
		return f, form, err
	}
	f.ByExpiry = form.Sort == "expiry"
	days, err := d.queryInt("days", -1)
	if err != nil {
		return f, form, err
	}
	if days > dashMaxDays {
		return f, form, dashErrorf(http.StatusBadRequest, "days may be at most %d", dashMaxDays)
	}
	if days >= 0 {
		// "Expiring within N days" leaves out what has already expired
		// and sorts by expiry unless told otherwise.
		now := d.s.clock.Now()
		f.ExpiringAfter, f.ExpiringBefore = now, now.Add(time.Duration(days)*24*time.Hour)
		if form.Sort == "" {
			f.ByExpiry = true
		}
	}
	return f, form, nil
}

func (s *Server) certificatesPage(d *dashReq) error {
	f, form, err := d.certFilter()
	if err != nil {
		return err
	}
	data := &certificatesData{Filter: form, Statuses: dashCertStatuses}
	if data.Directories, err = s.directoryNames(d); err != nil {
		return err
	}
	p := d.page()
	certs, next, err := s.store.ListCertificates(d.r.Context(), f, p)
	if err != nil {
		return dashListError("list certificates", p, err)
	}
	data.Certs, data.Pager = certs, d.pagerFor(next)
	q := d.r.URL.Query()
	q.Del("cursor")
	data.CSV = dashboardPrefix + "certificates.csv"
	if len(q) > 0 {
		data.CSV += "?" + q.Encode()
	}
	s.render(d.w, http.StatusOK, "certificates", d.view("Certificates", "certificates", data))
	return nil
}

// certificatesCSV exports every certificate the filters select, page by
// page, as the admin API and the reports do.
func (s *Server) certificatesCSV(d *dashReq) error {
	f, _, err := d.certFilter()
	if err != nil {
		return err
	}
	now := s.clock.Now()
	h := d.w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="certificates-`+now.UTC().Format("20060102-150405")+`.csv"`)
	out := NewCertificatesCSV(d.w, now)
	started := false
	err = EachCertificate(d.r.Context(), s.store, f, func(page []*storage.Certificate) error {
		started = true
		return out.Write(page)
	})
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		if !started {
			h.Del("Content-Disposition")
			return err
		}
		// Half an export must not look like a whole one: cut the
		// connection.
		s.log.Error("certificate export failed midway", slog.Any("error", err))
		panic(http.ErrAbortHandler)
	}
	return nil
}

// certificateData is what the certificate page shows.
type certificateData struct {
	Cert *storage.Certificate
	// Reasons are the revocation reasons an operator may give, by code.
	Reasons   []revocationReason
	CanRevoke bool
}

type revocationReason struct {
	Code int
	Name string
}

func (s *Server) certificatePage(d *dashReq) error {
	return s.showCertificate(d, mux.Vars(d.r)["id"], http.StatusOK, d.flash(), "")
}

func (s *Server) showCertificate(d *dashReq, id string, status int, flash, refusal string) error {
	c, err := s.store.GetCertificate(d.r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return dashErrorf(http.StatusNotFound, "There is no certificate %q.", id)
	}
	if err != nil {
		return fmt.Errorf("read certificate %s: %w", id, err)
	}
	data := &certificateData{Cert: c, CanRevoke: c.Status == storage.StatusValid && s.cfg.Revoker != nil}
	for code, name := range acme.RevocationReasons() {
		data.Reasons = append(data.Reasons, revocationReason{Code: code, Name: name})
	}
	sort.Slice(data.Reasons, func(i, j int) bool { return data.Reasons[i].Code < data.Reasons[j].Code })
	v := d.view("Certificate "+c.Serial, "certificates", data)
	v.Flash, v.Error = flash, refusal
	s.render(d.w, status, "certificate", v)
	return nil
}

// revokeForm revokes a certificate in the session token's name, as a
// subscriber's revocation would: the CA first.
func (s *Server) revokeForm(d *dashReq) error {
	ctx := d.r.Context()
	id := mux.Vars(d.r)["id"]
	c, err := s.store.GetCertificate(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return dashErrorf(http.StatusNotFound, "There is no certificate %q.", id)
	}
	if err != nil {
		return fmt.Errorf("read certificate %s: %w", id, err)
	}
	if s.cfg.Revoker == nil {
		return dashErrorf(http.StatusServiceUnavailable, "This server was started without revocation.")
	}
	reason, err := strconv.Atoi(d.r.PostForm.Get("reason"))
	if err != nil {
		return s.showCertificate(d, id, http.StatusUnprocessableEntity, "", "Choose a revocation reason.")
	}
	err = s.cfg.Revoker.RevokeCertificate(ctx, id, reason, AuditActor(d.tok))
	var rre *acme.RevocationReasonError
	switch {
	case err == nil:
		if err := d.audit(c.Directory, storage.OutcomeSuccess, fmt.Sprintf("revoked certificate %s (serial %s), reason %d", id, c.Serial, reason)); err != nil {
			return err
		}
		d.redirect(dashboardPrefix+"certificates/"+url.PathEscape(id), "revoked")
		return nil
	case errors.Is(err, acme.ErrRevocationPending):
		if err := d.audit(c.Directory, storage.OutcomeSuccess, fmt.Sprintf("revocation of certificate %s (serial %s) pending at the CA, reason %d", id, c.Serial, reason)); err != nil {
			return err
		}
		d.redirect(dashboardPrefix+"certificates/"+url.PathEscape(id), "revoke-pending")
		return nil
	case errors.As(err, &rre):
		return s.showCertificate(d, id, http.StatusUnprocessableEntity, "", rre.Error())
	case errors.Is(err, storage.ErrConflict):
		if aerr := d.audit(c.Directory, storage.OutcomeFailure, "already revoked or revocation pending"); aerr != nil {
			return aerr
		}
		return s.showCertificate(d, id, http.StatusConflict, "", "The certificate is already revoked, or its revocation is pending.")
	}
	if aerr := d.audit(c.Directory, storage.OutcomeFailure, "the certificate authority refused or failed the revocation"); aerr != nil {
		return aerr
	}
	s.log.Warn("dashboard revocation failed", slog.String("certificate", id), slog.Any("error", err))
	return s.showCertificate(d, id, http.StatusBadGateway, "", "The certificate authority refused or failed the revocation; the server log has its answer.")
}
