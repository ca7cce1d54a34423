package cri

import (
	"context"
	"io"

	"github.com/berth-project/berth/internal/engine"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
)

// Engine is what the CRI front end needs of berthd's engine: the same
// container records, image store, monitors and runtime that serve the
// Engine API. Its shapes are the engine's contract (moby types and
// internal/engine's options).
type Engine interface {
	engine.PodBackend
	ContainerStart(ctx context.Context, name string) error
	ContainerStop(ctx context.Context, name, signal string, timeout *int) error
	ContainerRemove(ctx context.Context, name string, force, removeVolumes bool) error
	ContainerInspect(ctx context.Context, name string, size bool) (*container.InspectResponse, error)
	ContainerList(ctx context.Context, opts engine.ContainerListOptions) ([]container.Summary, error)
	ContainerUpdate(ctx context.Context, name string, cfg *container.UpdateConfig) (*container.UpdateResponse, error)
	ContainerStats(ctx context.Context, name string, stream, oneShot bool, emit func(*container.StatsResponse) error) error
	ContainerAttach(ctx context.Context, name string, cfg *engine.StreamConfig) error
	ContainerResize(ctx context.Context, name string, height, width uint) error

	ExecCreate(ctx context.Context, name string, req *container.ExecCreateRequest) (string, error)
	ExecStart(ctx context.Context, id string, req *container.ExecStartRequest, cfg *engine.StreamConfig) error
	ExecInspect(ctx context.Context, id string) (*container.ExecInspectResponse, error)
	ExecResize(ctx context.Context, id string, height, width uint) error

	ImageList(ctx context.Context, opts engine.ImageListOptions) ([]image.Summary, error)
	ImageInspect(ctx context.Context, name string) (*image.InspectResponse, error)
	// ImagePull pulls ref (name:tag or name@digest) through the engine's
	// distribution code; auth is an X-Registry-Auth value.
	ImagePull(ctx context.Context, ref, tag, platform string, auth string, progress io.Writer) error
	ImageDelete(ctx context.Context, name string, force, noPrune bool) ([]image.DeleteResponse, error)
	DiskUsage(ctx context.Context) (*engine.DiskUsage, error)
}
