package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/volume"
)

// NetworkBackend serves /networks/...
type NetworkBackend interface {
	NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error)
	NetworkInspect(ctx context.Context, ref string) (*network.Inspect, error)
	// NetworkList applies filters driver, id, name, label, label!, type.
	NetworkList(ctx context.Context, f filters.Args) ([]network.Summary, error)
	// NetworkRemove refuses a network with running endpoints (Conflict) and
	// the predefined ones (Forbidden).
	NetworkRemove(ctx context.Context, ref string) error
	NetworksPrune(ctx context.Context, f filters.Args) (*network.PruneReport, error)
	NetworkConnect(ctx context.Context, ref string, req network.ConnectRequest) error
	NetworkDisconnect(ctx context.Context, ref string, req network.DisconnectRequest) error
}

// VolumeBackend serves /volumes/...
type VolumeBackend interface {
	VolumeCreate(ctx context.Context, req *volume.CreateRequest) (*volume.Volume, error)
	VolumeInspect(ctx context.Context, name string) (*volume.Volume, error)
	VolumeList(ctx context.Context, f filters.Args) (*volume.ListResponse, error)
	// VolumeRemove refuses a volume in use (Conflict); force only makes a
	// missing volume not an error.
	VolumeRemove(ctx context.Context, name string, force bool) error
	// VolumesPrune removes unused anonymous volumes, or all unused ones when
	// f has all=true.
	VolumesPrune(ctx context.Context, f filters.Args) (*volume.PruneReport, error)
}

// AuthBackend serves POST /auth (docker login).
type AuthBackend interface {
	// Login checks the credentials against the registry; the client
	// stores them, the daemon does not.
	Login(ctx context.Context, cfg *registry.AuthConfig) (*registry.AuthResponse, error)
}

// BuildBackend serves POST /build and POST /build/prune.
type BuildBackend interface {
	Build(ctx context.Context, opts BuildOptions, body io.Reader, out io.Writer) error
	BuildCachePrune(ctx context.Context, all bool, keep int64, f filters.Args) (*build.CachePruneReport, error)
}

// BuildOptions is one build request (POST /build's query and headers).
type BuildOptions struct {
	Tags        []string
	Dockerfile  string // path inside the context; "" means Dockerfile
	BuildArgs   map[string]*string
	Labels      map[string]string
	Target      string
	NoCache     bool
	Pull        bool
	Remove      bool // remove intermediate containers after a successful step
	ForceRemove bool
	Quiet       bool
	NetworkMode string
	Platform    string
	ExtraHosts  []string
	ShmSize     int64
	Resources   container.Resources
	CacheFrom   []string
	Remote      string // git or tarball URL to fetch the context from
	AuthConfigs map[string]registry.AuthConfig
}

// ExitError is a RUN step that exited non-zero. Docker's CLI exits with
// Code, so the API reports it in errorDetail.
type ExitError struct {
	Cmd  string
	Code int
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("The command '%s' returned a non-zero code: %d", e.Cmd, e.Code)
}
