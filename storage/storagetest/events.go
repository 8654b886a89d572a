package storagetest

import (
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

func testOrderEvents(t *testing.T, e *env) {
	const (
		orderA, orderB = "order-a", "order-b"
		shared, own    = "authz-shared", "authz-own"
		foreign        = "authz-foreign"
	)
	t0 := base()
	t1 := t0.Add(time.Second)
	t2 := t0.Add(2 * time.Second)
	ev := func(order, authz string, at time.Time, kind string) *storage.OrderEvent {
		return &storage.OrderEvent{OrderID: order, AuthzID: authz, At: at, Kind: kind,
			Actor: "system", Identifier: "www.example.com", Detail: kind + " detail", RequestID: "req-" + kind}
	}
	var (
		created   = ev(orderA, "", t0, "created")
		reused    = ev(orderA, shared, t0, "authorization-reused")
		validated = ev("", own, t1, "validated") // the authorization's alone
		otherB    = ev(orderB, "", t1, "created")
		sharedB   = ev(orderB, shared, t1, "validated") // about a shared authorization, recorded with B
		foreignEv = ev("", foreign, t1, "validated")
		finalize  = ev(orderA, "", t2, "finalize-requested")
		approval  = ev(orderA, "", t2, "awaiting-approval") // same instant: after finalize
		// Appended last but earlier than the events before it.
		late = ev(orderA, "", t1, "submitted")
	)
	late.RequestID = "" // background work: no request
	must(t, "AppendOrderEvents", e.s.AppendOrderEvents(e.ctx, created, reused))
	must(t, "AppendOrderEvents", e.s.AppendOrderEvents(e.ctx, validated, otherB, sharedB, foreignEv))
	must(t, "AppendOrderEvents", e.s.AppendOrderEvents(e.ctx, finalize, approval))
	must(t, "AppendOrderEvents", e.s.AppendOrderEvents(e.ctx, late))
	must(t, "AppendOrderEvents of nothing", e.s.AppendOrderEvents(e.ctx))

	tests := []struct {
		name   string
		order  string
		authzs []string
		want   []*storage.OrderEvent
	}{
		{"order with its authorizations", orderA, []string{own, shared},
			[]*storage.OrderEvent{created, reused, validated, sharedB, late, finalize, approval}},
		{"order alone", orderA, nil,
			[]*storage.OrderEvent{created, reused, late, finalize, approval}},
		{"other order sharing an authorization", orderB, []string{shared},
			[]*storage.OrderEvent{reused, otherB, sharedB}},
		{"authorizations alone", "", []string{own, foreign},
			[]*storage.OrderEvent{validated, foreignEv}},
		{"unknown order", "no-such-order", []string{"no-such-authz"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.s.ListOrderEvents(e.ctx, tc.order, tc.authzs)
			must(t, "ListOrderEvents", err)
			if d := diff(tc.want, got); d != "" {
				t.Errorf("ListOrderEvents(%q, %q) (-want +got):\n%s", tc.order, tc.authzs, d)
			}
			checkUTC(t, got)
		})
	}
}

// testOrderEventsSameInstant appends many events of one instant, in
// batches and one by one: they list in the order they were appended.
func testOrderEventsSameInstant(t *testing.T, e *env) {
	const order = "order-burst"
	paris := time.FixedZone("UTC+2", 2*60*60)
	var want []*storage.OrderEvent
	for i := range 30 {
		// Not UTC on the way in; MUST be UTC on the way out.
		want = append(want, &storage.OrderEvent{OrderID: order, At: base().In(paris), Kind: "validated",
			Actor: "account:x", Identifier: string(rune('a'+i%26)) + ".example.com", Detail: time.Duration(i).String()})
	}
	must(t, "AppendOrderEvents batch", e.s.AppendOrderEvents(e.ctx, want[:20]...))
	for _, ev := range want[20:] {
		must(t, "AppendOrderEvents one", e.s.AppendOrderEvents(e.ctx, ev))
	}
	got, err := e.s.ListOrderEvents(e.ctx, order, nil)
	must(t, "ListOrderEvents", err)
	if d := diff(want, got); d != "" {
		t.Errorf("events of one instant (-want +got):\n%s", d)
	}
	checkUTC(t, got)
}

// testOrderEventsAllOrNothing checks that a batch with an event no timeline
// could list (neither an order nor an authorization) is refused whole.
func testOrderEventsAllOrNothing(t *testing.T, e *env) {
	good := &storage.OrderEvent{OrderID: "order-x", At: base(), Kind: "created", Actor: "system"}
	ownerless := &storage.OrderEvent{At: base(), Kind: "created", Actor: "system"}
	if err := e.s.AppendOrderEvents(e.ctx, good, ownerless); err == nil {
		t.Fatalf("AppendOrderEvents accepted an event of neither an order nor an authorization")
	}
	got, err := e.s.ListOrderEvents(e.ctx, "order-x", nil)
	must(t, "ListOrderEvents", err)
	if len(got) != 0 {
		t.Errorf("refused batch stored %d events", len(got))
	}
}
