package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSecurityKeyFileModes: the sealing key is created 0600 and refused
// once group or others may read it; a CA key file others may read stops
// the start (the check is ca/local's, reached through openComponents,
// which serve and every admin verb use); the error names the file and
// its mode. (Security review, issue 8 item 6.)
func TestSecurityKeyFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes carry no owner-only information on Windows")
	}
	t.Run("secrets.key", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sub", "secrets.key")
		key, err := loadOrCreateKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("created sealing key: %v, mode %v; want 0600", err, fi.Mode().Perm())
		}
		for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660} {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := loadOrCreateKey(path)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "mode "+octal(mode)) {
				t.Errorf("mode %s: %v; want a refusal naming %s and the mode", octal(mode), err, path)
			}
		}
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
		again, err := loadOrCreateKey(path)
		if err != nil || !bytes.Equal(again, key) {
			t.Errorf("after chmod 600: %v, same key %v", err, bytes.Equal(again, key))
		}
	})
	t.Run("CA key", func(t *testing.T) {
		dir := t.TempDir()
		cfg, err := loadConfig(writeConfig(t, "data_dir: "+dir+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.DiscardHandler)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		c, err := openComponents(ctx, cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		c.close()
		key := filepath.Join(cfg.CA.Local.Dir, "intermediate.key")
		if err := os.Chmod(key, 0o644); err != nil {
			t.Fatal(err)
		}
		if c, err := openComponents(ctx, cfg, log); err == nil {
			c.close()
			t.Fatal("started with a world-readable intermediate.key")
		} else if !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "mode 0644") {
			t.Errorf("error %q: want the file and its mode", err)
		}
	})
}

// octal is a file mode's permission bits as four octal digits.
func octal(m os.FileMode) string {
	const digits = "01234567"
	p := uint32(m.Perm())
	return string([]byte{'0', digits[p>>6&7], digits[p>>3&7], digits[p&7]})
}

// TestSecurityLooseSecretFilesWarn: an operator's secret file (upstream
// credentials, SMTP password, database URL, TLS key) that group or others
// may read is named in a warning on start, without its content; an
// owner-only one is not.
func TestSecurityLooseSecretFilesWarn(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes carry no owner-only information on Windows")
	}
	loose := secretFile(t, "loose-secret-value")
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	tight := secretFile(t, "tight-secret-value")
	cfg := &Config{
		Backends: []BackendConfig{
			{Name: "scm", Type: "sectigo", Sectigo: &SectigoBackendConfig{PasswordFile: loose}},
			{Name: "dc", Type: "digicert", DigiCert: &DigiCertBackendConfig{APIKeyFile: tight}},
		},
		Notifications: NotificationsConfig{SMTP: NotifySMTPConfig{PasswordFile: tight}},
		Storage:       StorageConfig{URLFile: filepath.Join(t.TempDir(), "missing")},
	}
	var buf bytes.Buffer
	warnLooseSecretFiles(cfg, slog.New(slog.NewTextHandler(&buf, nil)))
	out := buf.String()
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, out)
	}
	for _, want := range []string{"backends[scm].sectigo.password_file", loose, "0644"} {
		if !strings.Contains(out, want) {
			t.Errorf("warning lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret-value") {
		t.Errorf("the warning shows a file's content:\n%s", out)
	}
	if got := len(secretPaths(&Config{})); got != 0 {
		t.Errorf("a configuration without secret files lists %d", got)
	}
}
