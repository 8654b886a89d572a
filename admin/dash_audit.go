package admin

import (
	"net/http"

	"github.com/acmegate/acmegate/storage"
)

// The audit log, newest first, filtered and paged.

// auditFilterForm is the audit log's filter form as submitted.
type auditFilterForm struct {
	Actor, Action, Directory, Outcome, Since string
}

// auditData is what the audit log page shows.
type auditData struct {
	Filter      auditFilterForm
	Directories []string
	Outcomes    []string
	Entries     []*storage.AuditEntry
	Pager       dashPager
}

var dashOutcomes = []string{storage.OutcomeSuccess, storage.OutcomeFailure, storage.OutcomeDenied}

// Filters is the audit log's filter form.
func (a *auditData) Filters() filterForm {
	f := a.Filter
	return filterForm{Action: dashboardPrefix + "audit", Fields: []filterField{
		{Kind: "search", Label: "Actor", Name: "actor", Value: f.Actor, Placeholder: "token:alice"},
		{Kind: "search", Label: "Action", Name: "action", Value: f.Action, Placeholder: "order. or order.approve"},
		directoryField(f.Directory, a.Directories),
		choiceField("Outcome", "outcome", f.Outcome, "any", a.Outcomes),
		sinceField("Since", f.Since),
	}}
}

func (s *Server) auditPage(d *dashReq) error {
	form := auditFilterForm{Actor: d.query("actor"), Action: d.query("action"), Directory: d.query("directory"), Since: d.query("since")}
	f := storage.AuditFilter{Actor: form.Actor, Action: form.Action, Directory: form.Directory}
	var err error
	if form.Outcome, err = d.queryEnum("outcome", dashOutcomes...); err != nil {
		return err
	}
	f.Outcome = form.Outcome
	if f.Since, err = d.querySince("since"); err != nil {
		return err
	}
	data := &auditData{Filter: form, Outcomes: dashOutcomes}
	if data.Directories, err = s.directoryNames(d); err != nil {
		return err
	}
	p := d.page()
	entries, next, err := s.store.ListAudit(d.r.Context(), f, p)
	if err != nil {
		return dashListError("list audit entries", p, err)
	}
	data.Entries, data.Pager = entries, d.pagerFor(next)
	s.render(d.w, http.StatusOK, "audit", d.view("Audit log", "audit", data))
	return nil
}
