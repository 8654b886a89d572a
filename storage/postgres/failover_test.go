package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acmegate/acmegate/storage"
)

// terminateBackends kills, from a connection of its own, every backend of
// the test database whose application_name is app, as an operator's
// pg_terminate_backend or a failover would, and returns how many it killed.
// It waits up to 5 s for each backend to exit.
func terminateBackends(t *testing.T, url, app string) int {
	t.Helper()
	ctx := testCtx(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("admin connect: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))
FROM pg_stat_activity
WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&n)
	if err != nil {
		t.Fatalf("terminate backends: %v", err)
	}
	return n
}

// TestConnectionLoss kills the store's connections under it. What a caller
// sees on the first call after such a failover: an error, promptly, that
// is neither ErrNotFound nor ErrConflict (SQLSTATE 57P01 "terminating
// connection due to administrator command", or unexpected EOF), and that
// wrote nothing. That first error resets the pool, so the very next call
// succeeds on a fresh connection, without reopening the store.
func TestConnectionLoss(t *testing.T) {
	url := serverURL(t)
	app := randomName("acmegate-test-")
	const conns = 4
	s := openStore(t, url, freshSchema(t, url), WithApplicationName(app), WithMaxConns(conns))
	ctx := testCtx(t)

	t.Run("idle connections", func(t *testing.T) {
		// Fill the pool: each of these holds its own connection.
		var held []*pgxpool.Conn
		for range conns {
			c, err := s.pool.Acquire(ctx)
			if err != nil {
				t.Fatalf("Acquire: %v", err)
			}
			held = append(held, c)
		}
		for _, c := range held {
			c.Release()
		}
		if n := terminateBackends(t, url, app); n != conns {
			t.Fatalf("terminated %d backends, want the pool's %d", n, conns)
		}

		// Sequential calls, as requests after a failover would make them.
		var failed []string
		for i := range 5 {
			id := fmt.Sprint("after-", i)
			err := boundedCall(t, func(ctx context.Context) error {
				return s.RedeemNonce(ctx, id, time.Now().Add(time.Hour))
			})
			if err == nil {
				continue
			}
			t.Logf("call %d after the failover: %v", i, err)
			if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
				t.Errorf("connection loss reported as %v", err)
			}
			failed = append(failed, id)
		}
		if len(failed) > 1 {
			t.Errorf("%d calls failed after the failover (%v), want at most the first: the pool was not reset", len(failed), failed)
		}
		// A failed redemption wrote nothing: the nonce is still redeemable.
		for _, id := range failed {
			if err := s.RedeemNonce(ctx, id, time.Now().Add(time.Hour)); err != nil {
				t.Errorf("RedeemNonce(%q) after its failed attempt: %v", id, err)
			}
		}
		if _, err := s.GetOrCreateSecret(ctx, "k", []byte("v")); err != nil {
			t.Errorf("GetOrCreateSecret after the failover: %v", err)
		}
	})

	t.Run("call in flight", func(t *testing.T) {
		// An uncommitted redemption elsewhere makes the store's redemption
		// of the same nonce wait on it inside the server.
		admin, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatalf("admin connect: %v", err)
		}
		defer admin.Close(ctx)
		tx, err := admin.Begin(ctx)
		if err != nil {
			t.Fatalf("Begin: %v", err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{s.schema, "nonces"}.Sanitize()+` (id, expires) VALUES ('blocked', now())`); err != nil {
			t.Fatalf("insert: %v", err)
		}
		result := make(chan error, 1)
		go func() {
			result <- boundedCall(t, func(ctx context.Context) error {
				return s.RedeemNonce(ctx, "blocked", time.Now().Add(time.Hour))
			})
		}()
		waitForWaiting(t, admin, app)
		if n := terminateBackends(t, url, app); n < 1 {
			t.Fatalf("terminated %d backends, want the waiting one", n)
		}
		select {
		case err := <-result:
			if err == nil || errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
				t.Errorf("redemption whose connection died = %v, want a connection error", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the call whose connection died did not return")
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		if err := boundedCall(t, func(ctx context.Context) error {
			return s.RedeemNonce(ctx, "blocked", time.Now().Add(time.Hour))
		}); err != nil {
			t.Errorf("RedeemNonce after the failover: %v", err)
		}
	})
}

// boundedCall runs fn with a 5 s deadline and fails t if it takes longer
// than that to return: a dead connection must never hang a caller.
func boundedCall(t *testing.T, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("call took %v", d)
	}
	return err
}

// waitForWaiting polls until a backend of app waits on a lock.
func waitForWaiting(t *testing.T, admin *pgx.Conn, app string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var waiting bool
		err := admin.QueryRow(testCtx(t), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
WHERE application_name = $1 AND wait_event_type = 'Lock')`, app).Scan(&waiting)
		if err != nil {
			t.Fatalf("pg_stat_activity: %v", err)
		}
		if waiting {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the store's call never waited on the lock")
}
