package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
)

// ownerOnly returns an error naming path and its mode if anyone but its
// owner may read or write the file. acmegate refuses to start on such a
// sealing key (secrets.key), which it created 0600 itself: a looser mode
// means someone changed it, and whoever could read it can open every
// sealed EAB key and webhook secret. (On Windows, file modes do not carry
// this information.)
func ownerOnly(what, path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s %s is accessible to group or others (mode %04o); it must be mode 0600: check who may have read it, then run chmod 600 %s",
			what, path, perm, path)
	}
	return nil
}

// secretPath is a configured file holding a secret, and the option that
// names it.
type secretPath struct{ option, path string }

// secretPaths lists the files of cfg that hold secrets the operator
// provides: upstream credentials, the SMTP password, the database URL, the
// TLS key.
func secretPaths(cfg *Config) []secretPath {
	var out []secretPath
	add := func(option, path string) {
		if path != "" {
			out = append(out, secretPath{option, path})
		}
	}
	add("storage.url_file", cfg.Storage.URLFile)
	add("tls.key_file", cfg.TLS.KeyFile)
	add("notifications.smtp.password_file", cfg.Notifications.SMTP.PasswordFile)
	for _, b := range cfg.Backends {
		prefix := "backends[" + b.Name + "]."
		if s := b.Sectigo; s != nil {
			add(prefix+"sectigo.password_file", s.PasswordFile)
			add(prefix+"sectigo.client_key_file", s.ClientKeyFile)
		}
		if d := b.DigiCert; d != nil {
			add(prefix+"digicert.api_key_file", d.APIKeyFile)
		}
		if a := b.ACME; a != nil {
			add(prefix+"acme.account_key_file", a.AccountKeyFile)
			add(prefix+"acme.eab_hmac_file", a.EABHMACFile)
		}
	}
	return out
}

// warnLooseSecretFiles logs a warning for every operator-provided secret
// file that group or others may access. These only warn, unlike the CA
// keys and secrets.key: they are the operator's files, often mounted by
// tooling whose default is group-readable (a Kubernetes Secret volume is
// 0644 unless defaultMode says otherwise), and refusing them would stop a
// working deployment for a choice the operator may have made on purpose.
// A file that cannot be read is reported where it is read.
func warnLooseSecretFiles(cfg *Config, log *slog.Logger) {
	if runtime.GOOS == "windows" {
		return
	}
	for _, f := range secretPaths(cfg) {
		fi, err := os.Stat(f.path)
		if err != nil {
			continue
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			log.Warn("secret file is accessible to group or others; chmod 600 it unless that is intended",
				slog.String("option", f.option), slog.String("file", f.path), slog.String("mode", fmt.Sprintf("%04o", perm)))
		}
	}
}
