package admin

import (
	"bytes"
	"encoding/csv"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

func TestWriteCertificatesCSV(t *testing.T) {
	now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	certs := []*storage.Certificate{
		{ID: "c1", Serial: "1a", Directory: "team-a", Names: []string{"a.example", "b.example"}, Status: storage.StatusValid,
			NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(10 * 24 * time.Hour), Issuer: "CN=Int", Backend: "local", CreatedAt: now},
		{ID: "c2", Serial: "2b", Directory: "team-b", Names: []string{"=HYPERLINK(\"x\")"}, Status: storage.StatusRevoked,
			RevokedAt: now, RevocationReason: 4, NotAfter: now.Add(-time.Hour), CreatedAt: now},
	}
	var buf bytes.Buffer
	if err := WriteCertificatesCSV(&buf, certs, now); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v", err)
	}
	if len(rows) != 3 || len(rows[0]) != len(certificateCSVHeader) {
		t.Fatalf("rows = %d, header = %v", len(rows), rows[0])
	}
	col := func(name string) int {
		for i, h := range rows[0] {
			if h == name {
				return i
			}
		}
		t.Fatalf("no column %q", name)
		return -1
	}
	if got := rows[1][col("names")]; got != "a.example b.example" {
		t.Errorf("names = %q", got)
	}
	if got := rows[1][col("days_left")]; got != "10" {
		t.Errorf("days_left = %q, want 10", got)
	}
	if got := rows[1][col("revocation_reason")]; got != "" {
		t.Errorf("valid certificate has a revocation reason %q", got)
	}
	if got := rows[2][col("revocation_reason")]; got != "4" {
		t.Errorf("revocation_reason = %q, want 4", got)
	}
	if got := rows[2][col("names")]; got[0] != '\'' {
		t.Errorf("formula not defused: %q", got)
	}
}

func TestNewTokenAndRoles(t *testing.T) {
	now := time.Now().UTC()
	tok, rec, err := NewToken("alice", storage.RoleOperator, "test", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID == "" || len(rec.Hash) != 32 || rec.Role != storage.RoleOperator || !rec.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("record = %+v", rec)
	}
	if bytes.Contains([]byte(tok), rec.Hash) || len(tok) < 50 {
		t.Fatalf("token %q looks wrong", tok)
	}
	if _, _, err := NewToken("bob", "root", "test", 0, now); err == nil {
		t.Error("unknown role accepted")
	}
	if _, _, err := NewToken(" ", storage.RoleAdmin, "test", 0, now); err == nil {
		t.Error("empty name accepted")
	}
	cases := []struct {
		have, need storage.Role
		ok         bool
	}{
		{storage.RoleAuditor, storage.RoleAuditor, true},
		{storage.RoleAuditor, storage.RoleOperator, false},
		{storage.RoleOperator, storage.RoleOperator, true},
		{storage.RoleOperator, storage.RoleAdmin, false},
		{storage.RoleAdmin, storage.RoleOperator, true},
		{"", storage.RoleAuditor, false},
	}
	for _, c := range cases {
		if got := allows(c.have, c.need); got != c.ok {
			t.Errorf("allows(%s, %s) = %v", c.have, c.need, got)
		}
	}
}
