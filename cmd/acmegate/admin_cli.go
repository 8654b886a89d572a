package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/storage"
)

func nowUTC() time.Time { return time.Now().UTC() }

// readSettings reads a directory's settings from a YAML (or JSON) file.
func readSettings(path string) (acme.DirectorySettings, error) {
	var s acme.DirectorySettings
	if path == "" {
		return s, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return s, fmt.Errorf("settings %s: %w", path, err)
	}
	return s, nil
}

// getDirectory reads a directory with an operator's error message.
func getDirectory(ctx context.Context, st storage.DirectoryStore, name string) (*storage.Directory, error) {
	d, err := st.GetDirectory(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("there is no directory %q (acmegate directory list shows them)", name)
	}
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", name, err)
	}
	return d, nil
}

// runDirectory implements `acmegate directory create|list|show|update|
// disable|enable`. Directories made here have source "runtime"; those of
// the configuration file are rewritten at every start and cannot be
// changed here.
func runDirectory(ctx context.Context, cfg *Config, args []string, stdout io.Writer) error {
	var settingsFile string
	settingsFlag := func(fs *flag.FlagSet) {
		fs.StringVar(&settingsFile, "settings", "", "YAML or JSON file with the directory's settings")
	}
	putRuntime := func(ctx context.Context, c *components, name string, create bool) error {
		if !acme.ValidDirectoryName(name) {
			return fmt.Errorf("directory name %q must be 1-63 lower-case letters, digits or hyphens", name)
		}
		s, err := readSettings(settingsFile)
		if err != nil {
			return err
		}
		disabled := false
		if !create {
			cur, err := getDirectory(ctx, c.store, name)
			if err != nil {
				return err
			}
			if cur.Source == "config" {
				return fmt.Errorf("directory %s is defined in the configuration file; change it there", name)
			}
			disabled = cur.Disabled
		}
		return acme.PutRuntimeDirectory(ctx, c.store, c.catalog, acme.DirectoryDefinition{Name: name, Disabled: disabled, Settings: s}, create, nowUTC())
	}
	setDisabled := func(disabled bool) func(context.Context, *components, []string, io.Writer) error {
		return func(ctx context.Context, c *components, pos []string, stdout io.Writer) error {
			state, action := "enabled", "directory.enable"
			if disabled {
				state, action = "disabled", "directory.disable"
			}
			cur, err := getDirectory(ctx, c.store, pos[0])
			if err == nil {
				cur.Disabled, cur.UpdatedAt = disabled, nowUTC()
				if err = c.store.PutDirectory(ctx, cur); err != nil {
					err = fmt.Errorf("update directory %s: %w", cur.Name, err)
				}
			}
			if err := cliAudit(ctx, c.store, pos[0], action, "directory:"+pos[0], err, state); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s directory %s\n", state, cur.Name)
			if cur.Source == "config" {
				fmt.Fprintln(stdout, "note: it is defined in the configuration file, which sets it again at the next start")
			}
			return nil
		}
	}
	verbs := map[string]verb{
		"list": {usage: "", run: func(ctx context.Context, c *components, _ []string, stdout io.Writer) error {
			dirs, err := c.store.ListDirectories(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSOURCE\tSTATE\tEAB\tPROFILES\tURL")
			for _, d := range dirs {
				var s acme.DirectorySettings
				if err := json.Unmarshal(d.Settings, &s); err != nil {
					return fmt.Errorf("directory %s has unreadable settings: %w", d.Name, err)
				}
				state := "enabled"
				if d.Disabled {
					state = "disabled"
				}
				var profiles []string
				for _, p := range s.Profiles {
					profiles = append(profiles, p.Name)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", d.Name, d.Source, state, s.ExternalAccountRequired, strings.Join(profiles, ","), directoryURLFor(cfg, d.Name))
			}
			return tw.Flush()
		}},
		"show": {usage: "NAME", args: []string{"a directory name"}, run: func(ctx context.Context, c *components, pos []string, stdout io.Writer) error {
			d, err := getDirectory(ctx, c.store, pos[0])
			if err != nil {
				return err
			}
			var out bytes.Buffer
			if err := json.Indent(&out, d.Settings, "", "  "); err != nil {
				return fmt.Errorf("directory %s has unreadable settings: %w", d.Name, err)
			}
			fmt.Fprintf(stdout, "name: %s\nsource: %s\ndisabled: %v\nurl: %s\nsettings: %s\n", d.Name, d.Source, d.Disabled, directoryURLFor(cfg, d.Name), out.String())
			return nil
		}},
		"create": {usage: "NAME [--settings FILE]", args: []string{"a directory name"}, flags: settingsFlag,
			run: func(ctx context.Context, c *components, pos []string, stdout io.Writer) error {
				if err := cliAudit(ctx, c.store, pos[0], "directory.create", "directory:"+pos[0], putRuntime(ctx, c, pos[0], true), "runtime directory"); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "created directory %s\n  url: %s\n", pos[0], directoryURLFor(cfg, pos[0]))
				return nil
			}},
		"update": {usage: "NAME --settings FILE", args: []string{"a directory name"}, flags: settingsFlag,
			run: func(ctx context.Context, c *components, pos []string, stdout io.Writer) error {
				if err := cliAudit(ctx, c.store, pos[0], "directory.update", "directory:"+pos[0], putRuntime(ctx, c, pos[0], false), "settings replaced"); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "updated directory %s\n", pos[0])
				return nil
			}},
		"disable": {usage: "NAME", args: []string{"a directory name"}, run: setDisabled(true)},
		"enable":  {usage: "NAME", args: []string{"a directory name"}, run: setDisabled(false)},
	}
	return runVerb(ctx, cfg, "directory", verbs, args, stdout)
}

// directoryURLFor is the directory URL clients use.
func directoryURLFor(cfg *Config, name string) string {
	base := cfg.PublicURL
	if base == "" {
		scheme := "https"
		if cfg.TLS.Disabled {
			scheme = "http"
		}
		base = scheme + "://" + cfg.Listen
	}
	if name == "default" {
		return base + "/directory"
	}
	return base + "/acme/" + name + "/directory"
}

// runEAB implements `acmegate eab create|list|revoke`.
func runEAB(ctx context.Context, cfg *Config, args []string, stdout io.Writer) error {
	var (
		dir        string
		reusable   bool
		expires    time.Duration
		label      string
		deactivate bool
	)
	dirFlag := func(fs *flag.FlagSet) {
		fs.StringVar(&dir, "directory", "default", "directory the key belongs to")
	}
	verbs := map[string]verb{
		"create": {usage: "--directory NAME [--reusable] [--expires 720h] [--label TEXT]",
			flags: func(fs *flag.FlagSet) {
				dirFlag(fs)
				fs.BoolVar(&reusable, "reusable", false, "the key may bind any number of accounts (default: one)")
				fs.DurationVar(&expires, "expires", 0, "the key stops binding accounts after this long (default: never)")
				fs.StringVar(&label, "label", "", "a note for operators, e.g. the team and the system")
			},
			run: func(ctx context.Context, c *components, _ []string, stdout io.Writer) error {
				if _, err := getDirectory(ctx, c.store, dir); err != nil {
					return err
				}
				keys := &acme.EABKeys{Store: c.store, Sealer: c.sealer}
				k, err := keys.Create(ctx, dir, label, reusable, expires)
				object, detail := "eab", ""
				if err == nil {
					object, detail = "eab:"+k.KeyID, fmt.Sprintf("label %q, reusable %v", label, reusable)
				}
				if err := cliAudit(ctx, c.store, dir, "eab.create", object, err, detail); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "key id:   %s\nhmac key: %s\ndirectory: %s\n", k.KeyID, k.HMACKey, directoryURLFor(cfg, dir))
				if !k.ExpiresAt.IsZero() {
					fmt.Fprintf(stdout, "expires:  %s\n", k.ExpiresAt.Format(time.RFC3339))
				}
				fmt.Fprintln(stdout, "The HMAC key is shown only now; acmegate keeps it sealed.")
				return nil
			}},
		"list": {usage: "--directory NAME", flags: dirFlag,
			run: func(ctx context.Context, c *components, _ []string, stdout io.Writer) error {
				if _, err := getDirectory(ctx, c.store, dir); err != nil {
					return err
				}
				list, err := c.store.ListEABKeys(ctx, dir)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KEY ID\tLABEL\tREUSABLE\tBOUND\tSTATE\tCREATED\tEXPIRES")
				now := nowUTC()
				for _, k := range list {
					state := "active"
					switch {
					case !k.RevokedAt.IsZero():
						state = "revoked"
					case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
						state = "expired"
					case !k.Reusable && k.Bound > 0:
						state = "used"
					}
					exp := "never"
					if !k.ExpiresAt.IsZero() {
						exp = k.ExpiresAt.Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%s\t%s\t%s\n", k.ID, k.Label, k.Reusable, k.Bound, state, k.CreatedAt.Format(time.RFC3339), exp)
				}
				return tw.Flush()
			}},
		"revoke": {usage: "KID [--deactivate-accounts]", args: []string{"a key id"},
			flags: func(fs *flag.FlagSet) {
				fs.BoolVar(&deactivate, "deactivate-accounts", false, "also deactivate the accounts the key bound")
			},
			run: func(ctx context.Context, c *components, pos []string, stdout io.Writer) error {
				kid := pos[0]
				keyDir := ""
				if k, gerr := c.store.GetEABKey(ctx, kid); gerr == nil {
					keyDir = k.Directory
				}
				n, err := c.store.RevokeEABKey(ctx, kid, deactivate, nowUTC())
				switch {
				case errors.Is(err, storage.ErrConflict):
					err = fmt.Errorf("key %s is already revoked", kid)
				case errors.Is(err, storage.ErrNotFound):
					err = fmt.Errorf("there is no key %s", kid)
				case err != nil:
					err = fmt.Errorf("revoke key %s: %w", kid, err)
				}
				if err := cliAudit(ctx, c.store, keyDir, "eab.revoke", "eab:"+kid, err, fmt.Sprintf("%d %s deactivated", n, plural(n, "account", "accounts"))); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "revoked key %s", kid)
				if deactivate {
					fmt.Fprintf(stdout, " and deactivated %d %s", n, plural(n, "account", "accounts"))
				}
				fmt.Fprintln(stdout)
				return nil
			}},
	}
	return runVerb(ctx, cfg, "eab", verbs, args, stdout)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
