package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// requestTimeout is acme.Config.RequestTimeout's default, which serve
// keeps: no request may take longer.
const requestTimeout = 30 * time.Second

// TestFaultPostgresConnectionsTerminated terminates acmegate's PostgreSQL
// connections (pg_terminate_backend from a separate connection, as an
// operator or a failover does) five times while a generator runs. A
// request that loses its connection fails with serverInternal and a
// Retry-After (the front proxy sees every answer), none hangs past the
// request timeout, and the server recovers by itself: no restart, and a
// follow-up run has no failure at all. No order is lost or issued twice.
func TestFaultPostgresConnectionsTerminated(t *testing.T) {
	skipIfShort(t)
	t.Parallel()
	port := freePort(t)
	e := startFaultEnv(t, faultOptions{postgres: true, responders: []int{port}})
	gen := e.bench("pgterm", "default", port, "-c", "3", "-duration", "3m", "-flow-timeout", "60s")
	if err := waitFor(60*time.Second, func() error {
		if n := e.db.count(t, `SELECT count(*) FROM certificates`); n < 4 {
			return errString("few certificates yet")
		}
		return nil
	}); err != nil {
		t.Fatalf("the generator issued nothing before the first fault: %v", err)
	}
	e.front.recorded()

	terminated := 0
	for range 5 {
		time.Sleep(2 * time.Second)
		n := terminateServerConnections(t, e.cfg.Storage.URL)
		t.Logf("terminated %d of acmegate's connections", n)
		terminated += n
	}
	if terminated == 0 {
		t.Fatal("acmegate had no connection to terminate")
	}
	time.Sleep(2 * time.Second)
	// What the generator cancels when interrupted is not the server's doing.
	answers := e.front.recorded()
	gen.interrupt(t)
	r := gen.wait(t)

	internal := problemType("serverInternal")
	if others := errorsOnly(r.rep.Errors, internal); len(others) > 0 || r.rep.Issuances == 0 {
		t.Errorf("%d issued; failures other than serverInternal: %s\n%s", r.rep.Issuances, describe(others), r.table())
	}
	var failed, slowest int
	var longest time.Duration
	for i, a := range answers {
		if a.took > longest {
			longest, slowest = a.took, i
		}
		if a.status < 500 {
			continue
		}
		failed++
		if a.problem != internal || a.retryAfter == "" || a.proxyErr != "" {
			t.Errorf("%s %s: HTTP %d, problem %q, Retry-After %q, proxy error %q: want serverInternal with a Retry-After",
				a.method, a.path, a.status, a.problem, a.retryAfter, a.proxyErr)
		}
	}
	if len(answers) > 0 {
		t.Logf("%d requests during the faults, %d failed with serverInternal; the longest took %v (%s %s)",
			len(answers), failed, longest.Round(time.Millisecond), answers[slowest].method, answers[slowest].path)
	}
	if failed == 0 {
		t.Error("no request failed: the terminations were not felt, the test proves nothing")
	}
	if longest >= requestTimeout {
		t.Errorf("a request took %v, beyond the %v request timeout", longest, requestTimeout)
	}

	// Recovered without a restart.
	after := e.bench("pgterm-after", "default", port, "-c", "2", "-n", "10").wait(t)
	if after.code != 0 || after.rep.Failures != 0 {
		t.Errorf("follow-up run: exit %d, %d failed %s\n%s", after.code, after.rep.Failures, describe(after.rep.Errors), after.table())
	}
	if len(e.in.logs) != 0 {
		t.Errorf("the server was restarted %d times", len(e.in.logs))
	}
	e.db.drain(t, 30*time.Second)
	byStatus := checkOrders(t, e.db.orderStates(t), nil)
	t.Logf("orders: %v", byStatus)
}

// terminateServerConnections terminates, from a connection of its own,
// every backend acmegate holds on dbURL's database (application_name
// "acmegate", the store's default), waiting up to 5 s for each to exit,
// and returns how many there were.
func terminateServerConnections(t *testing.T, dbURL string) int {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testPostgresURL())
	if err != nil {
		t.Fatalf("admin connection: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))
FROM pg_stat_activity WHERE datname = $1 AND application_name = 'acmegate' AND pid <> pg_backend_pid()`,
		strings.TrimPrefix(u.Path, "/")).Scan(&n)
	if err != nil {
		t.Fatalf("pg_terminate_backend: %v", err)
	}
	return n
}
