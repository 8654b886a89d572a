package notify_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/acmegate/acmegate/notify"
	"github.com/acmegate/acmegate/storage"
)

func TestNotifyFansOut(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), notify.Config{
			Email: notify.EmailConfig{Lists: []notify.RecipientList{
				{To: []string{"PKI team <pki@example.com>", "oncall@example.com"}, Events: []string{notify.OrderFailed, notify.UpstreamError}},
				{Directory: "team-a", To: []string{"team-a@example.com", "PKI@example.com"}},
				{Directory: "team-b", To: []string{"team-b@example.com"}},
			}},
			SMTP: notify.SMTPConfig{Host: "127.0.0.1", From: "acmegate@example.com"},
		})
		e.addWebhook(t, "", "https://all.example/hook")
		e.addWebhook(t, "", "https://issued.example/hook", notify.CertificateIssued)
		e.addWebhook(t, "team-a", "https://a.example/hook")
		e.addWebhook(t, "team-a", "https://a-failed.example/hook", notify.OrderFailed, notify.ApprovalRequired)
		e.addWebhook(t, "team-b", "https://b.example/hook")

		tests := []struct {
			name string
			ev   notify.Event
			want []string
		}{
			{
				name: "team-a order failed",
				ev:   notify.Event{Type: notify.OrderFailed, Directory: "team-a"},
				want: []string{
					// pki@example.com once, with the name of the first list that has it.
					`email:"PKI team" <pki@example.com>, <oncall@example.com>, <team-a@example.com>`,
					"webhook:https://a-failed.example/hook",
					"webhook:https://a.example/hook",
					"webhook:https://all.example/hook",
				},
			},
			{
				name: "team-a issued",
				ev:   notify.Event{Type: notify.CertificateIssued, Directory: "team-a"},
				want: []string{
					"email:<team-a@example.com>, <PKI@example.com>",
					"webhook:https://a.example/hook",
					"webhook:https://all.example/hook",
					"webhook:https://issued.example/hook",
				},
			},
			{
				name: "team-c revoked",
				ev:   notify.Event{Type: notify.CertificateRevoked, Directory: "team-c"},
				want: []string{"webhook:https://all.example/hook"},
			},
			{
				name: "upstream error of no directory",
				ev:   notify.Event{Type: notify.UpstreamError, Backend: "sectigo"},
				want: []string{
					`email:"PKI team" <pki@example.com>, <oncall@example.com>`,
					"webhook:https://all.example/hook",
				},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// Deliveries list by creation time: keep cases apart.
				e.clock.Add(time.Second)
				before := len(e.deliveries(t))
				e.n.Notify(testCtx(t), tt.ev)
				all := e.deliveries(t)
				if len(all) != before+len(tt.want) {
					t.Fatalf("%d deliveries recorded, want %d", len(all)-before, len(tt.want))
				}
				var got []string
				var eventID string
				for _, d := range all[before:] {
					got = append(got, d.Channel+":"+d.Target)
					ev := decodeEvent(t, d.Payload)
					if eventID == "" {
						eventID = ev.ID
					}
					if ev.ID == "" || ev.ID != eventID || d.Event != tt.ev.Type || d.Directory != tt.ev.Directory || d.Status != storage.DeliveryPending {
						t.Errorf("delivery %+v (event %s): want one pending delivery per target of the same event", d, ev.ID)
					}
				}
				sort.Strings(got)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("fan-out (-want +got):\n%s", diff)
				}
				// Cleared, so the next case starts from nothing due.
				now := e.clock.Now()
				jobs, err := e.st.LeaseJobs(testCtx(t), "check", 100, now, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if len(jobs) != len(tt.want) {
					t.Fatalf("%d jobs due, want %d", len(jobs), len(tt.want))
				}
				ids := map[string]bool{}
				for _, d := range all[before:] {
					ids[d.ID] = true
				}
				for _, j := range jobs {
					if j.Kind != storage.JobDeliver || !ids[j.Ref] || !j.Deadline.Equal(now.Add(24*time.Hour)) {
						t.Errorf("job %+v: want a deliver job for one of the deliveries, deadline in 24h", j)
					}
					if err := e.st.CompleteJob(testCtx(t), j.ID, "check"); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	})
}

func TestNotifyKeepsGivenIDAndTime(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), notify.Config{})
		e.addWebhook(t, "", "https://all.example/hook")
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		e.n.Notify(testCtx(t), notify.Event{ID: "given", Type: notify.CertificateIssued, At: at})
		ev := decodeEvent(t, onlyDelivery(t, e).Payload)
		if ev.ID != "given" || !ev.At.Equal(at) {
			t.Fatalf("event %s at %v, want given at %v", ev.ID, ev.At, at)
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  notify.Config
		want string
	}{
		{"no store", notify.Config{}, "Store is required"},
		{"recipients without host", notify.Config{Email: notify.EmailConfig{Lists: []notify.RecipientList{{To: []string{"a@example.com"}}}}},
			"no SMTP host"},
		{"bad recipient", notify.Config{Email: notify.EmailConfig{Lists: []notify.RecipientList{{To: []string{"not an address"}}}}},
			`"not an address"`},
		{"recipient with a line break", notify.Config{Email: notify.EmailConfig{Lists: []notify.RecipientList{{To: []string{"a@example.com\r\nBcc: x@example.com"}}}}},
			"line break"},
		{"unknown event", notify.Config{Email: notify.EmailConfig{Lists: []notify.RecipientList{{To: []string{"a@example.com"}, Events: []string{"order.eaten"}}}}},
			`unknown event type "order.eaten"`},
		{"bad starttls", notify.Config{Email: notify.EmailConfig{Lists: []notify.RecipientList{{To: []string{"a@example.com"}}}},
			SMTP: notify.SMTPConfig{Host: "h", From: "f@example.com", StartTLS: "maybe"}}, `starttls "maybe"`},
		{"password without tls", notify.Config{Email: notify.EmailConfig{Lists: []notify.RecipientList{{To: []string{"a@example.com"}}}},
			SMTP: notify.SMTPConfig{Host: "h", From: "f@example.com", StartTLS: notify.StartTLSNone, Username: "u"}}, "needs TLS"},
		{"negative threshold", notify.Config{ExpiryDays: []int{7, -1}}, "positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name != "no store" {
				tt.cfg.Store = nilStore{}
			}
			_, err := notify.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// nilStore stands in for a store New only checks is set.
type nilStore struct{ notify.Store }
