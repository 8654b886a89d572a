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

// runDirectory implements `acmegate directory create|list|show|update|
// disable|enable`. Directories made here have source "runtime"; those of
// the configuration file are rewritten at every start and cannot be
// changed here.
func runDirectory(ctx context.Context, cfg *Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: acmegate directory create|list|show|update|disable|enable [NAME] [--settings FILE]")
	}
	verb, rest := args[0], args[1:]
	fs := flag.NewFlagSet("directory "+verb, flag.ContinueOnError)
	settingsFile := fs.String("settings", "", "YAML or JSON file with the directory's settings (create, update)")
	name := ""
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if verb != "list" && name == "" {
		return fmt.Errorf("directory %s needs a directory name", verb)
	}
	comp, err := openComponents(ctx, cfg, newLogger(cfg, os.Stderr))
	if err != nil {
		return err
	}
	defer comp.close()
	st := comp.store
	switch verb {
	case "list":
		dirs, err := st.ListDirectories(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSOURCE\tSTATE\tEAB\tPROFILES\tURL")
		for _, d := range dirs {
			var s acme.DirectorySettings
			_ = json.Unmarshal(d.Settings, &s)
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
	case "show":
		d, err := st.GetDirectory(ctx, name)
		if err != nil {
			return fmt.Errorf("directory %s: %w", name, err)
		}
		var out bytes.Buffer
		_ = json.Indent(&out, d.Settings, "", "  ")
		fmt.Fprintf(stdout, "name: %s\nsource: %s\ndisabled: %v\nurl: %s\nsettings: %s\n", d.Name, d.Source, d.Disabled, directoryURLFor(cfg, d.Name), out.String())
		return nil
	case "create", "update":
		var s acme.DirectorySettings
		if *settingsFile != "" {
			raw, err := os.ReadFile(*settingsFile)
			if err != nil {
				return err
			}
			dec := yaml.NewDecoder(bytes.NewReader(raw))
			dec.KnownFields(true)
			if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("settings %s: %w", *settingsFile, err)
			}
		}
		now := nowUTC()
		if verb == "update" {
			cur, err := st.GetDirectory(ctx, name)
			if err != nil {
				return fmt.Errorf("directory %s: %w", name, err)
			}
			if cur.Source == "config" {
				return fmt.Errorf("directory %s is defined in the configuration file; change it there", name)
			}
			if err := acme.PutRuntimeDirectory(ctx, st, comp.profiles, acme.DirectoryDefinition{Name: name, Disabled: cur.Disabled, Settings: s}, false, now); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "updated directory %s\n", name)
			return nil
		}
		if err := acme.PutRuntimeDirectory(ctx, st, comp.profiles, acme.DirectoryDefinition{Name: name, Settings: s}, true, now); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created directory %s\n  url: %s\n", name, directoryURLFor(cfg, name))
		return nil
	case "disable", "enable":
		cur, err := st.GetDirectory(ctx, name)
		if err != nil {
			return fmt.Errorf("directory %s: %w", name, err)
		}
		cur.Disabled = verb == "disable"
		cur.UpdatedAt = nowUTC()
		if err := st.PutDirectory(ctx, cur); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%sd directory %s\n", verb, name)
		if cur.Source == "config" {
			fmt.Fprintln(stdout, "note: it is defined in the configuration file, which sets it again at the next start")
		}
		return nil
	}
	return fmt.Errorf("unknown directory command %q", verb)
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
	if len(args) == 0 {
		return errors.New("usage: acmegate eab create --directory NAME [--reusable] [--expires 720h] [--label TEXT] | list --directory NAME | revoke KID [--deactivate-accounts]")
	}
	verb, rest := args[0], args[1:]
	fs := flag.NewFlagSet("eab "+verb, flag.ContinueOnError)
	dir := fs.String("directory", "default", "directory the key belongs to")
	reusable := fs.Bool("reusable", false, "the key may bind any number of accounts (default: one)")
	expires := fs.Duration("expires", 0, "the key stops binding accounts after this long (default: never)")
	label := fs.String("label", "", "a note for operators, e.g. the team and the system")
	deactivate := fs.Bool("deactivate-accounts", false, "revoke: also deactivate the accounts the key bound")
	kid := ""
	if verb == "revoke" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		kid, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	comp, err := openComponents(ctx, cfg, newLogger(cfg, os.Stderr))
	if err != nil {
		return err
	}
	defer comp.close()
	keys := &acme.EABKeys{Store: comp.store, Sealer: comp.sealer}
	switch verb {
	case "create":
		if _, err := comp.store.GetDirectory(ctx, *dir); err != nil {
			return fmt.Errorf("directory %s: %w", *dir, err)
		}
		k, err := keys.Create(ctx, *dir, *label, *reusable, *expires)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key id:   %s\nhmac key: %s\ndirectory: %s\n", k.KeyID, k.HMACKey, directoryURLFor(cfg, *dir))
		if !k.ExpiresAt.IsZero() {
			fmt.Fprintf(stdout, "expires:  %s\n", k.ExpiresAt.Format(time.RFC3339))
		}
		fmt.Fprintln(stdout, "The HMAC key is shown only now; acmegate keeps it sealed.")
		return nil
	case "list":
		list, err := comp.store.ListEABKeys(ctx, *dir)
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
	case "revoke":
		if kid == "" {
			return errors.New("eab revoke needs a key id")
		}
		n, err := comp.store.RevokeEABKey(ctx, kid, *deactivate, nowUTC())
		if errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("key %s is already revoked", kid)
		}
		if err != nil {
			return fmt.Errorf("revoke key %s: %w", kid, err)
		}
		fmt.Fprintf(stdout, "revoked key %s", kid)
		if *deactivate {
			fmt.Fprintf(stdout, " and deactivated %d accounts", n)
		}
		fmt.Fprintln(stdout)
		return nil
	}
	return fmt.Errorf("unknown eab command %q", verb)
}
