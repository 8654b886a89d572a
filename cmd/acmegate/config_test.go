package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "acmegate.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]any{
		"data_dir":           {cfg.DataDir, "./acmegate-data"},
		"listen":             {cfg.Listen, "127.0.0.1:14000"},
		"storage.driver":     {cfg.Storage.Driver, "sqlite"},
		"storage.path":       {cfg.Storage.Path, filepath.Join("acmegate-data", "acmegate.db")},
		"ca.local.dir":       {cfg.CA.Local.Dir, "./acmegate-data"},
		"ca.local.key_type":  {cfg.CA.Local.KeyType, "P-256"},
		"ca.local.validity":  {cfg.CA.Local.Validity, 90 * 24 * time.Hour},
		"validation.http":    {cfg.Validation.HTTPPort, 80},
		"validation.alpn":    {cfg.Validation.TLSALPNPort, 443},
		"validation.timeout": {cfg.Validation.Timeout, 10 * time.Second},
		"log.format":         {cfg.Log.Format, "json"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %v, want %v", name, c[0], c[1])
		}
	}
}

func TestConfigFileAndEnvExpansion(t *testing.T) {
	t.Setenv("ACMEGATE_TEST_DIR", "/srv/acmegate")
	p := writeConfig(t, `
data_dir: ${ACMEGATE_TEST_DIR}
listen: 0.0.0.0:8443
public_url: https://acme.example.com
validation:
  resolvers: ["127.0.0.1:5353"]
  http_port: 5002
  timeout: 3s
  allowed_networks: ["10.0.0.0/8"]
ca:
  local:
    key_type: P-384
    validity: 720h
directories:
  - name: default
    terms_of_service: https://example.com/tos
  - name: team-a
    external_account_required: true
    profiles:
      - name: server
        product: default
    policy:
      allowed_domains: [team-a.example.com]
      max_validity: 720h
`)
	cfg, err := loadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/srv/acmegate" || cfg.Storage.Path != "/srv/acmegate/acmegate.db" || cfg.CA.Local.Dir != "/srv/acmegate" {
		t.Errorf("data dir not expanded or not propagated: %+v", cfg)
	}
	if cfg.Validation.HTTPPort != 5002 || cfg.Validation.TLSALPNPort != 443 || cfg.Validation.Timeout != 3*time.Second {
		t.Errorf("validation = %+v", cfg.Validation)
	}
	if len(cfg.Directories) != 2 || cfg.Directories[1].Name != "team-a" || !cfg.Directories[1].ExternalAccountRequired ||
		cfg.Directories[1].Policy.MaxValidity != 720*time.Hour || cfg.Directories[0].TermsOfService != "https://example.com/tos" {
		t.Errorf("directories = %+v", cfg.Directories)
	}
	if cfg.CA.Local.KeyType != "P-384" || cfg.CA.Local.Validity != 720*time.Hour || cfg.PublicURL != "https://acme.example.com" {
		t.Errorf("ca/public_url = %+v %s", cfg.CA.Local, cfg.PublicURL)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := map[string]struct{ body, want string }{
		"unknown field":           {"listne: 1.2.3.4:1\n", "field listne not found"},
		"unset env":               {"data_dir: ${ACMEGATE_SURELY_UNSET}\n", "ACMEGATE_SURELY_UNSET"},
		"bad network":             {"validation:\n  allowed_networks: [\"10.0.0.0\"]\n", "not a CIDR prefix"},
		"unsupported driver":      {"storage:\n  driver: mysql\n", "storage.driver"},
		"cert without key":        {"tls:\n  cert_file: a.pem\n", "go together"},
		"bad duration":            {"validation:\n  timeout: soon\n", "soon"},
		"bad directory name":      {"directories:\n  - name: Team_A\n", "lower-case"},
		"duplicate directory":     {"directories:\n  - name: a\n  - name: a\n", "defined twice"},
		"unknown directory field": {"directories:\n  - name: a\n    eab: true\n", "field eab not found"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(writeConfig(t, tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestEmptyConfigFileMeansDefaults(t *testing.T) {
	cfg, err := loadConfig(writeConfig(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:14000" {
		t.Errorf("listen = %q", cfg.Listen)
	}
}
