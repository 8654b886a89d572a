package main

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCLIAuditVerify: `audit verify` passes on the trail a server and the
// CLI wrote, and after a row is changed behind acmegate's back (raw SQL on
// the SQLite file) it exits 1 naming the first entry that does not hold.
func TestCLIAuditVerify(t *testing.T) {
	skipIfShort(t)
	s := startGate(t, &Config{Log: LogConfig{Level: "warn"}})
	for _, name := range []string{"a", "b", "c"} {
		s.createToken(t, "bot-"+name, "auditor")
	}
	out := s.mustCLI(t, "audit", "verify")
	if !strings.Contains(out, "audit trail intact") {
		t.Fatalf("audit verify printed %q", out)
	}

	out = s.mustCLI(t, "audit", "list", "--action", "token.create", "--limit", "2")
	if rows := strings.Count(out, "token.create"); rows != 2 {
		t.Errorf("audit list --limit 2 shows %d entries:\n%s", rows, out)
	}
	out = s.mustCLI(t, "audit", "list", "--since", "1d")
	if !strings.Contains(out, "bot-a") || !strings.Contains(out, "SEQ") {
		t.Errorf("audit list --since 1d:\n%s", out)
	}
	if out := s.mustCLI(t, "audit", "list", "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); strings.Contains(out, "token.create") {
		t.Errorf("audit list of the future shows entries:\n%s", out)
	}
	if res := s.cli(t, "audit", "list", "--since", "yesterday"); res.code == 0 || !strings.Contains(res.stderr, "--since") {
		t.Errorf("audit list --since yesterday: exit %d, %q", res.code, res.stderr)
	}

	// Change the detail of the entry of bot-b's creation.
	dsn := (&url.URL{Scheme: "file", Path: filepath.Join(s.dataDir, "acmegate.db"), RawQuery: url.Values{"_busy_timeout": {"5000"}}.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var seq int64
	if err := db.QueryRowContext(ctx, `SELECT seq FROM audit_log WHERE detail LIKE '%bot-b%'`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE audit_log SET detail = 'nothing happened' WHERE seq = ?`, seq); err != nil {
		t.Fatal(err)
	}
	res := s.cli(t, "audit", "verify")
	want := "broken at entry " + strconv.FormatInt(seq, 10)
	if res.code != 1 || !strings.Contains(res.stderr, want) || !strings.Contains(res.stderr, "does not match its hash") {
		t.Errorf("audit verify after tampering: exit %d, stderr %q; want 1 and %q", res.code, res.stderr, want)
	}
}
