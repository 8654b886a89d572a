package notify_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/acmegate/acmegate/notify"
	"github.com/acmegate/acmegate/storage"
)

func TestSignPayload(t *testing.T) {
	t.Parallel()
	secret, ts, body := []byte("topsecret"), "1700000000", []byte(`{"id":"e1"}`)
	// Computed independently: python3 hmac.new(b'topsecret',
	// b'1700000000.{"id":"e1"}', hashlib.sha256).hexdigest()
	const want = "sha256=ef9c6055c0f6e0d9d3757f65d7309541bd7a5dc2b0bf440fa407408459f1545b"
	if got := notify.SignPayload(secret, ts, body); got != want {
		t.Fatalf("SignPayload = %s, want %s", got, want)
	}
	tests := []struct {
		name             string
		secret           []byte
		ts, body, sig    string
		wantVerification bool
	}{
		{"genuine", secret, ts, string(body), want, true},
		{"other body", secret, ts, `{"id":"e2"}`, want, false},
		{"other timestamp", secret, "1700000001", string(body), want, false},
		{"other secret", []byte("topsecreT"), ts, string(body), want, false},
		{"without prefix", secret, ts, string(body), strings.TrimPrefix(want, "sha256="), false},
		{"upper case", secret, ts, string(body), strings.ToUpper(want), false},
		{"empty", secret, ts, string(body), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := notify.VerifySignature(tt.secret, tt.ts, []byte(tt.body), tt.sig); got != tt.wantVerification {
				t.Errorf("VerifySignature = %v, want %v", got, tt.wantVerification)
			}
		})
	}
}

// receiver is a webhook endpoint answering with the statuses of script in
// turn (then 200), recording every request.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	script   []int
	requests []receivedRequest
}

type receivedRequest struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, script ...int) *receiver {
	t.Helper()
	r := &receiver{script: script}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, receivedRequest{header: req.Header.Clone(), body: body})
		status := http.StatusOK
		if len(r.script) > 0 {
			status, r.script = r.script[0], r.script[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "answer "+strconv.Itoa(status)+"\r\nsecond line")
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []receivedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedRequest(nil), r.requests...)
}

// onlyDelivery returns the one delivery recorded.
func onlyDelivery(t *testing.T, e *env) *storage.Delivery {
	t.Helper()
	ds := e.deliveries(t)
	if len(ds) != 1 {
		t.Fatalf("%d deliveries recorded, want 1", len(ds))
	}
	return ds[0]
}

func TestWebhookDelivery(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), notify.Config{})
		rcv := newReceiver(t)
		w, secret := e.addWebhook(t, "", rcv.URL+"/hook")
		notAfter := e.clock.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
		ev := notify.Event{Type: notify.CertificateIssued, Directory: "team-a", OrderID: "o1", CertificateID: "c1",
			Serial: "1a2b", Names: []string{"www.example.com"}, NotAfter: &notAfter, Backend: "local"}
		e.n.Notify(testCtx(t), ev)
		d := onlyDelivery(t, e)
		if d.Channel != notify.ChannelWebhook || d.WebhookID != w.ID || d.Target != w.URL || d.Status != storage.DeliveryPending {
			t.Fatalf("recorded delivery %+v", d)
		}
		if errs := e.runDue(t); errs[d.ID] != nil {
			t.Fatalf("Deliver: %v", errs[d.ID])
		}

		reqs := rcv.received()
		if len(reqs) != 1 {
			t.Fatalf("receiver got %d requests, want 1", len(reqs))
		}
		h, body := reqs[0].header, reqs[0].body
		for k, want := range map[string]string{
			"Content-Type":         "application/json",
			"User-Agent":           "acmegate",
			notify.HeaderEvent:     notify.CertificateIssued,
			notify.HeaderDelivery:  d.ID,
			notify.HeaderTimestamp: strconv.FormatInt(e.clock.Now().Unix(), 10),
		} {
			if got := h.Get(k); got != want {
				t.Errorf("header %s = %q, want %q", k, got, want)
			}
		}
		if !notify.VerifySignature(secret, h.Get(notify.HeaderTimestamp), body, h.Get(notify.HeaderSignature)) {
			t.Errorf("signature %q does not verify", h.Get(notify.HeaderSignature))
		}
		got := decodeEvent(t, body)
		if got.ID == "" || got.At.IsZero() {
			t.Errorf("event id %q at %v: Notify should set both", got.ID, got.At)
		}
		ev.ID, ev.At = got.ID, got.At
		if diff := cmp.Diff(ev, got); diff != "" {
			t.Errorf("event body (-sent +received):\n%s", diff)
		}

		d = e.delivery(t, d.ID)
		if d.Status != storage.DeliveryDelivered || d.Attempts != 1 || d.LastStatus != 200 || d.LastError != "" || !d.DeliveredAt.Equal(e.clock.Now()) {
			t.Errorf("delivery log %+v, want delivered after 1 attempt with status 200", d)
		}
		// The job is done: nothing runs again.
		e.clock.Add(time.Hour)
		if errs := e.runDue(t); len(errs) != 0 {
			t.Errorf("jobs still due after delivery: %v", errs)
		}
	})
}

func TestWebhookRetriesThenDelivers(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), notify.Config{})
		rcv := newReceiver(t, 500, 503)
		e.addWebhook(t, "team-a", rcv.URL)
		e.n.Notify(testCtx(t), notify.Event{Type: notify.OrderFailed, Directory: "team-a", Detail: "CAA forbids"})
		d := onlyDelivery(t, e)

		err := e.runDue(t)[d.ID]
		var retry *notify.RetryError
		if !errors.As(err, &retry) || retry.RetryAfter() != 30*time.Second {
			t.Fatalf("first attempt: Deliver = %v, want a RetryError after 30s", err)
		}
		got := e.delivery(t, d.ID)
		if got.Status != storage.DeliveryPending || got.Attempts != 1 || got.LastStatus != 500 ||
			!strings.Contains(got.LastError, "answered 500: answer 500 second line") {
			t.Fatalf("after a 500: %+v", got)
		}
		// Not due before its backoff.
		if errs := e.runDue(t); len(errs) != 0 {
			t.Fatalf("job ran again before its backoff: %v", errs)
		}
		e.clock.Add(30 * time.Second)
		err = e.runDue(t)[d.ID]
		if !errors.As(err, &retry) || retry.RetryAfter() != time.Minute {
			t.Fatalf("second attempt: Deliver = %v, want a RetryError after 1m", err)
		}
		if got := e.delivery(t, d.ID); got.Attempts != 2 || got.LastStatus != 503 {
			t.Fatalf("after a 503: %+v", got)
		}
		e.clock.Add(time.Minute)
		if err := e.runDue(t)[d.ID]; err != nil {
			t.Fatalf("third attempt: %v", err)
		}
		got = e.delivery(t, d.ID)
		if got.Status != storage.DeliveryDelivered || got.Attempts != 3 || got.LastStatus != 200 || got.LastError != "" {
			t.Fatalf("after a 200: %+v", got)
		}
		reqs := rcv.received()
		if len(reqs) != 3 {
			t.Fatalf("receiver got %d requests, want 3", len(reqs))
		}
		// Every attempt is signed afresh and names the same delivery.
		for _, r := range reqs {
			if r.header.Get(notify.HeaderDelivery) != d.ID {
				t.Errorf("delivery header %q, want %s", r.header.Get(notify.HeaderDelivery), d.ID)
			}
		}
		if reqs[0].header.Get(notify.HeaderTimestamp) == reqs[2].header.Get(notify.HeaderTimestamp) {
			t.Errorf("retry reused the first attempt's timestamp")
		}
	})
}

func TestWebhookGoneGivesUp(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), notify.Config{})
		rcv := newReceiver(t, http.StatusGone)
		e.addWebhook(t, "", rcv.URL)
		e.n.Notify(testCtx(t), notify.Event{Type: notify.CertificateRevoked})
		d := onlyDelivery(t, e)
		if err := e.runDue(t)[d.ID]; err != nil {
			t.Fatalf("Deliver after 410 = %v, want nil (gave up)", err)
		}
		got := e.delivery(t, d.ID)
		if got.Status != storage.DeliveryFailed || got.Attempts != 1 || got.LastStatus != 410 || !strings.Contains(got.LastError, "410 Gone") {
			t.Fatalf("after 410: %+v", got)
		}
		e.clock.Add(24 * time.Hour)
		if errs := e.runDue(t); len(errs) != 0 {
			t.Fatalf("job still due after giving up: %v", errs)
		}
	})
}

func TestWebhookMaxAttempts(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), notify.Config{MaxAttempts: 3, Backoff: func(int) time.Duration { return time.Second }})
		rcv := newReceiver(t, 500, 500, 500, 500)
		e.addWebhook(t, "", rcv.URL)
		e.n.Notify(testCtx(t), notify.Event{Type: notify.UpstreamError, Backend: "sectigo"})
		d := onlyDelivery(t, e)
		for i := 1; i <= 3; i++ {
			err := e.runDue(t)[d.ID]
			if (i < 3) != (err != nil) {
				t.Fatalf("attempt %d: Deliver = %v", i, err)
			}
			e.clock.Add(time.Second)
		}
		got := e.delivery(t, d.ID)
		if got.Status != storage.DeliveryFailed || got.Attempts != 3 || !strings.Contains(got.LastError, "gave up after 3 attempts") {
			t.Fatalf("after 3 failures: %+v", got)
		}
		if n := len(rcv.received()); n != 3 {
			t.Fatalf("receiver got %d requests, want 3", n)
		}
	})
}

func TestWebhookTimeout(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), notify.Config{WebhookTimeout: 200 * time.Millisecond})
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer slow.Close()
		defer close(release)
		e.addWebhook(t, "", slow.URL)
		e.n.Notify(testCtx(t), notify.Event{Type: notify.ApprovalRequired})
		d := onlyDelivery(t, e)
		var retry *notify.RetryError
		if err := e.runDue(t)[d.ID]; !errors.As(err, &retry) {
			t.Fatalf("Deliver to a slow receiver = %v, want a RetryError", err)
		}
		got := e.delivery(t, d.ID)
		if got.Status != storage.DeliveryPending || got.Attempts != 1 || got.LastStatus != 0 || !strings.Contains(got.LastError, "no answer within 200ms") {
			t.Fatalf("after a timeout: %+v", got)
		}
	})
}

func TestWebhookRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), notify.Config{})
		target := newReceiver(t)
		redirector := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
		defer redirector.Close()
		e.addWebhook(t, "", redirector.URL)
		e.n.Notify(testCtx(t), notify.Event{Type: notify.CertificateIssued})
		d := onlyDelivery(t, e)
		var retry *notify.RetryError
		if err := e.runDue(t)[d.ID]; !errors.As(err, &retry) {
			t.Fatalf("Deliver to a redirect = %v, want a RetryError", err)
		}
		if got := e.delivery(t, d.ID); got.LastStatus != http.StatusTemporaryRedirect {
			t.Fatalf("last status %d, want 307", got.LastStatus)
		}
		if n := len(target.received()); n != 0 {
			t.Fatalf("the redirect was followed: its target got %d requests", n)
		}
	})
}

// A webhook URL can hold a token in its path or query; neither it nor the
// signing secret may reach the delivery log or the logs.
func TestWebhookErrorsHoldNoSecret(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), notify.Config{MaxAttempts: 2, Backoff: func(int) time.Duration { return time.Second }})
		// A closed port: the connection is refused.
		dead := httptest.NewServer(http.NotFoundHandler())
		deadURL := dead.URL
		dead.Close()
		const token = "T0KEN-in-path"
		w, secret := e.addWebhook(t, "", deadURL+"/hooks/"+token+"?key="+token)
		e.n.Notify(testCtx(t), notify.Event{Type: notify.OrderFailed})
		d := onlyDelivery(t, e)
		e.runDue(t)
		e.clock.Add(time.Second)
		e.runDue(t)
		got := e.delivery(t, d.ID)
		if got.Status != storage.DeliveryFailed || !strings.Contains(got.LastError, w.ID) || !strings.Contains(got.LastError, strings.TrimPrefix(deadURL, "http://")) {
			t.Fatalf("delivery log %+v: want failed, naming the webhook and its host", got)
		}
		logs := e.log.String()
		if !strings.Contains(logs, w.ID) {
			t.Fatalf("the give-up was not logged: %s", logs)
		}
		for _, s := range []string{token, string(secret)} {
			if strings.Contains(got.LastError, s) || strings.Contains(logs, s) {
				t.Errorf("%q leaked: last error %q, logs %s", s, got.LastError, logs)
			}
		}
	})
}

func TestDeliveryPastDeadline(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), notify.Config{DeliveryDeadline: time.Hour})
		rcv := newReceiver(t)
		e.addWebhook(t, "", rcv.URL)
		e.n.Notify(testCtx(t), notify.Event{Type: notify.CertificateIssued})
		d := onlyDelivery(t, e)
		e.clock.Add(time.Hour)
		if err := e.runDue(t)[d.ID]; err != nil {
			t.Fatalf("Deliver past the deadline = %v, want nil", err)
		}
		got := e.delivery(t, d.ID)
		if got.Status != storage.DeliveryFailed || !strings.Contains(got.LastError, "deadline") {
			t.Fatalf("past the deadline: %+v", got)
		}
		if n := len(rcv.received()); n != 0 {
			t.Fatalf("sent past the deadline (%d requests)", n)
		}
	})
}

func TestDeleteWebhookStopsDelivery(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), notify.Config{})
		rcv := newReceiver(t)
		w, _ := e.addWebhook(t, "", rcv.URL)
		e.n.Notify(testCtx(t), notify.Event{Type: notify.CertificateIssued})
		d := onlyDelivery(t, e)
		if err := e.st.DeleteWebhook(testCtx(t), w.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.runDue(t)[d.ID]; err != nil {
			t.Fatalf("Deliver for a deleted webhook = %v, want nil", err)
		}
		if got := e.delivery(t, d.ID); got.Status != storage.DeliveryFailed || !strings.Contains(got.LastError, "deleted") {
			t.Fatalf("delivery of a deleted webhook: %+v", got)
		}
		if n := len(rcv.received()); n != 0 {
			t.Fatalf("sent to a deleted webhook (%d requests)", n)
		}
	})
}
