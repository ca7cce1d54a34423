package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-project/berth/internal/api"
	"github.com/berth-project/berth/internal/cri"
	"github.com/berth-project/berth/internal/daemon"
	"github.com/berth-project/berth/internal/daemonconfig"
	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/version"
	"github.com/moby/moby/api/types/container"
)

// criEngine is the CRI front end's view of the engine: the container,
// exec and pod calls of the container backend, the image backend's and
// the system backend's disk usage.
type criEngine struct {
	engine.ContainerBackend
	engine.ExecBackend
	engine.PodBackend
	engine.ImageBackend
	engine.SystemBackend
}

var _ cri.Engine = criEngine{}

// ContainerInspect is the container backend's without the fields only the
// Engine API reports.
func (e criEngine) ContainerInspect(ctx context.Context, name string, size bool) (*container.InspectResponse, error) {
	r, err := e.ContainerBackend.ContainerInspect(ctx, name, size)
	if err != nil {
		return nil, err
	}
	return r.InspectResponse, nil
}

// criSocketPath returns the CRI socket's path, "" when disabled.
func criSocketPath(cfg *daemonconfig.Config) (string, error) {
	switch addr := cfg.CRISocket; addr {
	case "none":
		return "", nil
	case "":
		return filepath.Join(cfg.ExecRoot, "cri.sock"), nil
	default:
		p, ok := strings.CutPrefix(addr, "unix://")
		if !ok && strings.Contains(addr, "://") {
			return "", fmt.Errorf("invalid cri-socket %q: only unix:// sockets are supported", addr)
		}
		return p, nil
	}
}

// startCRI opens the CRI socket (root:<group> 0660, like the Engine API's)
// and serves the kubelet's calls on it until ctx ends.
func startCRI(ctx context.Context, d *daemon.Daemon, be api.Backends, cfg *daemonconfig.Config, log *slog.Logger) (*cri.Server, net.Listener, error) {
	path, err := criSocketPath(cfg)
	if err != nil || path == "" {
		return nil, nil, err
	}
	srv, err := cri.New(cri.Options{
		Engine:         criEngine{be.Containers, be.Exec, d, be.Images, be.System},
		StateDir:       filepath.Join(cfg.DataRoot, "cri"),
		RunDir:         filepath.Join(cfg.ExecRoot, "cri"),
		DataRoot:       cfg.DataRoot,
		CNIConfDir:     cfg.CNIConfDir,
		CNIBinDirs:     cfg.CNIBinDirs,
		PausePath:      besideSelf("berth-pause"),
		RuntimeVersion: version.Version,
		Logger:         log.With("api", "cri"),
	})
	if err != nil {
		return nil, nil, err
	}
	l, err := listen("unix://"+path, cfg, log)
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	return srv, l, nil
}

// besideSelf is the path of a helper binary installed next to berthd.
func besideSelf(name string) string {
	self, err := os.Executable()
	if err != nil {
		return name
	}
	return filepath.Join(filepath.Dir(self), name)
}
