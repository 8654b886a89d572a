package main

import (
	"strings"
	"testing"
	"time"
)

// TestFaultUpstreamOutage puts Sectigo (the fake, behind a proxy) out of
// service while the generator orders through it, end to end through the
// binary: the proxy answers 500s, hangs past the backend's 1 s timeout and
// garbled bodies (the last after Sectigo acted on the request).
//
// recovers: the orders stay processing through the outage and complete
// once Sectigo is back, each enrolled exactly once.
//
// deadline: with limits.issuance_deadline at 4 s and Sectigo failing for
// good, the orders end invalid, telling the client Sectigo's failure.
func TestFaultUpstreamOutage(t *testing.T) {
	skipIfShort(t)
	t.Parallel()
	t.Run("recovers", func(t *testing.T) {
		t.Parallel()
		port := freePort(t)
		e := startFaultEnv(t, faultOptions{sectigo: true, sectigoTimeout: time.Second, responders: []int{port}})
		e.up.setOutage(outage500, outageHang, outageMalformed)
		outageStart := time.Now()
		gen := e.bench("outage", "vendor", port, "-c", "3", "-n", "3", "-flow-timeout", "90s")

		// The outage lasts until every kind of failure was served and
		// every order met it, and at least 5 s.
		err := waitFor(60*time.Second, func() error {
			for mode := range outageModes {
				if e.up.faults[mode].Load() == 0 {
					return errString("not every kind of failure served yet")
				}
			}
			if n := e.db.count(t, `SELECT count(*) FROM orders WHERE status = 'processing'`); n < 3 {
				return errString("not every order finalized yet")
			}
			if time.Since(outageStart) < 5*time.Second {
				return errString("not 5 s yet")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("the outage did not reach every order with every failure: %v (faults %d/%d/%d)", err,
				e.up.faults[outage500].Load(), e.up.faults[outageHang].Load(), e.up.faults[outageMalformed].Load())
		}
		states := e.db.orderStates(t)
		for _, o := range states {
			if o.status != "processing" {
				t.Errorf("order %s is %s during the outage (%s), want processing", o.id, o.status, o.detail)
			}
		}
		e.up.setOutage()
		t.Logf("outage of %v: %d 500s, %d hangs, %d garbled answers", time.Since(outageStart).Round(100*time.Millisecond),
			e.up.faults[outage500].Load(), e.up.faults[outageHang].Load(), e.up.faults[outageMalformed].Load())

		r := gen.wait(t)
		if r.code != 0 || r.rep.Issuances != 3 {
			t.Errorf("exit %d, %d issued, %d failed %s: want all 3 issued once Sectigo is back\n%s",
				r.code, r.rep.Issuances, r.rep.Failures, describe(r.rep.Errors), r.table())
		}
		e.db.drain(t, 30*time.Second)
		subs := e.submissions()
		byStatus := checkOrders(t, e.db.orderStates(t), subs)
		if byStatus["valid"] != 3 || len(subs) != 3 {
			t.Errorf("orders %v, %d enrolled at Sectigo: want 3 valid, each enrolled once", byStatus, len(subs))
		}
	})

	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		port := freePort(t)
		e := startFaultEnv(t, faultOptions{sectigo: true, sectigoTimeout: time.Second, issuanceDeadline: 4 * time.Second, responders: []int{port}})
		e.up.setOutage(outage500)
		r := e.bench("deadline", "vendor", port, "-c", "2", "-n", "2", "-flow-timeout", "90s").wait(t)
		internal := problemType("serverInternal")
		if r.rep.Issuances != 0 || r.rep.Errors[internal] != 2 {
			t.Errorf("%d issued, failures %s: want both orders failed with serverInternal\n%s", r.rep.Issuances, describe(r.rep.Errors), r.table())
		}
		if !strings.Contains(r.table(), "HTTP 500") {
			t.Errorf("the client was not told Sectigo's failure:\n%s", r.table())
		}
		states := e.db.orderStates(t)
		for _, o := range states {
			if o.status != "invalid" || o.problem != internal || !strings.Contains(o.detail, "before the deadline") ||
				!strings.Contains(o.detail, "Sectigo Certificate Manager failed (HTTP 500)") {
				t.Errorf("order %s: %s %s %q, want invalid with Sectigo's failure after the deadline", o.id, o.status, o.problem, o.detail)
			}
		}
		if len(states) != 2 {
			t.Errorf("%d orders, want 2", len(states))
		}
		e.db.drain(t, 10*time.Second)
	})
}
