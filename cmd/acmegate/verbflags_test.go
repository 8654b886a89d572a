package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminVerbsCreateNothing: an administration verb run against a data
// directory that `serve` never initialised fails and creates no database,
// CA or sealing key (a wrong --config must not make a second CA).
func TestAdminVerbsCreateNothing(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := writeConfig(t, "data_dir: "+dataDir+"\n")
	for _, args := range [][]string{
		{"directory", "list", "--config", cfg},
		{"eab", "create", "--directory", "default", "--config", cfg},
		{"directory", "frobnicate", "--config", cfg},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code == 0 {
			t.Errorf("acmegate %s succeeded against an empty data directory", strings.Join(args, " "))
		}
		if _, err := os.Stat(dataDir); err == nil {
			t.Fatalf("acmegate %s created %s", strings.Join(args, " "), dataDir)
		}
	}
}

func TestSplitConfigFlag(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		wantPath string
		wantRest string
	}{
		{[]string{"revoke", "--config", "a.yaml", "KID"}, "a.yaml", "revoke KID"},
		{[]string{"revoke", "KID", "--config=b.yaml", "--deactivate-accounts"}, "b.yaml", "revoke KID --deactivate-accounts"},
		{[]string{"list"}, "default.yaml", "list"},
	} {
		path, rest := splitConfigFlag(tc.args, "default.yaml")
		if path != tc.wantPath || strings.Join(rest, " ") != tc.wantRest {
			t.Errorf("splitConfigFlag(%v) = %q %v", tc.args, path, rest)
		}
	}
}
