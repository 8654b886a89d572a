// Command acmegate is the acmegate ACME server and its administration verbs.
//
//	acmegate serve   [--config FILE]   run the ACME server
//	acmegate migrate [--config FILE]   apply database migrations and exit
//	acmegate version                   print the version
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
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

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
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "acmegate", version)
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

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: acmegate <command> [--config FILE]

commands:
  serve     run the ACME server (no config needed: SQLite and a local CA in ./acmegate-data)
  migrate   apply database migrations and exit
  version   print the version
`)
}
