package admin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/storage"
)

// allPages follows next_cursor (and checks the Link header agrees) from
// path until the last page, returning every item's id and the number of
// pages.
func (e *apiEnv) allPages(path string) ([]string, int) {
	e.t.Helper()
	var ids []string
	pages := 0
	next := path
	for next != "" {
		r := e.must(storage.RoleAuditor, "GET", next, nil, http.StatusOK)
		var p pageBody[map[string]any]
		r.decode(e.t, &p)
		pages++
		for _, it := range p.Items {
			id, _ := it["id"].(string)
			ids = append(ids, id)
		}
		link := r.header.Get("Link")
		if p.NextCursor == "" {
			if link != "" {
				e.t.Fatalf("last page of %s has a Link header %q", path, link)
			}
			break
		}
		u, ok := strings.CutPrefix(link, "<"+apiPrefix)
		u, ok2 := strings.CutSuffix(u, `>; rel="next"`)
		if !ok || !ok2 {
			e.t.Fatalf("page %d of %s: Link %q is not rel=next under the API", pages, path, link)
		}
		if parsed, err := url.Parse(u); err != nil || parsed.Query().Get("cursor") != p.NextCursor {
			e.t.Fatalf("Link %q does not carry next_cursor %q", link, p.NextCursor)
		}
		next = u
		if pages > 100 {
			e.t.Fatalf("%s: more than 100 pages", path)
		}
	}
	return ids, pages
}

// TestAccounts lists accounts with filters and pages, and deactivates one.
func TestAccounts(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	var teamA []string
	for range 7 {
		teamA = append(teamA, e.account("team-a").ID)
	}
	other := e.account("default")

	ids, pages := e.allPages("/accounts?directory=team-a&limit=3")
	slices.Sort(ids)
	slices.Sort(teamA)
	if !slices.Equal(ids, teamA) || pages != 3 {
		t.Errorf("team-a accounts over %d pages: %v, want %v over 3", pages, ids, teamA)
	}

	var a accountView
	e.must(storage.RoleOperator, "POST", "/accounts/"+other.ID+"/deactivate", nil, http.StatusOK).decode(t, &a)
	if a.Status != storage.StatusDeactivated {
		t.Errorf("deactivated account is %s", a.Status)
	}
	if stored, _ := e.st.GetAccount(e.ctx, other.ID); stored.Status != storage.StatusDeactivated {
		t.Errorf("stored account is %s", stored.Status)
	}
	entry := e.lastAudit("account.deactivate")
	if entry.Actor != "token:"+e.tokenNames[storage.RoleOperator] || entry.Directory != "default" || entry.Object != "account:"+other.ID || entry.Outcome != storage.OutcomeSuccess {
		t.Errorf("audit entry %+v", entry)
	}
	ids, _ = e.allPages("/accounts?status=deactivated")
	if !slices.Equal(ids, []string{other.ID}) {
		t.Errorf("deactivated accounts = %v", ids)
	}
	wantProblem(t, "twice", e.as(storage.RoleOperator, "POST", "/accounts/"+other.ID+"/deactivate", nil), http.StatusConflict, kindConflict, "already deactivated")
	wantProblem(t, "bad status", e.as(storage.RoleAuditor, "GET", "/accounts?status=ready", nil), http.StatusBadRequest, kindInvalid, "status:", "ready")
	e.must(storage.RoleAuditor, "GET", "/accounts/"+other.ID, nil, http.StatusOK).decode(t, &a)
	if a.ID != other.ID || a.Directory != "default" || len(a.Key) == 0 {
		t.Errorf("account %+v", a)
	}
	wantProblem(t, "unknown", e.as(storage.RoleAuditor, "GET", "/accounts/nosuch", nil), http.StatusNotFound, kindNotFound, "nosuch")
}

// TestOrders lists orders with every filter and across pages, shows one
// with its authorizations and timeline, and decides approvals.
func TestOrders(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, openSQLite)
	acct, other := e.account("team-a"), e.account("default")
	base := time.Now().UTC().Add(-10 * time.Hour).Truncate(time.Second)
	var all []*storage.Order
	for i := range 12 {
		name := "host" + string(rune('a'+i)) + ".example.test"
		all = append(all, e.order(acct, name, base.Add(time.Duration(i)*time.Minute)))
	}
	elsewhere := e.order(other, "hosta.other.test", base.Add(time.Hour))
	pending := e.awaitingApproval(acct, "approve-me.example.test", time.Now().Add(time.Hour))
	failed := all[3]
	problem, _ := json.Marshal(acme.Malformed("the CSR is broken"))
	if err := e.st.FailOrder(e.ctx, failed.ID, problem, time.Now().UTC(), nil); err != nil {
		t.Fatal(err)
	}

	ids, pages := e.allPages("/orders?directory=team-a&limit=5")
	if len(ids) != 13 || pages != 3 {
		t.Fatalf("team-a orders: %d over %d pages, want 13 over 3", len(ids), pages)
	}
	if ids[0] != pending.ID || ids[len(ids)-1] != all[0].ID {
		t.Errorf("orders are not newest first: %v", ids)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"name=HOSTA", []string{elsewhere.ID, all[0].ID}},
		{"name=hostb.example&directory=team-a", []string{all[1].ID}},
		{"account=" + other.ID, []string{elsewhere.ID}},
		{"status=invalid", []string{failed.ID}},
		{"approval=pending", []string{pending.ID}},
		{"created_since=" + url.QueryEscape(base.Add(10*time.Minute).Format(time.RFC3339)) + "&created_before=" + url.QueryEscape(base.Add(12*time.Minute).Format(time.RFC3339)),
			[]string{all[11].ID, all[10].ID}},
	} {
		if got, _ := e.allPages("/orders?" + tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("orders?%s = %v, want %v", tc.query, got, tc.want)
		}
	}
	wantProblem(t, "bad time", e.as(storage.RoleAuditor, "GET", "/orders?created_since=yesterday", nil), http.StatusBadRequest, kindInvalid, "created_since:", "RFC 3339")
	wantProblem(t, "bad approval", e.as(storage.RoleAuditor, "GET", "/orders?approval=maybe", nil), http.StatusBadRequest, kindInvalid, "approval:")

	// One order: authorizations with challenges, the timeline, the error.
	var d orderDetail
	e.must(storage.RoleAuditor, "GET", "/orders/"+failed.ID, nil, http.StatusOK).decode(t, &d)
	if d.Status != storage.StatusInvalid || !strings.Contains(string(d.Error), "the CSR is broken") || len(d.Authorizations) != 1 ||
		len(d.Authorizations[0].Challenges) != 1 || d.Authorizations[0].Challenges[0].Type != storage.ChallengeHTTP01 ||
		len(d.Timeline) == 0 || d.Timeline[0].Kind != acme.EventCreated {
		t.Errorf("order detail %+v", d)
	}
	wantProblem(t, "unknown", e.as(storage.RoleAuditor, "GET", "/orders/nosuch", nil), http.StatusNotFound, kindNotFound, "nosuch")

	// Approve: the order proceeds, the decision is recorded everywhere.
	var o orderView
	e.must(storage.RoleOperator, "POST", "/orders/"+pending.ID+"/approve", map[string]any{"reason": "CHG-42"}, http.StatusOK).decode(t, &o)
	opName := e.tokenNames[storage.RoleOperator]
	if o.Approval == nil || o.Approval.State != storage.ApprovalApproved || o.Approval.By != opName || o.Approval.Reason != "CHG-42" {
		t.Errorf("approved order %+v", o.Approval)
	}
	e.must(storage.RoleAuditor, "GET", "/orders/"+pending.ID, nil, http.StatusOK).decode(t, &d)
	if last := d.Timeline[len(d.Timeline)-1]; last.Kind != acme.EventApproved || last.Actor != "operator:"+opName || last.Detail != "CHG-42" {
		t.Errorf("last timeline event %+v", last)
	}
	entry := e.lastAudit("order.approve")
	if entry.Outcome != storage.OutcomeSuccess || entry.Directory != "team-a" || entry.Object != "order:"+pending.ID || !strings.Contains(entry.Detail, "CHG-42") {
		t.Errorf("approve audit entry %+v", entry)
	}
	wantProblem(t, "approve twice", e.as(storage.RoleOperator, "POST", "/orders/"+pending.ID+"/approve", nil), http.StatusConflict, kindConflict, "not awaiting approval")
	if e.lastAudit("order.approve").Outcome != storage.OutcomeFailure {
		t.Error("the refused approval was not audited as a failure")
	}

	// Reject needs a reason, which reaches the order's error.
	second := e.awaitingApproval(acct, "reject-me.example.test", time.Now().Add(time.Hour))
	wantProblem(t, "reject without reason", e.as(storage.RoleOperator, "POST", "/orders/"+second.ID+"/reject", map[string]any{"reason": "  "}),
		http.StatusBadRequest, kindInvalid, "reason:")
	wantProblem(t, "reject without body", e.as(storage.RoleOperator, "POST", "/orders/"+second.ID+"/reject", nil), http.StatusBadRequest, kindMalformed, "JSON object")
	e.must(storage.RoleOperator, "POST", "/orders/"+second.ID+"/reject", map[string]any{"reason": "not a team-a host"}, http.StatusOK).decode(t, &o)
	if o.Status != storage.StatusInvalid || o.Approval.State != storage.ApprovalRejected || !strings.Contains(string(o.Error), "not a team-a host") {
		t.Errorf("rejected order %+v", o)
	}
	wantProblem(t, "approve a rejected order", e.as(storage.RoleOperator, "POST", "/orders/"+second.ID+"/approve", nil), http.StatusConflict, kindConflict, "rejected")
	wantProblem(t, "approve an order needing none", e.as(storage.RoleOperator, "POST", "/orders/"+all[0].ID+"/approve", nil), http.StatusConflict, kindConflict, "none needed")
	wantProblem(t, "approve unknown", e.as(storage.RoleOperator, "POST", "/orders/nosuch/approve", nil), http.StatusNotFound, kindNotFound, "nosuch")

	// A lapsed approval cannot be approved.
	lapsed := e.awaitingApproval(acct, "late.example.test", time.Now().Add(-time.Minute))
	wantProblem(t, "lapsed", e.as(storage.RoleOperator, "POST", "/orders/"+lapsed.ID+"/approve", nil), http.StatusConflict, kindConflict, "lapsed")
}
