package admin

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/acmegate/acmegate/notify"
	"github.com/acmegate/acmegate/storage"
)

// Webhooks: the signing secret is generated here, sealed at rest, and
// handed out once, in the answer that creates the webhook.

// webhookSecretPrefix starts every webhook signing secret, so secret
// scanners can spot one. The HMAC key is the whole secret string.
const webhookSecretPrefix = "whsec_"

// maxWebhookURL bounds a webhook URL.
const maxWebhookURL = 2048

// webhookView is a webhook as the API shows it.
type webhookView struct {
	ID string `json:"id"`
	// Directory limits the webhook to one directory's events; "" for all.
	Directory string `json:"directory,omitempty"`
	URL       string `json:"url"`
	// Events lists the event types delivered; empty for all.
	Events    []string  `json:"events"`
	CreatedAt time.Time `json:"created_at"`
}

func newWebhookView(w *storage.Webhook) webhookView {
	v := webhookView{ID: w.ID, Directory: w.Directory, URL: w.URL, Events: w.Events, CreatedAt: w.CreatedAt}
	if v.Events == nil {
		v.Events = []string{}
	}
	return v
}

func (s *Server) listWebhooks(c *call) error {
	if err := c.checkQuery("directory"); err != nil {
		return err
	}
	p, err := c.page()
	if err != nil {
		return err
	}
	hooks, err := s.store.ListWebhooks(c.r.Context(), c.query("directory"))
	if err != nil {
		return fmt.Errorf("list webhooks: %w", err)
	}
	items, next, err := pageSlice(hooks, p)
	if err != nil {
		return err
	}
	views := make([]webhookView, len(items))
	for i, w := range items {
		views[i] = newWebhookView(w)
	}
	replyPage(c, views, next)
	return nil
}

func (s *Server) loadWebhook(c *call) (*storage.Webhook, error) {
	id := c.vars("id")
	w, err := s.store.GetWebhook(c.r.Context(), id)
	if err != nil {
		return nil, storeError(err, fmt.Sprintf("webhook %q", id))
	}
	return w, nil
}

func (s *Server) getWebhook(c *call) error {
	w, err := s.loadWebhook(c)
	if err != nil {
		return err
	}
	c.reply(http.StatusOK, newWebhookView(w))
	return nil
}

// newWebhookAnswer is the only answer that holds a webhook's secret.
type newWebhookAnswer struct {
	webhookView
	// Secret is the HMAC-SHA256 key of the X-Acmegate-Signature header:
	// the bytes of this string, as given.
	Secret string `json:"secret"`
}

func (s *Server) createWebhook(c *call) error {
	var req struct {
		URL       string   `json:"url"`
		Directory string   `json:"directory"`
		Events    []string `json:"events"`
	}
	if err := c.decodeBody(&req, false); err != nil {
		return err
	}
	if err := checkWebhookURL(req.URL); err != nil {
		return err
	}
	events, err := checkEvents(req.Events)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	if req.Directory != "" {
		if _, err := s.store.GetDirectory(ctx, req.Directory); errors.Is(err, storage.ErrNotFound) {
			return invalid("directory", "there is no directory %q (leave it empty for every directory)", truncate(req.Directory, 64))
		} else if err != nil {
			return fmt.Errorf("read directory %s: %w", req.Directory, err)
		}
	}
	c.dir = req.Directory
	if s.cfg.Sealer == nil {
		return unavailable("this server was started without a sealing key for webhook secrets")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("webhook secret: %w", err)
	}
	secret := webhookSecretPrefix + base64.RawURLEncoding.EncodeToString(raw)
	w := &storage.Webhook{ID: uuid.NewString(), Directory: req.Directory, URL: req.URL, Events: events, CreatedAt: s.clock.Now()}
	w.SealedSecret = s.cfg.Sealer.Seal([]byte(secret), notify.WebhookSecretContext(w.ID))
	c.object = "webhook:" + w.ID
	if err := s.store.CreateWebhook(ctx, w); err != nil {
		return storeError(err, "webhook "+w.ID)
	}
	all := "all"
	if len(events) > 0 {
		all = strings.Join(events, ",")
	}
	c.detail = fmt.Sprintf("created webhook %s to %s for events %s", w.ID, redactURL(w.URL), all)
	c.w.Header().Set("Location", apiPrefix+"/webhooks/"+w.ID)
	c.reply(http.StatusCreated, newWebhookAnswer{webhookView: newWebhookView(w), Secret: secret})
	return nil
}

// checkWebhookURL accepts absolute http and https URLs.
func checkWebhookURL(raw string) error {
	if raw == "" {
		return invalid("url", "a webhook needs a URL")
	}
	if len(raw) > maxWebhookURL {
		return invalid("url", "at most %d characters", maxWebhookURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalid("url", "not a URL: %v", errors.Unwrap(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalid("url", "must be an http or https URL, not %q", u.Scheme)
	}
	if u.Host == "" {
		return invalid("url", "has no host")
	}
	return nil
}

// checkEvents checks event types against notify.EventTypes; empty means
// every type.
func checkEvents(events []string) ([]string, error) {
	var out []string
	for _, e := range events {
		if !slices.Contains(notify.EventTypes, e) {
			return nil, invalid("events", "%q is not an event type; use %s", e, strings.Join(notify.EventTypes, ", "))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// redactURL is a webhook URL fit for the audit trail: scheme, host and
// path, without credentials or query, which may carry a token.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

func (s *Server) deleteWebhook(c *call) error {
	w, err := s.loadWebhook(c)
	if err != nil {
		return err
	}
	c.dir = w.Directory
	if err := s.store.DeleteWebhook(c.r.Context(), w.ID); err != nil {
		return storeError(err, fmt.Sprintf("webhook %q", w.ID))
	}
	c.detail = fmt.Sprintf("deleted webhook %s to %s", w.ID, redactURL(w.URL))
	c.reply(http.StatusNoContent, nil)
	return nil
}

// deliveryView is one notification attempt log.
type deliveryView struct {
	ID         string          `json:"id"`
	WebhookID  string          `json:"webhook_id,omitempty"`
	Channel    string          `json:"channel"`
	Target     string          `json:"target"`
	Event      string          `json:"event"`
	Directory  string          `json:"directory,omitempty"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	Status     string          `json:"status"`
	Attempts   int             `json:"attempts"`
	LastError  string          `json:"last_error,omitempty"`
	LastStatus int             `json:"last_status,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	// DeliveredAt is set once the receiver accepted the delivery.
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

func (s *Server) listDeliveries(c *call) error {
	if err := c.checkQuery(); err != nil {
		return err
	}
	p, err := c.page()
	if err != nil {
		return err
	}
	w, err := s.loadWebhook(c)
	if err != nil {
		return err
	}
	ds, next, err := s.store.ListDeliveries(c.r.Context(), w.ID, p)
	if err != nil {
		return listError(fmt.Errorf("list deliveries: %w", err), p)
	}
	views := make([]deliveryView, len(ds))
	for i, d := range ds {
		views[i] = deliveryView{
			ID: d.ID, WebhookID: d.WebhookID, Channel: d.Channel, Target: d.Target, Event: d.Event, Directory: d.Directory,
			Status: d.Status, Attempts: d.Attempts, LastError: d.LastError, LastStatus: d.LastStatus,
			CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, DeliveredAt: timePtr(d.DeliveredAt),
		}
		if json.Valid(d.Payload) {
			views[i].Payload = d.Payload
		}
	}
	replyPage(c, views, next)
	return nil
}
