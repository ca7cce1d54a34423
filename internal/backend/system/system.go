// Package system is the engine's system backend: /info, /version,
// /system/df and /events, reporting on the other backends.
package system

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/distribution"
	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/events"
	"github.com/berth-project/berth/internal/filters"
	imagestore "github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/runtime"
	"github.com/berth-project/berth/internal/version"
	"github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"
)

// Backend implements engine.SystemBackend.
type Backend struct {
	cfg        Config
	events     *events.Bus
	images     *imagestore.Store
	registries *distribution.Registries
	containers Containers
	imageList  ImageLister
	vols       VolumeUsage
	builds     BuildCache
}

var _ engine.SystemBackend = (*Backend)(nil)

// Config is the engine configuration /info reports.
type Config struct {
	DataRoot    string
	LogDriver   string
	LiveRestore bool
}

// Containers is what /info, /version and /system/df ask of the container
// backend.
type Containers interface {
	ContainerList(ctx context.Context, opts engine.ContainerListOptions) ([]container.Summary, error)
	// ContainerCounts counts the containers by state.
	ContainerCounts() (running, paused, stopped int)
	// Runtimes returns the default OCI runtime and every configured one.
	Runtimes() (def *runtime.Runtime, all map[string]*runtime.Runtime)
}

// ImageLister lists images as GET /images/json does (the image backend).
type ImageLister interface {
	ImageList(ctx context.Context, opts engine.ImageListOptions) ([]image.Summary, error)
}

// VolumeUsage is the volume backend's part of /system/df.
type VolumeUsage interface {
	DiskUsage(ctx context.Context) ([]any, error)
}

// BuildCache is the build backend's part of /system/df.
type BuildCache interface {
	CacheRecords(ctx context.Context) []any
}

// Parts are the other backends the system backend reports on.
type Parts struct {
	Containers Containers
	Images     ImageLister
	Volumes    VolumeUsage
	Builds     BuildCache
}

// New reports on the engine made of parts, its image store and registries.
func New(cfg Config, bus *events.Bus, store *imagestore.Store, regs *distribution.Registries, parts Parts) *Backend {
	return &Backend{cfg: cfg, events: bus, images: store, registries: regs,
		containers: parts.Containers, imageList: parts.Images, vols: parts.Volumes, builds: parts.Builds}
}

// SubscribeEvents serves /events.
func (b *Backend) SubscribeEvents(ctx context.Context, since, until time.Time, f filters.Args) ([]eventtypes.Message, <-chan eventtypes.Message, func(), error) {
	for k := range f {
		switch k {
		case "container", "event", "image", "label", "type", "volume", "network", "daemon", "scope", "plugin", "node", "service", "secret", "config":
		default:
			return nil, nil, nil, errdefs.Invalidf("invalid filter '%s'", k)
		}
	}
	past, live, cancel := b.events.Subscribe(since, until, f)
	return past, live, cancel, nil
}

// Version serves GET /version.
func (b *Backend) Version(ctx context.Context) system.VersionResponse {
	kernel := kernelVersion()
	comps := []system.ComponentVersion{{Name: "Engine", Version: version.Version, Details: map[string]string{
		"ApiVersion": version.APIVersion, "MinAPIVersion": version.MinAPIVersion, "GitCommit": version.GitCommit,
		"GoVersion": goruntime.Version(), "Os": "linux", "Arch": goruntime.GOARCH, "KernelVersion": kernel,
		"Experimental": "false", "BuildTime": version.BuildTime,
	}}}
	if rt, _ := b.containers.Runtimes(); rt != nil {
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
func (b *Backend) Info(ctx context.Context) (*system.Info, error) {
	running, paused, stopped := b.containers.ContainerCounts()
	imgs, err := b.images.List(ctx)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var si unix.Sysinfo_t
	unix.Sysinfo(&si)
	def, all := b.containers.Runtimes()
	runtimes := map[string]system.RuntimeWithStatus{}
	for name, rt := range all {
		runtimes[name] = system.RuntimeWithStatus{Runtime: system.Runtime{Path: rt.Path}}
	}
	return &system.Info{
		ID:                 b.engineID(),
		Containers:         running + paused + stopped,
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
		LoggingDriver:      b.cfg.LogDriver,
		CgroupDriver:       "cgroupfs",
		CgroupVersion:      "1",
		KernelVersion:      kernelVersion(),
		OperatingSystem:    osName(),
		OSVersion:          "",
		OSType:             "linux",
		Architecture:       "x86_64",
		IndexServerAddress: "https://index.docker.io/v1/",
		RegistryConfig:     b.registries.ServiceConfig(),
		NCPU:               goruntime.NumCPU(),
		MemTotal:           int64(si.Totalram) * int64(si.Unit),
		DockerRootDir:      b.cfg.DataRoot,
		Name:               host,
		Labels:             []string{},
		ServerVersion:      version.Version,
		Runtimes:           runtimes,
		DefaultRuntime:     def.Name,
		LiveRestoreEnabled: b.cfg.LiveRestore,
		SecurityOptions:    []string{"name=seccomp,profile=builtin"},
		Warnings:           []string{},
	}, nil
}

func (b *Backend) engineID() string {
	path := b.cfg.DataRoot + "/engine-id"
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b))
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	id := hex.EncodeToString(raw[:])
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
func (b *Backend) DiskUsage(ctx context.Context) (*engine.DiskUsage, error) {
	imgs, err := b.imageList.ImageList(ctx, engine.ImageListOptions{All: true, SharedSize: true})
	if err != nil {
		return nil, err
	}
	ctrs, err := b.containers.ContainerList(ctx, engine.ContainerListOptions{All: true, Size: true})
	if err != nil {
		return nil, err
	}
	layers, err := b.images.LayersSize(ctx)
	if err != nil {
		return nil, err
	}
	if ctrs == nil {
		ctrs = []container.Summary{}
	}
	vols, err := b.vols.DiskUsage(ctx)
	if err != nil {
		return nil, err
	}
	return &engine.DiskUsage{LayersSize: layers, Images: imgs, Containers: ctrs, Volumes: vols, BuildCache: b.builds.CacheRecords(ctx)}, nil
}
