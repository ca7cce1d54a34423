package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/berth-project/berth/internal/api"
	"github.com/berth-project/berth/internal/backend/builds"
	"github.com/berth-project/berth/internal/backend/clusters"
	"github.com/berth-project/berth/internal/backend/images"
	"github.com/berth-project/berth/internal/backend/networks"
	"github.com/berth-project/berth/internal/backend/system"
	"github.com/berth-project/berth/internal/backend/volumes"
	"github.com/berth-project/berth/internal/cluster"
	"github.com/berth-project/berth/internal/daemon"
	"github.com/berth-project/berth/internal/daemonconfig"
	"github.com/berth-project/berth/internal/distribution"
	"github.com/berth-project/berth/internal/events"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/internal/volume"
)

// openEngine makes the engine's backends and wires them together: the
// container backend (the daemon) and the image, build, system, network,
// volume and cluster backends share one event bus, the image store, the network
// manager and the volume store, and each asks the others only for the
// small interface it needs.
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
	store, err := image.New(ctx, dataRoot)
	if err != nil {
		return nil, be, fmt.Errorf("open image store: %w", err)
	}
	regs, err := distribution.NewRegistries(distribution.RegistryConfig{Mirrors: cfg.RegistryMirrors, Insecure: cfg.InsecureRegistries,
		MaxDownloads: cfg.MaxConcurrentDownloads, MaxUploads: cfg.MaxConcurrentUploads,
		StateDir: filepath.Join(dataRoot, "image", "distribution")})
	if err != nil {
		return nil, be, err
	}
	noBridge, err := bridgeMode(cfg.Bridge, cfg.Bip)
	if err != nil {
		return nil, be, err
	}
	mgr, err := network.New(ctx, network.Config{DataRoot: dataRoot, ExecRoot: execRoot, BIP: cfg.Bip, NoDefaultBridge: noBridge, Logger: log})
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
	builds, err := builds.Open(ctx, filepath.Join(dataRoot, "builder"), store, log)
	if err != nil {
		mgr.Close(ctx, cfg.LiveRestore)
		return nil, be, err
	}
	d, err := daemon.New(ctx, daemon.Config{
		DataRoot:          dataRoot,
		ExecRoot:          execRoot,
		DefaultRuntime:    cfg.DefaultRuntime,
		Runtimes:          runtimes,
		MonitorPath:       cfg.MonitorPath,
		MonitorContainers: cfg.MonitorContainers,
		CgroupParent:      cfg.CgroupParent,
		LogOpts:           cfg.LogOpts,
		LogDriver:         cfg.LogDriver,
		LiveRestore:       cfg.LiveRestore,
		Logger:            log,
		Events:            bus,
		ImageStore:        store,
		Networks:          mgr,
		VolumeStore:       vs,
		Volumes:           vols,
	})
	if err != nil {
		mgr.Close(ctx, cfg.LiveRestore)
		return nil, be, err
	}
	imgs := images.New(store, regs, bus, d)
	builds.Connect(d, d, imgs)
	dc := d.Config()
	sys := system.New(system.Config{DataRoot: dc.DataRoot, LogDriver: dc.LogDriver, LiveRestore: dc.LiveRestore},
		bus, store, regs, system.Parts{Containers: d, Images: imgs, Volumes: vols, Builds: builds})
	be = api.Backends{
		System:     sys,
		Containers: d,
		Exec:       d,
		Images:     imgs,
		Networks:   networks.New(mgr, bus, d),
		Volumes:    vols,
		Auth:       imgs,
		Build:      builds,
		Cluster:    openCluster(dataRoot, execRoot, criEndpoint, cfg.CNIConfDir, imgs, log),
	}
	return d, be, nil
}

// openCluster makes the cluster backend over the manager of this daemon's
// single-node Kubernetes: its kubelet uses the daemon's CRI socket, and
// its pause image is loaded through the image backend.
func openCluster(dataRoot, execRoot, criEndpoint, cniConfDir string, imgs *images.Backend, log *slog.Logger) *clusters.Backend {
	if criEndpoint == "" {
		criEndpoint = "unix://" + filepath.Join(execRoot, "cri.sock")
	}
	pause := besideSelf("berth-pause")
	if _, err := os.Stat(pause); err != nil {
		pause = ""
	}
	return clusters.New(cluster.New(cluster.Config{
		DataRoot:        dataRoot,
		RuntimeEndpoint: criEndpoint,
		CNIConfDir:      cniConfDir,
		PauseBinary:     pause,
		LoadImage:       func(ctx context.Context, r io.Reader) error { return imgs.ImageLoad(ctx, r, true, io.Discard) },
		Logger:          log.With("component", "cluster"),
	}))
}

// shutdownEngine stops the engine on berthd's exit. The cluster goes
// first, so no kubelet restarts the pods the daemon stops; with live
// restore it keeps running like the containers.
func shutdownEngine(ctx context.Context, d *daemon.Daemon, be api.Backends, liveRestore bool, log *slog.Logger) {
	if !liveRestore && be.Cluster != nil {
		if err := be.Cluster.ClusterDown(ctx, nil); err != nil {
			log.Warn("cluster down on shutdown", "err", err)
		}
	}
	d.Shutdown(ctx)
}

// bridgeMode reads -b/--bridge (daemon.json "bridge"): "none" disables the
// default bridge as dockerd does. Naming an existing bridge to use instead
// of Berth's own is not supported, and -b with --bip is refused in
// dockerd's words.
func bridgeMode(bridge, bip string) (none bool, err error) {
	switch {
	case bridge == "":
		return false, nil
	case bip != "":
		return false, errors.New("You specified -b & --bip, mutually exclusive options. Please specify only one")
	case bridge == "none":
		return true, nil
	}
	return false, fmt.Errorf("-b %s: only \"none\" is supported (berthd makes its default bridge itself; use --bip for its address)", bridge)
}
