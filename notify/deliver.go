package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// RetryError is what Deliver returns when a delivery failed and will be
// tried again: the job runner should run the job again after RetryAfter.
type RetryError struct {
	After time.Duration
	Err   error
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("delivery failed, retry in %s: %v", e.After, e.Err)
}

func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter is the delay before the next attempt.
func (e *RetryError) RetryAfter() time.Duration { return e.After }

// permanentError is a failure that trying again cannot cure (a 410 Gone,
// a deleted webhook, an unreadable payload).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err} }

// defaultBackoff: 30s, 1m, 2m … capped at 1h.
func defaultBackoff(n int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// maxLastError bounds the error text kept in the delivery log.
const maxLastError = 1000

// Deliver sends the delivery job.Ref names: the storage.JobDeliver
// handler. It records every attempt in the delivery log (attempts, last
// error, last HTTP status) and returns nil when the job is over
// (delivered, given up, or nothing to do) and a *RetryError when it should
// run again. It gives up after MaxAttempts attempts, past job.Deadline, or
// at once when the receiver answers 410 Gone.
func (n *Notifier) Deliver(ctx context.Context, job *storage.Job) error {
	d, err := n.store.GetDelivery(ctx, job.Ref)
	if errors.Is(err, storage.ErrNotFound) {
		n.log.Warn("delivery job for an unknown delivery", slog.String("job", job.ID), slog.String("delivery", job.Ref))
		return nil
	}
	if err != nil {
		return fmt.Errorf("load delivery %s: %w", job.Ref, err)
	}
	if d.Status != storage.DeliveryPending {
		// Already settled: a worker died between UpdateDelivery and the
		// job's completion.
		return nil
	}
	pastDeadline := func() bool { return !job.Deadline.IsZero() && !n.clock.Now().Before(job.Deadline) }
	if pastDeadline() {
		d.Status = storage.DeliveryFailed
		d.LastError = "gave up: delivery deadline passed"
		d.UpdatedAt = n.clock.Now()
		return n.settle(ctx, d, nil)
	}

	var sendErr error
	switch d.Channel {
	case ChannelWebhook:
		d.LastStatus, sendErr = n.sendWebhook(ctx, d)
	case ChannelEmail:
		sendErr = n.sendEmail(ctx, d)
	default:
		sendErr = permanent(fmt.Errorf("unknown channel %q", d.Channel))
	}
	now := n.clock.Now()
	d.Attempts++
	d.UpdatedAt = now
	var partial *partialError
	var perm *permanentError
	switch {
	case sendErr == nil || errors.As(sendErr, &partial):
		d.Status = storage.DeliveryDelivered
		d.DeliveredAt = now
		d.LastError = ""
		if partial != nil {
			d.LastError = truncate(partial.Error(), maxLastError)
		}
		return n.settle(ctx, d, nil)
	case errors.As(sendErr, &perm):
		d.Status = storage.DeliveryFailed
		d.LastError = truncate("gave up: "+sendErr.Error(), maxLastError)
		n.log.Warn("notification delivery failed for good", slog.String("delivery", d.ID), slog.String("channel", d.Channel), slog.String("event", d.Event), slog.Any("error", sendErr))
		return n.settle(ctx, d, nil)
	case d.Attempts >= n.cfg.MaxAttempts || pastDeadline():
		d.Status = storage.DeliveryFailed
		d.LastError = truncate(fmt.Sprintf("gave up after %d attempts: %v", d.Attempts, sendErr), maxLastError)
		n.log.Warn("notification delivery failed for good", slog.String("delivery", d.ID), slog.String("channel", d.Channel), slog.String("event", d.Event), slog.Int("attempts", d.Attempts), slog.Any("error", sendErr))
		return n.settle(ctx, d, nil)
	default:
		d.LastError = truncate(sendErr.Error(), maxLastError)
		return n.settle(ctx, d, &RetryError{After: n.cfg.Backoff(d.Attempts), Err: sendErr})
	}
}

// settle writes d and returns then, or the write's failure (the job runs
// again; a delivery is at least once, and receivers drop duplicates by
// event id).
func (n *Notifier) settle(ctx context.Context, d *storage.Delivery, then error) error {
	// The attempt is made: record it even if the job's time is up.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), enqueueTimeout)
	defer cancel()
	if err := n.store.UpdateDelivery(wctx, d); err != nil {
		return fmt.Errorf("record delivery %s: %w", d.ID, err)
	}
	return then
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
