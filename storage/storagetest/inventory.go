package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// accountAt creates and returns an account of dir in status created at
// created.
func (e *env) accountAt(dir string, status storage.Status, created time.Time) *storage.Account {
	e.t.Helper()
	a := &storage.Account{
		ID:            newID("acct"),
		Directory:     dir,
		Status:        status,
		Contact:       []string{"mailto:" + dir + "@example.com"},
		TermsAgreed:   true,
		KeyThumbprint: newID("tp"),
		KeyJWK:        []byte(`{"kty":"EC","crv":"P-256"}`),
		CreatedAt:     created,
		UpdatedAt:     created,
	}
	must(e.t, "CreateAccount", e.s.CreateAccount(e.ctx, a))
	return a
}

func testListAccounts(t *testing.T, e *env) {
	var all []*storage.Account
	for i := range 11 {
		dir, status := "default", storage.StatusValid
		if i%3 == 0 {
			dir = "team"
		}
		if i%4 == 1 {
			status = storage.StatusDeactivated
		}
		all = append(all, e.accountAt(dir, status, base().Add(time.Duration(i/2)*time.Second)))
	}
	key := func(a *storage.Account) (time.Time, string) { return a.CreatedAt, a.ID }
	newestFirst(all, key)
	tests := []struct {
		name string
		f    storage.AccountFilter
		keep func(*storage.Account) bool
	}{
		{"everything", storage.AccountFilter{}, func(*storage.Account) bool { return true }},
		{"directory", storage.AccountFilter{Directory: "team"},
			func(a *storage.Account) bool { return a.Directory == "team" }},
		{"status", storage.AccountFilter{Status: storage.StatusDeactivated},
			func(a *storage.Account) bool { return a.Status == storage.StatusDeactivated }},
		{"directory and status", storage.AccountFilter{Directory: "default", Status: storage.StatusValid},
			func(a *storage.Account) bool { return a.Directory == "default" && a.Status == storage.StatusValid }},
		{"unknown directory", storage.AccountFilter{Directory: "nowhere"}, func(*storage.Account) bool { return false }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := filter(all, tc.keep)
			for _, limit := range []int{2, 0} {
				got, sizes := allPages(t, limit, 20, func(p storage.Page) ([]*storage.Account, string, error) {
					return e.s.ListAccounts(e.ctx, tc.f, p)
				})
				if d := diff(want, got); d != "" {
					t.Errorf("ListAccounts(%+v) by %d, newest first (-want +got):\n%s", tc.f, limit, d)
				}
				eff := limit
				if eff == 0 {
					eff = 100 // the default page size
				}
				if d := diff(pageSizes(len(want), eff), sizes); d != "" {
					t.Errorf("page sizes (-want +got):\n%s", d)
				}
				checkUTC(t, got)
			}
		})
	}
	_, _, err := e.s.ListAccounts(e.ctx, storage.AccountFilter{}, storage.Page{Cursor: "not a cursor!"})
	if !errors.Is(err, storage.ErrBadCursor) {
		t.Errorf("ListAccounts on a malformed cursor: %v, want ErrBadCursor", err)
	}
}

// orderSpec is one order of the listing fixtures.
type orderSpec struct {
	acct     *storage.Account
	names    []string
	status   storage.Status
	approval storage.ApprovalState
	created  time.Duration // after base
	updated  time.Duration // after base
}

// storeOrders creates one order per spec, each with a new valid
// authorization per name.
func (e *env) storeOrders(specs []orderSpec) []*storage.Order {
	e.t.Helper()
	var out []*storage.Order
	for _, sp := range specs {
		var authzs []*storage.Authorization
		for _, n := range sp.names {
			authzs = append(authzs, e.authz(sp.acct, n, storage.StatusValid, base().Add(24*time.Hour), 1))
		}
		o := e.order(sp.acct, sp.status, authzs...)
		o.Approval = sp.approval
		o.CreatedAt, o.UpdatedAt = base().Add(sp.created), base().Add(sp.updated)
		must(e.t, "CreateOrder", e.s.CreateOrder(e.ctx, o, authzs, nil))
		out = append(out, o)
	}
	return out
}

func testListOrders(t *testing.T, e *env) {
	a1, a2 := e.account("default"), e.account("default")
	a3 := e.account("team")
	o := e.storeOrders([]orderSpec{
		{a1, []string{"www.example.com"}, storage.StatusPending, "", 0, 0},
		{a1, []string{"API.Example.org"}, storage.StatusInvalid, "", 0, 10 * time.Minute},
		{a2, []string{"under_score.example.net"}, storage.StatusValid, "", time.Second, time.Second},
		{a2, []string{"shop.example.net", "www.shop.example.net"}, storage.StatusProcessing, storage.ApprovalPending, time.Second, time.Second},
		{a3, []string{"team.example.com"}, storage.StatusInvalid, storage.ApprovalRejected, 2 * time.Second, 2 * time.Hour},
		{a1, []string{"mail.example.com"}, storage.StatusValid, storage.ApprovalApproved, 3 * time.Second, 3 * time.Second},
		{a1, []string{"example.com"}, storage.StatusPending, "", 3 * time.Second, 3 * time.Second},
		{a2, []string{"x.example.org"}, storage.StatusInvalid, "", 4 * time.Second, 30 * time.Second},
	})
	pick := func(idx ...int) []*storage.Order {
		var out []*storage.Order
		for _, i := range idx {
			out = append(out, o[i])
		}
		newestFirst(out, func(o *storage.Order) (time.Time, string) { return o.CreatedAt, o.ID })
		return out
	}
	tests := []struct {
		name string
		f    storage.OrderFilter
		want []*storage.Order
	}{
		{"everything", storage.OrderFilter{}, pick(0, 1, 2, 3, 4, 5, 6, 7)},
		{"directory", storage.OrderFilter{Directory: "team"}, pick(4)},
		{"account", storage.OrderFilter{AccountID: a1.ID}, pick(0, 1, 5, 6)},
		{"name, any case", storage.OrderFilter{Name: "example.ORG"}, pick(1, 7)},
		{"name matching two identifiers of one order", storage.OrderFilter{Name: "shop"}, pick(3)},
		{"name with _, literal", storage.OrderFilter{Name: "r_s"}, pick(2)},
		{"_ alone, literal", storage.OrderFilter{Name: "_"}, pick(2)},
		{"% alone, literal", storage.OrderFilter{Name: "%"}, nil},
		{"backslash, literal", storage.OrderFilter{Name: `\`}, nil},
		{"name of no identifier value", storage.OrderFilter{Name: "dns"}, nil},
		{"status as stored", storage.OrderFilter{Status: storage.StatusInvalid}, pick(1, 4, 7)},
		{"approval", storage.OrderFilter{Approval: storage.ApprovalPending}, pick(3)},
		{"created in [since, before)", storage.OrderFilter{CreatedSince: base().Add(time.Second), CreatedBefore: base().Add(3 * time.Second)}, pick(2, 3, 4)},
		{"updated since, inclusive", storage.OrderFilter{UpdatedSince: base().Add(10 * time.Minute)}, pick(1, 4)},
		{"failed lately", storage.OrderFilter{Status: storage.StatusInvalid, UpdatedSince: base().Add(20 * time.Second)}, pick(1, 4, 7)},
		{"directory, account and name", storage.OrderFilter{Directory: "default", AccountID: a2.ID, Name: ".NET"}, pick(2, 3)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, sizes := allPages(t, 2, 20, func(p storage.Page) ([]*storage.Order, string, error) {
				return e.s.ListOrders(e.ctx, tc.f, p)
			})
			if d := diff(tc.want, got); d != "" {
				t.Errorf("ListOrders(%+v), newest first (-want +got):\n%s", tc.f, d)
			}
			if d := diff(pageSizes(len(tc.want), 2), sizes); d != "" {
				t.Errorf("page sizes (-want +got):\n%s", d)
			}
			checkUTC(t, got)
		})
	}
	_, _, err := e.s.ListOrders(e.ctx, storage.OrderFilter{}, storage.Page{Cursor: "not a cursor!"})
	if !errors.Is(err, storage.ErrBadCursor) {
		t.Errorf("ListOrders on a malformed cursor: %v, want ErrBadCursor", err)
	}
}

// testListOrdersGrowing pages through the orders while new ones arrive:
// every order that existed at the start is listed exactly once, newest
// first, and page boundaries inside one instant lose nothing.
func testListOrdersGrowing(t *testing.T, e *env) {
	acct := e.account("default")
	var specs []orderSpec
	for i := range 9 {
		specs = append(specs, orderSpec{acct, []string{fmt.Sprintf("h%d.example.com", i)}, storage.StatusPending, "",
			time.Duration(i/3) * time.Second, 0}) // threes share an instant
	}
	want := e.storeOrders(specs)
	newestFirst(want, func(o *storage.Order) (time.Time, string) { return o.CreatedAt, o.ID })
	var got []*storage.Order
	cursor := ""
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatalf("pagination does not end")
		}
		orders, next, err := e.s.ListOrders(e.ctx, storage.OrderFilter{Directory: "default"}, storage.Page{Cursor: cursor, Limit: 2})
		must(t, "ListOrders", err)
		got = append(got, orders...)
		if next == "" {
			break
		}
		cursor = next
		// Newer than anything listed: it belongs on no later page.
		e.storeOrders([]orderSpec{{acct, []string{"late.example.com"}, storage.StatusPending, "", time.Hour, 0}})
	}
	if d := diff(want, got); d != "" {
		t.Errorf("pages of growing orders (-want +got):\n%s", d)
	}
}

// importedCert builds, without storing, a certificate of the inventory.
func importedCert(dir string, names []string, status storage.Status, notAfter, created time.Time) *storage.Certificate {
	id := newID("cert")
	return &storage.Certificate{
		ID:          id,
		Directory:   dir,
		Serial:      fmt.Sprintf("%x", []byte(id)),
		Issuer:      "CN=acmegate test intermediate",
		Names:       names,
		NotBefore:   notAfter.Add(-90 * 24 * time.Hour),
		NotAfter:    notAfter,
		ChainPEM:    []byte("-----BEGIN CERTIFICATE-----\n" + id + "\n-----END CERTIFICATE-----\n"),
		Profile:     "tlsserver",
		Backend:     "sectigo",
		UpstreamRef: "up-" + id,
		Status:      status,
		CreatedAt:   created,
	}
}

func testListCertificates(t *testing.T, e *env) {
	now := base()
	day := 24 * time.Hour
	c := []*storage.Certificate{
		importedCert("default", []string{"www.example.com", "example.com"}, storage.StatusValid, now.Add(10*day), now),
		importedCert("default", []string{"API.Example.org"}, storage.StatusValid, now.Add(40*day), now),
		importedCert("team", []string{"under_score.example.net"}, storage.StatusRevoked, now.Add(5*day), now.Add(time.Second)),
		importedCert("team", []string{"shop.example.net", "www.shop.example.net"}, storage.StatusValid, now.Add(10*day), now.Add(2*time.Second)),
		importedCert("default", []string{"old.example.com"}, storage.StatusValid, now.Add(-day), now.Add(-90*day)),
		importedCert("default", []string{"x.example.org"}, storage.StatusRevocationPending, now.Add(60*day), now.Add(3*time.Second)),
		importedCert("default", []string{"y.example.org"}, storage.StatusValid, now.Add(5*day), now.Add(3*time.Second)),
	}
	c[2].RevokedAt, c[2].RevocationReason = now.Add(time.Hour), 4
	for _, cert := range c {
		must(t, "ImportCertificate", e.s.ImportCertificate(e.ctx, cert))
	}
	pick := func(idx ...int) []*storage.Certificate {
		var out []*storage.Certificate
		for _, i := range idx {
			out = append(out, c[i])
		}
		return out
	}
	tests := []struct {
		name string
		f    storage.CertificateFilter
		want []*storage.Certificate
	}{
		{"everything", storage.CertificateFilter{}, pick(0, 1, 2, 3, 4, 5, 6)},
		{"directory", storage.CertificateFilter{Directory: "team"}, pick(2, 3)},
		{"name, any case", storage.CertificateFilter{Name: "EXAMPLE.org"}, pick(1, 5, 6)},
		{"name matching two names of one certificate", storage.CertificateFilter{Name: "shop"}, pick(3)},
		{"_ alone, literal", storage.CertificateFilter{Name: "_"}, pick(2)},
		{"% alone, literal", storage.CertificateFilter{Name: "%"}, nil},
		{"backslash, literal", storage.CertificateFilter{Name: `\`}, nil},
		{"status", storage.CertificateFilter{Status: storage.StatusValid}, pick(0, 1, 3, 4, 6)},
		{"expiring before, exclusive", storage.CertificateFilter{ExpiringBefore: now.Add(10 * day)}, pick(2, 4, 6)},
		{"expiring after, inclusive", storage.CertificateFilter{ExpiringAfter: now.Add(10 * day)}, pick(0, 1, 3, 5)},
		{"valid, expiring in 30 days", storage.CertificateFilter{Status: storage.StatusValid, ExpiringAfter: now, ExpiringBefore: now.Add(30 * day)}, pick(0, 3, 6)},
		{"issued since, inclusive", storage.CertificateFilter{IssuedSince: now.Add(2 * time.Second)}, pick(3, 5, 6)},
		{"directory and name", storage.CertificateFilter{Directory: "default", Name: "www"}, pick(0)},
	}
	byCreated := func(c *storage.Certificate) (time.Time, string) { return c.CreatedAt, c.ID }
	byExpiry := func(c *storage.Certificate) (time.Time, string) { return c.NotAfter, c.ID }
	for _, tc := range tests {
		for _, expiry := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/by expiry %v", tc.name, expiry), func(t *testing.T) {
				f := tc.f
				f.ByExpiry = expiry
				want := append([]*storage.Certificate(nil), tc.want...)
				if expiry {
					soonestFirst(want, byExpiry)
				} else {
					newestFirst(want, byCreated)
				}
				got, sizes := allPages(t, 2, 20, func(p storage.Page) ([]*storage.Certificate, string, error) {
					return e.s.ListCertificates(e.ctx, f, p)
				})
				if d := diff(want, got); d != "" {
					t.Errorf("ListCertificates(%+v) (-want +got):\n%s", f, d)
				}
				if d := diff(pageSizes(len(want), 2), sizes); d != "" {
					t.Errorf("page sizes (-want +got):\n%s", d)
				}
				checkUTC(t, got)
			})
		}
	}
	for _, expiry := range []bool{false, true} {
		_, _, err := e.s.ListCertificates(e.ctx, storage.CertificateFilter{ByExpiry: expiry}, storage.Page{Cursor: "not a cursor!"})
		if !errors.Is(err, storage.ErrBadCursor) {
			t.Errorf("ListCertificates (by expiry %v) on a malformed cursor: %v, want ErrBadCursor", expiry, err)
		}
	}
}

// testListCertificatesGrowing pages by expiry while certificates arrive:
// one expiring before the page boundary does not show up on later pages,
// one expiring after it does, and nothing is listed twice.
func testListCertificatesGrowing(t *testing.T, e *env) {
	var want []*storage.Certificate
	for i := range 6 {
		c := importedCert("default", []string{fmt.Sprintf("h%d.example.com", i)}, storage.StatusValid,
			base().Add(time.Duration(i/2)*24*time.Hour), base()) // pairs share an expiry
		must(t, "ImportCertificate", e.s.ImportCertificate(e.ctx, c))
		want = append(want, c)
	}
	key := func(c *storage.Certificate) (time.Time, string) { return c.NotAfter, c.ID }
	f := storage.CertificateFilter{ByExpiry: true}
	first, next, err := e.s.ListCertificates(e.ctx, f, storage.Page{Limit: 3})
	must(t, "ListCertificates", err)
	early := importedCert("default", []string{"early.example.com"}, storage.StatusValid, base().Add(-time.Hour), base())
	late := importedCert("default", []string{"late.example.com"}, storage.StatusValid, base().Add(30*24*time.Hour), base())
	for _, c := range []*storage.Certificate{early, late} {
		must(t, "ImportCertificate", e.s.ImportCertificate(e.ctx, c))
	}
	rest, _ := allPages(t, 3, 10, func(p storage.Page) ([]*storage.Certificate, string, error) {
		if p.Cursor == "" {
			p.Cursor = next
		}
		return e.s.ListCertificates(e.ctx, f, p)
	})
	soonestFirst(want, key)
	want = append(want, late)
	if d := diff(want, append(first, rest...)); d != "" {
		t.Errorf("pages by expiry of growing certificates (-want +got):\n%s", d)
	}
}

func testCountExpiringCertificates(t *testing.T, e *env) {
	now := base()
	day := 24 * time.Hour
	for _, c := range []*storage.Certificate{
		importedCert("a", []string{"at-now.example.com"}, storage.StatusValid, now, now),
		importedCert("a", []string{"soon.example.com"}, storage.StatusValid, now.Add(day), now),
		importedCert("a", []string{"later.example.com"}, storage.StatusValid, now.Add(29*day), now),
		importedCert("a", []string{"at-before.example.com"}, storage.StatusValid, now.Add(30*day), now),
		importedCert("a", []string{"revoked.example.com"}, storage.StatusRevoked, now.Add(day), now),
		importedCert("a", []string{"pending.example.com"}, storage.StatusRevocationPending, now.Add(day), now),
		importedCert("a", []string{"expired.example.com"}, storage.StatusValid, now.Add(-time.Microsecond), now),
		importedCert("b", []string{"b.example.com"}, storage.StatusValid, now.Add(2*day), now),
		importedCert("c", []string{"c.example.com"}, storage.StatusValid, now.Add(31*day), now),
	} {
		must(t, "ImportCertificate", e.s.ImportCertificate(e.ctx, c))
	}
	got, err := e.s.CountExpiringCertificates(e.ctx, now, now.Add(30*day))
	must(t, "CountExpiringCertificates", err)
	if d := diff(map[string]int{"a": 3, "b": 1}, got); d != "" {
		t.Errorf("CountExpiringCertificates (-want +got):\n%s", d)
	}
	got, err = e.s.CountExpiringCertificates(e.ctx, now.Add(100*day), now.Add(200*day))
	must(t, "CountExpiringCertificates", err)
	if len(got) != 0 {
		t.Errorf("CountExpiringCertificates of an empty window = %v, want none", got)
	}
}

func testCountJobs(t *testing.T, e *env) {
	validate := e.seedJobs(3, base())
	leased, err := e.s.LeaseJobs(e.ctx, "w1", 10, base(), time.Minute)
	must(t, "LeaseJobs", err)
	if len(leased) != 3 {
		t.Fatalf("leased %d jobs, want 3", len(leased))
	}
	must(t, "RetryJob", e.s.RetryJob(e.ctx, validate[0].ID, "w1", base().Add(time.Hour), "dns: SERVFAIL"))
	e.finalizing(e.account("default")) // one issue job, due at base
	d1, j1 := delivery(nil, base())
	d2, j2 := delivery(nil, base())
	j2.LastError = "smtp: 451"
	must(t, "EnqueueDeliveries", e.s.EnqueueDeliveries(e.ctx, []*storage.Delivery{d1, d2}, []*storage.Job{j1, j2}))

	tests := []struct {
		name string
		now  time.Time
		want map[storage.JobKind]storage.JobCounts
	}{
		{"while two leases run", base().Add(30 * time.Second), map[storage.JobKind]storage.JobCounts{
			storage.JobValidate: {Queued: 1, Running: 2, Failing: 1},
			storage.JobIssue:    {Queued: 1},
			storage.JobDeliver:  {Queued: 2, Failing: 1},
		}},
		{"once the leases expired", base().Add(time.Minute), map[storage.JobKind]storage.JobCounts{
			storage.JobValidate: {Queued: 3, Failing: 1},
			storage.JobIssue:    {Queued: 1},
			storage.JobDeliver:  {Queued: 2, Failing: 1},
		}},
	}
	for _, tc := range tests {
		got, err := e.s.CountJobs(e.ctx, tc.now)
		must(t, "CountJobs", err)
		if d := diff(tc.want, got); d != "" {
			t.Errorf("CountJobs %s (-want +got):\n%s", tc.name, d)
		}
	}
}

func testListFailingJobs(t *testing.T, e *env) {
	var ds []*storage.Delivery
	var jobs, failing []*storage.Job
	for i := range 7 {
		d, j := delivery(nil, base())
		j.CreatedAt = base().Add(time.Duration(i) * time.Minute)
		if i%2 == 0 {
			j.LastError = fmt.Sprintf("attempt %d: connection refused", i)
			failing = append([]*storage.Job{j}, failing...) // newest first
		}
		ds, jobs = append(ds, d), append(jobs, j)
	}
	must(t, "EnqueueDeliveries", e.s.EnqueueDeliveries(e.ctx, ds, jobs))
	// One more that failed through the worker's RetryJob.
	seeded := e.seedJobs(1, base())
	must(t, "LeaseJobs", func() error { _, err := e.s.LeaseJobs(e.ctx, "w1", 100, base(), time.Minute); return err }())
	must(t, "RetryJob", e.s.RetryJob(e.ctx, seeded[0].ID, "w1", base().Add(time.Hour), "upstream: 500"))
	retried := *seeded[0]
	retried.RunAt, retried.LastError, retried.Attempts = base().Add(time.Hour), "upstream: 500", 1
	// Its CreatedAt is base, the oldest with the first delivery job; ids
	// break the tie.
	want := append([]*storage.Job(nil), failing...)
	last := []*storage.Job{failing[len(failing)-1], &retried}
	newestFirst(last, func(j *storage.Job) (time.Time, string) { return j.CreatedAt, j.ID })
	want = append(want[:len(want)-1], last...)

	got, err := e.s.ListFailingJobs(e.ctx, 100)
	must(t, "ListFailingJobs", err)
	// The delivery jobs were leased by w1 above and are still held: the
	// listing shows them as stored.
	if d := diff(ids(want), ids(got)); d != "" {
		t.Errorf("ListFailingJobs ids (-want +got):\n%s", d)
	}
	for i := range min(len(want), len(got)) {
		if got[i].ID != want[i].ID {
			t.Errorf("ListFailingJobs[%d] = %q, want %q (most recently created first)", i, got[i].ID, want[i].ID)
		}
		if got[i].LastError != want[i].LastError {
			t.Errorf("ListFailingJobs[%d].LastError = %q, want %q", i, got[i].LastError, want[i].LastError)
		}
	}
	checkUTC(t, got)
	top, err := e.s.ListFailingJobs(e.ctx, 2)
	must(t, "ListFailingJobs", err)
	if len(top) != 2 || top[0].ID != want[0].ID || top[1].ID != want[1].ID {
		t.Errorf("ListFailingJobs(2) = %v, want the two most recent %v", ids(top), ids(want[:2]))
	}
}
