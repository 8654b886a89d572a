package admin

import (
	"net/http"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// The summary is what needs an operator's attention (see attention.go),
// as JSON.

// summaryListed caps each list of the summary; counts are exact unless
// marked truncated.
const summaryListed = 100

type summaryView struct {
	GeneratedAt          time.Time        `json:"generated_at"`
	PendingApprovals     summaryOrders    `json:"pending_approvals"`
	FailedOrders         summaryOrders    `json:"failed_orders"`
	ExpiringCertificates summaryExpiring  `json:"expiring_certificates"`
	FailingJobs          summaryFailedJob `json:"failing_jobs"`
}

type summaryOrders struct {
	// Since is the start of the window, for failed orders.
	Since *time.Time `json:"since,omitempty"`
	Count int        `json:"count"`
	// Truncated: there are more than Count (the list holds the first ones).
	Truncated bool        `json:"truncated,omitempty"`
	Orders    []orderView `json:"orders"`
}

type summaryExpiring struct {
	Days        int               `json:"days"`
	Count       int               `json:"count"`
	ByDirectory map[string]int    `json:"by_directory"`
	Truncated   bool              `json:"truncated,omitempty"`
	Items       []CertificateView `json:"certificates"`
}

type summaryFailedJob struct {
	Count  int                               `json:"count"`
	ByKind map[storage.JobKind]jobCountsView `json:"by_kind"`
	Jobs   []jobView                         `json:"jobs"`
}

type jobCountsView struct {
	Queued  int `json:"queued"`
	Running int `json:"running"`
	Failing int `json:"failing"`
}

// jobView is a background job that failed at least once.
type jobView struct {
	ID        string          `json:"id"`
	Kind      storage.JobKind `json:"kind"`
	Ref       string          `json:"ref"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error"`
	RunAt     time.Time       `json:"run_at"`
	Deadline  time.Time       `json:"deadline"`
	CreatedAt time.Time       `json:"created_at"`
}

func (s *Server) getSummary(c *call) error {
	if err := c.checkQuery(); err != nil {
		return err
	}
	now := s.clock.Now()
	a, err := s.gatherAttention(c.r.Context(), now, summaryListed)
	if err != nil {
		return err
	}
	v := summaryView{GeneratedAt: now}

	v.PendingApprovals = summaryOrders{Count: len(a.Pending), Orders: []orderView{}}
	for i, o := range a.Pending {
		if i == summaryListed {
			v.PendingApprovals.Truncated = true
			break
		}
		v.PendingApprovals.Orders = append(v.PendingApprovals.Orders, newOrderView(o))
	}

	v.FailedOrders = summaryOrders{Since: &a.FailedSince, Count: len(a.Failed), Truncated: a.FailedMore, Orders: make([]orderView, len(a.Failed))}
	for i, o := range a.Failed {
		v.FailedOrders.Orders[i] = newOrderView(o)
	}

	v.ExpiringCertificates = summaryExpiring{Days: attentionExpiryDays, Count: a.ExpiringCount, ByDirectory: a.ExpiringByDirectory,
		Truncated: a.ExpiringMore, Items: make([]CertificateView, len(a.Expiring))}
	for i, cert := range a.Expiring {
		v.ExpiringCertificates.Items[i] = NewCertificateView(cert, now, false)
	}

	v.FailingJobs = summaryFailedJob{Count: a.FailingCount, ByKind: map[storage.JobKind]jobCountsView{}, Jobs: make([]jobView, len(a.FailingJobs))}
	for k, n := range a.Jobs {
		v.FailingJobs.ByKind[k] = jobCountsView{Queued: n.Queued, Running: n.Running, Failing: n.Failing}
	}
	for i, j := range a.FailingJobs {
		v.FailingJobs.Jobs[i] = jobView{ID: j.ID, Kind: j.Kind, Ref: j.Ref, Attempts: j.Attempts, LastError: j.LastError,
			RunAt: j.RunAt, Deadline: j.Deadline, CreatedAt: j.CreatedAt}
	}
	c.reply(http.StatusOK, v)
	return nil
}
