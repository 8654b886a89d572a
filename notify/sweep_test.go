package notify_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/acmegate/acmegate/notify"
	"github.com/acmegate/acmegate/storage"
)

func importCert(t *testing.T, st storage.Store, id string, notAfter time.Time) *storage.Certificate {
	t.Helper()
	c := &storage.Certificate{
		ID: id, Directory: "team-a", Serial: fmt.Sprintf("%x", []byte(id)), Issuer: "CN=test",
		Names: []string{id + ".example.com"}, NotBefore: notAfter.Add(-90 * 24 * time.Hour), NotAfter: notAfter,
		ChainPEM: []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), Backend: "local",
		Status: storage.StatusValid, CreatedAt: notAfter.Add(-90 * 24 * time.Hour),
	}
	if err := st.ImportCertificate(testCtx(t), c); err != nil {
		t.Fatalf("import certificate %s: %v", id, err)
	}
	return c
}

// announced maps the certificates of certificate.expiring deliveries to
// their days_left, failing on a certificate announced twice.
func announced(t *testing.T, e *env) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, d := range e.deliveries(t) {
		ev := decodeEvent(t, d.Payload)
		if ev.Type != notify.CertificateExpiring {
			t.Fatalf("delivery of a %s event", ev.Type)
		}
		if _, dup := out[ev.CertificateID]; dup {
			t.Errorf("certificate %s announced twice", ev.CertificateID)
		}
		out[ev.CertificateID] = ev.DaysLeft
	}
	return out
}

func TestSweepExpiring(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open opener) {
		st := open(t)
		e := newEnv(t, st, notify.Config{})
		e.addWebhook(t, "", "https://all.example/hook")
		// The test clock reads 2026-03-10 09:30 UTC.
		day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
		at := func(days int, hm time.Duration) time.Time { return day.Add(time.Duration(days)*24*time.Hour + hm) }
		importCert(t, st, "in-30", at(29, 12*time.Hour))
		importCert(t, st, "edge-30-first", at(29, 0))
		importCert(t, st, "edge-30-after", at(30, 0)) // tomorrow's 30-day notice
		importCert(t, st, "in-7", at(7, -time.Second))
		importCert(t, st, "in-1", at(0, 20*time.Hour))
		importCert(t, st, "expired-this-morning", at(0, 8*time.Hour))
		importCert(t, st, "in-15", at(15, 0))
		revoked := importCert(t, st, "revoked-7", at(6, 10*time.Hour))
		if err := st.RevokeCertificate(testCtx(t), revoked.ID, 1, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		// More than one page of the inventory in the 30-day window.
		want := map[string]int{"in-30": 30, "edge-30-first": 30, "in-7": 7, "in-1": 1}
		for i := range 505 {
			id := "bulk-" + strconv.Itoa(i)
			importCert(t, st, id, at(29, time.Duration(i)*time.Minute))
			want[id] = 30
		}

		// Two instances sweep at once: one of them announces.
		e2 := newEnv(t, open(t), notify.Config{})
		var wg sync.WaitGroup
		for _, n := range []*notify.Notifier{e.n, e2.n} {
			wg.Go(func() { n.SweepExpiring(testCtx(t), e.clock.Now()) })
		}
		wg.Wait()
		got := announced(t, e)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("announced (-want +got):\n%s", diff)
		}
		// The event says what expires when.
		for _, d := range e.deliveries(t) {
			ev := decodeEvent(t, d.Payload)
			if ev.CertificateID != "in-7" {
				continue
			}
			if ev.Directory != "team-a" || ev.NotAfter == nil || !ev.NotAfter.Equal(at(7, -time.Second)) ||
				len(ev.Names) != 1 || ev.Names[0] != "in-7.example.com" || ev.Serial == "" || ev.Backend != "local" {
				t.Errorf("event %+v", ev)
			}
		}

		// Later the same day, on either instance: nothing more.
		e.clock.Add(14*time.Hour + 29*time.Minute)
		e.n.SweepExpiring(testCtx(t), e.clock.Now())
		e2.n.SweepExpiring(testCtx(t), e.clock.Now())
		if n := len(e.deliveries(t)); n != len(want) {
			t.Fatalf("%d deliveries after sweeping again the same day, want %d", n, len(want))
		}

		// Just after midnight: the next day's windows, meeting the first
		// day's exactly.
		e.clock.Add(2 * time.Minute) // 2026-03-11 00:01
		e2.n.SweepExpiring(testCtx(t), e.clock.Now())
		got = announced(t, e)
		newly := map[string]int{}
		for id, d := range got {
			if _, old := want[id]; !old {
				newly[id] = d
			}
		}
		if diff := cmp.Diff(map[string]int{"edge-30-after": 30}, newly); diff != "" {
			t.Fatalf("announced on the second day (-want +got):\n%s", diff)
		}
		if len(got) != len(want)+1 {
			t.Fatalf("%d certificates announced, want %d", len(got), len(want)+1)
		}
	})
}

func TestSweepConfiguredThresholds(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, open opener) {
		st := open(t)
		e := newEnv(t, st, notify.Config{ExpiryDays: []int{14, 14}})
		e.addWebhook(t, "", "https://all.example/hook")
		day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
		importCert(t, st, "in-14", day.Add(13*24*time.Hour+time.Hour))
		importCert(t, st, "in-30", day.Add(29*24*time.Hour+time.Hour))
		e.n.SweepExpiring(testCtx(t), e.clock.Now())
		if diff := cmp.Diff(map[string]int{"in-14": 14}, announced(t, e)); diff != "" {
			t.Fatalf("announced (-want +got):\n%s", diff)
		}
	})
}
