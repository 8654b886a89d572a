package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/storage"
)

// runOrder implements `acmegate order list|show|approve|reject`.
func runOrder(ctx context.Context, cfg *Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: acmegate order list [--directory NAME] | show ID | approve ID [--by NAME] [--reason TEXT] | reject ID --reason TEXT [--by NAME]")
	}
	verb, rest := args[0], args[1:]
	fs := flag.NewFlagSet("order "+verb, flag.ContinueOnError)
	dir := fs.String("directory", "", "only orders of this directory (list)")
	by := fs.String("by", os.Getenv("USER"), "who decides (approve, reject)")
	reason := fs.String("reason", "", "why: the subscriber sees it on a rejection")
	id := ""
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if verb != "list" && id == "" {
		return fmt.Errorf("order %s needs an order id", verb)
	}
	comp, err := openExistingComponents(ctx, cfg)
	if err != nil {
		return err
	}
	defer comp.close()
	approvals := &acme.Approvals{Store: comp.store}
	if *by == "" {
		*by = "operator"
	}
	switch verb {
	case "list":
		orders, err := approvals.Pending(ctx, *dir)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ORDER\tDIRECTORY\tNAMES\tPROFILE\tWAITING SINCE\tLAPSES")
		for _, o := range orders {
			names := make([]string, len(o.Identifiers))
			for i, n := range o.Identifiers {
				names[i] = n.Value
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, o.Directory, strings.Join(names, ","), o.Profile,
				o.UpdatedAt.Format(time.RFC3339), o.ApprovalDeadline.Format(time.RFC3339))
		}
		return tw.Flush()
	case "show":
		o, err := comp.store.GetOrder(ctx, id)
		if err != nil {
			return fmt.Errorf("order %s: %w", id, err)
		}
		fmt.Fprintf(stdout, "order:     %s\ndirectory: %s\naccount:   %s\nstatus:    %s\nprofile:   %s\n", o.ID, o.Directory, o.AccountID, o.Status, o.Profile)
		if o.Approval != "" {
			fmt.Fprintf(stdout, "approval:  %s %s %s\n", o.Approval, o.ApprovalBy, o.ApprovalReason)
		}
		events, err := comp.store.ListOrderEvents(ctx, o.ID, o.AuthzIDs)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "timeline:")
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, e := range events {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", e.At.Format(time.RFC3339), e.Kind, e.Identifier, e.Actor, e.Detail)
		}
		return tw.Flush()
	case "approve":
		err := approvals.Approve(ctx, id, *by, *reason)
		if err := cliAudit(ctx, comp.store, orderDirectory(ctx, comp.store, id), "order.approve", "order:"+id, err, decisionDetail(*by, *reason)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "approved order %s; issuance proceeds\n", id)
		return nil
	case "reject":
		err := approvals.Reject(ctx, id, *by, *reason)
		if err := cliAudit(ctx, comp.store, orderDirectory(ctx, comp.store, id), "order.reject", "order:"+id, err, decisionDetail(*by, *reason)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rejected order %s\n", id)
		return nil
	}
	return fmt.Errorf("unknown order command %q", verb)
}

// runCert implements `acmegate cert renew-early SERIAL [--clear]`: ARI then
// tells the certificate's client to renew now.
func runCert(ctx context.Context, cfg *Config, args []string, stdout io.Writer) error {
	if len(args) < 2 || args[0] != "renew-early" {
		return errors.New("usage: acmegate cert renew-early SERIAL [--clear]")
	}
	serial := strings.ToLower(strings.TrimLeft(strings.ReplaceAll(args[1], ":", ""), "0"))
	fs := flag.NewFlagSet("cert renew-early", flag.ContinueOnError)
	clear := fs.Bool("clear", false, "remove the flag")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	comp, err := openExistingComponents(ctx, cfg)
	if err != nil {
		return err
	}
	defer comp.close()
	cert, err := comp.store.GetCertificateBySerial(ctx, serial)
	if err != nil {
		return fmt.Errorf("certificate %s: %w", args[1], err)
	}
	action := "certificate.renew-early"
	if *clear {
		action = "certificate.renew-early.clear"
	}
	if err := cliAudit(ctx, comp.store, cert.Directory, action, "certificate:"+serial, comp.store.SetRenewEarly(ctx, cert.ID, !*clear), ""); err != nil {
		return err
	}
	if *clear {
		fmt.Fprintf(stdout, "certificate %s: early renewal flag cleared\n", serial)
	} else {
		fmt.Fprintf(stdout, "certificate %s (%s): ARI now asks its client to renew\n", serial, strings.Join(cert.Names, ", "))
	}
	return nil
}

// orderDirectory is the directory of order id for its audit entry, "" when
// the order cannot be read (the entry then records the failure).
func orderDirectory(ctx context.Context, st storage.OrderStore, id string) string {
	if o, err := st.GetOrder(ctx, id); err == nil {
		return o.Directory
	}
	return ""
}

func decisionDetail(by, reason string) string {
	return fmt.Sprintf("by %s: %s", by, reason)
}
