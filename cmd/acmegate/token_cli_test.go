package main

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCLITokens creates, lists and revokes admin tokens with the built
// binary against a running server: a created token works on the admin
// listener at once, the list never shows it, and a revoked one is refused
// on its next request. Every change is audited as the CLI user.
func TestCLITokens(t *testing.T) {
	skipIfShort(t)
	s := startGate(t, &Config{Log: LogConfig{Level: "debug"}})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	hc := trustingClient(t, s.rootPEM)
	base := s.adminURL(t)

	out := s.mustCLI(t, "token", "create", "--name", "deploy-bot", "--role", "admin", "--ttl", "24h")
	if !strings.Contains(out, "shown only now") || !strings.Contains(out, "expires:") {
		t.Errorf("token create printed no warning or expiry:\n%s", out)
	}
	tok := ""
	id := ""
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(line, "token:"); ok {
			tok = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "id:"); ok {
			id = strings.TrimSpace(v)
		}
	}
	if !strings.HasPrefix(tok, "acmegate_"+id+"_") {
		t.Fatalf("token %q does not carry id %q", tok, id)
	}
	var list struct {
		Items []struct {
			Name, Role, State string
			CreatedBy         string `json:"created_by"`
		} `json:"items"`
	}
	if code := adminAPI(ctx, t, hc, base, tok, "GET", "/tokens", nil, &list); code != 200 || len(list.Items) != 1 ||
		list.Items[0].Name != "deploy-bot" || list.Items[0].CreatedBy != cliActor() {
		t.Fatalf("GET /tokens with the new token: %d %+v", code, list)
	}

	out = s.mustCLI(t, "token", "list")
	row := tableRow(out, id)
	if len(row) < 4 || row[1] != "deploy-bot" || row[2] != "admin" || row[3] != "active" || strings.Contains(out, tok[len("acmegate_"+id+"_"):]) {
		t.Errorf("token list row %q:\n%s", row, out)
	}

	out = s.mustCLI(t, "token", "revoke", id)
	if !strings.Contains(out, "revoked token "+id) {
		t.Errorf("token revoke printed %q", out)
	}
	if code := adminAPI(ctx, t, hc, base, tok, "GET", "/tokens", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("the revoked token answered %d, want 401", code)
	}
	if row := tableRow(s.mustCLI(t, "token", "list"), id); len(row) < 4 || row[3] != "revoked" {
		t.Errorf("token list after revoke: %q", row)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "create", "--role", "admin"}, "token name"},
		{[]string{"token", "create", "--name", "x", "--role", "root"}, `unknown role "root"`},
		{[]string{"token", "create", "--name", "deploy-bot", "--role", "auditor"}, "exists"},
		{[]string{"token", "create", "--name", "x", "--role", "admin", "--ttl", "soon"}, `invalid value "soon"`},
		{[]string{"token", "revoke", id}, "already revoked"},
		{[]string{"token", "revoke", "nosuch"}, "no token nosuch"},
		{[]string{"token", "revoke"}, "token revoke needs a token id"},
		{[]string{"token"}, "usage: acmegate token"},
	} {
		res := s.cli(t, tc.args...)
		if res.code == 0 || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("acmegate %s: exit %d, stderr %q; want non-zero and %q", strings.Join(tc.args, " "), res.code, res.stderr, tc.want)
		}
	}

	out = s.mustCLI(t, "audit", "list", "--action", "token.", "--format", "json")
	for _, want := range []string{`"action": "token.create"`, `"action": "token.revoke"`, `"actor": "` + cliActor() + `"`, `"outcome": "failure"`, `"object": "token:` + id + `"`} {
		if !strings.Contains(out, want) {
			t.Errorf("audit list of token actions lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, tok) || strings.Contains(s.stdout.String()+s.stderr.String(), tok) {
		t.Error("the audit trail or the server's output holds the token")
	}
}

// TestCLIAdminVerbsCreateNothing: a verb against a configuration whose
// server never ran fails without creating a database.
func TestCLIAdminVerbsCreateNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, "data_dir: "+dir+"/data\n")
	for _, args := range [][]string{
		{"token", "list"}, {"audit", "verify"}, {"report", "expiring"},
	} {
		var stdout, stderr strings.Builder
		code := run(context.Background(), append(args, "--config", cfg), &stdout, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), "does not exist") {
			t.Errorf("acmegate %s without a server: exit %d, %q", strings.Join(args, " "), code, stderr.String())
		}
	}
	if _, err := loadConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if entries, _ := readDirNames(dir); len(entries) != 0 {
		t.Errorf("the verbs created %v", entries)
	}
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}
