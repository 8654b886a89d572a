package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCLIVerbsAreAudited: every administration verb that changes something
// leaves an audit entry naming the CLI user, a failed one too, and the
// trail still verifies; no HMAC key reaches the trail.
func TestCLIVerbsAreAudited(t *testing.T) {
	skipIfShort(t)
	s := startGate(t, &Config{})
	s.mustCLI(t, "directory", "create", "audited")
	s.mustCLI(t, "directory", "disable", "audited")
	s.mustCLI(t, "directory", "enable", "audited")
	k := s.createEAB(t, "audited")
	s.mustCLI(t, "eab", "revoke", k.kid)
	if r := s.cli(t, "eab", "revoke", k.kid); r.code == 0 {
		t.Fatal("revoking a key twice succeeded")
	}

	out := s.mustCLI(t, "audit", "list", "--directory", "audited", "--format", "json")
	var entries []struct {
		Actor, Action, Object, Outcome, Detail string
	}
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("audit list --format json: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, e := range entries {
		if !strings.HasPrefix(e.Actor, "cli") {
			t.Errorf("entry %+v: actor is not the CLI", e)
		}
		got[e.Action+" "+e.Object] += e.Outcome + ";"
	}
	for key, want := range map[string]string{
		"directory.create directory:audited":  "success;",
		"directory.disable directory:audited": "success;",
		"directory.enable directory:audited":  "success;",
		"eab.create eab:" + k.kid:             "success;",
		"eab.revoke eab:" + k.kid:             "failure;success;",
	} {
		if got[key] != want && got[key] != reverseOutcomes(want) {
			t.Errorf("%s: outcomes %q, want %q (all: %v)", key, got[key], want, got)
		}
	}
	if strings.Contains(out, k.hmac) {
		t.Error("the audit trail holds the EAB HMAC key")
	}
	if r := s.cli(t, "audit", "verify"); r.code != 0 {
		t.Errorf("audit verify: %d %s %s", r.code, r.stdout, r.stderr)
	}
}

func reverseOutcomes(s string) string {
	parts := strings.Split(strings.TrimSuffix(s, ";"), ";")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ";") + ";"
}
