// Command berthd is Berth's daemon: it serves the Docker Engine API.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-project/berth/internal/daemonconfig"
	"github.com/spf13/pflag"
)

func main() {
	fs := pflag.NewFlagSet("berthd", pflag.ContinueOnError)
	var cfg daemonconfig.Config
	daemonconfig.Flags(fs, &cfg)
	showVersion := fs.BoolP("version", "v", false, "Print version information and quit")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage:\tberthd [OPTIONS]\n\nA self-sufficient runtime for containers.\n\nOptions:\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == pflag.ErrHelp {
			return
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(125)
	}
	if *showVersion {
		printVersion()
		return
	}
	if err := daemonconfig.Load(fs, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &cfg, newLogger(&cfg)); err != nil {
		fmt.Fprintln(os.Stderr, "berthd:", err)
		os.Exit(1)
	}
}

func newLogger(cfg *daemonconfig.Config) *slog.Logger {
	level := slog.LevelInfo
	switch cfg.LogLevel {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error", "fatal":
		level = slog.LevelError
	}
	if cfg.Debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
