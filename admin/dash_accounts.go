package admin

import (
	"net/http"

	"github.com/acmegate/acmegate/storage"
)

// The ACME accounts, newest first, by directory and status.

// accountsData is what the accounts page shows.
type accountsData struct {
	Directory, Status string
	Directories       []string
	Statuses          []string
	Accounts          []*storage.Account
	Pager             dashPager
}

var dashAccountStatuses = []string{"valid", "deactivated", "revoked"}

func (s *Server) accountsPage(d *dashReq) error {
	data := &accountsData{Directory: d.query("directory"), Statuses: dashAccountStatuses}
	var err error
	if data.Status, err = d.queryEnum("status", dashAccountStatuses...); err != nil {
		return err
	}
	if data.Directories, err = s.directoryNames(d); err != nil {
		return err
	}
	p := d.page()
	accts, next, err := s.store.ListAccounts(d.r.Context(), storage.AccountFilter{Directory: data.Directory, Status: storage.Status(data.Status)}, p)
	if err != nil {
		return dashListError("list accounts", p, err)
	}
	data.Accounts, data.Pager = accts, d.pagerFor(next)
	s.render(d.w, http.StatusOK, "accounts", d.view("Accounts", "accounts", data))
	return nil
}
