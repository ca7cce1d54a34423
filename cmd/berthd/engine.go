package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/berth-project/berth/internal/api"
	"github.com/berth-project/berth/internal/backend/networks"
	"github.com/berth-project/berth/internal/backend/volumes"
	"github.com/berth-project/berth/internal/daemon"
	"github.com/berth-project/berth/internal/daemonconfig"
	"github.com/berth-project/berth/internal/distribution"
	"github.com/berth-project/berth/internal/events"
	"github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/internal/volume"
)

// openEngine makes the engine's backends and wires them together: the
// container backend (the daemon) and the network and volume backends share
// one event bus, the network manager and the volume store, and each asks
// the others only for the small interface it needs.
func openEngine(ctx context.Context, cfg *daemonconfig.Config, log *slog.Logger) (*daemon.Daemon, api.Backends, error) {
	var be api.Backends
	dataRoot, err := filepath.Abs(cfg.DataRoot)
	if err != nil {
		return nil, be, err
	}
	execRoot, err := filepath.Abs(cfg.ExecRoot)
	if err != nil {
		return nil, be, err
	}
	// The data root's mode is the daemon's (0710), not the volume store's.
	if err := os.MkdirAll(dataRoot, 0o710); err != nil {
		return nil, be, fmt.Errorf("create %s: %w", dataRoot, err)
	}
	bus := events.New()
	vs, err := volume.New(ctx, filepath.Join(dataRoot, "volumes"))
	if err != nil {
		return nil, be, fmt.Errorf("open volume store: %w", err)
	}
	vols := volumes.New(vs, bus)
	mgr, err := network.New(ctx, network.Config{DataRoot: dataRoot, ExecRoot: execRoot, BIP: cfg.Bip, Logger: log})
	if err != nil {
		return nil, be, fmt.Errorf("init networks: %w", err)
	}
	if cfg.CNIConfDir == "" {
		// Several daemons side by side must not share a pod network.
		cfg.CNIConfDir = "/etc/cni/net.d"
		if dataRoot != "/var/lib/berth" {
			cfg.CNIConfDir = filepath.Join(dataRoot, "cni", "net.d")
		}
	}
	criEndpoint := ""
	if p, err := criSocketPath(cfg); err == nil && p != "" {
		criEndpoint = "unix://" + p
	}
	runtimes := map[string]string{}
	for name, rt := range cfg.Runtimes {
		runtimes[name] = rt.Path
	}
	d, err := daemon.New(ctx, daemon.Config{
		DataRoot:       dataRoot,
		ExecRoot:       execRoot,
		DefaultRuntime: cfg.DefaultRuntime,
		Runtimes:       runtimes,
		MonitorPath:    cfg.MonitorPath,
		CgroupParent:   cfg.CgroupParent,
		LogOpts:        cfg.LogOpts,
		LogDriver:      cfg.LogDriver,
		LiveRestore:    cfg.LiveRestore,
		CRIEndpoint:    criEndpoint,
		CNIConfDir:     cfg.CNIConfDir,
		Logger:         log,
		Registry: distribution.RegistryConfig{Mirrors: cfg.RegistryMirrors, Insecure: cfg.InsecureRegistries,
			MaxDownloads: cfg.MaxConcurrentDownloads, MaxUploads: cfg.MaxConcurrentUploads},
		Events:      bus,
		Networks:    mgr,
		VolumeStore: vs,
		Volumes:     vols,
	})
	if err != nil {
		mgr.Close(ctx, cfg.LiveRestore)
		return nil, be, err
	}
	be = api.Backends{
		System:     d,
		Containers: d,
		Exec:       d,
		Images:     d,
		Networks:   networks.New(mgr, bus, d),
		Volumes:    vols,
		Auth:       d,
		Build:      d,
		Cluster:    d,
	}
	return d, be, nil
}
