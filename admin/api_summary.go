package admin

import (
	"fmt"
	"net/http"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// The summary is what needs an operator's attention: pending approvals,
// orders that failed in the last day, certificates expiring soon, and
// background jobs failing (mostly upstream CA errors).

const (
	// summaryFailedWindow is how far back failed orders count.
	summaryFailedWindow = 24 * time.Hour
	// summaryExpiryDays is the horizon of expiring certificates.
	summaryExpiryDays = 30
	// summaryListed caps each list of the summary; counts are exact
	// unless marked truncated.
	summaryListed = 100
)

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
	ctx := c.r.Context()
	now := s.clock.Now()
	v := summaryView{GeneratedAt: now}

	pending, err := s.store.ListPendingApprovals(ctx, "")
	if err != nil {
		return fmt.Errorf("list pending approvals: %w", err)
	}
	v.PendingApprovals = summaryOrders{Count: len(pending), Orders: []orderView{}}
	for i, o := range pending {
		if i == summaryListed {
			v.PendingApprovals.Truncated = true
			break
		}
		v.PendingApprovals.Orders = append(v.PendingApprovals.Orders, newOrderView(o))
	}

	since := now.Add(-summaryFailedWindow)
	failed, next, err := s.store.ListOrders(ctx, storage.OrderFilter{Status: storage.StatusInvalid, UpdatedSince: since}, storage.Page{Limit: summaryListed})
	if err != nil {
		return fmt.Errorf("list failed orders: %w", err)
	}
	v.FailedOrders = summaryOrders{Since: &since, Count: len(failed), Truncated: next != "", Orders: make([]orderView, len(failed))}
	for i, o := range failed {
		v.FailedOrders.Orders[i] = newOrderView(o)
	}

	byDir, err := s.store.CountExpiringCertificates(ctx, now, now.Add(summaryExpiryDays*24*time.Hour))
	if err != nil {
		return fmt.Errorf("count expiring certificates: %w", err)
	}
	certs, next, err := s.store.ListCertificates(ctx, ExpiringFilter(now, summaryExpiryDays, ""), storage.Page{Limit: summaryListed})
	if err != nil {
		return fmt.Errorf("list expiring certificates: %w", err)
	}
	v.ExpiringCertificates = summaryExpiring{Days: summaryExpiryDays, ByDirectory: byDir, Truncated: next != "", Items: make([]CertificateView, len(certs))}
	if v.ExpiringCertificates.ByDirectory == nil {
		v.ExpiringCertificates.ByDirectory = map[string]int{}
	}
	for _, n := range byDir {
		v.ExpiringCertificates.Count += n
	}
	for i, cert := range certs {
		v.ExpiringCertificates.Items[i] = NewCertificateView(cert, now, false)
	}

	counts, err := s.store.CountJobs(ctx, now)
	if err != nil {
		return fmt.Errorf("count jobs: %w", err)
	}
	jobs, err := s.store.ListFailingJobs(ctx, summaryListed)
	if err != nil {
		return fmt.Errorf("list failing jobs: %w", err)
	}
	v.FailingJobs = summaryFailedJob{ByKind: map[storage.JobKind]jobCountsView{}, Jobs: make([]jobView, len(jobs))}
	for k, n := range counts {
		v.FailingJobs.ByKind[k] = jobCountsView{Queued: n.Queued, Running: n.Running, Failing: n.Failing}
		v.FailingJobs.Count += n.Failing
	}
	for i, j := range jobs {
		v.FailingJobs.Jobs[i] = jobView{ID: j.ID, Kind: j.Kind, Ref: j.Ref, Attempts: j.Attempts, LastError: j.LastError,
			RunAt: j.RunAt, Deadline: j.Deadline, CreatedAt: j.CreatedAt}
	}
	c.reply(http.StatusOK, v)
	return nil
}
