package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readmeBlock returns the first ```yaml block after the line containing
// marker in README.md, so the documentation is tested as written.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	i := strings.Index(s, marker)
	if i < 0 {
		t.Fatalf("README.md has no %q", marker)
	}
	s = s[i:]
	start := strings.Index(s, "```yaml\n")
	end := strings.Index(s[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatalf("no yaml block after %q", marker)
	}
	return s[start+8 : start+8+end]
}

// TestReadmeTwoTeamExample pastes the README's two-team configuration, as
// a new user would, and checks both directories are served as described.
func TestReadmeTwoTeamExample(t *testing.T) {
	dataDir := t.TempDir()
	cfg := writeConfig(t, readmeBlock(t, "A two-team example")+"\ndata_dir: "+dataDir+"\nlisten: 127.0.0.1:0\nlog:\n  level: warn\n")
	dirURL, _ := startInProcess(t, "--config", cfg)
	client := trustingClient(t, filepath.Join(dataDir, "root.pem"))
	base := strings.TrimSuffix(dirURL, "/directory")
	for name, check := range map[string]func(meta map[string]any) string{
		"public": func(m map[string]any) string {
			if m["externalAccountRequired"] != true || m["termsOfService"] != "https://pki.example.com/tos" {
				return "want EAB required and the terms of service"
			}
			return ""
		},
		"internal": func(m map[string]any) string {
			p, _ := m["profiles"].(map[string]any)
			if len(p) != 3 {
				return "want three profiles"
			}
			return ""
		},
	} {
		resp, err := client.Get(base + "/acme/" + name + "/directory")
		if err != nil {
			t.Fatal(err)
		}
		var d struct{ Meta map[string]any }
		err = json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s directory: %d %v", name, resp.StatusCode, err)
		}
		if msg := check(d.Meta); msg != "" {
			t.Errorf("%s meta = %v: %s", name, d.Meta, msg)
		}
	}
}

// TestReadmeConfigurationReference loads the README's full configuration
// reference: every key it documents must exist.
func TestReadmeConfigurationReference(t *testing.T) {
	if _, err := loadConfig(writeConfig(t, readmeBlock(t, "## Configuration"))); err != nil {
		t.Fatalf("the README's configuration reference does not load: %v", err)
	}
}

// TestReadmeBackendsExample: the README's upstream CA configuration parses
// (it cannot connect here: the vendors are not reachable).
func TestReadmeBackendsExample(t *testing.T) {
	cfg, err := loadConfig(writeConfig(t, readmeBlock(t, "## Upstream CAs")))
	if err != nil {
		t.Fatalf("the README's backends example does not load: %v", err)
	}
	if len(cfg.Backends) != 2 || cfg.Backends[0].Sectigo == nil || cfg.Backends[1].DigiCert == nil {
		t.Errorf("backends = %+v", cfg.Backends)
	}
}
