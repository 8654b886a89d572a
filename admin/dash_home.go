package admin

import (
	"encoding/json"
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
	// Since is the failed-orders link's filter, the day the window of
	// FailedHours starts; ExpiryDays is the horizon of Expiring.
	Since       string
	FailedHours int
	ExpiryDays  int
}

func (s *Server) homePage(d *dashReq) error {
	a, err := s.gatherAttention(d.r.Context(), s.clock.Now(), homeListLimit)
	if err != nil {
		return err
	}
	h := &homeData{Pending: a.Pending, FailedMore: a.FailedMore, Expiring: a.Expiring, ExpiringMore: a.ExpiringMore,
		ExpiringAll: a.ExpiringCount, Since: a.FailedSince.Format(time.DateOnly),
		FailedHours: int(attentionFailedWindow / time.Hour), ExpiryDays: attentionExpiryDays}
	for _, o := range a.Failed {
		h.Failed = append(h.Failed, failedOrder{Order: o, Problem: dashProblemDetail(o.Error)})
	}
	for _, j := range a.FailingJobs {
		// Upstream CA errors are those of issuance and revocation jobs;
		// a failing validation is the subscriber's business.
		if (j.Kind == storage.JobIssue || j.Kind == storage.JobRevoke) && len(h.Upstream) < homeListLimit {
			h.Upstream = append(h.Upstream, j)
		}
	}
	for k, c := range a.Jobs {
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
