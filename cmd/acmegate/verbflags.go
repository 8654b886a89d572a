package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// verb is one administration command: its flags, how many positional
// arguments it takes, and what it does with the opened components.
type verb struct {
	usage string
	// args names the positional arguments, all required.
	args  []string
	flags func(fs *flag.FlagSet)
	run   func(ctx context.Context, c *components, pos []string, stdout io.Writer) error
}

// runVerb parses a verb's arguments (flags may come before or after the
// positional ones), checks them, and only then opens the components: a typo
// must not create a database, a CA or a sealing key.
func runVerb(ctx context.Context, cfg *Config, group string, verbs map[string]verb, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: acmegate %s %s", group, verbList(verbs))
	}
	v, ok := verbs[args[0]]
	if !ok {
		return fmt.Errorf("unknown %s command %q; use one of %s", group, args[0], verbList(verbs))
	}
	fs := flag.NewFlagSet(group+" "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if v.flags != nil {
		v.flags(fs)
	}
	var pos []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return fmt.Errorf("%v\nusage: acmegate %s %s %s", err, group, args[0], v.usage)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(pos) != len(v.args) {
		return fmt.Errorf("acmegate %s %s needs %s; usage: acmegate %s %s %s", group, args[0], strings.Join(v.args, " and "), group, args[0], v.usage)
	}
	c, err := openExistingComponents(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.close()
	return v.run(ctx, c, pos, stdout)
}

func verbList(verbs map[string]verb) string {
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, "|")
}

// openExistingComponents opens what `acmegate serve` created, refusing to
// create anything: running an administration verb against the wrong
// --config must fail, not make a second CA.
func openExistingComponents(ctx context.Context, cfg *Config) (*components, error) {
	need := []string{filepath.Join(cfg.CA.Local.Dir, "root.pem"), cfg.Secrets.KeyFile}
	if cfg.Storage.Driver == "sqlite" {
		need = append(need, cfg.Storage.Path)
	}
	for _, p := range need {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s does not exist: run `acmegate serve` with this configuration first, or check --config (%w)", p, errors.Unwrap(err))
		}
	}
	return openComponents(ctx, cfg, newLogger(cfg, os.Stderr))
}
