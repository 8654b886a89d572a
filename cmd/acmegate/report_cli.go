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

// runReport implements `acmegate report expiring|issued`, with the admin
// API's own inventory functions: the same certificates, the same CSV
// columns, the same JSON objects.
func runReport(ctx context.Context, cfg *Config, args []string, stdout io.Writer) error {
	var (
		dir, format, since string
		days               int
	)
	common := func(fs *flag.FlagSet) {
		fs.StringVar(&dir, "directory", "", "only certificates of this directory")
		fs.StringVar(&format, "format", "table", "table, csv or json")
	}
	report := func(collect func(ctx context.Context, st storage.InventoryStore, now time.Time) ([]*storage.Certificate, error)) func(context.Context, *components, []string, io.Writer) error {
		return func(ctx context.Context, c *components, _ []string, stdout io.Writer) error {
			switch format {
			case "table", "csv", "json":
			default:
				return fmt.Errorf("--format %q must be table, csv or json", format)
			}
			now := nowUTC()
			certs, err := collect(ctx, c.store, now)
			if err != nil {
				return err
			}
			return printCertificates(stdout, certs, now, format)
		}
	}
	verbs := map[string]verb{
		"expiring": {usage: "[--days 30] [--directory NAME] [--format table|csv|json]",
			flags: func(fs *flag.FlagSet) {
				common(fs)
				fs.IntVar(&days, "days", 30, "valid certificates expiring within this many days (not yet expired)")
			},
			run: report(func(ctx context.Context, st storage.InventoryStore, now time.Time) ([]*storage.Certificate, error) {
				if days < 0 || days > 3650 {
					return nil, fmt.Errorf("--days %d must be from 0 to 3650", days)
				}
				return admin.ExpiringCertificates(ctx, st, now, days, dir)
			})},
		"issued": {usage: "--since 7d|RFC3339 [--directory NAME] [--format table|csv|json]",
			flags: func(fs *flag.FlagSet) {
				common(fs)
				fs.StringVar(&since, "since", "", "certificates issued at or after this time: RFC 3339, a number of days back (7d) or a duration (36h)")
			},
			run: report(func(ctx context.Context, st storage.InventoryStore, now time.Time) ([]*storage.Certificate, error) {
				if since == "" {
					return nil, fmt.Errorf("report issued needs --since (7d, 36h or an RFC 3339 time)")
				}
				t, err := admin.ParseSince(since, now)
				if err != nil {
					return nil, fmt.Errorf("--since: %w", err)
				}
				return admin.IssuedCertificates(ctx, st, t, dir)
			})},
	}
	return runVerb(ctx, cfg, "report", verbs, args, stdout)
}

// printCertificates writes a report in format.
func printCertificates(w io.Writer, certs []*storage.Certificate, now time.Time, format string) error {
	switch format {
	case "csv":
		return admin.WriteCertificatesCSV(w, certs, now)
	case "json":
		views := make([]admin.CertificateView, len(certs))
		for i, c := range certs {
			views[i] = admin.NewCertificateView(c, now, false)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(views)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tDIRECTORY\tSTATUS\tNOT AFTER\tDAYS LEFT\tNAMES")
	for _, c := range certs {
		v := admin.NewCertificateView(c, now, false)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", v.Serial, v.Directory, v.Status, v.NotAfter.UTC().Format(time.RFC3339), v.DaysLeft, strings.Join(v.Names, ","))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d %s\n", len(certs), plural(len(certs), "certificate", "certificates"))
	return err
}
