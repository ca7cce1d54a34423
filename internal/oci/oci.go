// Package oci builds the OCI runtime spec for a container from Docker's
// Config and HostConfig, the way dockerd does.
//
// Generate starts from a fixed base (Docker's default mounts, namespaces and
// capability set) and applies small SpecOpt functions, one per area:
// namespaces, mounts, capabilities, security (seccomp, masked paths),
// resources and the process. The order matters in one place only: seccomp
// runs after capabilities because Docker's default profile allows some
// syscalls only when the matching capability is granted.
package oci

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Input is what the daemon knows about a container when it starts it.
type Input struct {
	ID     string
	Rootfs string // absolute path of the mounted rootfs
	// Config is the effective config (image config merged with the create
	// request by the daemon).
	Config     *container.Config
	HostConfig *container.HostConfig
	Args       []string // argv (entrypoint+cmd resolved by the daemon)
	// HostnamePath, HostsPath and ResolvConfPath are bind-mounted at
	// /etc/hostname, /etc/hosts and /etc/resolv.conf; like Docker they are
	// read-only only when the root filesystem is. Empty paths are skipped.
	HostnamePath, HostsPath, ResolvConfPath string
	// NetNS, PidNS, IpcNS and UtsNS: "" = a new namespace, "host" = the
	// host's, anything else is a path such as /proc/123/ns/net to join.
	NetNS               string
	PidNS, IpcNS, UtsNS string
	CgroupsPath         string // e.g. "/berth-<hash>/<id>"
	// Mounts come from ParseMounts; volume mounts must have Source filled in
	// by the daemon before Generate is called.
	Mounts []container.MountPoint
	// InitPath is the host's init binary (docker-init or tini-static),
	// bind-mounted for HostConfig.Init.
	InitPath string
}

// SpecOpt changes one area of the spec.
type SpecOpt func(ctx context.Context, s *specs.Spec, in *Input) error

// Generate returns the runtime spec for in.
func Generate(ctx context.Context, in *Input) (*specs.Spec, error) {
	if in == nil || in.Config == nil || in.HostConfig == nil {
		return nil, fmt.Errorf("oci: incomplete input")
	}
	s := baseSpec(in)
	opts := []SpecOpt{
		WithNamespaces,
		WithHostname,
		WithDefaultMounts,
		WithUserMounts,
		WithCapabilities,
		WithSecurity,
		WithResources,
		WithDevices,
		WithProcess,
		WithInit,
	}
	for _, o := range opts {
		if err := o(ctx, s, in); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SpecVersion is the ociVersion written into bundles.
const SpecVersion = "1.1.0"

// baseSpec is the part of the spec that does not depend on options.
func baseSpec(in *Input) *specs.Spec {
	return &specs.Spec{
		// The newest version both runtimes accept: crun 1.8.1 refuses
		// "unknown version" 1.2 and later; the fields we use are 1.1's.
		Version: SpecVersion,
		Root: &specs.Root{
			Path:     in.Rootfs,
			Readonly: in.HostConfig.ReadonlyRootfs,
		},
		Process: &specs.Process{
			Cwd: "/",
		},
		Annotations: copyMap(in.HostConfig.Annotations),
		Linux: &specs.Linux{
			CgroupsPath: in.CgroupsPath,
			Resources:   &specs.LinuxResources{},
		},
	}
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
