package notify

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// ExpirySweep is the name under which the expiry sweep is claimed.
const ExpirySweep = "expiry-notices"

// sweepPage is how many certificates one inventory query returns.
const sweepPage = 500

// SweepExpiring announces the certificates crossing an expiry threshold
// (Config.ExpiryDays) with certificate.expiring events. Call it often (the
// job runner's sweep does, every minute, on every instance): it works once
// per UTC day across all instances sharing the store, and does nothing the
// other times.
//
// The day's run covers, for each threshold N, the valid certificates whose
// NotAfter lies in [D+N days-24h, D+N days), D being the day's midnight
// UTC. The windows of consecutive days meet exactly, whatever the time of
// day the run happens, so a certificate is announced once per threshold.
func (n *Notifier) SweepExpiring(ctx context.Context, now time.Time) {
	count, err := n.sweepExpiring(ctx, now)
	if err != nil {
		n.log.Error("expiry notices", slog.Int("announced", count), slog.Any("error", err))
		return
	}
	if count > 0 {
		n.log.Info("expiry notices", slog.Int("announced", count))
	}
}

func (n *Notifier) sweepExpiring(ctx context.Context, now time.Time) (int, error) {
	now = now.UTC()
	// Claiming with the day's midnight, not now, keeps the runs on the
	// day grid: the next claim succeeds at the next midnight, not 24 hours
	// after whenever this one ran.
	day := now.Truncate(24 * time.Hour)
	ok, err := n.store.ClaimSweep(ctx, ExpirySweep, 24*time.Hour, day)
	if err != nil {
		return 0, fmt.Errorf("claim the expiry sweep: %w", err)
	}
	if !ok {
		return 0, nil
	}
	hooks := map[string][]*storage.Webhook{}
	count := 0
	for _, days := range n.cfg.ExpiryDays {
		hi := day.Add(time.Duration(days) * 24 * time.Hour)
		lo := hi.Add(-24 * time.Hour)
		// Leave out what has expired since midnight: late news.
		if lo.Before(now) {
			lo = now
		}
		if !lo.Before(hi) {
			continue
		}
		f := storage.CertificateFilter{Status: storage.StatusValid, ExpiringAfter: lo, ExpiringBefore: hi, ByExpiry: true}
		cursor := ""
		for {
			certs, next, err := n.store.ListCertificates(ctx, f, storage.Page{Cursor: cursor, Limit: sweepPage})
			if err != nil {
				return count, fmt.Errorf("list certificates expiring in %d days: %w", days, err)
			}
			var ds []*storage.Delivery
			for _, c := range certs {
				ev := expiringEvent(c, days, now)
				n.fill(&ev, now)
				hs, ok := hooks[c.Directory]
				if !ok {
					if hs, err = n.store.ListWebhooks(ctx, c.Directory); err != nil {
						return count, fmt.Errorf("list webhooks: %w", err)
					}
					hooks[c.Directory] = hs
				}
				more, err := n.deliveriesFor(&ev, hs, now)
				if err != nil {
					return count, err
				}
				ds = append(ds, more...)
			}
			if err := n.enqueue(ctx, ds, now); err != nil {
				return count, err
			}
			count += len(certs)
			if next == "" || len(certs) == 0 {
				break
			}
			cursor = next
		}
	}
	return count, nil
}

func expiringEvent(c *storage.Certificate, days int, now time.Time) Event {
	notAfter := c.NotAfter.UTC()
	return Event{
		Type:          CertificateExpiring,
		At:            now,
		Directory:     c.Directory,
		AccountID:     c.AccountID,
		OrderID:       c.OrderID,
		CertificateID: c.ID,
		Serial:        c.Serial,
		Names:         c.Names,
		NotAfter:      &notAfter,
		DaysLeft:      days,
		Backend:       c.Backend,
	}
}
