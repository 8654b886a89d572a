package main

import (
	"database/sql"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestFaultKillUnderLoad kills acmegate with SIGKILL while two generators
// run full issuances through a balancer, one against the local CA
// (synchronous issuance) and one against the Sectigo fake (asynchronous):
// during a validation (the http-01 request is in flight), during a local
// finalize (the request in flight: the order must be valid with one
// certificate or still ready with none), right
// after Sectigo accepted an enrollment and before acmegate heard the
// answer, and during a collection. Each time it is started again on the
// same database. Only flows whose request died with the server may fail,
// and only while it was down; afterwards the server must finish every
// order it accepted, issue no order twice, send no order to Sectigo twice,
// lose no order Sectigo received, and serve a follow-up run without a
// single failure. On SQLite and on PostgreSQL.
func TestFaultKillUnderLoad(t *testing.T) {
	skipIfShort(t)
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			testKillUnderLoad(t, store == "postgres")
		})
	}
}

func testKillUnderLoad(t *testing.T, postgres bool) {
	ports := []int{freePort(t), freePort(t)}
	e := startFaultEnv(t, faultOptions{postgres: postgres, sectigo: true, pendingPolls: 2, responders: ports})
	// Interrupted once the faults are done.
	flowOpts := []string{"-c", "2", "-duration", "3m", "-flow-timeout", "50s"}
	local := e.bench("local", "default", ports[0], flowOpts...)
	vendor := e.bench("vendor", "vendor", ports[1], flowOpts...)
	if err := waitFor(60*time.Second, func() error {
		if n := e.db.count(t, `SELECT count(*) FROM certificates`); n < 4 {
			return errString("few certificates yet")
		}
		return nil
	}); err != nil {
		t.Fatalf("the generators issued nothing before the first fault: %v", err)
	}

	kills := 0
	kill := func(what string, arm func()) {
		arm()
		e.restartAfterCrash(what, 60*time.Second)
		kills++
		// Let the load run on the restarted server before the next fault.
		time.Sleep(2 * time.Second)
	}
	kill("an http-01 validation", func() {
		e.relay.onRequest.arm(pathHas("/.well-known/acme-challenge/"), func(path string) { e.crash("the validation of " + path) })
	})
	// A local finalize signs and records the certificate, the order's move
	// to valid and its journal in one transaction inside the request: a
	// kill while the request is in flight leaves the order either valid
	// with its one certificate or still ready with none (the client
	// finalizes again), never half-way. Kill as soon as the request
	// arrives and check which of the two it is once restarted.
	watch := e.db.open(t)
	defer watch.Close()
	var finalized atomic.Pointer[string]
	kill("a local-CA finalize", func() {
		e.front.onRequest.arm(post("/acme/default/order/", "/finalize"), func(path string) {
			finalized.Store(&path)
			e.crash("the finalize " + path)
		})
	})
	if path := finalized.Load(); path != nil {
		st := orderAfterCrash(t, watch, *path)
		t.Logf("the order of the killed finalize is %s", st)
	}
	kill("a Sectigo enrollment", func() {
		e.up.onResponse.arm(pathHas("/enroll"), func(string) {
			e.crash("an enrollment, accepted by Sectigo, before acmegate read the answer")
		})
	})
	kill("a Sectigo collection", func() {
		e.up.onResponse.arm(pathHas("/collect/"), func(path string) { e.crash("the collection " + path) })
	})
	// Requests cut short by the interruption are the generator's doing.
	lost := e.checkLostOnlyWhileDown(e.front.recorded())
	local.interrupt(t)
	vendor.interrupt(t)
	for _, r := range []benchResult{local.wait(t), vendor.wait(t)} {
		// Only flows whose request died with the server may fail: the
		// proxy answers those 502.
		if others := errorsOnly(r.rep.Errors, "http:502"); r.rep.Issuances == 0 || len(others) > 0 {
			t.Errorf("%d issued; failures other than requests lost with the server: %s\n%s", r.rep.Issuances, describe(others), r.table())
		}
	}
	t.Logf("%d kills, %d requests lost with the server", kills, lost)

	// Orders at the Sectigo fake are finished by their jobs.
	e.db.drain(t, 90*time.Second)

	// The restarted server serves as if nothing happened.
	local = e.bench("local-after", "default", ports[0], "-c", "2", "-n", "6")
	vendor = e.bench("vendor-after", "vendor", ports[1], "-c", "2", "-n", "4")
	for _, r := range []benchResult{local.wait(t), vendor.wait(t)} {
		if r.code != 0 || r.rep.Failures != 0 {
			t.Errorf("follow-up run: exit %d, %d issued, %d failed %s\n%s", r.code, r.rep.Issuances, r.rep.Failures, describe(r.rep.Errors), r.table())
		}
	}
	e.db.drain(t, 30*time.Second)

	states := e.db.orderStates(t)
	subs := e.submissions()
	byStatus := checkOrders(t, states, subs)
	abandoned := 0
	for _, o := range states {
		if o.status == "pending" && slices.Contains(o.authz, "invalid") {
			abandoned++
		}
	}
	t.Logf("%d orders: %v (%d pending with a failed authorization: their client left); %d orders enrolled at Sectigo; %d http-01 answers relayed",
		len(states), byStatus, abandoned, len(subs), e.relay.served.Load())
	if len(subs) == 0 {
		t.Error("nothing reached Sectigo")
	}
}

// orderAfterCrash reads the order of a finalize URL path after the server
// was killed during that request: it must be valid with exactly one
// certificate, or pending (ready: every authorization valid) with none.
func orderAfterCrash(t *testing.T, db *sql.DB, path string) string {
	t.Helper()
	id := strings.TrimSuffix(path, "/finalize")
	id = id[strings.LastIndex(id, "/")+1:]
	if uuid.Validate(id) != nil {
		t.Fatalf("not an order id in %s", path)
	}
	var status string
	var certs int
	if err := db.QueryRow(`SELECT status, (SELECT count(*) FROM certificates WHERE order_id = '`+id+`') FROM orders WHERE id = '`+id+`'`).Scan(&status, &certs); err != nil {
		t.Fatalf("read order %s: %v", id, err)
	}
	switch {
	case status == "valid" && certs == 1:
	case status == "pending" && certs == 0:
	default:
		t.Errorf("order %s of a finalize killed in flight is %s with %d certificates; want valid with 1 or pending with 0", id, status, certs)
	}
	return status
}

// post matches POST requests whose path has parts (pathHas).
func post(parts ...string) func(method, path string) bool {
	has := pathHas(parts...)
	return func(method, path string) bool { return method == "POST" && has(method, path) }
}

// errString is an error whose text is s.
type errString string

func (e errString) Error() string { return string(e) }
