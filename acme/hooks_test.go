package acme_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/notify"
	"github.com/acmegate/acmegate/storage"
)

// TestJobHandlersRunOtherKinds: a job of a kind the protocol does not know
// goes to the configured handler; an error runs it again after the backoff,
// nil completes it.
func TestJobHandlersRunOtherKinds(t *testing.T) {
	var (
		mu       sync.Mutex
		attempts []int
		lastErrs []string
	)
	handler := func(_ context.Context, j *storage.Job) error {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, j.Attempts)
		lastErrs = append(lastErrs, j.LastError)
		if len(attempts) == 1 {
			return errors.New("webhook receiver answered 503")
		}
		return nil
	}
	e := newEnv(t, envOptions{jobHandlers: map[storage.JobKind]func(context.Context, *storage.Job) error{storage.JobDeliver: handler}})
	ctx := testCtx(t)
	now := time.Now().UTC()
	if err := e.store.EnqueueDeliveries(ctx,
		[]*storage.Delivery{{ID: "d-1", Channel: "webhook", Target: "https://127.0.0.1:1/hook", Event: "certificate.issued",
			Payload: []byte(`{}`), Status: storage.DeliveryPending, CreatedAt: now, UpdatedAt: now}},
		[]*storage.Job{{ID: uuid.NewString(), Kind: storage.JobDeliver, Ref: "d-1", RunAt: now, Deadline: now.Add(time.Hour), CreatedAt: now}},
	); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		counts, err := e.store.CountJobs(ctx, time.Now().UTC())
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		n := len(attempts)
		mu.Unlock()
		if c := counts[storage.JobDeliver]; n >= 2 && c == (storage.JobCounts{}) {
			break // completed: no deliver job left
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 15s: %d attempts, jobs %+v; want 2 attempts and the job completed", n, counts)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != 2 || attempts[0] != 1 || attempts[1] != 2 {
		t.Errorf("attempts = %v, want [1 2]", attempts)
	}
	if lastErrs[0] != "" || lastErrs[1] != "webhook receiver answered 503" {
		t.Errorf("last errors seen by the handler = %q, want the first attempt's error on the second", lastErrs)
	}
}

// notify's Notifier plugs into the server's hooks as it is.
var (
	_ acme.Notifier                             = (*notify.Notifier)(nil)
	_ func(context.Context, *storage.Job) error = (*notify.Notifier)(nil).Deliver
	_ func(context.Context, time.Time)          = (*notify.Notifier)(nil).SweepExpiring
)

type retryAfterError struct{ after time.Duration }

func (e retryAfterError) Error() string             { return "receiver down" }
func (e retryAfterError) RetryAfter() time.Duration { return e.after }

// TestJobHandlerNamesItsRetryDelay: a handler error with a RetryAfter
// method schedules the next attempt that far ahead instead of the runner's
// own 1 s backoff.
func TestJobHandlerNamesItsRetryDelay(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	handler := func(_ context.Context, j *storage.Job) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return retryAfterError{after: time.Hour}
	}
	e := newEnv(t, envOptions{jobHandlers: map[storage.JobKind]func(context.Context, *storage.Job) error{storage.JobDeliver: handler}})
	ctx := testCtx(t)
	now := time.Now().UTC()
	if err := e.store.EnqueueDeliveries(ctx,
		[]*storage.Delivery{{ID: "d-2", Channel: "webhook", Target: "https://127.0.0.1:1/hook", Event: "certificate.issued",
			Payload: []byte(`{}`), Status: storage.DeliveryPending, CreatedAt: now, UpdatedAt: now}},
		[]*storage.Job{{ID: uuid.NewString(), Kind: storage.JobDeliver, Ref: "d-2", RunAt: now, Deadline: now.Add(2 * time.Hour), CreatedAt: now}},
	); err != nil {
		t.Fatal(err)
	}
	waitFor := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := calls
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(waitFor) {
			t.Fatal("the handler never ran")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The runner's own backoff would run it again after 1 s; the job may
	// only be leased again at now+1h, which the store tells by refusing
	// to lease it at now+59min and handing it out at now+61min.
	time.Sleep(3 * time.Second)
	mu.Lock()
	n := calls
	mu.Unlock()
	if n != 1 {
		t.Fatalf("handler ran %d times in 3 s; want once (next attempt in an hour)", n)
	}
	if jobs, err := e.store.LeaseJobs(ctx, "probe", 10, time.Now().UTC().Add(59*time.Minute), time.Minute); err != nil || len(jobs) != 0 {
		t.Fatalf("lease at +59min = %d jobs, %v; want none", len(jobs), err)
	}
	jobs, err := e.store.LeaseJobs(ctx, "probe", 10, time.Now().UTC().Add(61*time.Minute), time.Minute)
	if err != nil || len(jobs) != 1 || jobs[0].LastError != "receiver down" {
		t.Fatalf("lease at +61min = %+v, %v; want the delivery job with its error", jobs, err)
	}
}
