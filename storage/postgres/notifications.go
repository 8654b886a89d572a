package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

const webhookColumns = `id, directory, url, sealed_secret, events, created_at`

const deliveryColumns = `id, webhook_id, channel, target, event, directory, payload, status, attempts,
    last_error, last_status, created_at, updated_at, delivered_at`

const (
	sqlInsertWebhook = `INSERT INTO webhooks (` + webhookColumns + `) VALUES ($1, $2, $3, $4, $5, $6)`
	sqlGetWebhook    = `SELECT ` + webhookColumns + ` FROM webhooks WHERE id = $1`
	sqlListWebhooks  = `SELECT ` + webhookColumns + ` FROM webhooks ORDER BY created_at, id`
	// A directory's own webhooks and the global ones ('').
	sqlListWebhooksOf = `SELECT ` + webhookColumns + ` FROM webhooks WHERE directory IN ($1, '')
ORDER BY created_at, id`
	sqlDeleteWebhook = `DELETE FROM webhooks WHERE id = $1`

	sqlInsertDelivery = `INSERT INTO deliveries (` + deliveryColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`
	sqlGetDelivery    = `SELECT ` + deliveryColumns + ` FROM deliveries WHERE id = $1`
	sqlUpdateDelivery = `UPDATE deliveries SET status = $2, attempts = $3, last_error = $4, last_status = $5,
    updated_at = $6, delivered_at = $7
WHERE id = $1`
	sqlInsertJob = `INSERT INTO jobs (` + jobColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
)

// CreateWebhook inserts w; ErrConflict if the id is taken.
func (s *Store) CreateWebhook(ctx context.Context, w *storage.Webhook) error {
	_, err := s.exec(ctx, sqlInsertWebhook,
		w.ID, w.Directory, w.URL, nonNil(w.SealedSecret), nonNil(w.Events), w.CreatedAt)
	if err != nil {
		return fmt.Errorf("postgres: create webhook %q: %w", w.ID, err)
	}
	return nil
}

// GetWebhook returns the webhook or ErrNotFound.
func (s *Store) GetWebhook(ctx context.Context, id string) (*storage.Webhook, error) {
	w, err := scanWebhook(s.queryRow(ctx, sqlGetWebhook, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("webhook", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get webhook %q: %w", id, err)
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
	var out []*storage.Webhook
	err := s.queryEach(ctx, func(rows pgx.Rows) error {
		w, err := scanWebhook(rows)
		if err != nil {
			return err
		}
		out = append(out, w)
		return nil
	}, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list webhooks of %q: %w", dir, err)
	}
	return out, nil
}

// DeleteWebhook deletes the webhook, keeping its deliveries; ErrNotFound
// for an unknown id.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	tag, err := s.exec(ctx, sqlDeleteWebhook, id)
	if err != nil {
		return fmt.Errorf("postgres: delete webhook %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("webhook", id)
	}
	return nil
}

// EnqueueDeliveries inserts ds and jobs in one implicit transaction and one
// round trip: a duplicate id anywhere writes none of them.
func (s *Store) EnqueueDeliveries(ctx context.Context, ds []*storage.Delivery, jobs []*storage.Job) error {
	if len(ds) == 0 && len(jobs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, d := range ds {
		b.Queue(sqlInsertDelivery,
			d.ID, d.WebhookID, d.Channel, d.Target, d.Event, d.Directory, nonNil(d.Payload),
			d.Status, d.Attempts, d.LastError, d.LastStatus, d.CreatedAt, d.UpdatedAt, optTime(d.DeliveredAt))
	}
	for _, j := range jobs {
		b.Queue(sqlInsertJob, jobArgs(j)...)
	}
	if err := s.sendBatch(ctx, b); err != nil {
		return fmt.Errorf("postgres: enqueue deliveries: %w", err)
	}
	return nil
}

// GetDelivery returns the delivery or ErrNotFound.
func (s *Store) GetDelivery(ctx context.Context, id string) (*storage.Delivery, error) {
	d, err := scanDelivery(s.queryRow(ctx, sqlGetDelivery, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("delivery", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get delivery %q: %w", id, err)
	}
	return d, nil
}

// UpdateDelivery writes d's Status, Attempts, LastError, LastStatus,
// UpdatedAt and DeliveredAt; ErrNotFound for an unknown id.
func (s *Store) UpdateDelivery(ctx context.Context, d *storage.Delivery) error {
	tag, err := s.exec(ctx, sqlUpdateDelivery,
		d.ID, d.Status, d.Attempts, d.LastError, d.LastStatus, d.UpdatedAt, optTime(d.DeliveredAt))
	if err != nil {
		return fmt.Errorf("postgres: update delivery %q: %w", d.ID, err)
	}
	if tag.RowsAffected() == 0 {
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
		return nil, "", fmt.Errorf("postgres: list deliveries of %q: %w", webhookID, err)
	}
	return out, next, nil
}

func scanWebhook(r scanner) (*storage.Webhook, error) {
	var w storage.Webhook
	err := r.Scan(&w.ID, &w.Directory, &w.URL, &w.SealedSecret, &w.Events, scanTime(&w.CreatedAt))
	if err != nil {
		return nil, err
	}
	return &w, nil
}

func scanDelivery(r scanner) (*storage.Delivery, error) {
	var d storage.Delivery
	err := r.Scan(&d.ID, &d.WebhookID, &d.Channel, &d.Target, &d.Event, &d.Directory, &d.Payload,
		&d.Status, &d.Attempts, &d.LastError, &d.LastStatus,
		scanTime(&d.CreatedAt), scanTime(&d.UpdatedAt), scanTime(&d.DeliveredAt))
	if err != nil {
		return nil, err
	}
	return &d, nil
}
