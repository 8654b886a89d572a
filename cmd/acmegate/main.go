// Command acmegate is the acmegate ACME server and its administration verbs.
//
//	acmegate serve   [--config FILE]   run the ACME server
//	acmegate migrate [--config FILE]   apply database migrations and exit
//	acmegate directory create|list|show|update|disable|enable …
//	acmegate eab create|list|revoke …
//	acmegate order list|show|approve|reject …
//	acmegate cert renew-early SERIAL
//	acmegate token create|list|revoke …   admin API and dashboard tokens
//	acmegate audit verify|list …
//	acmegate report expiring|issued …
//	acmegate version                   print the version, commit and build date
//
// The config file may also be named by ACMEGATE_CONFIG. This package owns
// flags, configuration and wiring; it knows no protocol details.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet("acmegate "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", os.Getenv("ACMEGATE_CONFIG"), "path of the YAML configuration file (env ACMEGATE_CONFIG)")
	switch cmd {
	case "serve", "migrate":
	case "directory", "eab", "order", "cert", "backend", "token", "audit", "report":
		path, verbArgs := splitConfigFlag(rest, *configPath)
		cfg, err := loadConfig(path)
		if err == nil {
			switch cmd {
			case "directory":
				err = runDirectory(ctx, cfg, verbArgs, stdout)
			case "eab":
				err = runEAB(ctx, cfg, verbArgs, stdout)
			case "order":
				err = runOrder(ctx, cfg, verbArgs, stdout)
			case "cert":
				err = runCert(ctx, cfg, verbArgs, stdout)
			case "backend":
				err = runBackend(ctx, cfg, verbArgs, stdout)
			case "token":
				err = runToken(ctx, cfg, verbArgs, stdout)
			case "audit":
				err = runAudit(ctx, cfg, verbArgs, stdout)
			case "report":
				err = runReport(ctx, cfg, verbArgs, stdout)
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, "acmegate:", err)
			return 1
		}
		return 0
	case "version", "--version", "-version":
		printVersion(stdout, currentBuild())
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "acmegate: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "acmegate:", err)
		return 1
	}
	switch cmd {
	case "serve":
		err = serve(ctx, cfg, stdout, stderr)
	case "migrate":
		err = migrate(ctx, cfg, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "acmegate:", err)
		return 1
	}
	return 0
}

// splitConfigFlag takes --config out of a verb's arguments, which have flags
// of their own.
func splitConfigFlag(args []string, def string) (string, []string) {
	path := def
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "--config" || a == "-config") && i+1 < len(args):
			path = args[i+1]
			i++
		case strings.HasPrefix(a, "--config="):
			path = strings.TrimPrefix(a, "--config=")
		case strings.HasPrefix(a, "-config="):
			path = strings.TrimPrefix(a, "-config=")
		default:
			rest = append(rest, a)
		}
	}
	return path, rest
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: acmegate <command> [--config FILE]

commands:
  serve       run the ACME server (no config needed: SQLite and a local CA in ./acmegate-data)
  migrate     apply database migrations and exit
  directory   create|list|show|update|disable|enable NAME [--settings FILE]
  eab         create --directory NAME [--reusable] [--expires 720h] [--label TEXT]
              list --directory NAME | revoke KID [--deactivate-accounts]
  order       list [--directory NAME] | show ID | approve ID [--reason TEXT] | reject ID --reason TEXT
  cert        renew-early SERIAL [--clear]
  backend     check NAME   test an upstream CA's connectivity and credentials
              sync NAME    store what the vendor account offers and check the profiles against it
              import NAME [--directory DIR]   add the vendor's issued certificates to the inventory
  token       create --name NAME --role admin|operator|auditor [--ttl 720h] | list | revoke ID
  audit       verify | list [--directory NAME] [--action ACTION] [--since 7d] [--format table|json]
  report      expiring [--days 30] | issued --since 7d|RFC3339   [--directory NAME] [--format table|csv|json]
  version     print the version, commit, build date, Go version and platform
`)
}
