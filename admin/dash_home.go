package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// The home page: what needs an operator's attention now.

// homeListLimit bounds each list on the home page; the counts say how many
// there are in all (up to the page size) and link to the full listing.
const homeListLimit = 20

// failedOrder is an order that failed, with the problem that failed it.
type failedOrder struct {
	*storage.Order
	Problem string
}

// jobKindCounts is one line of the job table.
type jobKindCounts struct {
	Kind string
	storage.JobCounts
}

// homeData is what the home page shows.
type homeData struct {
	Pending      []*storage.Order
	Failed       []failedOrder
	FailedMore   bool
	Expiring     []*storage.Certificate
	ExpiringMore bool
	ExpiringAll  int
	Upstream     []*storage.Job
	Jobs         []jobKindCounts
	// ExpiringSince is the expiring-certificates link's filter.
	Since string
}

func (s *Server) homePage(d *dashReq) error {
	ctx := d.r.Context()
	now := s.clock.Now()
	h := &homeData{Since: now.Add(-24 * time.Hour).Format(time.DateOnly)}
	var err error
	if h.Pending, err = s.store.ListPendingApprovals(ctx, ""); err != nil {
		return fmt.Errorf("list pending approvals: %w", err)
	}
	failed, next, err := s.store.ListOrders(ctx, storage.OrderFilter{Status: storage.StatusInvalid, UpdatedSince: now.Add(-24 * time.Hour)},
		storage.Page{Limit: homeListLimit})
	if err != nil {
		return fmt.Errorf("list failed orders: %w", err)
	}
	h.FailedMore = next != ""
	for _, o := range failed {
		h.Failed = append(h.Failed, failedOrder{Order: o, Problem: dashProblemDetail(o.Error)})
	}
	h.Expiring, next, err = s.store.ListCertificates(ctx, ExpiringFilter(now, 30, ""), storage.Page{Limit: homeListLimit})
	if err != nil {
		return fmt.Errorf("list expiring certificates: %w", err)
	}
	h.ExpiringMore = next != ""
	counts, err := s.store.CountExpiringCertificates(ctx, now, now.Add(30*24*time.Hour))
	if err != nil {
		return fmt.Errorf("count expiring certificates: %w", err)
	}
	for _, n := range counts {
		h.ExpiringAll += n
	}
	jobs, err := s.store.ListFailingJobs(ctx, 100)
	if err != nil {
		return fmt.Errorf("list failing jobs: %w", err)
	}
	for _, j := range jobs {
		// Upstream CA errors are those of issuance and revocation jobs;
		// a failing validation is the subscriber's business.
		if (j.Kind == storage.JobIssue || j.Kind == storage.JobRevoke) && len(h.Upstream) < homeListLimit {
			h.Upstream = append(h.Upstream, j)
		}
	}
	jc, err := s.store.CountJobs(ctx, now)
	if err != nil {
		return fmt.Errorf("count jobs: %w", err)
	}
	for k, c := range jc {
		h.Jobs = append(h.Jobs, jobKindCounts{Kind: string(k), JobCounts: c})
	}
	sort.Slice(h.Jobs, func(i, j int) bool { return h.Jobs[i].Kind < h.Jobs[j].Kind })
	s.render(d.w, http.StatusOK, "home", d.view("Needs attention", "home", h))
	return nil
}

// dashProblemDetail is the detail of an RFC 7807 problem document (JSON), or
// its type when it has none.
func dashProblemDetail(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	var p struct {
		Type        string `json:"type"`
		Detail      string `json:"detail"`
		Subproblems []struct {
			Detail     string `json:"detail"`
			Identifier *struct {
				Value string `json:"value"`
			} `json:"identifier"`
		} `json:"subproblems"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return "(unreadable problem document)"
	}
	out := p.Detail
	if out == "" {
		out = p.Type
	}
	for _, sp := range p.Subproblems {
		if sp.Identifier != nil {
			out += "; " + sp.Identifier.Value + ": " + sp.Detail
		} else {
			out += "; " + sp.Detail
		}
	}
	return out
}
