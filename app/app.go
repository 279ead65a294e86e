// Package app is the pytwask command: it reads the configuration and hands
// over to the subcommand asked for.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"os/signal"
	"strings"
	"syscall"

	"pytwask/app/buildinfo"
	"pytwask/app/cli"
	"pytwask/app/config"
	"pytwask/app/logs"
	"pytwask/app/redisconn"
	"pytwask/app/serve"
)

// Main runs the command line args (args[0] is the program name) and returns
// the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 1 {
		cmd = args[1]
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	redisconn.RouteLibraryLog(slog.Default())
	switch cmd {
	case "serve":
		return runServe(ctx, stderr)
	case "cli":
		return cli.Clt(ctx, args[2:], stdin, stdout, stderr)
	case "check":
		return cli.Check(ctx, stdout)
	case "seed":
		return cli.Seed(ctx, args[2:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "pytwask", buildinfo.Version())
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "pytwask: unknown command %q\n\n", cmd)
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `pytwask: a small, self-hosted Twitter-like site on pytwis's Redis data.

Usage:
  pytwask [serve]    serve the site (the default)
  pytwask cli        the pytwis_clt shell on the database (pytwask cli --help)
  pytwask check      check the configuration, Redis, the listen addresses
  pytwask seed       fill the database with demo data (pytwask seed --help)
  pytwask version    print the version
  pytwask help       print this help

Configuration is read from these environment variables:

`)
	config.Usage(w)
}

func runServe(ctx context.Context, stderr io.Writer) int {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintf(stderr, "pytwask: the configuration has problems:\n%s\n\nRun 'pytwask -h' to list every variable.\n", indent(err.Error()))
		return 2
	}
	log := newLogger(cfg, stderr)
	redisconn.RouteLibraryLog(log)
	if err := serve.Run(ctx, cfg, log, nil); err != nil {
		log.Error("pytwask stopped", "err", err)
		return 1
	}
	return 0
}

// newLogger logs text for people in dev and JSON for log collectors elsewhere.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel.Level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.Env == "dev" {
		h = slog.NewTextHandler(w, opts)
	}
	log := slog.New(logs.New(h, logs.DefaultRate(), nil))
	slog.SetDefault(log)
	return log
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }
