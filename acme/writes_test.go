package acme_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/sqlite"
)

// countingStore counts the calls of the storage methods an issuance uses.
// Every storage method is one transaction (storage.Store's contract), so
// the write methods' count is the number of write transactions.
type countingStore struct {
	storage.Store
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingStore) count(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[name]++
}

// snapshot returns the counts so far and starts again from zero.
func (c *countingStore) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.calls
	c.calls = map[string]int{}
	return m
}

// writeMethods are the store methods of an issuance that write.
var writeMethods = []string{"RedeemNonce", "CreateOrder", "StartChallenge", "FinishChallenge", "BeginFinalize",
	"CompleteOrder", "AppendOrderEvents", "AppendAudit", "LeaseJobs (jobs leased)", "CompleteJob", "RetryJob", "RenewJobLease"}

func (c *countingStore) RedeemNonce(ctx context.Context, id string, expires time.Time) error {
	c.count("RedeemNonce")
	return c.Store.RedeemNonce(ctx, id, expires)
}

func (c *countingStore) CreateOrder(ctx context.Context, o *storage.Order, a []*storage.Authorization) error {
	c.count("CreateOrder")
	return c.Store.CreateOrder(ctx, o, a)
}

func (c *countingStore) StartChallenge(ctx context.Context, id string, j *storage.Job, now time.Time) error {
	c.count("StartChallenge")
	return c.Store.StartChallenge(ctx, id, j, now)
}

func (c *countingStore) FinishChallenge(ctx context.Context, id string, st storage.Status, p []byte, now time.Time) error {
	c.count("FinishChallenge")
	return c.Store.FinishChallenge(ctx, id, st, p, now)
}

func (c *countingStore) BeginFinalize(ctx context.Context, id string, from []storage.Status, csr []byte, j *storage.Job, now time.Time) error {
	c.count("BeginFinalize")
	return c.Store.BeginFinalize(ctx, id, from, csr, j, now)
}

func (c *countingStore) CompleteOrder(ctx context.Context, cert *storage.Certificate, now time.Time) error {
	c.count("CompleteOrder")
	return c.Store.CompleteOrder(ctx, cert, now)
}

func (c *countingStore) AppendOrderEvents(ctx context.Context, ev ...*storage.OrderEvent) error {
	c.count("AppendOrderEvents")
	return c.Store.AppendOrderEvents(ctx, ev...)
}

func (c *countingStore) AppendAudit(ctx context.Context, e *storage.AuditEntry) error {
	c.count("AppendAudit")
	return c.Store.AppendAudit(ctx, e)
}

func (c *countingStore) LeaseJobs(ctx context.Context, owner string, n int, now time.Time, lease time.Duration) ([]*storage.Job, error) {
	jobs, err := c.Store.LeaseJobs(ctx, owner, n, now, lease)
	// Polling an idle queue depends on timing; only a lease is counted.
	if len(jobs) > 0 {
		c.count("LeaseJobs (jobs leased)")
	}
	return jobs, err
}

func (c *countingStore) CompleteJob(ctx context.Context, id, owner string) error {
	c.count("CompleteJob")
	return c.Store.CompleteJob(ctx, id, owner)
}

func (c *countingStore) RetryJob(ctx context.Context, id, owner string, runAt time.Time, lastError string) error {
	c.count("RetryJob")
	return c.Store.RetryJob(ctx, id, owner, runAt, lastError)
}

func (c *countingStore) RenewJobLease(ctx context.Context, id, owner string, until time.Time) error {
	c.count("RenewJobLease")
	return c.Store.RenewJobLease(ctx, id, owner, until)
}

func (c *countingStore) GetAccount(ctx context.Context, id string) (*storage.Account, error) {
	c.count("GetAccount")
	return c.Store.GetAccount(ctx, id)
}

func (c *countingStore) GetOrder(ctx context.Context, id string) (*storage.Order, error) {
	c.count("GetOrder")
	return c.Store.GetOrder(ctx, id)
}

func (c *countingStore) GetAuthorization(ctx context.Context, id string) (*storage.Authorization, error) {
	c.count("GetAuthorization")
	return c.Store.GetAuthorization(ctx, id)
}

func (c *countingStore) GetAuthorizations(ctx context.Context, ids []string) ([]*storage.Authorization, error) {
	c.count("GetAuthorizations")
	return c.Store.GetAuthorizations(ctx, ids)
}

func (c *countingStore) GetChallenge(ctx context.Context, id string) (*storage.Challenge, error) {
	c.count("GetChallenge")
	return c.Store.GetChallenge(ctx, id)
}

func (c *countingStore) GetCertificate(ctx context.Context, id string) (*storage.Certificate, error) {
	c.count("GetCertificate")
	return c.Store.GetCertificate(ctx, id)
}

func (c *countingStore) FindReusableAuthorization(ctx context.Context, acct string, id storage.Identifier, wildcard bool, nb time.Time) (*storage.Authorization, error) {
	c.count("FindReusableAuthorization")
	return c.Store.FindReusableAuthorization(ctx, acct, id, wildcard, nb)
}

// TestStoreCallsPerIssuance counts the storage calls of complete http-01
// issuances by x/crypto/acme with an existing account (newOrder, authz,
// challenge and its validation, finalize with the local CA, download), with
// shared and with local nonces. The write count is the number of write
// transactions per issuance, which the performance issue bounds; the
// bounds here catch a regression that adds one.
func TestStoreCallsPerIssuance(t *testing.T) {
	for _, tc := range []struct {
		name      string
		local     bool
		maxWrites int
	}{
		// One nonce redemption per POST (x/crypto/acme makes 7: it
		// also polls the authorization and the order) + the writes below.
		{"shared nonces", false, 21},
		// newOrder: order, event, audit; challenge: start, lease,
		// finish, event, audit, job done; finalize: begin, complete,
		// events (requested and issued in one write), audit; download:
		// event.
		{"local nonces", true, 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cs *countingStore
			e := newEnv(t, envOptions{localNonces: tc.local, open: func() storage.Store {
				st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "acmegate.db"))
				if err != nil {
					t.Fatal(err)
				}
				cs = &countingStore{Store: st, calls: map[string]int{}}
				return cs
			}})
			ctx := testCtx(t)
			c := e.newClient(ctx, nil)
			certKey := newECKey(t)
			e.issue(ctx, c, "http-01", certKey, "warm.example.com")
			const n = 5
			cs.snapshot()
			for i := range n {
				e.issue(ctx, c, "http-01", certKey, fmt.Sprintf("count%d.example.com", i))
			}
			calls := cs.snapshot()
			writes := 0
			for _, m := range writeMethods {
				writes += calls[m]
			}
			var b strings.Builder
			for _, name := range slices.Sorted(maps.Keys(calls)) {
				fmt.Fprintf(&b, " %s=%.1f", name, float64(calls[name])/n)
			}
			t.Logf("per issuance: %.1f write transactions;%s", float64(writes)/n, b.String())
			if writes > tc.maxWrites*n {
				t.Errorf("%.1f write transactions per issuance, want at most %d", float64(writes)/n, tc.maxWrites)
			}
			if tc.local && calls["RedeemNonce"] != 0 {
				t.Errorf("%d nonce redemptions in storage with local nonces, want none", calls["RedeemNonce"])
			}
		})
	}
}
