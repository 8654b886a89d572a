package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// What needs an operator's attention: orders awaiting approval, orders
// that failed lately, certificates expiring soon, and background jobs
// failing (mostly upstream CA errors). The REST API's summary and the
// dashboard's home page show it from this one gathering, so that they
// count the same things over the same windows.

const (
	// attentionFailedWindow is how far back failed orders count.
	attentionFailedWindow = 24 * time.Hour
	// attentionExpiryDays is the horizon of expiring certificates.
	attentionExpiryDays = 30
	// attentionJobs caps the failing jobs listed.
	attentionJobs = 100
)

// attention is what needs an operator's attention at one instant.
type attention struct {
	// Pending are all the orders awaiting approval.
	Pending []*storage.Order
	// FailedSince is the start of the failed orders' window.
	FailedSince time.Time
	// Failed are the first orders that failed since FailedSince, newest
	// first; FailedMore says there are more.
	Failed     []*storage.Order
	FailedMore bool
	// Expiring are the first valid certificates expiring within
	// attentionExpiryDays, soonest first; ExpiringMore says there are
	// more.
	Expiring     []*storage.Certificate
	ExpiringMore bool
	// ExpiringByDirectory counts all of them per directory, ExpiringCount
	// in all.
	ExpiringByDirectory map[string]int
	ExpiringCount       int
	// FailingJobs are up to attentionJobs jobs that failed at least once.
	FailingJobs []*storage.Job
	// Jobs counts the jobs of each kind; FailingCount is the sum of their
	// Failing counts.
	Jobs         map[storage.JobKind]storage.JobCounts
	FailingCount int
}

// gatherAttention reads what needs attention at now, listing up to listed
// failed orders and expiring certificates (the counts are of all of
// them).
func (s *Server) gatherAttention(ctx context.Context, now time.Time, listed int) (*attention, error) {
	a := &attention{FailedSince: now.Add(-attentionFailedWindow)}
	var err error
	if a.Pending, err = s.store.ListPendingApprovals(ctx, ""); err != nil {
		return nil, fmt.Errorf("list pending approvals: %w", err)
	}

	var next string
	a.Failed, next, err = s.store.ListOrders(ctx, storage.OrderFilter{Status: storage.StatusInvalid, UpdatedSince: a.FailedSince},
		storage.Page{Limit: listed})
	if err != nil {
		return nil, fmt.Errorf("list failed orders: %w", err)
	}
	a.FailedMore = next != ""

	a.Expiring, next, err = s.store.ListCertificates(ctx, ExpiringFilter(now, attentionExpiryDays, ""), storage.Page{Limit: listed})
	if err != nil {
		return nil, fmt.Errorf("list expiring certificates: %w", err)
	}
	a.ExpiringMore = next != ""
	if a.ExpiringByDirectory, err = s.store.CountExpiringCertificates(ctx, now, now.Add(attentionExpiryDays*24*time.Hour)); err != nil {
		return nil, fmt.Errorf("count expiring certificates: %w", err)
	}
	if a.ExpiringByDirectory == nil {
		a.ExpiringByDirectory = map[string]int{}
	}
	for _, n := range a.ExpiringByDirectory {
		a.ExpiringCount += n
	}

	if a.FailingJobs, err = s.store.ListFailingJobs(ctx, attentionJobs); err != nil {
		return nil, fmt.Errorf("list failing jobs: %w", err)
	}
	if a.Jobs, err = s.store.CountJobs(ctx, now); err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	for _, n := range a.Jobs {
		a.FailingCount += n.Failing
	}
	return a, nil
}
