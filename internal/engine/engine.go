// Package engine is the engine's contract: the backend interfaces every
// front end (the Engine API in internal/api, the CRI server, the swarm
// layer) calls, with their options, results and stream configuration. It
// holds types and interfaces only; internal/daemon implements them.
package engine

import (
	"context"
	"io"
	"time"

	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"
)

// Every method's error carries an errdefs class (NotFound, Invalid,
// Conflict, ...) whose message is Docker's own wording; a front end maps
// the class to its transport's status.

// SystemBackend serves /info, /version, /system/df and /events.
type SystemBackend interface {
	Info(ctx context.Context) (*system.Info, error)
	Version(ctx context.Context) system.VersionResponse
	DiskUsage(ctx context.Context) (*DiskUsage, error)
	// SubscribeEvents returns the stored events in [since, until] that match
	// f, then a channel of live ones (nil when until is in the past). cancel
	// releases the subscription.
	SubscribeEvents(ctx context.Context, since, until time.Time, f filters.Args) (past []events.Message, live <-chan events.Message, cancel func(), err error)
}

// DiskUsage is /system/df's body.
type DiskUsage struct {
	LayersSize int64
	Images     []image.Summary
	Containers []container.Summary
	Volumes    []any
	BuildCache []any
}

// StreamConfig is handed to the backend for attach and exec start. The
// backend validates its target first (so a 404 is still a plain HTTP error),
// then calls GetStreams exactly once to hijack the connection. multiplexed
// is true when the target has no TTY: stdout/stderr writers then stdcopy-frame.
type StreamConfig struct {
	GetStreams func(multiplexed bool) (stdin io.ReadCloser, stdout, stderr io.Writer, err error)
	UseStdin   bool
	UseStdout  bool
	UseStderr  bool
	Logs       bool   // replay the log before streaming (attach ?logs=1)
	Stream     bool   // stream live output (attach ?stream=1)
	DetachKeys string // e.g. "ctrl-p,ctrl-q"
}

// ContainerListOptions is GET /containers/json's query.
type ContainerListOptions struct {
	All     bool
	Limit   int
	Size    bool
	Filters filters.Args
}

// LogsOptions is GET /containers/{id}/logs's query.
type LogsOptions struct {
	Stdout, Stderr bool
	Follow         bool
	Timestamps     bool
	Tail           string // "all" or a number
	Since, Until   time.Time
}

// LogMessage is one line (or partial line) of container output.
type LogMessage struct {
	Stream string // "stdout" or "stderr"
	Line   []byte
	Time   time.Time
}

// ContainerInspectResult is GET /containers/{id}/json's answer: moby's
// response and what its current types no longer carry but dockerd 28
// still reports.
type ContainerInspectResult struct {
	*container.InspectResponse
	// MacAddress is the MAC address the container asked for on the
	// network of its network mode ("" for none): dockerd 28 reports it as
	// the container-wide Config.MacAddress at every API version, a field
	// moby's types dropped with API 1.52.
	MacAddress string
}

// CommitOptions is POST /commit's query and body.
type CommitOptions struct {
	Container string
	Repo, Tag string
	Comment   string
	Author    string
	Changes   []string
	Pause     bool
	Config    *container.Config
}

// ArchiveOptions is PUT /containers/{id}/archive's query.
type ArchiveOptions struct {
	Path                 string
	NoOverwriteDirNonDir bool
	CopyUIDGID           bool
}

// ContainerBackend serves /containers/... and /commit.
type ContainerBackend interface {
	ContainerCreate(ctx context.Context, name string, req *container.CreateRequest) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, name string) error
	ContainerStop(ctx context.Context, name, signal string, timeout *int) error
	ContainerRestart(ctx context.Context, name, signal string, timeout *int) error
	ContainerKill(ctx context.Context, name, signal string) error
	ContainerRemove(ctx context.Context, name string, force, removeVolumes bool) error
	// ContainerRemoveLink removes the legacy link named "/parent/alias".
	ContainerRemoveLink(ctx context.Context, name string) error
	ContainerInspect(ctx context.Context, name string, size bool) (*ContainerInspectResult, error)
	ContainerList(ctx context.Context, opts ContainerListOptions) ([]container.Summary, error)
	// ContainerWait registers the waiter before returning, so a wait opened
	// before start sees the first exit. The channel yields one response.
	ContainerWait(ctx context.Context, name string, cond container.WaitCondition) (<-chan container.WaitResponse, error)
	ContainerAttach(ctx context.Context, name string, cfg *StreamConfig) error
	ContainerResize(ctx context.Context, name string, height, width uint) error
	ContainerLogs(ctx context.Context, name string, opts LogsOptions) (msgs <-chan LogMessage, tty bool, err error)
	ContainerTop(ctx context.Context, name, psArgs string) (*container.TopResponse, error)
	ContainerRename(ctx context.Context, name, newName string) error
	ContainerPause(ctx context.Context, name string) error
	ContainerUnpause(ctx context.Context, name string) error
	ContainerUpdate(ctx context.Context, name string, cfg *container.UpdateConfig) (*container.UpdateResponse, error)
	ContainerChanges(ctx context.Context, name string) ([]container.FilesystemChange, error)
	ContainerExport(ctx context.Context, name string, w io.Writer) error
	// ContainerStats calls emit once (stream=false) or every second until ctx ends.
	ContainerStats(ctx context.Context, name string, stream, oneShot bool, emit func(*container.StatsResponse) error) error
	ContainerStatPath(ctx context.Context, name, path string) (*container.PathStat, error)
	ContainerArchive(ctx context.Context, name, path string) (io.ReadCloser, *container.PathStat, error)
	ContainerExtract(ctx context.Context, name string, opts ArchiveOptions, content io.Reader) error
	ContainersPrune(ctx context.Context, f filters.Args) (*container.PruneReport, error)
	ContainerCommit(ctx context.Context, opts CommitOptions) (string, error)
}

// ExecBackend serves /containers/{id}/exec and /exec/...
type ExecBackend interface {
	ExecCreate(ctx context.Context, name string, req *container.ExecCreateRequest) (string, error)
	ExecStart(ctx context.Context, id string, req *container.ExecStartRequest, cfg *StreamConfig) error
	ExecInspect(ctx context.Context, id string) (*container.ExecInspectResponse, error)
	ExecResize(ctx context.Context, id string, height, width uint) error
}

// ImageImportOptions is POST /images/create?fromSrc=...'s query.
type ImageImportOptions struct {
	Source   string // "-" (body) or an http(s) URL
	Repo     string // may carry ":tag"
	Tag      string
	Changes  []string
	Message  string
	Platform string
}

// ImageListOptions is GET /images/json's query.
type ImageListOptions struct {
	All        bool // intermediate images too
	SharedSize bool // fill in SharedSize (otherwise -1)
	Filters    filters.Args
}

// ImageBackend serves /images/...
type ImageBackend interface {
	ImageList(ctx context.Context, opts ImageListOptions) ([]image.Summary, error)
	// ImageInspect returns moby's InspectResponse; the API layer adds the
	// compat fields (ContainerConfig) that old clients read.
	ImageInspect(ctx context.Context, name string) (*image.InspectResponse, error)
	ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error)
	ImageTag(ctx context.Context, src, repo, tag string) error
	ImageDelete(ctx context.Context, name string, force, noPrune bool) ([]image.DeleteResponse, error)
	// ImageImport reads a rootfs tar from body (Source "-") or fetches Source,
	// and writes JSON progress messages to progress. Returns the image ID.
	ImageImport(ctx context.Context, opts ImageImportOptions, body io.Reader, progress io.Writer) (string, error)
	// ImageLoad reads a docker-archive (or OCI layout) tar and reports each
	// loaded image ("Loaded image: x") through progress as JSON messages.
	ImageLoad(ctx context.Context, body io.Reader, quiet bool, progress io.Writer) error
	ImageSave(ctx context.Context, names []string, w io.Writer) error
	// ImagePull fetches ref (with tag, which may be a digest) from its
	// registry. auth is the X-Registry-Auth header as sent. It writes
	// nothing to progress before the manifest is found, so a missing image
	// is still a plain HTTP error.
	ImagePull(ctx context.Context, ref, tag, platform string, auth string, progress io.Writer) error
	ImagesPrune(ctx context.Context, f filters.Args) (*image.PruneReport, error)
	// ImageSearch asks term's registry (Docker Hub unless term names one)
	// through its v1 search API; auth is the X-Registry-Auth header.
	ImageSearch(ctx context.Context, term string, limit int, f filters.Args, auth string) ([]registry.SearchResult, error)
	// ImagePush uploads name (tag, or every tag when tag is empty) to its
	// registry. auth is the X-Registry-Auth header as sent. Nothing is
	// written to progress before the local image is found.
	ImagePush(ctx context.Context, name, tag, auth string, progress io.Writer) error
	// DistributionInspect asks ref's registry for its manifest descriptor
	// and platforms without pulling (GET /distribution/{name}/json); auth
	// is the X-Registry-Auth header.
	DistributionInspect(ctx context.Context, ref, auth string) (*registry.DistributionInspect, error)
}
