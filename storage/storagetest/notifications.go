package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// webhook builds, without storing, a webhook of dir created at created.
func webhook(dir string, created time.Time, events ...string) *storage.Webhook {
	return &storage.Webhook{
		ID:           newID("hook"),
		Directory:    dir,
		URL:          "https://hooks.example.com/" + dir,
		SealedSecret: []byte("sealed secret of " + dir),
		Events:       events,
		CreatedAt:    created,
	}
}

// delivery builds, without storing, a pending delivery to w (e-mail when w
// is nil) created at created, and its deliver job.
func delivery(w *storage.Webhook, created time.Time) (*storage.Delivery, *storage.Job) {
	d := &storage.Delivery{
		ID:        newID("dlv"),
		Channel:   "email",
		Target:    "ops@example.com,pki@example.com",
		Event:     "certificate.expiring",
		Directory: "default",
		Payload:   []byte(`{"type":"certificate.expiring","serial":"1a2b"}`),
		Status:    storage.DeliveryPending,
		CreatedAt: created,
		UpdatedAt: created,
	}
	if w != nil {
		d.WebhookID, d.Channel, d.Target, d.Directory = w.ID, "webhook", w.URL, w.Directory
	}
	return d, job(storage.JobDeliver, d.ID, created)
}

func testWebhookRoundTrip(t *testing.T, e *env) {
	paris := time.FixedZone("UTC+2", 2*60*60)
	w := webhook("default", base().In(paris), "order.issued", "certificate.expiring")
	all := webhook("", base()) // every directory, every event
	for _, h := range []*storage.Webhook{w, all} {
		must(t, "CreateWebhook", e.s.CreateWebhook(e.ctx, h))
		got, err := e.s.GetWebhook(e.ctx, h.ID)
		must(t, "GetWebhook", err)
		if d := diff(h, got); d != "" {
			t.Errorf("GetWebhook (-want +got):\n%s", d)
		}
		checkUTC(t, got)
	}
	dup := webhook("team", base())
	dup.ID = w.ID
	wantErr(t, "CreateWebhook with a taken id", e.s.CreateWebhook(e.ctx, dup), storage.ErrConflict)
	got, err := e.s.GetWebhook(e.ctx, w.ID)
	must(t, "GetWebhook", err)
	if got.Directory != "default" {
		t.Errorf("refused CreateWebhook changed the webhook: directory %q", got.Directory)
	}
	_, err = e.s.GetWebhook(e.ctx, "no-such-webhook")
	wantErr(t, "GetWebhook of an unknown id", err, storage.ErrNotFound)
}

func testListWebhooks(t *testing.T, e *env) {
	global := webhook("", base().Add(time.Minute))
	def := webhook("default", base())
	team := webhook("team", base().Add(2*time.Minute))
	def2 := webhook("default", base().Add(3*time.Minute), "order.issued")
	for _, h := range []*storage.Webhook{global, def, team, def2} {
		must(t, "CreateWebhook", e.s.CreateWebhook(e.ctx, h))
	}
	tests := []struct {
		dir  string
		want []*storage.Webhook
	}{
		{"", []*storage.Webhook{def, global, team, def2}},
		{"default", []*storage.Webhook{def, global, def2}},
		{"team", []*storage.Webhook{global, team}},
		{"other", []*storage.Webhook{global}},
	}
	for _, tc := range tests {
		got, err := e.s.ListWebhooks(e.ctx, tc.dir)
		must(t, "ListWebhooks", err)
		if d := diff(tc.want, got); d != "" {
			t.Errorf("ListWebhooks(%q), oldest first (-want +got):\n%s", tc.dir, d)
		}
	}
}

func testDeleteWebhook(t *testing.T, e *env) {
	w := webhook("default", base())
	must(t, "CreateWebhook", e.s.CreateWebhook(e.ctx, w))
	d, j := delivery(w, base())
	must(t, "EnqueueDeliveries", e.s.EnqueueDeliveries(e.ctx, []*storage.Delivery{d}, []*storage.Job{j}))

	wantErr(t, "DeleteWebhook of an unknown id", e.s.DeleteWebhook(e.ctx, "no-such-webhook"), storage.ErrNotFound)
	must(t, "DeleteWebhook", e.s.DeleteWebhook(e.ctx, w.ID))
	_, err := e.s.GetWebhook(e.ctx, w.ID)
	wantErr(t, "GetWebhook of a deleted webhook", err, storage.ErrNotFound)
	wantErr(t, "DeleteWebhook twice", e.s.DeleteWebhook(e.ctx, w.ID), storage.ErrNotFound)
	if hooks, err := e.s.ListWebhooks(e.ctx, ""); err != nil || len(hooks) != 0 {
		t.Errorf("ListWebhooks after the delete = %d webhooks, %v; want none", len(hooks), err)
	}
	// The delivery log outlives the webhook.
	got, err := e.s.GetDelivery(e.ctx, d.ID)
	must(t, "GetDelivery of a deleted webhook's delivery", err)
	if got.WebhookID != w.ID {
		t.Errorf("delivery lost its webhook id: %q", got.WebhookID)
	}
	list, _, err := e.s.ListDeliveries(e.ctx, w.ID, storage.Page{})
	must(t, "ListDeliveries", err)
	if len(list) != 1 {
		t.Errorf("ListDeliveries of a deleted webhook = %d deliveries, want 1", len(list))
	}
}

func testDeliveryRoundTrip(t *testing.T, e *env) {
	w := webhook("default", base())
	must(t, "CreateWebhook", e.s.CreateWebhook(e.ctx, w))
	hook, hookJob := delivery(w, base())
	mail, mailJob := delivery(nil, base())
	must(t, "EnqueueDeliveries", e.s.EnqueueDeliveries(e.ctx,
		[]*storage.Delivery{hook, mail}, []*storage.Job{hookJob, mailJob}))
	for _, want := range []*storage.Delivery{hook, mail} {
		got, err := e.s.GetDelivery(e.ctx, want.ID)
		must(t, "GetDelivery", err)
		if d := diff(want, got); d != "" {
			t.Errorf("GetDelivery (-want +got):\n%s", d)
		}
		if !got.DeliveredAt.IsZero() {
			t.Errorf("DeliveredAt of a pending delivery = %v, want zero", got.DeliveredAt)
		}
		checkUTC(t, got)
	}
	// The jobs came with the deliveries.
	due := e.jobsDue(base())
	if d := diff(ids([]*storage.Job{hookJob, mailJob}), ids(due)); d != "" {
		t.Errorf("deliver jobs (-want +got):\n%s", d)
	}
	for _, j := range due {
		if j.Kind != storage.JobDeliver {
			t.Errorf("job %q kind %q, want %q", j.ID, j.Kind, storage.JobDeliver)
		}
	}

	failed := *hook
	failed.Attempts, failed.LastError, failed.LastStatus = 1, "503 Service Unavailable", 503
	failed.UpdatedAt = base().Add(time.Minute)
	must(t, "UpdateDelivery", e.s.UpdateDelivery(e.ctx, &failed))
	done := failed
	done.Status, done.Attempts, done.LastError, done.LastStatus = storage.DeliveryDelivered, 2, "", 204
	done.UpdatedAt, done.DeliveredAt = base().Add(2*time.Minute), base().Add(2*time.Minute)
	// Fields UpdateDelivery does not write stay as they were.
	attempt := done
	attempt.Target, attempt.Payload, attempt.Event = "https://elsewhere.example.com", []byte(`{}`), "other"
	must(t, "UpdateDelivery", e.s.UpdateDelivery(e.ctx, &attempt))
	got, err := e.s.GetDelivery(e.ctx, hook.ID)
	must(t, "GetDelivery", err)
	if d := diff(&done, got); d != "" {
		t.Errorf("updated delivery (-want +got):\n%s", d)
	}
	checkUTC(t, got)

	missing := done
	missing.ID = "no-such-delivery"
	wantErr(t, "UpdateDelivery of an unknown id", e.s.UpdateDelivery(e.ctx, &missing), storage.ErrNotFound)
	_, err = e.s.GetDelivery(e.ctx, "no-such-delivery")
	wantErr(t, "GetDelivery of an unknown id", err, storage.ErrNotFound)
}

// testEnqueueDeliveriesAtomic checks a batch with a taken id, delivery or
// job, writes nothing.
func testEnqueueDeliveriesAtomic(t *testing.T, e *env) {
	first, firstJob := delivery(nil, base())
	must(t, "EnqueueDeliveries", e.s.EnqueueDeliveries(e.ctx, []*storage.Delivery{first}, []*storage.Job{firstJob}))

	fresh, freshJob := delivery(nil, base())
	dupDelivery, dupDeliveryJob := delivery(nil, base())
	dupDelivery.ID = first.ID
	err := e.s.EnqueueDeliveries(e.ctx, []*storage.Delivery{fresh, dupDelivery}, []*storage.Job{freshJob, dupDeliveryJob})
	if err == nil {
		t.Fatalf("EnqueueDeliveries accepted a taken delivery id")
	}
	other, otherJob := delivery(nil, base())
	otherJob.ID = firstJob.ID
	err = e.s.EnqueueDeliveries(e.ctx, []*storage.Delivery{other}, []*storage.Job{otherJob})
	if err == nil {
		t.Fatalf("EnqueueDeliveries accepted a taken job id")
	}
	for _, id := range []string{fresh.ID, other.ID} {
		_, err := e.s.GetDelivery(e.ctx, id)
		wantErr(t, "GetDelivery of a refused batch's delivery", err, storage.ErrNotFound)
	}
	if d := diff([]string{firstJob.ID}, ids(e.jobsDue(base()))); d != "" {
		t.Errorf("jobs after refused batches (-want +got):\n%s", d)
	}
	must(t, "EnqueueDeliveries of nothing", e.s.EnqueueDeliveries(e.ctx, nil, nil))
}

func testListDeliveries(t *testing.T, e *env) {
	w1 := webhook("default", base())
	w2 := webhook("team", base())
	for _, h := range []*storage.Webhook{w1, w2} {
		must(t, "CreateWebhook", e.s.CreateWebhook(e.ctx, h))
	}
	var all, of1 []*storage.Delivery
	for i := range 14 {
		var d *storage.Delivery
		var j *storage.Job
		created := base().Add(time.Duration(i/2) * time.Second) // pairs share an instant
		switch i % 3 {
		case 0:
			d, j = delivery(w1, created)
			of1 = append(of1, d)
		case 1:
			d, j = delivery(w2, created)
		default:
			d, j = delivery(nil, created)
		}
		d.Payload = fmt.Appendf(nil, `{"n":%d}`, i)
		all = append(all, d)
		must(t, "EnqueueDeliveries", e.s.EnqueueDeliveries(e.ctx, []*storage.Delivery{d}, []*storage.Job{j}))
	}
	newestFirst(all, func(d *storage.Delivery) (time.Time, string) { return d.CreatedAt, d.ID })
	newestFirst(of1, func(d *storage.Delivery) (time.Time, string) { return d.CreatedAt, d.ID })
	tests := []struct {
		webhook string
		limit   int
		want    []*storage.Delivery
	}{
		{"", 3, all},
		{"", 100, all},
		{w1.ID, 2, of1},
		{"no-such-webhook", 5, nil},
	}
	for _, tc := range tests {
		got, sizes := allPages(t, tc.limit, 20, func(p storage.Page) ([]*storage.Delivery, string, error) {
			return e.s.ListDeliveries(e.ctx, tc.webhook, p)
		})
		if d := diff(tc.want, got); d != "" {
			t.Errorf("ListDeliveries(%q) by %d, newest first (-want +got):\n%s", tc.webhook, tc.limit, d)
		}
		if d := diff(pageSizes(len(tc.want), tc.limit), sizes); d != "" {
			t.Errorf("ListDeliveries(%q) page sizes (-want +got):\n%s", tc.webhook, d)
		}
	}
	_, _, err := e.s.ListDeliveries(e.ctx, "", storage.Page{Cursor: "not a cursor!"})
	if !errors.Is(err, storage.ErrBadCursor) {
		t.Errorf("ListDeliveries on a malformed cursor: %v, want ErrBadCursor", err)
	}
}
