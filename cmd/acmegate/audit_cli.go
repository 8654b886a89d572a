package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/acmegate/acmegate/admin"
	"github.com/acmegate/acmegate/storage"
)

// runAudit implements `acmegate audit verify|list`.
func runAudit(ctx context.Context, cfg *Config, args []string, stdout io.Writer) error {
	var (
		dir, action, actor, since, format string
		limit                             int
	)
	verbs := map[string]verb{
		"verify": {
			run: func(ctx context.Context, c *components, _ []string, stdout io.Writer) error {
				n, broken, err := storage.VerifyAudit(ctx, c.store)
				if err != nil {
					return fmt.Errorf("verify the audit trail: %w", err)
				}
				if broken != nil {
					return fmt.Errorf("the audit trail is broken at entry %d: %s (the %d entries before it hold)", broken.Seq, broken.Reason, n)
				}
				fmt.Fprintf(stdout, "audit trail intact: %d %s checked\n", n, plural(int(n), "entry", "entries"))
				return nil
			}},
		"list": {usage: "[--directory NAME] [--action ACTION|PREFIX.] [--actor ACTOR] [--since 7d|RFC3339] [--limit 100] [--format table|json]",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&dir, "directory", "", "only entries of this directory")
				fs.StringVar(&action, "action", "", `only this action, or every action starting with it when it ends in "." (order.)`)
				fs.StringVar(&actor, "actor", "", "only this actor (token:NAME, cli:USER, account:ID, system)")
				fs.StringVar(&since, "since", "", "only entries at or after this time: RFC 3339, or a number of days back (7d)")
				fs.IntVar(&limit, "limit", 100, "at most this many entries, newest first")
				fs.StringVar(&format, "format", "table", "table or json")
			},
			run: func(ctx context.Context, c *components, _ []string, stdout io.Writer) error {
				f := storage.AuditFilter{Directory: dir, Action: action, Actor: actor}
				if since != "" {
					t, err := admin.ParseSince(since, nowUTC())
					if err != nil {
						return fmt.Errorf("--since: %w", err)
					}
					f.Since = t
				}
				if limit < 1 {
					return fmt.Errorf("--limit %d must be at least 1", limit)
				}
				if format != "table" && format != "json" {
					return fmt.Errorf("--format %q must be table or json", format)
				}
				var entries []*storage.AuditEntry
				p := storage.Page{Limit: min(limit, 1000)}
				for len(entries) < limit {
					page, next, err := c.store.ListAudit(ctx, f, p)
					if err != nil {
						return fmt.Errorf("list audit entries: %w", err)
					}
					entries = append(entries, page...)
					if next == "" {
						break
					}
					p.Cursor = next
				}
				entries = entries[:min(len(entries), limit)]
				return printAudit(stdout, entries, format)
			}},
	}
	return runVerb(ctx, cfg, "audit", verbs, args, stdout)
}

func printAudit(w io.Writer, entries []*storage.AuditEntry, format string) error {
	if format == "json" {
		views := make([]admin.AuditEntryView, len(entries))
		for i, e := range entries {
			views[i] = admin.NewAuditEntryView(e)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(views)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tAT\tACTOR\tDIRECTORY\tACTION\tOBJECT\tOUTCOME\tDETAIL")
	for _, e := range entries {
		// A detail is free text: keep each entry on one line.
		detail := strings.Join(strings.Fields(e.Detail), " ")
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.UTC().Format(time.RFC3339), e.Actor,
			orText(e.Directory, "-"), e.Action, orText(e.Object, "-"), e.Outcome, detail)
	}
	return tw.Flush()
}
