package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeBackend records calls and answers from canned data. Tests set the
// hooks they need; the rest answer NotFound for "missing" and succeed
// otherwise.
type fakeBackend struct {
	mu    sync.Mutex
	calls []string

	startErr  error
	waitCh    chan container.WaitResponse
	logs      []engine.LogMessage
	logsTTY   bool
	lastList  engine.ContainerListOptions
	lastStop  *int
	lastImage string
	lastTag   [3]string
	lastPull  [4]string // ref, tag, platform, X-Registry-Auth
	lastDel   string
	events    []events.Message
}

func (f *fakeBackend) record(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
}

func missing(name string) error {
	if name == "missing" {
		return errdefs.NotFoundf("No such container: %s", name)
	}
	return nil
}

func (f *fakeBackend) Info(context.Context) (*system.Info, error) {
	return &system.Info{ID: "fake", Name: "berth-test", ServerVersion: "0.0.1-test", OSType: "linux"}, nil
}

func (f *fakeBackend) Version(context.Context) system.VersionResponse {
	return system.VersionResponse{
		Platform:      struct{ Name string }{Name: "Berth"},
		Version:       "0.0.1-test",
		APIVersion:    MaxAPIVersion,
		MinAPIVersion: MinAPIVersion,
		GitCommit:     "abc1234",
		GoVersion:     "go1.26.8",
		Os:            "linux",
		Arch:          "amd64",
		KernelVersion: "6.0.0",
		BuildTime:     "2026-11-27T00:00:00.000000000+00:00",
	}
}

func (f *fakeBackend) DiskUsage(context.Context) (*engine.DiskUsage, error) {
	return &engine.DiskUsage{Images: []image.Summary{}, Containers: []container.Summary{}, Volumes: []any{}, BuildCache: []any{}}, nil
}

func (f *fakeBackend) SubscribeEvents(ctx context.Context, since, until time.Time, fl filters.Args) ([]events.Message, <-chan events.Message, func(), error) {
	live := make(chan events.Message, 1)
	live <- events.Message{Type: events.ContainerEventType, Action: events.ActionStart, Actor: events.Actor{ID: "live"}}
	return f.events, live, func() {}, nil
}

func (f *fakeBackend) ContainerCreate(_ context.Context, name string, req *container.CreateRequest) (container.CreateResponse, error) {
	f.record("create %s %s", name, req.Image)
	return container.CreateResponse{ID: strings.Repeat("c", 64)}, nil
}

func (f *fakeBackend) ContainerStart(_ context.Context, name string) error {
	f.record("start %s", name)
	if err := missing(name); err != nil {
		return err
	}
	return f.startErr
}

func (f *fakeBackend) ContainerStop(_ context.Context, name, signal string, timeout *int) error {
	f.mu.Lock()
	f.lastStop = timeout
	f.mu.Unlock()
	return missing(name)
}

func (f *fakeBackend) ContainerRestart(_ context.Context, name, signal string, timeout *int) error {
	return missing(name)
}

func (f *fakeBackend) ContainerKill(_ context.Context, name, signal string) error {
	f.record("kill %s %s", name, signal)
	return missing(name)
}

func (f *fakeBackend) ContainerRemove(_ context.Context, name string, force, removeVolumes bool) error {
	f.record("rm %s force=%v v=%v", name, force, removeVolumes)
	return missing(name)
}

func (f *fakeBackend) ContainerRemoveLink(_ context.Context, name string) error {
	f.record("rm link %s", name)
	return missing(name)
}

func (f *fakeBackend) ContainerInspect(_ context.Context, name string, size bool) (*engine.ContainerInspectResult, error) {
	if err := missing(name); err != nil {
		return nil, err
	}
	return &engine.ContainerInspectResult{InspectResponse: &container.InspectResponse{ID: strings.Repeat("c", 64), Name: "/" + name, Config: &container.Config{}}}, nil
}

func (f *fakeBackend) ContainerList(_ context.Context, opts engine.ContainerListOptions) ([]container.Summary, error) {
	f.mu.Lock()
	f.lastList = opts
	f.mu.Unlock()
	return []container.Summary{{
		ID:      strings.Repeat("a", 64),
		Names:   []string{"/web1"},
		Image:   "busybox",
		Command: "sleep 100",
		Created: time.Now().Add(-time.Minute).Unix(),
		State:   container.StateRunning,
		Status:  "Up About a minute",
	}}, nil
}

func (f *fakeBackend) ContainerWait(_ context.Context, name string, cond container.WaitCondition) (<-chan container.WaitResponse, error) {
	if err := missing(name); err != nil {
		return nil, err
	}
	f.record("wait %s %s", name, cond)
	return f.waitCh, nil
}

// ContainerAttach echoes the whole of stdin back only after the client's
// half-close, which proves output still flows after stdin EOF.
func (f *fakeBackend) ContainerAttach(_ context.Context, name string, cfg *engine.StreamConfig) error {
	if err := missing(name); err != nil {
		return err
	}
	stdin, stdout, stderr, err := cfg.GetStreams(name != "tty")
	if err != nil {
		return err
	}
	in, err := io.ReadAll(stdin)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "got:%s", in)
	fmt.Fprint(stderr, "bye\n")
	return nil
}

func (f *fakeBackend) ContainerResize(_ context.Context, name string, h, w uint) error {
	f.record("resize %s %dx%d", name, h, w)
	return missing(name)
}

func (f *fakeBackend) ContainerLogs(_ context.Context, name string, opts engine.LogsOptions) (<-chan engine.LogMessage, bool, error) {
	if err := missing(name); err != nil {
		return nil, false, err
	}
	ch := make(chan engine.LogMessage, len(f.logs))
	for _, m := range f.logs {
		ch <- m
	}
	close(ch)
	return ch, f.logsTTY, nil
}

func (f *fakeBackend) ContainerTop(context.Context, string, string) (*container.TopResponse, error) {
	return &container.TopResponse{Titles: []string{"PID"}, Processes: [][]string{{"1"}}}, nil
}
func (f *fakeBackend) ContainerRename(_ context.Context, name, newName string) error {
	return missing(name)
}
func (f *fakeBackend) ContainerPause(_ context.Context, name string) error {
	return errdefs.Conflictf("Container %s is not running", name)
}
func (f *fakeBackend) ContainerUnpause(_ context.Context, name string) error { return missing(name) }
func (f *fakeBackend) ContainerUpdate(context.Context, string, *container.UpdateConfig) (*container.UpdateResponse, error) {
	return &container.UpdateResponse{}, nil
}
func (f *fakeBackend) ContainerChanges(context.Context, string) ([]container.FilesystemChange, error) {
	return nil, nil
}
func (f *fakeBackend) ContainerExport(_ context.Context, name string, w io.Writer) error {
	if err := missing(name); err != nil {
		return err
	}
	_, err := io.WriteString(w, "tar-bytes")
	return err
}

func (f *fakeBackend) ContainerStats(ctx context.Context, name string, stream, oneShot bool, emit func(*container.StatsResponse) error) error {
	if err := missing(name); err != nil {
		return err
	}
	for i := range 3 {
		if err := emit(&container.StatsResponse{ID: name, NumProcs: uint32(i)}); err != nil {
			return err
		}
		if !stream {
			return nil
		}
	}
	return nil
}

func (f *fakeBackend) ContainerStatPath(_ context.Context, name, path string) (*container.PathStat, error) {
	if err := missing(name); err != nil {
		return nil, err
	}
	return &container.PathStat{Name: "a.txt", Size: 3, Mode: 0o644}, nil
}

func (f *fakeBackend) ContainerArchive(ctx context.Context, name, path string) (io.ReadCloser, *container.PathStat, error) {
	st, err := f.ContainerStatPath(ctx, name, path)
	if err != nil {
		return nil, nil, err
	}
	return io.NopCloser(strings.NewReader("tar")), st, nil
}

func (f *fakeBackend) ContainerExtract(_ context.Context, name string, opts engine.ArchiveOptions, content io.Reader) error {
	b, _ := io.ReadAll(content)
	f.record("extract %s %s noOverwrite=%v %s", name, opts.Path, opts.NoOverwriteDirNonDir, b)
	return missing(name)
}

func (f *fakeBackend) ContainersPrune(context.Context, filters.Args) (*container.PruneReport, error) {
	return &container.PruneReport{}, nil
}

func (f *fakeBackend) ContainerCommit(_ context.Context, opts engine.CommitOptions) (string, error) {
	f.record("commit %s %s:%s pause=%v changes=%q", opts.Container, opts.Repo, opts.Tag, opts.Pause, opts.Changes)
	return "sha256:" + strings.Repeat("d", 64), nil
}

func (f *fakeBackend) ExecCreate(_ context.Context, name string, req *container.ExecCreateRequest) (string, error) {
	return strings.Repeat("e", 64), missing(name)
}

func (f *fakeBackend) ExecStart(_ context.Context, id string, req *container.ExecStartRequest, cfg *engine.StreamConfig) error {
	if id == "missing" {
		return errdefs.NotFoundf("No such exec instance: %s", id)
	}
	if req.Detach {
		f.record("exec-detach %s", id)
		return nil
	}
	_, stdout, _, err := cfg.GetStreams(!req.Tty)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, "exec-out\n")
	return err
}

func (f *fakeBackend) ExecInspect(context.Context, string) (*container.ExecInspectResponse, error) {
	code := 3
	return &container.ExecInspectResponse{ExitCode: &code}, nil
}
func (f *fakeBackend) ExecResize(context.Context, string, uint, uint) error { return nil }

func (f *fakeBackend) ImageList(context.Context, engine.ImageListOptions) ([]image.Summary, error) {
	return nil, nil
}

func (f *fakeBackend) ImageSearch(context.Context, string, int, filters.Args, string) ([]registry.SearchResult, error) {
	return nil, nil
}

func (f *fakeBackend) ImageInspect(_ context.Context, name string) (*image.InspectResponse, error) {
	f.mu.Lock()
	f.lastImage = name
	f.mu.Unlock()
	if name == "noconfig" {
		return &image.InspectResponse{ID: "sha256:" + strings.Repeat("1", 64)}, nil
	}
	return &image.InspectResponse{
		ID:   "sha256:" + strings.Repeat("1", 64),
		Size: 1234,
		Config: &dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{
			Cmd:     []string{"sh"},
			Volumes: map[string]struct{}{"/data": {}},
		}},
	}, nil
}

func (f *fakeBackend) ImageHistory(context.Context, string) ([]image.HistoryResponseItem, error) {
	return nil, nil
}

func (f *fakeBackend) ImageTag(_ context.Context, src, repo, tag string) error {
	f.mu.Lock()
	f.lastTag = [3]string{src, repo, tag}
	f.mu.Unlock()
	return nil
}

func (f *fakeBackend) ImageDelete(_ context.Context, name string, force, noPrune bool) ([]image.DeleteResponse, error) {
	f.mu.Lock()
	f.lastDel = name
	f.mu.Unlock()
	return []image.DeleteResponse{{Untagged: name}}, nil
}

func (f *fakeBackend) ImageImport(_ context.Context, opts engine.ImageImportOptions, body io.Reader, progress io.Writer) (string, error) {
	b, _ := io.ReadAll(body)
	if string(b) == "bad" {
		return "", errdefs.Invalidf("archive/tar: invalid tar header")
	}
	id := "sha256:" + strings.Repeat("5", 64)
	fmt.Fprintf(progress, "{\"status\":%q}\r\n", id)
	if string(b) == "fail-late" {
		return "", fmt.Errorf("tagging failed")
	}
	f.record("import %s %s %q", opts.Source, opts.Repo, opts.Changes)
	return id, nil
}

func (f *fakeBackend) ImagePull(_ context.Context, ref, tag, platform, auth string, progress io.Writer) error {
	if tag == "nope" {
		return errdefs.NotFoundf("manifest for %s:%s not found: manifest unknown: manifest unknown", ref, tag)
	}
	f.lastPull = [4]string{ref, tag, platform, auth}
	fmt.Fprintf(progress, "{\"status\":\"Pulling from %s\",\"id\":%q}\r\n", ref, tag)
	return nil
}

func (f *fakeBackend) ImageLoad(_ context.Context, body io.Reader, quiet bool, progress io.Writer) error {
	fmt.Fprintf(progress, "{\"stream\":\"Loaded image: busybox:latest\\n\"}\r\n")
	return nil
}

func (f *fakeBackend) ImageSave(_ context.Context, names []string, w io.Writer) error {
	_, err := io.WriteString(w, strings.Join(names, ","))
	return err
}

func (f *fakeBackend) ImagesPrune(context.Context, filters.Args) (*image.PruneReport, error) {
	return &image.PruneReport{}, nil
}

// ImagePush: the fake has no registry, so push answers 501.
func (f *fakeBackend) ImagePush(context.Context, string, string, string, io.Writer) error {
	return errdefs.NotImplemented(errors.New("image push is not implemented"))
}

func (f *fakeBackend) DistributionInspect(context.Context, string, string) (*registry.DistributionInspect, error) {
	return nil, errdefs.NotImplemented(errors.New("distribution inspect is not implemented"))
}

// backends hands the fake to the server as every required backend; the
// optional ones (networks, volumes, auth, build) stay out.
func (f *fakeBackend) backends() Backends {
	return Backends{System: f, Containers: f, Exec: f, Images: f}
}
