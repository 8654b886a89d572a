package admin

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// attentionFixture is what seedAttention stored.
type attentionFixture struct {
	pending, failed []*storage.Order
	// expiring are the valid certificates expiring within 30 days, soonest
	// first.
	expiring []*storage.Certificate
	job      *storage.Job
}

// seedAttention stores two orders awaiting approval, three orders failed
// within the day and one failed two days ago, three certificates expiring
// within 30 days (two of team-a, one of default) and two that do not (far
// off, or already expired), and one issuance job failing at the CA.
func seedAttention(e *apiEnv) *attentionFixture {
	e.t.Helper()
	now := time.Now().UTC()
	f := &attentionFixture{}
	acct := e.account("team-a")
	for _, name := range []string{"wait-1.example.test", "wait-2.example.test"} {
		f.pending = append(f.pending, e.awaitingApproval(acct, name, now.Add(time.Hour)))
	}
	problem := []byte(`{"type":"urn:ietf:params:acme:error:serverInternal"}`)
	for i, at := range []time.Duration{-3 * time.Hour, -2 * time.Hour, -time.Hour, -48 * time.Hour} {
		o := e.order(acct, "fail-"+strconv.Itoa(i)+".example.test", now.Add(at-time.Minute))
		if err := e.st.FailOrder(e.ctx, o.ID, problem, now.Add(at), nil); err != nil {
			e.t.Fatal(err)
		}
		if at > -attentionFailedWindow {
			f.failed = append([]*storage.Order{o}, f.failed...) // newest first
		}
	}
	f.expiring = []*storage.Certificate{
		e.fakeCert("team-a", "exp-3d.example.test", now.Add(3*24*time.Hour), now),
		e.fakeCert("default", "exp-10d.example.test", now.Add(10*24*time.Hour), now),
		e.fakeCert("team-a", "exp-20d.example.test", now.Add(20*24*time.Hour), now),
	}
	e.fakeCert("default", "fine.example.test", now.Add(300*24*time.Hour), now)
	e.fakeCert("default", "gone.example.test", now.Add(-24*time.Hour), now)

	o := e.order(acct, "job.example.test", now)
	f.job = &storage.Job{ID: fixtureID("job"), Kind: storage.JobIssue, Ref: o.ID, RunAt: now.Add(-time.Second), Deadline: now.Add(time.Hour), CreatedAt: now}
	if err := e.st.BeginFinalize(e.ctx, o.ID, []storage.Status{storage.StatusPending}, []byte{0x30}, f.job, now, nil); err != nil {
		e.t.Fatal(err)
	}
	if leased, err := e.st.LeaseJobs(e.ctx, "test", 10, now, time.Minute); err != nil || len(leased) != 1 {
		e.t.Fatalf("lease: %v, %d jobs", err, len(leased))
	}
	if err := e.st.RetryJob(e.ctx, f.job.ID, "test", now.Add(time.Minute), "upstream: 503 Service Unavailable"); err != nil {
		e.t.Fatal(err)
	}
	return f
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, v := range items {
		out[i] = id(v)
	}
	return out
}

func orderID(o *storage.Order) string      { return o.ID }
func certID(c *storage.Certificate) string { return c.ID }

// TestAttention checks what gatherAttention reads: every pending approval,
// the failed orders of the window and the expiring certificates up to the
// list limit with exact counts, and the failing jobs.
func TestAttention(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	f := seedAttention(e)
	now := time.Now().UTC()

	for _, listed := range []int{1, 2, 3, 100} {
		a, err := e.srv.gatherAttention(e.ctx, now, listed)
		if err != nil {
			t.Fatalf("gatherAttention(%d): %v", listed, err)
		}
		if got := ids(a.Pending, orderID); len(got) != len(f.pending) {
			t.Errorf("listed %d: pending %v, want all %d", listed, got, len(f.pending))
		}
		if !a.FailedSince.Equal(now.Add(-24 * time.Hour)) {
			t.Errorf("failed since %v, want a day before %v", a.FailedSince, now)
		}
		wantFailed := f.failed[:min(listed, len(f.failed))]
		if got := ids(a.Failed, orderID); !slices.Equal(got, ids(wantFailed, orderID)) || a.FailedMore != (listed < len(f.failed)) {
			t.Errorf("listed %d: failed %v (more %v), want %v (more %v)", listed, got, a.FailedMore, ids(wantFailed, orderID), listed < len(f.failed))
		}
		wantExpiring := f.expiring[:min(listed, len(f.expiring))]
		if got := ids(a.Expiring, certID); !slices.Equal(got, ids(wantExpiring, certID)) || a.ExpiringMore != (listed < len(f.expiring)) {
			t.Errorf("listed %d: expiring %v (more %v), want %v (more %v)", listed, got, a.ExpiringMore, ids(wantExpiring, certID), listed < len(f.expiring))
		}
		if want := map[string]int{"team-a": 2, "default": 1}; a.ExpiringCount != 3 || !maps.Equal(a.ExpiringByDirectory, want) {
			t.Errorf("listed %d: %d expiring, by directory %v; want 3, %v", listed, a.ExpiringCount, a.ExpiringByDirectory, want)
		}
		if len(a.FailingJobs) != 1 || a.FailingJobs[0].ID != f.job.ID || a.FailingJobs[0].LastError != "upstream: 503 Service Unavailable" {
			t.Errorf("listed %d: failing jobs %+v", listed, a.FailingJobs)
		}
		if a.FailingCount != 1 || a.Jobs[storage.JobIssue].Failing != 1 {
			t.Errorf("listed %d: %d failing, job counts %+v", listed, a.FailingCount, a.Jobs)
		}
	}
}

// TestAttentionSameOnAPIAndDashboard checks the REST API's summary and the
// dashboard's home page show gatherAttention's numbers.
func TestAttentionSameOnAPIAndDashboard(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	seedAttention(e)
	now := time.Now().UTC()
	// More expiring certificates than the home page lists: its count is
	// still of all of them.
	for i := range homeListLimit {
		e.fakeCert("default", "more-"+strconv.Itoa(i)+".example.test", now.Add(25*24*time.Hour), now)
	}

	a, err := e.srv.gatherAttention(e.ctx, now, summaryListed)
	if err != nil {
		t.Fatal(err)
	}
	var s summaryView
	e.must(storage.RoleAuditor, "GET", "/summary", nil, http.StatusOK).decode(t, &s)
	if s.PendingApprovals.Count != len(a.Pending) || s.FailedOrders.Count != len(a.Failed) || s.FailedOrders.Truncated != a.FailedMore ||
		s.ExpiringCertificates.Count != a.ExpiringCount || !maps.Equal(s.ExpiringCertificates.ByDirectory, a.ExpiringByDirectory) ||
		s.ExpiringCertificates.Days != attentionExpiryDays || s.FailingJobs.Count != a.FailingCount || len(s.FailingJobs.Jobs) != len(a.FailingJobs) {
		t.Errorf("summary %+v\ndisagrees with the attention gathered %+v", s, a)
	}
	if got := ids(s.FailedOrders.Orders, func(o orderView) string { return o.ID }); !slices.Equal(got, ids(a.Failed, orderID)) {
		t.Errorf("summary lists failed orders %v, want %v", got, ids(a.Failed, orderID))
	}
	if got := ids(s.ExpiringCertificates.Items, func(c CertificateView) string { return c.ID }); !slices.Equal(got, ids(a.Expiring, certID)) {
		t.Errorf("summary lists expiring certificates %v, want %v", got, ids(a.Expiring, certID))
	}

	home, err := e.srv.gatherAttention(e.ctx, now, homeListLimit)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	d := &dashReq{s: e.srv, w: rec, r: httptest.NewRequestWithContext(e.ctx, http.MethodGet, "/admin/", nil)}
	if err := e.srv.homePage(d); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("home page: %d, %v\n%s", rec.Code, err, rec.Body)
	}
	for card, want := range map[string]string{
		"pending approval": strconv.Itoa(len(home.Pending)),
		"failed order":     strconv.Itoa(len(home.Failed)),
		"expiring within":  strconv.Itoa(home.ExpiringCount),
		// The one failing job is an issuance: an upstream CA error.
		"upstream CA error": strconv.Itoa(len(home.FailingJobs)),
	} {
		m := regexp.MustCompile(`<span class="num">([0-9]+\+?)</span> ` + regexp.QuoteMeta(card)).FindStringSubmatch(rec.Body.String())
		if m == nil || m[1] != want {
			t.Errorf("home page card %q shows %q, want %s", card, m, want)
		}
	}
	if home.ExpiringCount != 3+homeListLimit || !home.ExpiringMore || home.ExpiringCount != a.ExpiringCount ||
		len(home.Pending) != len(a.Pending) || len(home.Failed) != len(a.Failed) {
		t.Errorf("the home page's attention %+v and the summary's %+v count differently", home, a)
	}
}
