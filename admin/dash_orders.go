package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/acmegate/acmegate/storage"
)

// Orders: the filtered listing, the order page with its step timeline, and
// the approval forms.

// dashMaxReason bounds an approval or rejection reason (the subscriber
// sees a rejection's in its problem document).
const dashMaxReason = 1000

// orderFilterForm is the orders listing's filter form as submitted.
type orderFilterForm struct {
	Directory, Status, Approval, Name, Since string
	Account                                  string
}

// ordersData is what the orders listing shows.
type ordersData struct {
	Filter      orderFilterForm
	Directories []string
	Statuses    []string
	Approvals   []string
	Orders      []*storage.Order
	Pager       dashPager
}

var (
	dashOrderStatuses = []string{"pending", "processing", "valid", "invalid"}
	dashApprovals     = []string{"pending", "approved", "rejected"}
)

// Filters is the listing's filter form.
func (o *ordersData) Filters() filterForm {
	f := o.Filter
	return filterForm{Action: dashboardPrefix + "orders", Fields: []filterField{
		{Kind: fieldChip, Label: "account", Name: "account", Value: f.Account},
		directoryField(f.Directory, o.Directories),
		choiceField("Status", "status", f.Status, "any", o.Statuses),
		choiceField("Approval", "approval", f.Approval, "any", o.Approvals),
		{Kind: "search", Label: "Name contains", Name: "name", Value: f.Name, Placeholder: "www.example.com"},
		sinceField("Created since", f.Since),
	}}
}

func (s *Server) ordersPage(d *dashReq) error {
	ctx := d.r.Context()
	data := &ordersData{Statuses: dashOrderStatuses, Approvals: dashApprovals}
	f := storage.OrderFilter{Directory: d.query("directory"), Name: d.query("name"), AccountID: d.query("account")}
	status, err := d.queryEnum("status", dashOrderStatuses...)
	if err != nil {
		return err
	}
	approval, err := d.queryEnum("approval", dashApprovals...)
	if err != nil {
		return err
	}
	f.Status, f.Approval = storage.Status(status), storage.ApprovalState(approval)
	if f.CreatedSince, err = d.querySince("since"); err != nil {
		return err
	}
	data.Filter = orderFilterForm{Directory: f.Directory, Status: status, Approval: approval, Name: f.Name, Since: d.query("since"), Account: f.AccountID}
	if data.Directories, err = s.directoryNames(d); err != nil {
		return err
	}
	p := d.page()
	orders, next, err := s.store.ListOrders(ctx, f, p)
	if err != nil {
		return dashListError("list orders", p, err)
	}
	data.Orders, data.Pager = orders, d.pagerFor(next)
	s.render(d.w, http.StatusOK, "orders", d.view("Orders", "orders", data))
	return nil
}

// directoryNames lists the directories for filter menus.
func (s *Server) directoryNames(d *dashReq) ([]string, error) {
	dirs, err := s.store.ListDirectories(d.r.Context())
	if err != nil {
		return nil, fmt.Errorf("list directories: %w", err)
	}
	names := make([]string, len(dirs))
	for i, dir := range dirs {
		names[i] = dir.Name
	}
	return names, nil
}

// authzRow is one authorization of an order page.
type authzRow struct {
	*storage.Authorization
	Name       string
	Challenges string
	Problem    string
}

// orderData is what the order page shows.
type orderData struct {
	Order *storage.Order
	// Status is the order's status as a client sees it (pending orders
	// whose authorizations are all valid are ready).
	Status   string
	Problem  string
	Account  *storage.Account
	Authzs   []authzRow
	Timeline []timelineStep
	// Decidable: the approval is pending and has not lapsed.
	Decidable bool
	Reason    string
}

func (s *Server) orderPage(d *dashReq) error {
	return s.showOrder(d, mux.Vars(d.r)["id"], http.StatusOK, d.flash(), "", "")
}

// showOrder renders order id's page at status, with a confirmation or a
// refusal, and the reason the operator typed (kept after a refusal).
func (s *Server) showOrder(d *dashReq, id string, status int, flash, refusal, reason string) error {
	ctx := d.r.Context()
	o, err := s.store.GetOrder(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return dashErrorf(http.StatusNotFound, "There is no order %q.", id)
	}
	if err != nil {
		return fmt.Errorf("read order %s: %w", id, err)
	}
	now := s.clock.Now()
	data := &orderData{Order: o, Status: string(o.Status), Problem: dashProblemDetail(o.Error), Reason: reason}
	data.Decidable = o.Approval == storage.ApprovalPending && now.Before(o.ApprovalDeadline)
	var authzs []*storage.Authorization
	if len(o.AuthzIDs) > 0 {
		if authzs, err = s.store.GetAuthorizations(ctx, o.AuthzIDs); err != nil {
			return fmt.Errorf("read the authorizations of order %s: %w", o.ID, err)
		}
	}
	ready := o.Status == storage.StatusPending && len(authzs) > 0
	for _, a := range authzs {
		row := authzRow{Authorization: a, Name: a.Identifier.Value}
		if a.Wildcard {
			row.Name = "*." + row.Name
		}
		var chs []string
		for _, ch := range a.Challenges {
			chs = append(chs, string(ch.Type)+" "+string(ch.Status))
			if p := dashProblemDetail(ch.Error); p != "" {
				row.Problem = p
			}
		}
		row.Challenges = strings.Join(chs, ", ")
		if a.Status != storage.StatusValid || !now.Before(a.Expires) {
			ready = false
		}
		// RFC 8555 §7.1.6: one invalid authorization makes the order
		// invalid, although storage keeps it pending.
		if a.Status == storage.StatusInvalid && o.Status == storage.StatusPending {
			data.Status = string(storage.StatusInvalid)
		}
		data.Authzs = append(data.Authzs, row)
	}
	if ready {
		data.Status = string(storage.StatusReady)
	}
	if o.Status == storage.StatusPending && data.Status == string(storage.StatusPending) && !now.Before(o.Expires) {
		data.Status = string(storage.StatusExpired)
	}
	acct, err := s.store.GetAccount(ctx, o.AccountID)
	switch {
	case err == nil:
		data.Account = acct
	case !errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("read account %s: %w", o.AccountID, err)
	}
	events, err := s.store.ListOrderEvents(ctx, o.ID, o.AuthzIDs)
	if err != nil {
		return fmt.Errorf("read the timeline of order %s: %w", o.ID, err)
	}
	data.Timeline = buildTimeline(o, acct, authzs, events, now)
	v := d.view("Order "+o.ID, "orders", data)
	v.Flash, v.Error = flash, refusal
	s.render(d.w, status, "order", v)
	return nil
}

func (s *Server) approveForm(d *dashReq) error { return s.decide(d, true) }
func (s *Server) rejectForm(d *dashReq) error  { return s.decide(d, false) }

// decide approves or rejects an order awaiting approval, in the name of
// the session's token. Refusals (no reason, nothing pending, lapsed) show
// the order page again with the reason; every outcome is audited.
func (s *Server) decide(d *dashReq, approve bool) error {
	ctx := d.r.Context()
	id := mux.Vars(d.r)["id"]
	reason := strings.TrimSpace(d.r.PostForm.Get("reason"))
	o, err := s.store.GetOrder(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return dashErrorf(http.StatusNotFound, "There is no order %q.", id)
	}
	if err != nil {
		return fmt.Errorf("read order %s: %w", id, err)
	}
	refuse := func(status int, msg string) error {
		if err := d.audit(o.Directory, storage.OutcomeFailure, msg); err != nil {
			return err
		}
		return s.showOrder(d, id, status, "", msg, reason)
	}
	switch {
	case !approve && reason == "":
		return s.showOrder(d, id, http.StatusUnprocessableEntity, "", "A rejection needs a reason: the subscriber sees it.", reason)
	case len(reason) > dashMaxReason:
		return s.showOrder(d, id, http.StatusUnprocessableEntity, "", fmt.Sprintf("The reason may be at most %d characters long.", dashMaxReason), reason)
	case o.Approval != storage.ApprovalPending:
		return refuse(http.StatusConflict, "The order is not awaiting approval (any more).")
	case !s.clock.Now().Before(o.ApprovalDeadline):
		return refuse(http.StatusConflict, "The approval lapsed at "+dashTime(o.ApprovalDeadline)+" UTC.")
	case s.cfg.Approvals == nil:
		return dashErrorf(http.StatusServiceUnavailable, "This server was started without the approval workflow.")
	}
	if approve {
		err = s.cfg.Approvals.Approve(ctx, id, d.tok.Name, reason)
	} else {
		err = s.cfg.Approvals.Reject(ctx, id, d.tok.Name, reason)
	}
	if err != nil {
		// Another operator, or the deadline, may have decided first.
		if cur, gerr := s.store.GetOrder(ctx, id); gerr == nil && cur.Approval != storage.ApprovalPending {
			return refuse(http.StatusConflict, "The order was decided by someone else in the meantime.")
		}
		return err
	}
	verb := map[bool]string{true: "approved", false: "rejected"}[approve]
	detail := verb + " order " + id
	if reason != "" {
		detail += ": " + reason
	}
	if err := d.audit(o.Directory, storage.OutcomeSuccess, detail); err != nil {
		return err
	}
	d.redirect(dashboardPrefix+"orders/"+url.PathEscape(id), verb)
	return nil
}

// timeUntil says how long until t, rounded for display.
func timeUntil(t, now time.Time) string {
	d := t.Sub(now).Round(time.Minute)
	switch {
	case d <= 0:
		return "lapsed"
	case d >= 48*time.Hour:
		return fmt.Sprintf("in %d days", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("in %d h", int(d.Hours()))
	}
	return fmt.Sprintf("in %d min", int(d.Minutes()))
}
