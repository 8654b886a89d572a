package acme_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// transitionMethods are the store methods of an issuance that write,
// but for the nonces and the batched timeline events, which are counted
// on their own.
var transitionMethods = []string{"CreateOrder", "StartChallenge", "FinishChallenge", "FinalizeOrder", "BeginFinalize",
	"CompleteOrder", "FailOrder", "AppendAudit", "LeaseJobs (jobs leased)", "CompleteJob", "RetryJob", "RenewJobLease"}

func (c *countingStore) RedeemNonce(ctx context.Context, id string, expires time.Time) error {
	c.count("RedeemNonce")
	return c.Store.RedeemNonce(ctx, id, expires)
}

func (c *countingStore) CreateOrder(ctx context.Context, o *storage.Order, a []*storage.Authorization, j *storage.Journal) error {
	c.count("CreateOrder")
	return c.Store.CreateOrder(ctx, o, a, j)
}

func (c *countingStore) StartChallenge(ctx context.Context, id string, j *storage.Job, now time.Time) error {
	c.count("StartChallenge")
	return c.Store.StartChallenge(ctx, id, j, now)
}

func (c *countingStore) FinishChallenge(ctx context.Context, id string, st storage.Status, p []byte, now time.Time, j *storage.Journal) error {
	c.count("FinishChallenge")
	return c.Store.FinishChallenge(ctx, id, st, p, now, j)
}

func (c *countingStore) BeginFinalize(ctx context.Context, id string, from []storage.Status, csr []byte, job *storage.Job, now time.Time, j *storage.Journal) error {
	c.count("BeginFinalize")
	return c.Store.BeginFinalize(ctx, id, from, csr, job, now, j)
}

func (c *countingStore) FinalizeOrder(ctx context.Context, from []storage.Status, csr []byte, cert *storage.Certificate, now time.Time, j *storage.Journal) error {
	c.count("FinalizeOrder")
	return c.Store.FinalizeOrder(ctx, from, csr, cert, now, j)
}

func (c *countingStore) FailOrder(ctx context.Context, id string, p []byte, now time.Time, j *storage.Journal) error {
	c.count("FailOrder")
	return c.Store.FailOrder(ctx, id, p, now, j)
}

func (c *countingStore) CompleteOrder(ctx context.Context, cert *storage.Certificate, now time.Time, j *storage.Journal) error {
	c.count("CompleteOrder")
	return c.Store.CompleteOrder(ctx, cert, now, j)
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

// postCounter counts the client's POST requests, each of which redeems one
// nonce when nonces are shared.
type postCounter struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (p *postCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost {
		p.n.Add(1)
	}
	return p.base.RoundTrip(r)
}

// TestStoreCallsPerIssuance counts the storage calls of complete http-01
// issuances by x/crypto/acme with an existing account (newOrder, authz,
// challenge and its validation, finalize with the local CA, download), with
// shared and with local nonces. The write count is the number of write
// transactions per issuance, which the performance issue bounds: one per
// state transition (the order created, the challenge validated within its
// request, the order finalized with its certificate), each carrying its
// timeline events and audit entry, plus one per POST for shared nonces.
// The "downloaded" events are appended in batches, counted on their own.
func TestStoreCallsPerIssuance(t *testing.T) {
	const maxTransitions = 3
	for _, tc := range []struct {
		name  string
		local bool
	}{
		// Shared nonces: one redemption per POST (x/crypto/acme also
		// polls the authorization and the order) on top of the three.
		{"shared nonces", false},
		// Local nonces: the three, and nothing for nonces.
		{"local nonces", true},
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
			posts := &postCounter{base: e.client.Transport}
			c := e.newClient(ctx, nil)
			c.HTTPClient = &http.Client{Transport: posts}
			certKey := newECKey(t)
			e.issue(ctx, c, "http-01", certKey, "warm.example.com")
			const n = 5
			if err := e.srv.FlushTimeline(ctx); err != nil {
				t.Fatal(err)
			}
			cs.snapshot()
			posts.n.Store(0)
			for i := range n {
				e.issue(ctx, c, "http-01", certKey, fmt.Sprintf("count%d.example.com", i))
			}
			// What the issuances buffered is counted with them.
			if err := e.srv.FlushTimeline(ctx); err != nil {
				t.Fatal(err)
			}
			calls := cs.snapshot()
			transitions := 0
			for _, m := range transitionMethods {
				transitions += calls[m]
			}
			var b strings.Builder
			for _, name := range slices.Sorted(maps.Keys(calls)) {
				fmt.Fprintf(&b, " %s=%.1f", name, float64(calls[name])/n)
			}
			writes := transitions + calls["RedeemNonce"]
			t.Logf("per issuance: %.1f write transactions (%.1f transitions, %.1f nonces) and %.1f batched event appends; %.1f POSTs;%s",
				float64(writes)/n, float64(transitions)/n, float64(calls["RedeemNonce"])/n, float64(calls["AppendOrderEvents"])/n,
				float64(posts.n.Load())/n, b.String())
			if transitions > maxTransitions*n {
				t.Errorf("%.1f write transactions per issuance besides nonces, want at most %d", float64(transitions)/n, maxTransitions)
			}
			if got := calls["AppendOrderEvents"]; got > n {
				t.Errorf("%d timeline appends for %d issuances, want at most one each (the downloads' batches)", got, n)
			}
			if tc.local {
				if calls["RedeemNonce"] != 0 {
					t.Errorf("%d nonce redemptions in storage with local nonces, want none", calls["RedeemNonce"])
				}
			} else if bound := maxTransitions*n + int(posts.n.Load()); writes > bound {
				t.Errorf("%d write transactions for %d issuances of %d POSTs, want at most %d", writes, n, posts.n.Load(), bound)
			}
		})
	}
}
