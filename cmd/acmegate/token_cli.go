package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/acmegate/acmegate/admin"
	"github.com/acmegate/acmegate/storage"
)

// cliActor is who the administration verbs act as in the audit trail.
func cliActor() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

// cliAudit appends the audit entry of a mutation made by a verb. A verb
// whose change cannot be audited fails: the change happened, but the
// operator must know it is not in the trail.
func cliAudit(ctx context.Context, st storage.AuditStore, dir, action, object string, err error, detail string) error {
	outcome := storage.OutcomeSuccess
	if err != nil {
		outcome, detail = storage.OutcomeFailure, err.Error()
	}
	e := &storage.AuditEntry{At: nowUTC(), Actor: cliActor(), Directory: dir, Action: action, Object: object, Outcome: outcome, Detail: detail}
	if aerr := st.AppendAudit(context.WithoutCancel(ctx), e); aerr != nil {
		return errors.Join(err, fmt.Errorf("write the audit entry of %s: %w", action, aerr))
	}
	return err
}

// runToken implements `acmegate token create|list|revoke`: the bearer
// tokens of the admin API and the dashboard.
func runToken(ctx context.Context, cfg *Config, args []string, stdout io.Writer) error {
	var (
		name string
		role string
		ttl  time.Duration
	)
	verbs := map[string]verb{
		"create": {usage: "--name NAME --role admin|operator|auditor [--ttl 720h]",
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&name, "name", "", "who or what uses the token; the actor in the audit trail")
				fs.StringVar(&role, "role", "", "admin, operator or auditor")
				fs.DurationVar(&ttl, "ttl", 0, "the token expires after this long (default: never)")
			},
			run: func(ctx context.Context, c *components, _ []string, stdout io.Writer) error {
				raw, t, err := admin.CreateToken(ctx, c.store, name, storage.Role(role), ttl, cliActor(), nowUTC())
				object, detail := "token:", ""
				if err == nil {
					object += t.ID
					detail = fmt.Sprintf("created token %s named %s with role %s", t.ID, t.Name, t.Role)
				}
				if err := cliAudit(ctx, c.store, "", "token.create", object, err, detail); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "token: %s\nid:    %s\nname:  %s\nrole:  %s\n", raw, t.ID, t.Name, t.Role)
				if !t.ExpiresAt.IsZero() {
					fmt.Fprintf(stdout, "expires: %s\n", t.ExpiresAt.Format(time.RFC3339))
				}
				fmt.Fprintln(stdout, "The token is shown only now and cannot be shown again: acmegate keeps only a hash of it.")
				return nil
			}},
		"list": {
			run: func(ctx context.Context, c *components, _ []string, stdout io.Writer) error {
				toks, err := c.store.ListAdminTokens(ctx)
				if err != nil {
					return fmt.Errorf("list tokens: %w", err)
				}
				now := nowUTC()
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tROLE\tSTATE\tCREATED\tEXPIRES\tLAST USED\tCREATED BY")
				for _, t := range toks {
					v := admin.NewTokenView(t, now)
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Name, v.Role, v.State, cliTime(t.CreatedAt),
						orText(cliTime(t.ExpiresAt), "never"), orText(cliTime(t.LastUsedAt), "-"), orText(v.CreatedBy, "-"))
				}
				return tw.Flush()
			}},
		"revoke": {usage: "ID", args: []string{"a token id"},
			run: func(ctx context.Context, c *components, pos []string, stdout io.Writer) error {
				id := pos[0]
				t, err := c.store.GetAdminToken(ctx, id)
				if errors.Is(err, storage.ErrNotFound) {
					err = fmt.Errorf("there is no token %s (acmegate token list shows them)", id)
				}
				if err == nil {
					if err = c.store.RevokeAdminToken(ctx, id, nowUTC()); errors.Is(err, storage.ErrConflict) {
						err = fmt.Errorf("token %s (%s) is already revoked", id, t.Name)
					}
				}
				detail := ""
				if err == nil {
					detail = fmt.Sprintf("revoked token %s named %s (role %s)", t.ID, t.Name, t.Role)
				}
				if err := cliAudit(ctx, c.store, "", "token.revoke", "token:"+id, err, detail); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "revoked token %s (%s); it stops working on its next request\n", id, t.Name)
				return nil
			}},
	}
	return runVerb(ctx, cfg, "token", verbs, args, stdout)
}

// cliTime prints t for a table, "" when zero.
func cliTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
