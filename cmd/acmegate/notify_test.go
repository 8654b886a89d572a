package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/acmegate/acmegate/notify"
	"github.com/acmegate/acmegate/storage"
)

func TestNotificationsConfigDefaults(t *testing.T) {
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Notifications
	if !slices.Equal(n.ExpiryDays, []int{30, 7, 1}) || n.WebhookTimeout != 10*time.Second ||
		n.SMTP.StartTLS != "required" || n.SMTP.Port != 587 || n.SMTP.Timeout != 30*time.Second {
		t.Errorf("notification defaults = %+v", n)
	}
	cfg, err = loadConfig(writeConfig(t, "notifications:\n  smtp:\n    starttls: implicit\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Notifications.SMTP.Port != 465 {
		t.Errorf("implicit TLS port = %d, want 465", cfg.Notifications.SMTP.Port)
	}
}

func TestReadmeNotificationsExample(t *testing.T) {
	cfg, err := loadConfig(writeConfig(t, readmeBlock(t, "### Notifications")))
	if err != nil {
		t.Fatalf("the README's notifications example does not load: %v", err)
	}
	n := cfg.Notifications
	if n.SMTP.Host != "smtp.example.com" || n.SMTP.PasswordFile == "" || len(n.Email.Recipients) != 1 ||
		len(n.Email.Directories["team-a"]) != 1 || len(n.Email.Events) != 4 {
		t.Errorf("notifications = %+v", n)
	}
}

func TestNotificationsConfigErrors(t *testing.T) {
	const mail = "notifications:\n  smtp:\n    host: smtp.example.com\n    from: a@example.com\n  email:\n"
	cases := map[string]struct{ body, want string }{
		"recipients without host": {"notifications:\n  email:\n    recipients: [a@example.com]\n",
			"notifications.smtp.host is required"},
		"recipients without from": {"notifications:\n  smtp:\n    host: h\n  email:\n    directories:\n      team-a: [a@example.com]\n",
			"notifications.smtp.from is required"},
		"bad recipient":         {mail + "    recipients: [a@example.com, nobody]\n", `notifications.email.recipients[1]: "nobody"`},
		"bad directory address": {mail + "    directories:\n      team-a: [\"x@\"]\n", "notifications.email.directories.team-a[0]"},
		"bad directory name":    {mail + "    directories:\n      Team_A: [a@example.com]\n", `notifications.email.directories: "Team_A"`},
		"unknown event":         {mail + "    events: [certificate.issued, order.eaten]\n", `notifications.email.events: unknown event type "order.eaten"`},
		"bad starttls":          {"notifications:\n  smtp:\n    starttls: sometimes\n", `notifications.smtp.starttls "sometimes"`},
		"bad port":              {"notifications:\n  smtp:\n    port: 70000\n", "notifications.smtp.port 70000"},
		"username without file": {"notifications:\n  smtp:\n    username: u\n", "notifications.smtp.username and notifications.smtp.password_file"},
		"password in clear":     {"notifications:\n  smtp:\n    starttls: none\n    username: u\n    password_file: /p\n", "needs TLS"},
		"bad from":              {"notifications:\n  smtp:\n    from: acmegate\n", "notifications.smtp.from"},
		"bad threshold":         {"notifications:\n  expiry_days: [30, 0]\n", "notifications.expiry_days"},
		"unknown field":         {"notifications:\n  smtp:\n    password: hunter2\n", "field password not found"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(writeConfig(t, tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// newNotifier on real components: the sealing key the admin API seals
// webhook secrets with opens them, and deliveries reach the receiver
// signed.
func TestNewNotifierDeliversSignedWebhook(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	pw := filepath.Join(dir, "smtp-password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(writeConfig(t, "data_dir: "+dir+`
notifications:
  smtp:
    host: 127.0.0.1
    username: acmegate
    password_file: `+pw+`
    from: acmegate@example.com
  email:
    recipients: [pki@example.com]
    events: [upstream.error]
  webhook_timeout: 5s
`))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	comp, err := openComponents(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer comp.close()
	n, err := newNotifier(cfg, comp, log)
	if err != nil {
		t.Fatalf("newNotifier: %v", err)
	}

	secret := []byte("whsec_test")
	type request struct {
		header http.Header
		body   []byte
	}
	received := make(chan request, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		received <- request{r.Header.Clone(), body}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	w := &storage.Webhook{ID: uuid.NewString(), URL: rcv.URL, CreatedAt: time.Now().UTC()}
	w.SealedSecret = comp.sealer.Seal(secret, notify.WebhookSecretContext(w.ID))
	if err := comp.store.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}

	n.Notify(ctx, notify.Event{Type: notify.CertificateIssued, Directory: "default", Names: []string{"a.example.com"}})
	jobs, err := comp.store.LeaseJobs(ctx, "test", 10, time.Now().UTC().Add(time.Second), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// The e-mail list wants upstream errors only: one webhook delivery.
	if len(jobs) != 1 || jobs[0].Kind != storage.JobDeliver {
		t.Fatalf("jobs = %+v, want one deliver job", jobs)
	}
	if err := n.Deliver(ctx, jobs[0]); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if len(received) != 1 {
		t.Fatalf("the receiver got %d requests, want 1", len(received))
	}
	got := <-received
	if !notify.VerifySignature(secret, got.header.Get(notify.HeaderTimestamp), got.body, got.header.Get(notify.HeaderSignature)) {
		t.Fatalf("the request is not correctly signed (headers %v)", got.header)
	}
	d, err := comp.store.GetDelivery(ctx, jobs[0].Ref)
	if err != nil || d.Status != storage.DeliveryDelivered || d.LastStatus != http.StatusNoContent {
		t.Fatalf("delivery %+v, %v", d, err)
	}
}

func TestNewNotifierFileErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, tc := range map[string]struct{ section, want string }{
		"missing password file": {"    username: u\n    password_file: " + filepath.Join(dir, "nope") + "\n", "notifications.smtp.password_file"},
		"bad CA file":           {"    ca_file: " + garbage + "\n", "notifications.smtp.ca_file"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := loadConfig(writeConfig(t, "data_dir: "+dir+"\nnotifications:\n  smtp:\n"+tc.section))
			if err != nil {
				t.Fatal(err)
			}
			comp, err := openComponents(ctx, cfg, log)
			if err != nil {
				t.Fatal(err)
			}
			defer comp.close()
			if _, err := newNotifier(cfg, comp, log); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("newNotifier = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
