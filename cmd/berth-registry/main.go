// Command berth-registry is Berth's private image registry: an OCI
// distribution registry (distribution/distribution v3) with filesystem
// storage, htpasswd or token auth, TLS, delete, garbage collection and a
// pull-through cache mode. It is its own binary so berthd stays small.
//
//	berth-registry serve CONFIG.yml
//	berth-registry serve --addr 127.0.0.1:5000 --root DIR [--htpasswd FILE]
//	    [--tls-cert F --tls-key F] [--proxy-remote URL]
//	berth-registry garbage-collect CONFIG.yml|--root DIR [--dry-run]
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/registry"
	"github.com/berth-project/berth/internal/version"
	"github.com/distribution/distribution/v3/configuration"
	units "github.com/docker/go-units"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	root := &cobra.Command{
		Use:           "berth-registry",
		Short:         "Berth's private image registry (OCI distribution)",
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), gcCmd())
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "berth-registry:", err)
		os.Exit(1)
	}
}

// configFrom reads CONFIG.yml when given, otherwise builds the
// configuration from the flags; mixing both would leave it unclear which
// wins, so it is refused.
func configFrom(cmd *cobra.Command, args []string, o registry.Options) (*configuration.Configuration, error) {
	if len(args) == 1 {
		for _, name := range []string{"addr", "root", "htpasswd", "tls-cert", "tls-key", "proxy-remote"} {
			if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
				return nil, fmt.Errorf("--%s cannot be combined with a configuration file", name)
			}
		}
		return registry.LoadConfig(args[0])
	}
	return o.Config()
}

func serveCmd() *cobra.Command {
	var o registry.Options
	var maxBlobSize string
	var uploadIdle time.Duration
	cmd := &cobra.Command{
		Use:   "serve [CONFIG.yml]",
		Short: "Serve the registry API until SIGTERM or SIGINT",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := configFrom(cmd, args, o)
			if err != nil {
				return err
			}
			maxBlob, err := units.RAMInBytes(maxBlobSize)
			if err != nil || maxBlob <= 0 {
				return fmt.Errorf("invalid --max-blob-size %q", maxBlobSize)
			}
			return serve(cmd.Context(), cfg, maxBlob, uploadIdle)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Addr, "addr", registry.DefaultAddr, "Address to listen on")
	f.StringVar(&o.Root, "root", "", "Storage root directory")
	f.StringVar(&o.Htpasswd, "htpasswd", "", "Require basic auth from this bcrypt htpasswd file")
	f.StringVar(&o.TLSCert, "tls-cert", "", "Serve TLS with this PEM certificate")
	f.StringVar(&o.TLSKey, "tls-key", "", "Private key of --tls-cert")
	f.StringVar(&o.ProxyRemote, "proxy-remote", "", "Run as a pull-through cache (mirror) of this registry URL")
	f.StringVar(&o.ProxyUser, "proxy-username", "", "Username for --proxy-remote")
	f.StringVar(&o.ProxyPass, "proxy-password", "", "Password for --proxy-remote")
	f.StringVar(&o.LogLevel, "log-level", "info", "Log level (error, warn, info, debug)")
	f.StringVar(&maxBlobSize, "max-blob-size", "10g", "Largest blob a push may upload (all chunks together)")
	f.DurationVar(&uploadIdle, "upload-idle-timeout", registry.DefaultUploadIdle, "Drop an upload that sends nothing for this long")
	return cmd
}

func serve(ctx context.Context, cfg *configuration.Configuration, maxBlob int64, uploadIdle time.Duration) error {
	configureLogging(cfg)
	// The registry's background work must outlive the signal so Shutdown
	// can drain it; only the listener follows ctx.
	srv, err := registry.New(context.WithoutCancel(ctx), cfg)
	if err != nil {
		return err
	}
	srv.SetUploadLimits(maxBlob, uploadIdle)
	if err := srv.Listen(ctx); err != nil {
		return err
	}
	logrus.Infof("berth-registry listening on %s", srv.URL())
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	drain := cfg.HTTP.DrainTimeout
	if drain <= 0 {
		drain = 10 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	logrus.Info("berth-registry shutting down")
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return <-done
}

// configureLogging applies the config's log level and formatter to logrus,
// which distribution logs through.
func configureLogging(cfg *configuration.Configuration) {
	if lvl, err := logrus.ParseLevel(string(cfg.Log.Level)); err == nil {
		logrus.SetLevel(lvl)
	}
	switch cfg.Log.Formatter {
	case "json", "logstash":
		logrus.SetFormatter(&logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano})
	default:
		logrus.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: cfg.Log.Formatter == "text"})
	}
}

func gcCmd() *cobra.Command {
	var (
		o    registry.Options
		opts registry.GCOptions
	)
	cmd := &cobra.Command{
		Use:   "garbage-collect CONFIG.yml|--root DIR",
		Short: "Delete blobs no manifest references (stop pushes first)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := configFrom(cmd, args, o)
			if err != nil {
				return err
			}
			return registry.GarbageCollect(cmd.Context(), cfg, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Root, "root", "", "Storage root directory")
	f.BoolVarP(&opts.DryRun, "dry-run", "d", false, "Report what would be deleted without deleting")
	f.BoolVarP(&opts.RemoveUntagged, "delete-untagged", "m", false, "Also delete manifests no tag references")
	f.BoolVarP(&opts.Quiet, "quiet", "q", false, "Do not list each blob")
	return cmd
}
