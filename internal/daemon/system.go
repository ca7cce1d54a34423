package daemon

import (
	"context"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	"github.com/berth-project/berth/internal/version"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"
)

// emit publishes a container event with Docker's attributes (name, image
// and the container's labels).
func (d *Daemon) emit(c *Container, action events.Action, extra map[string]string) {
	attrs := map[string]string{"name": strings.TrimPrefix(c.Name, "/"), "image": c.Config.Image}
	for k, v := range c.Config.Labels {
		attrs[k] = v
	}
	for k, v := range extra {
		attrs[k] = v
	}
	d.events.Publish(events.Message{Type: events.ContainerEventType, Action: action, Actor: events.Actor{ID: c.ID, Attributes: attrs}})
}

func (d *Daemon) emitImage(id, ref string, action events.Action) {
	attrs := map[string]string{}
	if ref != "" {
		attrs["name"] = ref
	}
	d.events.Publish(events.Message{Type: events.ImageEventType, Action: action, Actor: events.Actor{ID: id, Attributes: attrs}})
}

// SubscribeEvents serves /events.
func (d *Daemon) SubscribeEvents(ctx context.Context, since, until time.Time, f filters.Args) ([]events.Message, <-chan events.Message, func(), error) {
	for k := range f {
		switch k {
		case "container", "event", "image", "label", "type", "volume", "network", "daemon", "scope", "plugin", "node", "service", "secret", "config":
		default:
			return nil, nil, nil, errdefs.Invalidf("invalid filter '%s'", k)
		}
	}
	past, live, cancel := d.events.Subscribe(since, until, f)
	return past, live, cancel, nil
}

// Version serves GET /version.
func (d *Daemon) Version(ctx context.Context) system.VersionResponse {
	kernel := kernelVersion()
	comps := []system.ComponentVersion{{Name: "Engine", Version: version.Version, Details: map[string]string{
		"ApiVersion": version.APIVersion, "MinAPIVersion": version.MinAPIVersion, "GitCommit": version.GitCommit,
		"GoVersion": goruntime.Version(), "Os": "linux", "Arch": goruntime.GOARCH, "KernelVersion": kernel,
		"Experimental": "false", "BuildTime": version.BuildTime,
	}}}
	if rt, err := d.runtimeFor(""); err == nil {
		if v, err := rt.Version(ctx); err == nil {
			comps = append(comps, system.ComponentVersion{Name: rt.Name, Version: v, Details: map[string]string{"GitCommit": ""}})
		}
	}
	return system.VersionResponse{
		Platform:      struct{ Name string }{Name: "Berth Engine"},
		Components:    comps,
		Version:       version.Version,
		APIVersion:    version.APIVersion,
		MinAPIVersion: version.MinAPIVersion,
		GitCommit:     version.GitCommit,
		GoVersion:     goruntime.Version(),
		Os:            "linux",
		Arch:          goruntime.GOARCH,
		KernelVersion: kernel,
		BuildTime:     version.BuildTime,
	}
}

func kernelVersion() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// Info serves GET /info.
func (d *Daemon) Info(ctx context.Context) (*system.Info, error) {
	var running, paused, stopped int
	all := d.containers.list()
	for _, c := range all {
		c.mu.Lock()
		switch {
		case c.State.Paused:
			paused++
		case c.running():
			running++
		default:
			stopped++
		}
		c.mu.Unlock()
	}
	imgs, err := d.images.List(ctx)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var si unix.Sysinfo_t
	unix.Sysinfo(&si)
	runtimes := map[string]system.RuntimeWithStatus{}
	for name, rt := range d.runtimes {
		runtimes[name] = system.RuntimeWithStatus{Runtime: system.Runtime{Path: rt.Path}}
	}
	return &system.Info{
		ID:                 d.engineID(),
		Containers:         len(all),
		ContainersRunning:  running,
		ContainersPaused:   paused,
		ContainersStopped:  stopped,
		Images:             len(imgs),
		Driver:             "overlay2",
		DriverStatus:       [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}},
		Plugins:            system.PluginsInfo{Volume: []string{}, Network: []string{"host", "null"}, Log: []string{"json-file"}},
		MemoryLimit:        true,
		SwapLimit:          true,
		CPUCfsPeriod:       true,
		CPUCfsQuota:        true,
		CPUShares:          true,
		CPUSet:             true,
		PidsLimit:          true,
		OomKillDisable:     true,
		IPv4Forwarding:     true,
		NFd:                countFDs(),
		NGoroutines:        goruntime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		LoggingDriver:      d.cfg.LogDriver,
		CgroupDriver:       "cgroupfs",
		CgroupVersion:      "1",
		KernelVersion:      kernelVersion(),
		OperatingSystem:    osName(),
		OSVersion:          "",
		OSType:             "linux",
		Architecture:       "x86_64",
		IndexServerAddress: "https://index.docker.io/v1/",
		RegistryConfig:     d.registries.ServiceConfig(),
		NCPU:               goruntime.NumCPU(),
		MemTotal:           int64(si.Totalram) * int64(si.Unit),
		DockerRootDir:      d.cfg.DataRoot,
		Name:               host,
		Labels:             []string{},
		ServerVersion:      version.Version,
		Runtimes:           runtimes,
		DefaultRuntime:     d.cfg.DefaultRuntime,
		LiveRestoreEnabled: d.cfg.LiveRestore,
		SecurityOptions:    []string{"name=seccomp,profile=builtin"},
		Warnings:           []string{},
	}, nil
}

func (d *Daemon) engineID() string {
	path := d.cfg.DataRoot + "/engine-id"
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b))
	}
	id := newID()
	os.WriteFile(path, []byte(id), 0o600)
	return id
}

func countFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

func osName() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

// DiskUsage serves GET /system/df for containers and images.
func (d *Daemon) DiskUsage(ctx context.Context) (*engine.DiskUsage, error) {
	imgs, err := d.ImageList(ctx, engine.ImageListOptions{All: true, SharedSize: true})
	if err != nil {
		return nil, err
	}
	ctrs, err := d.ContainerList(ctx, engine.ContainerListOptions{All: true, Size: true})
	if err != nil {
		return nil, err
	}
	layers, err := d.images.LayersSize(ctx)
	if err != nil {
		return nil, err
	}
	if ctrs == nil {
		ctrs = []container.Summary{}
	}
	vols, err := d.vols.DiskUsage(ctx)
	if err != nil {
		return nil, err
	}
	return &engine.DiskUsage{LayersSize: layers, Images: imgs, Containers: ctrs, Volumes: vols, BuildCache: d.buildCacheRecords(ctx)}, nil
}
