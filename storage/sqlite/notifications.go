package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/acmegate/acmegate/storage"
)

const webhookColumns = `id, directory, url, sealed_secret, events, created_at`

const deliveryColumns = `id, webhook_id, channel, target, event, directory, payload, status, attempts,
    last_error, last_status, created_at, updated_at, delivered_at`

const (
	sqlInsertWebhook = `INSERT INTO webhooks (` + webhookColumns + `) VALUES (?, ?, ?, ?, ?, ?)`
	sqlGetWebhook    = `SELECT ` + webhookColumns + ` FROM webhooks WHERE id = ?`
	sqlListWebhooks  = `SELECT ` + webhookColumns + ` FROM webhooks ORDER BY created_at, id`
	// A directory's own webhooks and the global ones ('').
	sqlListWebhooksOf = `SELECT ` + webhookColumns + ` FROM webhooks WHERE directory IN (?, '')
ORDER BY created_at, id`
	sqlDeleteWebhook = `DELETE FROM webhooks WHERE id = ?`

	sqlInsertDelivery = `INSERT INTO deliveries (` + deliveryColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlGetDelivery    = `SELECT ` + deliveryColumns + ` FROM deliveries WHERE id = ?`
	sqlUpdateDelivery = `UPDATE deliveries SET status = ?, attempts = ?, last_error = ?, last_status = ?,
    updated_at = ?, delivered_at = ?
WHERE id = ?`
)

// CreateWebhook inserts w; ErrConflict if the id is taken.
func (s *Store) CreateWebhook(ctx context.Context, w *storage.Webhook) error {
	_, err := s.writer().exec(ctx, sqlInsertWebhook,
		w.ID, w.Directory, w.URL, nonNil(w.SealedSecret), jval(nonNil(w.Events)), tval(w.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlite: create webhook %q: %w", w.ID, err)
	}
	return nil
}

// GetWebhook returns the webhook or ErrNotFound.
func (s *Store) GetWebhook(ctx context.Context, id string) (*storage.Webhook, error) {
	w, err := scanWebhook(s.reader().queryRow(ctx, sqlGetWebhook, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("webhook", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get webhook %q: %w", id, err)
	}
	return w, nil
}

// ListWebhooks returns the webhooks of dir and the global ones, or every
// webhook when dir is "", oldest first.
func (s *Store) ListWebhooks(ctx context.Context, dir string) ([]*storage.Webhook, error) {
	query, args := sqlListWebhooks, []any(nil)
	if dir != "" {
		query, args = sqlListWebhooksOf, []any{dir}
	}
	out, err := queryAll(ctx, s.reader(), scanWebhook, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list webhooks of %q: %w", dir, err)
	}
	return out, nil
}

// DeleteWebhook deletes the webhook, keeping its deliveries; ErrNotFound
// for an unknown id.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	n, err := s.writer().execAffected(ctx, sqlDeleteWebhook, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete webhook %q: %w", id, err)
	}
	if n == 0 {
		return notFound("webhook", id)
	}
	return nil
}

// EnqueueDeliveries inserts ds and jobs in one transaction: a duplicate id
// anywhere writes none of them.
func (s *Store) EnqueueDeliveries(ctx context.Context, ds []*storage.Delivery, jobs []*storage.Job) error {
	if len(ds) == 0 && len(jobs) == 0 {
		return nil
	}
	err := s.inWrite(ctx, func(q queryer) error {
		for _, d := range ds {
			_, err := q.exec(ctx, sqlInsertDelivery,
				d.ID, d.WebhookID, d.Channel, d.Target, d.Event, d.Directory, nonNil(d.Payload),
				d.Status, d.Attempts, d.LastError, d.LastStatus,
				tval(d.CreatedAt), tval(d.UpdatedAt), tval(d.DeliveredAt))
			if err != nil {
				return fmt.Errorf("delivery %q: %w", d.ID, err)
			}
		}
		for _, j := range jobs {
			if err := insertJob(ctx, q, j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: enqueue deliveries: %w", err)
	}
	return nil
}

// GetDelivery returns the delivery or ErrNotFound.
func (s *Store) GetDelivery(ctx context.Context, id string) (*storage.Delivery, error) {
	d, err := scanDelivery(s.reader().queryRow(ctx, sqlGetDelivery, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("delivery", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get delivery %q: %w", id, err)
	}
	return d, nil
}

// UpdateDelivery writes d's Status, Attempts, LastError, LastStatus,
// UpdatedAt and DeliveredAt; ErrNotFound for an unknown id.
func (s *Store) UpdateDelivery(ctx context.Context, d *storage.Delivery) error {
	// SQLite counts a matched row as changed even when no value changes,
	// so no row means no delivery.
	n, err := s.writer().execAffected(ctx, sqlUpdateDelivery,
		d.Status, d.Attempts, d.LastError, d.LastStatus, tval(d.UpdatedAt), tval(d.DeliveredAt), d.ID)
	if err != nil {
		return fmt.Errorf("sqlite: update delivery %q: %w", d.ID, err)
	}
	if n == 0 {
		return notFound("delivery", d.ID)
	}
	return nil
}

// ListDeliveries returns one page of the deliveries of webhookID (of every
// channel when it is ""), newest first, keyset-paginated on (created_at,
// id).
func (s *Store) ListDeliveries(ctx context.Context, webhookID string, p storage.Page) ([]*storage.Delivery, string, error) {
	var w where
	w.eq("webhook_id", webhookID)
	out, next, err := listCreatedPage(ctx, s, "deliveries", deliveryColumns, &w, p, scanDelivery,
		func(d *storage.Delivery) (time.Time, string) { return d.CreatedAt, d.ID })
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: list deliveries of %q: %w", webhookID, err)
	}
	return out, next, nil
}

func scanWebhook(r scanner) (*storage.Webhook, error) {
	var w storage.Webhook
	err := r.Scan(&w.ID, &w.Directory, &w.URL, &w.SealedSecret, jscan(&w.Events), tscan(&w.CreatedAt))
	if err != nil {
		return nil, err
	}
	return &w, nil
}

func scanDelivery(r scanner) (*storage.Delivery, error) {
	var d storage.Delivery
	err := r.Scan(&d.ID, &d.WebhookID, &d.Channel, &d.Target, &d.Event, &d.Directory, &d.Payload,
		&d.Status, &d.Attempts, &d.LastError, &d.LastStatus,
		tscan(&d.CreatedAt), tscan(&d.UpdatedAt), tscan(&d.DeliveredAt))
	if err != nil {
		return nil, err
	}
	return &d, nil
}
