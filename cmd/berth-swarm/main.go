// Command berth-swarm is Berth's swarm front end: berthd starts it when
// the node joins or creates a swarm and forwards the swarm routes of the
// Engine API to it. It carries swarm mode out on Kubernetes (client-go),
// which berthd itself does not link.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/api"
	"github.com/berth-project/berth/internal/swarm"
	"github.com/berth-project/berth/internal/version"
	"github.com/spf13/pflag"
)

func main() {
	fs := pflag.NewFlagSet("berth-swarm", pflag.ExitOnError)
	socket := fs.String("socket", "/run/berth/swarm.sock", "Unix socket to serve the swarm routes on")
	stateDir := fs.String("state-dir", "/var/lib/berth/swarm", "Swarm state directory")
	daemonHost := fs.String("daemon-host", "", "berthd's unix socket (for its own Kubernetes cluster)")
	volumeRoot := fs.String("volume-root", "/var/lib/berth/swarm/volumes", "Where services' named volumes live on each node")
	kubeconfig := fs.String("kubeconfig", "", "Adopt this Kubernetes cluster on swarm init")
	fs.Parse(os.Args[1:])
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(*socket, *stateDir, *daemonHost, *volumeRoot, *kubeconfig, log); err != nil {
		fmt.Fprintln(os.Stderr, "berth-swarm:", err)
		os.Exit(1)
	}
}

func run(socket, stateDir, daemonHost, volumeRoot, kubeconfig string, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg := swarm.Config{StateDir: stateDir, VolumeRoot: volumeRoot, Kubeconfig: kubeconfig, Log: log}
	if daemonHost != "" {
		dc, err := newDaemonCluster(daemonHost)
		if err != nil {
			return err
		}
		cfg.Cluster = dc
	}
	m, err := swarm.NewManager(cfg)
	if err != nil {
		return err
	}
	os.Remove(socket)
	l, err := net.Listen("unix", socket)
	if err != nil {
		return err
	}
	os.Chmod(socket, 0o600)
	go swarm.NewIngress(m, log).Run(ctx)
	go swarm.NewUpdateMonitor(m, log).Run(ctx)
	go m.WatchRole(ctx, 2*time.Second)
	go swarm.NewHistoryRecorder(m, log).Run(ctx)
	srv := api.NewSwarmServer(m, api.Options{Version: version.Version, GitCommit: version.GitCommit, Logger: log})
	log.Info("swarm front end listening", "socket", socket)
	err = srv.Serve(ctx, l)
	os.Remove(socket)
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
