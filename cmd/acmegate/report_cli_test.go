package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/admin"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/sqlite"
)

// TestCLIReports: `report expiring` and `report issued` in csv, json and
// table, over an inventory written beside the running server.
func TestCLIReports(t *testing.T) {
	skipIfShort(t)
	s := startGate(t, &Config{
		Directories: []DirectoryConfig{{Name: "default"}, {Name: "team-a"}},
		Log:         LogConfig{Level: "warn"},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(s.dataDir, "acmegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	add := func(id, dir string, notAfter, created time.Time) {
		c := &storage.Certificate{ID: id, Directory: dir, Serial: fmt.Sprintf("%x", 0xa000+len(id)*17+int(notAfter.Unix()%997)), Issuer: "CN=Test",
			Names: []string{id + ".example.test"}, NotBefore: created, NotAfter: notAfter, ChainPEM: []byte("x"), Backend: "local",
			Status: storage.StatusValid, CreatedAt: created}
		if err := st.ImportCertificate(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	add("soon", "team-a", now.Add(3*24*time.Hour), now.Add(-80*24*time.Hour))
	add("later", "default", now.Add(20*24*time.Hour), now.Add(-2*24*time.Hour))
	add("far", "team-a", now.Add(200*24*time.Hour), now.Add(-time.Hour))
	add("expired", "team-a", now.Add(-time.Hour), now.Add(-100*24*time.Hour))

	out := s.mustCLI(t, "report", "expiring", "--days", "30", "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("report expiring csv is not CSV: %v\n%s", err, out)
	}
	if len(rows) != 3 || rows[0][0] != "id" || rows[1][0] != "soon" || rows[2][0] != "later" {
		t.Errorf("report expiring --days 30 csv rows %q", rows)
	}

	out = s.mustCLI(t, "report", "expiring", "--days", "30", "--directory", "team-a", "--format", "json")
	var views []admin.CertificateView
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		t.Fatalf("report expiring json: %v\n%s", err, out)
	}
	if len(views) != 1 || views[0].ID != "soon" || views[0].Directory != "team-a" || views[0].DaysLeft < 2 || views[0].DaysLeft > 3 || views[0].ChainPEM != "" {
		t.Errorf("report expiring team-a json %+v", views)
	}

	out = s.mustCLI(t, "report", "issued", "--since", "7d", "--format", "json")
	views = nil
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		t.Fatalf("report issued json: %v\n%s", err, out)
	}
	var ids []string
	for _, v := range views {
		ids = append(ids, v.ID)
	}
	if !slices.Equal(ids, []string{"far", "later"}) {
		t.Errorf("report issued --since 7d = %v, want far and later, newest first", ids)
	}
	since := now.Add(-90 * time.Minute).Format(time.RFC3339)
	out = s.mustCLI(t, "report", "issued", "--since", since, "--directory", "team-a", "--format", "csv")
	if rows, _ := csv.NewReader(strings.NewReader(out)).ReadAll(); len(rows) != 2 || rows[1][0] != "far" {
		t.Errorf("report issued --since %s csv rows %q", since, rows)
	}
	out = s.mustCLI(t, "report", "expiring", "--days", "365")
	if tableRow(out, "SERIAL") == nil || !strings.Contains(out, "far.example.test") || !strings.Contains(out, "3 certificates") || strings.Contains(out, "expired.example.test") {
		t.Errorf("report expiring table:\n%s", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "issued"}, "--since"},
		{[]string{"report", "issued", "--since", "last week"}, "--since"},
		{[]string{"report", "expiring", "--format", "xml"}, "--format"},
		{[]string{"report", "expiring", "--days", "-3"}, "--days"},
		{[]string{"report", "forecast"}, `unknown report command "forecast"`},
	} {
		res := s.cli(t, tc.args...)
		if res.code == 0 || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("acmegate %s: exit %d, stderr %q; want non-zero and %q", strings.Join(tc.args, " "), res.code, res.stderr, tc.want)
		}
	}
}
