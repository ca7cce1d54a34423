// Package daemon is the engine's container backend: it owns container
// records and their lifecycle and implements the contract's container,
// exec and pod calls (internal/engine) on top of the image store, the
// OCI spec builder, the runtime wrapper and the monitors. Images, builds,
// system, networks, volumes and the cluster are backends of their own
// (internal/backend/...), wired together in cmd/berthd.
//
// On disk (see docs/architecture.md):
//
//	<data-root>/containers/<id>/  config.json (the record), hostname, hosts, resolv.conf, <id>-json.log
//	<exec-root>/<id>/             OCI bundle (config.json) and the monitor's socket, pid and exit files
//	<exec-root>/runtime/<name>/   the runtime's --root
package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-project/berth/internal/cgroups"
	"github.com/berth-project/berth/internal/cgroupwarm"
	"github.com/berth-project/berth/internal/crashpoint"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/events"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/monitor"
	"github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/internal/runtime"
	"github.com/berth-project/berth/internal/version"
	"github.com/berth-project/berth/internal/volume"
	eventtypes "github.com/moby/moby/api/types/events"
)

// Config is what berthd's flags and daemon.json set.
type Config struct {
	DataRoot       string
	ExecRoot       string
	DefaultRuntime string
	Runtimes       map[string]string // name -> binary path
	MonitorPath    string            // berth-monitor binary; default: next to berthd
	// MonitorContainers is how many containers one monitor process
	// watches (a supervisor, see monitor.Pool); 1 gives each its own.
	// Default 16.
	MonitorContainers int
	InitPath          string            // init for --init; default: docker-init or tini-static from PATH
	CgroupParent      string            // default derived from DataRoot
	LogOpts           map[string]string // daemon-wide --log-opt defaults
	LogDriver         string
	LiveRestore       bool
	Logger            *slog.Logger
	// The parts the container backend shares with the other backends,
	// made and wired by cmd/berthd. The daemon closes Networks on
	// Shutdown.
	Events      *events.Bus
	ImageStore  *image.Store
	Networks    *network.Manager
	VolumeStore *volume.Store
	Volumes     Volumes
}

// Volumes is what the container backend needs of the volume backend:
// volumes made on demand and announced like the API's, and /system/df's
// volume rows.
type Volumes interface {
	// GetOrCreateFor makes anonymous volumes remember the container
	// whose create made them, for the repair of a create cut short.
	GetOrCreateFor(ctx context.Context, owner, name, driver string, opts, labels map[string]string) (*volume.Volume, bool, error)
	Announce(name string, action eventtypes.Action, attrs map[string]string)
	DiskUsage(ctx context.Context) ([]any, error)
}

// Daemon implements the backends of internal/engine (see contract.go).
type Daemon struct {
	cfg        Config
	log        *slog.Logger
	images     *image.Store
	events     *events.Bus
	volumes    *volume.Store
	vols       Volumes
	networks   *network.Manager
	containers *containerIndex
	runtimes   map[string]*runtime.Runtime
	execs      *execStore
	cgWarm     *cgroupwarm.Warmer // nil where warming does not help
	monitors   *monitor.Pool      // nil: a monitor process per container
	started    time.Time
	wg         sync.WaitGroup // exit watchers
	closing    atomic.Bool    // Shutdown began: no more starts prepared ahead
	// crashAt names a fault-injection point (BERTH_CRASH_POINT, for the
	// crash-consistency tests): reaching it kills the daemon with SIGKILL.
	crashAt string
}

// New prepares the state directories, loads images and containers, and
// reconnects to the monitors of containers that kept running.
func New(ctx context.Context, cfg Config) (*Daemon, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := fillDefaults(&cfg); err != nil {
		return nil, err
	}
	for _, dir := range []string{cfg.DataRoot, filepath.Join(cfg.DataRoot, "containers"), cfg.ExecRoot} {
		if err := os.MkdirAll(dir, 0o710); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	if cfg.Events == nil || cfg.ImageStore == nil || cfg.Networks == nil || cfg.VolumeStore == nil || cfg.Volumes == nil {
		return nil, errors.New("daemon: events, images, networks and volumes must be given")
	}
	d := &Daemon{
		cfg:        cfg,
		log:        cfg.Logger,
		images:     cfg.ImageStore,
		events:     cfg.Events,
		volumes:    cfg.VolumeStore,
		vols:       cfg.Volumes,
		networks:   cfg.Networks,
		containers: newContainerIndex(),
		runtimes:   map[string]*runtime.Runtime{},
		execs:      newExecStore(),
		started:    time.Now(),
		cgWarm:     cgroupwarm.New(cgroups.Root),
		crashAt:    os.Getenv(crashpoint.Env),
	}
	if cfg.MonitorContainers > 1 {
		d.monitors = monitor.NewPool(cfg.MonitorPath, filepath.Join(cfg.ExecRoot, "monitors"), cfg.MonitorContainers)
	}
	for name, path := range cfg.Runtimes {
		root := filepath.Join(cfg.ExecRoot, "runtime", name)
		if err := os.MkdirAll(root, 0o700); err != nil {
			return nil, err
		}
		rt := &runtime.Runtime{Name: name, Path: path, Root: root}
		if filepath.Base(path) == "berth-crun" {
			rt.Inner = wrappedCrun()
		}
		if err := rt.UseSealedCopy(ctx); err != nil {
			d.log.Warn("runtime runs from its path", "runtime", name, "err", err)
		}
		d.runtimes[name] = rt
	}
	if _, ok := d.runtimes[cfg.DefaultRuntime]; !ok {
		return nil, fmt.Errorf("default runtime %q is not configured", cfg.DefaultRuntime)
	}
	if err := d.restore(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

func fillDefaults(cfg *Config) error {
	if cfg.DataRoot == "" {
		cfg.DataRoot = "/var/lib/berth"
	}
	if cfg.ExecRoot == "" {
		cfg.ExecRoot = "/run/berth"
	}
	var err error
	if cfg.DataRoot, err = filepath.Abs(cfg.DataRoot); err != nil {
		return err
	}
	if cfg.ExecRoot, err = filepath.Abs(cfg.ExecRoot); err != nil {
		return err
	}
	if cfg.Runtimes == nil {
		cfg.Runtimes = map[string]string{}
	}
	for _, name := range []string{"runc", "crun"} {
		if _, ok := cfg.Runtimes[name]; ok {
			continue
		}
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		// BERTH_CRUN_NAMESPACE=1 takes that path on any host (tests).
		if name == "crun" && (!crunUsable(cgroups.Root) || os.Getenv("BERTH_CRUN_NAMESPACE") == "1") {
			// crun refuses this hybrid host as it is; berth-crun (next to
			// berthd) runs it with the cgroup2 mount out of its view.
			w, ok := besideSelf("berth-crun")
			if !ok {
				continue
			}
			p = w
		}
		cfg.Runtimes[name] = p
	}
	if cfg.DefaultRuntime == "" {
		// crun when installed: it creates a container in about 10 ms less
		// than runc and execs in a quarter of runc's time (make bench,
		// docs/architecture.md). runc stays one --runtime away.
		cfg.DefaultRuntime = "runc"
		if _, ok := cfg.Runtimes["crun"]; ok {
			cfg.DefaultRuntime = "crun"
		}
	}
	if cfg.MonitorContainers == 0 {
		cfg.MonitorContainers = 16
	}
	if cfg.MonitorPath == "" {
		self, err := os.Executable()
		if err == nil {
			cfg.MonitorPath = filepath.Join(filepath.Dir(self), "berth-monitor")
		}
		if _, err := os.Stat(cfg.MonitorPath); err != nil {
			p, lerr := exec.LookPath("berth-monitor")
			if lerr != nil {
				return errors.New("berth-monitor binary not found next to berthd or in PATH")
			}
			cfg.MonitorPath = p
		}
	}
	if cfg.InitPath == "" {
		for _, name := range []string{"docker-init", "tini-static"} {
			if p, err := exec.LookPath(name); err == nil {
				cfg.InitPath = p
				break
			}
		}
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = "berth"
		if cfg.DataRoot != "/var/lib/berth" {
			// Several daemons side by side must not share a cgroup parent.
			sum := sha256.Sum256([]byte(cfg.DataRoot))
			cfg.CgroupParent = "berth-" + hex.EncodeToString(sum[:4])
		}
	}
	if cfg.LogDriver == "" {
		cfg.LogDriver = "json-file"
	}
	return nil
}

// besideSelf finds a helper binary installed next to berthd.
func besideSelf(name string) (string, bool) {
	self, err := os.Executable()
	if err != nil {
		return "", false
	}
	p := filepath.Join(filepath.Dir(self), name)
	if _, err := os.Stat(p); err != nil {
		return "", false
	}
	return p, true
}

// crunUsable reports whether crun can manage cgroups on this host. crun
// handles a pure v1 or a pure v2 host, and a hybrid one only while no
// controller sits on the cgroup2 mount: a fresh Debian host of ours keeps
// hugetlb there and crun then refuses every container ("cgroups in hybrid
// mode not supported").
// wrappedCrun is the crun that berth-crun runs (its BERTH_CRUN, else
// crun on PATH), or "".
func wrappedCrun() string {
	if p := os.Getenv("BERTH_CRUN"); p != "" {
		return p
	}
	p, _ := exec.LookPath("crun")
	return p
}

func crunUsable(root string) bool {
	b, err := os.ReadFile(filepath.Join(root, "unified", "cgroup.controllers"))
	if err != nil {
		return true // no hybrid cgroup2 mount
	}
	return strings.TrimSpace(string(b)) == ""
}

// Shutdown stops running containers unless live restore is on, and waits
// for the exit watchers to finish their bookkeeping.
func (d *Daemon) Shutdown(ctx context.Context) {
	d.closing.Store(true)
	if !d.cfg.LiveRestore {
		var wg sync.WaitGroup
		for _, c := range d.containers.list() {
			c.mu.Lock()
			run := c.running()
			c.mu.Unlock()
			if !run {
				continue
			}
			wg.Add(1)
			go func(c *Container) {
				defer wg.Done()
				if err := d.stopContainer(ctx, c, "", nil, false); err != nil {
					d.log.Warn("stop on shutdown", "container", c.ID, "err", err)
				}
			}(c)
		}
		wg.Wait()
		d.wg.Wait()
	}
	for _, c := range d.containers.list() {
		c.mu.Lock()
		// A prepared start is not a running container: nothing of it is
		// left behind, live restore or not.
		d.dropPrestart(ctx, c)
		if c.mon != nil {
			c.mon.Close()
		}
		c.mu.Unlock()
	}
	if err := d.networks.Close(ctx, d.cfg.LiveRestore); err != nil {
		d.log.Warn("release networks", "err", err)
	}
	d.removeCgroupParent()
}

// removeCgroupParent drops the per-daemon cgroup directories. Monitors
// delete their container's cgroups just after reporting the exit, so empty
// child cgroups may still be there: they are removed here (rmdir only
// succeeds on a cgroup with no processes), retrying briefly.
func (d *Daemon) removeCgroupParent() {
	for _, c := range d.containers.list() {
		if c.pid() != 0 {
			return // live restore: running containers still live under it
		}
	}
	matches := cgroups.Dirs(d.cfg.CgroupParent)
	deadline := time.Now().Add(3 * time.Second)
	for _, m := range matches {
		for {
			children, _ := filepath.Glob(filepath.Join(m, "*", "cgroup.procs"))
			for _, c := range children {
				os.Remove(filepath.Dir(c))
			}
			if err := os.Remove(m); err == nil || errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func (d *Daemon) containerDir(id string) string {
	return filepath.Join(d.cfg.DataRoot, "containers", id)
}

func (d *Daemon) bundleDir(id string) string {
	return filepath.Join(d.cfg.ExecRoot, id)
}

func (d *Daemon) runtimeFor(name string) (*runtime.Runtime, error) {
	if name == "" {
		name = d.cfg.DefaultRuntime
	}
	rt, ok := d.runtimes[name]
	if !ok {
		return nil, errdefs.Invalidf("unknown or invalid runtime name: %s", name)
	}
	return rt, nil
}

// Version reports the server version used in headers.
func (d *Daemon) serverVersion() string { return version.Version }
