package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/acmegate/acmegate/storage"
)

// Store is what the Notifier reads and writes: webhooks and deliveries,
// the once-a-day sweep claim and the certificate inventory.
type Store interface {
	storage.NotificationStore
	storage.SweepStore
	storage.InventoryStore
}

// Sealer opens webhook secrets sealed at rest. *acme.Sealer satisfies it.
type Sealer interface {
	Seal(plaintext []byte, context string) []byte
	Open(sealed []byte, context string) ([]byte, error)
}

// Clock tells the time; tests move it.
type Clock interface {
	Now() time.Time
}

// Channels of a Delivery.
const (
	ChannelWebhook = "webhook"
	ChannelEmail   = "email"
)

// Config configures a Notifier. Only Store is required.
type Config struct {
	Store Store
	// Sealer opens webhooks' signing secrets. Without one, webhook
	// deliveries fail (and are retried until they give up).
	Sealer Sealer
	// Email says who receives which events by e-mail. Default: nobody.
	Email EmailConfig
	// SMTP is the relay e-mail goes through; it is required when Email has
	// recipients.
	SMTP SMTPConfig
	// HTTPClient sends webhooks. Its redirect policy is replaced: a webhook
	// never follows a redirect. Default: a client with the default
	// transport.
	HTTPClient *http.Client
	// WebhookTimeout bounds one webhook attempt, answer included.
	// Default: 10s.
	WebhookTimeout time.Duration
	// Templates is a directory of e-mail templates overriding the built-in
	// ones, one file per event type named TYPE.tmpl (for example
	// certificate.expiring.tmpl) defining "subject" and "body". Default:
	// the built-in templates only.
	Templates string
	// ExpiryDays are the thresholds, in days before NotAfter, at which
	// SweepExpiring announces a certificate. Default: 30, 7, 1.
	ExpiryDays []int
	// MaxAttempts is how many times a delivery is tried before it is
	// marked failed. Default: 12.
	MaxAttempts int
	// Backoff is the delay before the next attempt after attempt n failed
	// (n counts from 1), carried by the RetryError Deliver returns.
	// Default: 30s doubling up to 1h (12 attempts span about 5 hours).
	Backoff func(n int) time.Duration
	// DeliveryDeadline is how long after the event a delivery may still
	// be tried. Default: 24h.
	DeliveryDeadline time.Duration
	// Clock tells the time. Default: the system clock, in UTC.
	Clock Clock
	// Logger receives failures. Default: discard.
	Logger *slog.Logger
}

// Notifier turns events into persisted deliveries and sends them.
type Notifier struct {
	cfg       Config
	store     Store
	log       *slog.Logger
	clock     Clock
	http      *http.Client
	templates *templateSet
	email     []recipientList
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now().UTC() }

// enqueueTimeout bounds Notify's writes: it runs on the caller's path and
// must not hang it when the database does.
const enqueueTimeout = 10 * time.Second

// New checks cfg, fills in defaults and loads the e-mail templates.
func New(cfg Config) (*Notifier, error) {
	if cfg.Store == nil {
		return nil, errors.New("notify: Config.Store is required")
	}
	if cfg.WebhookTimeout <= 0 {
		cfg.WebhookTimeout = 10 * time.Second
	}
	if len(cfg.ExpiryDays) == 0 {
		cfg.ExpiryDays = []int{30, 7, 1}
	}
	for _, d := range cfg.ExpiryDays {
		if d <= 0 {
			return nil, fmt.Errorf("notify: expiry day thresholds must be positive, got %d", d)
		}
	}
	// A threshold given twice would announce its certificates twice.
	cfg.ExpiryDays = slices.Compact(slices.Sorted(slices.Values(cfg.ExpiryDays)))
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 12
	}
	if cfg.Backoff == nil {
		cfg.Backoff = defaultBackoff
	}
	if cfg.DeliveryDeadline <= 0 {
		cfg.DeliveryDeadline = 24 * time.Hour
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	lists, err := cfg.Email.lists()
	if err != nil {
		return nil, err
	}
	if len(lists) > 0 {
		if err := cfg.SMTP.check(); err != nil {
			return nil, err
		}
	}
	cfg.SMTP.setDefaults()
	tmpl, err := loadTemplates(cfg.Templates)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	// A redirect would send the signed body somewhere the operator did not
	// register; the receiver must give its final URL.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Notifier{
		cfg:       cfg,
		store:     cfg.Store,
		log:       cfg.Logger,
		clock:     cfg.Clock,
		http:      hc,
		templates: tmpl,
		email:     lists,
	}, nil
}

// Notify records the deliveries of ev: one per webhook that wants it and
// one e-mail to the recipients configured for its directory and type. It
// sets ev.ID and ev.At when they are empty. It sends nothing itself (the
// JobDeliver jobs do, through Deliver), so it never waits on a receiver;
// failures to record are logged, never returned, since the caller's work
// (an issuance, a revocation) has succeeded regardless.
func (n *Notifier) Notify(ctx context.Context, ev Event) {
	// The caller's request may end the moment Notify returns; the record
	// must be written regardless.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), enqueueTimeout)
	defer cancel()
	now := n.clock.Now()
	n.fill(&ev, now)
	hooks, err := n.store.ListWebhooks(ctx, ev.Directory)
	if err != nil {
		n.log.Error("notification lost: list webhooks", slog.String("event", ev.Type), slog.String("event_id", ev.ID), slog.Any("error", err))
		return
	}
	ds, err := n.deliveriesFor(&ev, hooks, now)
	if err != nil {
		n.log.Error("notification lost", slog.String("event", ev.Type), slog.String("event_id", ev.ID), slog.Any("error", err))
		return
	}
	if err := n.enqueue(ctx, ds, now); err != nil {
		n.log.Error("notification lost: record deliveries", slog.String("event", ev.Type), slog.String("event_id", ev.ID), slog.Any("error", err))
	}
}

func (n *Notifier) fill(ev *Event, now time.Time) {
	if ev.ID == "" {
		ev.ID = uuid.NewString()
	}
	if ev.At.IsZero() {
		ev.At = now
	}
	ev.At = ev.At.UTC()
}

// deliveriesFor builds the deliveries of ev among hooks (the directory's
// webhooks and the global ones) and the e-mail lists.
func (n *Notifier) deliveriesFor(ev *Event, hooks []*storage.Webhook, now time.Time) ([]*storage.Delivery, error) {
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	newDelivery := func(channel, webhookID, target string) *storage.Delivery {
		return &storage.Delivery{
			ID:        uuid.NewString(),
			WebhookID: webhookID,
			Channel:   channel,
			Target:    target,
			Event:     ev.Type,
			Directory: ev.Directory,
			Payload:   payload,
			Status:    storage.DeliveryPending,
			CreatedAt: now,
			UpdatedAt: now,
		}
	}
	var ds []*storage.Delivery
	for _, h := range hooks {
		// ListWebhooks("") lists every webhook; an event of no directory
		// goes to the global ones only.
		if h.Directory != "" && h.Directory != ev.Directory {
			continue
		}
		if len(h.Events) > 0 && !slices.Contains(h.Events, ev.Type) {
			continue
		}
		ds = append(ds, newDelivery(ChannelWebhook, h.ID, h.URL))
	}
	if to := n.recipients(ev); len(to) > 0 {
		ds = append(ds, newDelivery(ChannelEmail, "", strings.Join(to, ", ")))
	}
	return ds, nil
}

// enqueue records ds and one JobDeliver per delivery, in one transaction.
func (n *Notifier) enqueue(ctx context.Context, ds []*storage.Delivery, now time.Time) error {
	if len(ds) == 0 {
		return nil
	}
	jobs := make([]*storage.Job, len(ds))
	for i, d := range ds {
		jobs[i] = &storage.Job{
			ID:        uuid.NewString(),
			Kind:      storage.JobDeliver,
			Ref:       d.ID,
			RunAt:     now,
			Deadline:  now.Add(n.cfg.DeliveryDeadline),
			CreatedAt: now,
		}
	}
	if err := n.store.EnqueueDeliveries(ctx, ds, jobs); err != nil {
		return fmt.Errorf("enqueue %d deliveries: %w", len(ds), err)
	}
	return nil
}
