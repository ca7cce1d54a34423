package daemon

import "github.com/berth-project/berth/internal/engine"

// The backends the daemon serves, checked at compile time: a signature that
// drifts from the contract fails the build instead of dropping routes.
// Images, builds, system, networks, volumes and the cluster are backends
// of their own under internal/backend.
var (
	_ engine.ContainerBackend = (*Daemon)(nil)
	_ engine.ExecBackend      = (*Daemon)(nil)
	_ engine.PodBackend       = (*Daemon)(nil)
)
