package oci

import (
	"context"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// WithNamespaces sets the mount, pid, ipc, uts and network namespaces.
// The cgroup namespace is private only when asked for: on cgroup v1 hosts
// (this one is hybrid) Docker's default cgroupns mode is "host".
func WithNamespaces(_ context.Context, s *specs.Spec, in *Input) error {
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	for _, n := range []struct {
		t    specs.LinuxNamespaceType
		mode string
	}{
		{specs.NetworkNamespace, in.NetNS},
		{specs.PIDNamespace, in.PidNS},
		{specs.IPCNamespace, in.IpcNS},
		{specs.UTSNamespace, in.UtsNS},
	} {
		switch n.mode {
		case "host":
			// Sharing the host's namespace means not creating one.
		case "":
			ns = append(ns, specs.LinuxNamespace{Type: n.t})
		default:
			ns = append(ns, specs.LinuxNamespace{Type: n.t, Path: n.mode})
		}
	}
	if in.HostConfig.CgroupnsMode.IsPrivate() {
		ns = append(ns, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	s.Linux.Namespaces = ns
	return nil
}

// WithHostname sets the UTS hostname and domain name. A container sharing
// the host's UTS namespace must not set them: that would rename the host.
func WithHostname(_ context.Context, s *specs.Spec, in *Input) error {
	if in.UtsNS == "host" {
		return nil
	}
	if in.UtsNS == "" {
		s.Hostname = in.Config.Hostname
		s.Domainname = in.Config.Domainname
	}
	return nil
}
