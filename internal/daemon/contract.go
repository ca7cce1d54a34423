package daemon

import "github.com/berth-project/berth/internal/engine"

// The backends the daemon serves, checked at compile time: a signature that
// drifts from the contract fails the build instead of dropping routes.
var (
	_ engine.SystemBackend    = (*Daemon)(nil)
	_ engine.ContainerBackend = (*Daemon)(nil)
	_ engine.ExecBackend      = (*Daemon)(nil)
	_ engine.ImageBackend     = (*Daemon)(nil)
	_ engine.AuthBackend      = (*Daemon)(nil)
	_ engine.BuildBackend     = (*Daemon)(nil)
	_ engine.PodBackend       = (*Daemon)(nil)
)
