package sqlite

import (
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// paramCount is how many parameters a statement binds: the highest ?N, or
// the number of bare ? when it numbers none.
func paramCount(query string) int {
	n := 0
	for _, m := range regexp.MustCompile(`\?(\d+)`).FindAllStringSubmatch(query, -1) {
		v, _ := strconv.Atoi(m[1])
		n = max(n, v)
	}
	if n > 0 {
		return n
	}
	return strings.Count(query, "?")
}

// TestQueryPlansUseIndexes has SQLite explain the statements whose plan is
// not obvious (partial indexes, several candidate indexes) and checks each
// uses the index it was written for and never reads a table whole. SQLite
// plans without statistics here, as it does on a fresh database.
func TestQueryPlansUseIndexes(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "acmegate.db"))
	ctx := testCtx(t)
	tests := []struct {
		name    string
		query   string
		indexes []string
	}{
		{"ListPendingApprovals", sqlListPendingApprovals, []string{"orders_approval_pending"}},
		{"ListPendingApprovals of a directory", sqlListPendingApprovalsIn, []string{"orders_approval_pending"}},
		{"ExpireApprovals", sqlExpireApprovals, []string{"orders_approval_pending"}},
		{"ListOrderEvents", sqlListOrderEvents, []string{"order_events_order", "order_events_authz"}},
		{"CountOrders of a directory", sqlCountOrdersInDirectory, []string{"orders_directory_created"}},
		{"CountOrders of an account", sqlCountOrdersOfAccount, []string{"orders_account_created"}},
		{"CountFailedValidations", sqlCountFailedValidations, []string{"challenges_account_failed"}},
		{"CountPendingAuthorizations", sqlCountPendingAuthzs, []string{"authorizations_pending"}},
	}
	// A bare "SCAN t" reads table t whole; "SCAN t USING INDEX i" walks a
	// (here partial) index, and json_each is the statement's own list.
	fullScan := regexp.MustCompile(`^SCAN (\w+)$`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := make([]any, paramCount(tc.query))
			for i := range args {
				args[i] = "x"
			}
			rows, err := s.read.QueryContext(ctx, `EXPLAIN QUERY PLAN `+tc.query, args...)
			if err != nil {
				t.Fatalf("EXPLAIN QUERY PLAN: %v", err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatalf("scan plan: %v", err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("read plan: %v", err)
			}
			for _, step := range plan {
				if m := fullScan.FindStringSubmatch(step); m != nil {
					t.Errorf("reads %s whole: %q", m[1], plan)
				}
			}
			for _, idx := range tc.indexes {
				if !slices.ContainsFunc(plan, func(step string) bool { return strings.Contains(step, " "+idx) }) {
					t.Errorf("plan does not use %s: %q", idx, plan)
				}
			}
			t.Logf("%q", plan)
		})
	}
}
