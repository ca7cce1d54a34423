package oci

import (
	"context"

	"github.com/berth-project/berth/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// InitDestination is where Docker puts its init inside the container.
const InitDestination = "/sbin/docker-init"

// WithInit runs the process under a small init (tini, as docker-init) for
// --init: it reaps zombies and forwards signals, so a process that ignores
// SIGTERM as PID 1 still stops at once. The binary is bind-mounted
// read-only from the host like dockerd does.
func WithInit(_ context.Context, s *specs.Spec, in *Input) error {
	hc := in.HostConfig
	if hc.Init == nil || !*hc.Init {
		return nil
	}
	if in.InitPath == "" {
		return errdefs.Invalidf("--init: no docker-init or tini binary found on the host (apt-get install tini)")
	}
	s.Mounts = append(s.Mounts, specs.Mount{Destination: InitDestination, Type: "bind", Source: in.InitPath,
		Options: []string{"bind", "ro", "rprivate"}})
	s.Process.Args = append([]string{InitDestination, "--"}, s.Process.Args...)
	return nil
}
