package main

// What the fault tests read in the server's database, SQLite or
// PostgreSQL alike, through database/sql and queries both accept.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for database/sql
)

// faultDB says how to open a server's database read-only.
type faultDB struct {
	driver, dsn string
}

func sqliteFaultDB(dataDir string) faultDB {
	return faultDB{driver: "sqlite", dsn: (&url.URL{
		Scheme:   "file",
		Path:     filepath.Join(dataDir, "acmegate.db"),
		RawQuery: url.Values{"_busy_timeout": {"5000"}, "_query_only": {"1"}}.Encode(),
	}).String()}
}

func postgresFaultDB(dbURL string) faultDB { return faultDB{driver: "pgx", dsn: dbURL} }

func (d faultDB) open(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open(d.driver, d.dsn)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// orderState is what became of one order.
type orderState struct {
	id, directory, status string
	// problem and detail are the order's error, for an invalid one.
	problem, detail string
	certs           int
	// authz are the statuses of its authorizations; authzProblems the
	// errors of their invalid challenges.
	authz         []string
	authzProblems []string
}

// orderStates reads every order with its certificates and authorizations.
func (d faultDB) orderStates(t *testing.T) map[string]*orderState {
	t.Helper()
	db := d.open(t)
	defer db.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	authz := map[string]string{}
	rows, err := db.QueryContext(ctx, `SELECT id, status FROM authorizations`)
	if err != nil {
		t.Fatalf("read authorizations: %v", err)
	}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			t.Fatal(err)
		}
		authz[id] = status
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	chErrs := map[string][]string{}
	rows, err = db.QueryContext(ctx, `SELECT authz_id, CAST(error AS TEXT) FROM challenges WHERE error IS NOT NULL`)
	if err != nil {
		t.Fatalf("read challenges: %v", err)
	}
	for rows.Next() {
		var id, prob string
		if err := rows.Scan(&id, &prob); err != nil {
			t.Fatal(err)
		}
		chErrs[id] = append(chErrs[id], prob)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	out := map[string]*orderState{}
	rows, err = db.QueryContext(ctx, `SELECT o.id, o.directory, o.status, CAST(o.error AS TEXT), CAST(o.authz_ids AS TEXT),
  (SELECT count(*) FROM certificates c WHERE c.order_id = o.id) FROM orders o`)
	if err != nil {
		t.Fatalf("read orders: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var o orderState
		var prob sql.NullString
		var ids string
		if err := rows.Scan(&o.id, &o.directory, &o.status, &prob, &ids, &o.certs); err != nil {
			t.Fatal(err)
		}
		if prob.Valid {
			var p struct{ Type, Detail string }
			_ = json.Unmarshal([]byte(prob.String), &p)
			o.problem, o.detail = p.Type, p.Detail
		}
		// SQLite keeps a JSON array, PostgreSQL a text[] ({a,b}).
		for _, id := range strings.Split(strings.Trim(ids, `[]{}`), ",") {
			if id = strings.Trim(strings.TrimSpace(id), `"`); id != "" {
				o.authz = append(o.authz, authz[id])
				o.authzProblems = append(o.authzProblems, chErrs[id]...)
			}
		}
		out[o.id] = &o
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// count runs a count(*) query.
func (d faultDB) count(t *testing.T, query string) int {
	t.Helper()
	db := d.open(t)
	defer db.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var n int
	if err := db.QueryRowContext(ctx, query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// unfinished counts the work a restarted server still owes: orders
// processing, challenges being validated, issuance and validation jobs.
func (d faultDB) unfinished(t *testing.T) (orders, challenges, jobs int) {
	t.Helper()
	return d.count(t, `SELECT count(*) FROM orders WHERE status = 'processing'`),
		d.count(t, `SELECT count(*) FROM challenges WHERE status = 'processing'`),
		d.count(t, `SELECT count(*) FROM jobs WHERE kind IN ('issue', 'validate')`)
}

// drain waits (bounded by within) until the server has finished every
// order and validation it accepted.
func (d faultDB) drain(t *testing.T, within time.Duration) {
	t.Helper()
	start := time.Now()
	err := waitFor(within, func() error {
		o, c, j := d.unfinished(t)
		if o+c+j > 0 {
			return fmt.Errorf("%d orders processing, %d challenges processing, %d issue or validate jobs", o, c, j)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the server did not finish its work within %v: %v", within, err)
	}
	t.Logf("drained in %v", time.Since(start).Round(100*time.Millisecond))
}

// checkOrders asserts that no order was lost or issued twice: every valid
// order has exactly one certificate and every other order none; no order
// is left processing; a pending order can still be completed (none of its
// authorizations failed) unless its client abandoned a validation; and
// no order or challenge failed with serverInternal. submissions counts
// the upstream CA's enrollments per order: at most one each, and each
// one's order valid. It returns the orders by status.
func checkOrders(t *testing.T, states map[string]*orderState, submissions map[string]int) map[string]int {
	t.Helper()
	byStatus := map[string]int{}
	internal := problemType("serverInternal")
	for _, o := range states {
		byStatus[o.status]++
		switch {
		case o.certs > 1:
			t.Errorf("order %s (%s) has %d certificates: issued twice", o.id, o.directory, o.certs)
		case o.status == "valid" && o.certs != 1:
			t.Errorf("order %s (%s) is valid with %d certificates", o.id, o.directory, o.certs)
		case o.status != "valid" && o.certs != 0:
			t.Errorf("order %s (%s) is %s with a certificate", o.id, o.directory, o.status)
		case o.status == "processing":
			t.Errorf("order %s (%s) is still processing", o.id, o.directory)
		case o.status == "invalid" && o.problem == internal:
			t.Errorf("order %s (%s) ended invalid with serverInternal: %s", o.id, o.directory, o.detail)
		}
		for _, p := range o.authzProblems {
			if strings.Contains(p, internal) {
				t.Errorf("order %s (%s): a challenge failed with serverInternal: %s", o.id, o.directory, p)
			}
		}
	}
	for id, n := range submissions {
		o, ok := states[id]
		switch {
		case !ok:
			t.Errorf("the upstream CA received %d submissions for order %s, which the database does not have", n, id)
		case n > 1:
			t.Errorf("the upstream CA received %d submissions for order %s", n, id)
		case o.status != "valid":
			t.Errorf("order %s was submitted upstream but is %s (%s): the submission was lost", id, o.status, o.detail)
		}
	}
	return byStatus
}
