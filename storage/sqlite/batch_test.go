package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// holdWriter occupies the write goroutine until release is called, so the
// writes started meanwhile queue up and share the next commit.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, gate := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.inWrite(context.Background(), func(queryer) error {
			close(started)
			<-gate
			return nil
		})
	}()
	<-started
	return func() {
		close(gate)
		if err := <-done; err != nil {
			t.Errorf("holding write: %v", err)
		}
	}
}

// waitQueued gives the writes just started a moment to queue behind the
// held writer. The outcomes the tests check are the same whether a write
// shared a commit or not; waiting only makes sharing likely.
func waitQueued() { time.Sleep(50 * time.Millisecond) }

func batchAccount(id, thumbprint string) *storage.Account {
	now := time.Now().UTC()
	return &storage.Account{ID: id, Directory: "default", Status: storage.StatusValid, KeyThumbprint: thumbprint,
		KeyJWK: []byte(`{}`), CreatedAt: now, UpdatedAt: now}
}

// TestGroupCommitIsolatesFailures: writes that share a commit succeed or
// fail each on its own; a failed one leaves nothing behind.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "acmegate.db"))
	ctx := testCtx(t)
	if err := s.CreateAccount(ctx, batchAccount("taken", "tp-taken")); err != nil {
		t.Fatal(err)
	}
	release := holdWriter(t, s)
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tp := fmt.Sprintf("tp-%d", i)
			if i%2 == 1 {
				tp = "tp-taken" // same key: ErrConflict
			}
			errs[i] = s.CreateAccount(ctx, batchAccount(fmt.Sprintf("acct-%d", i), tp))
		}()
	}
	waitQueued()
	release()
	wg.Wait()
	for i, err := range errs {
		_, getErr := s.GetAccount(ctx, fmt.Sprintf("acct-%d", i))
		if i%2 == 1 {
			if !errors.Is(err, storage.ErrConflict) || !errors.Is(getErr, storage.ErrNotFound) {
				t.Errorf("duplicate %d: create %v, then get %v; want ErrConflict and nothing stored", i, err, getErr)
			}
			continue
		}
		if err != nil || getErr != nil {
			t.Errorf("account %d: create %v, get %v", i, err, getErr)
		}
	}
}

// TestGroupCommitPanic: a panic in a write reaches its caller, and no write
// of its commit is kept (each caller is told).
func TestGroupCommitPanic(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "acmegate.db"))
	ctx := testCtx(t)
	release := holdWriter(t, s)
	var wg sync.WaitGroup
	const n = 5
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateAccount(ctx, batchAccount(fmt.Sprintf("acct-%d", i), fmt.Sprintf("tp-%d", i)))
		}()
	}
	panicked := make(chan any, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { panicked <- recover() }()
		_ = s.inWrite(ctx, func(queryer) error { panic("boom") })
	}()
	waitQueued()
	release()
	wg.Wait()
	if v := <-panicked; v != "boom" {
		t.Fatalf("the panicking write's caller recovered %v, want boom", v)
	}
	for i, err := range errs {
		_, getErr := s.GetAccount(ctx, fmt.Sprintf("acct-%d", i))
		// A write batched with the panic fails and is not stored; one
		// that ran in a commit of its own succeeded and is stored.
		if (err == nil) != (getErr == nil) {
			t.Errorf("account %d: create %v but get %v", i, err, getErr)
		}
	}
	// The store still works.
	if err := s.CreateAccount(ctx, batchAccount("after", "tp-after")); err != nil {
		t.Fatalf("write after a panic: %v", err)
	}
}

// TestGroupCommitCancelledWhileQueued: a write whose context ends before it
// starts never runs.
func TestGroupCommitCancelledWhileQueued(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "acmegate.db"))
	release := holdWriter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.CreateAccount(ctx, batchAccount("late", "tp-late")) }()
	waitQueued()
	cancel()
	err := <-done
	release()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled write: %v, want context.Canceled", err)
	}
	if _, err := s.GetAccount(testCtx(t), "late"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the cancelled write ran: get %v", err)
	}
}

// TestGroupCommitAfterClose: writes after Close fail instead of hanging.
func TestGroupCommitAfterClose(t *testing.T) {
	s, err := Open(testCtx(t), filepath.Join(t.TempDir(), "acmegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ran := false
	err = s.inWrite(testCtx(t), func(queryer) error { ran = true; return nil })
	if !errors.Is(err, errClosed) || ran {
		t.Fatalf("write after Close: %v, want errClosed", err)
	}
}
