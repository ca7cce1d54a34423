package daemon

import (
	"context"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/oci"
	"github.com/moby/moby/api/types/container"
)

// PodOptions is what a container of a Kubernetes pod needs beyond Docker's
// Config and HostConfig. The CRI front end owns the pod (its pinned
// namespaces, CNI network and /etc files) and hands each container the
// paths to join; the engine runs it like any other container, so `berth ps`,
// stats and exec see it.
type PodOptions struct {
	// NetNS, IpcNS, UtsNS and PidNS: "" = a new namespace, "host" = the
	// host's, or a path (a pinned namespace, /proc/<pid>/ns/...) to join.
	NetNS, IpcNS, UtsNS, PidNS string
	// HostnamePath, HostsPath and ResolvConfPath are the pod's files,
	// bind-mounted at /etc/hostname, /etc/hosts and /etc/resolv.conf.
	HostnamePath, HostsPath, ResolvConfPath string
	// LogPath is where the monitor writes the container's output in the
	// CRI log format; "" for none.
	LogPath string
}

func (p *PodOptions) apply(in *oci.Input) {
	in.NetNS, in.IpcNS, in.UtsNS, in.PidNS = p.NetNS, p.IpcNS, p.UtsNS, p.PidNS
	in.HostnamePath, in.HostsPath, in.ResolvConfPath = p.HostnamePath, p.HostsPath, p.ResolvConfPath
}

func (c *Container) logFormat() string {
	if c.Pod != nil {
		return "cri"
	}
	return ""
}

// ContainerCreatePod creates a container of a pod. req.HostConfig's
// NetworkMode must be "none": the pod's network is joined through pod.
func (d *Daemon) ContainerCreatePod(ctx context.Context, name string, req *container.CreateRequest, pod *PodOptions) (container.CreateResponse, error) {
	if pod == nil {
		return container.CreateResponse{}, errdefs.Invalidf("pod options missing")
	}
	if req.HostConfig == nil {
		req.HostConfig = &container.HostConfig{}
	}
	req.HostConfig.NetworkMode = "none"
	return d.createContainer(ctx, name, req, pod)
}

// ContainerReopenLog makes a running pod container's monitor reopen its
// log file after the kubelet rotated it.
func (d *Daemon) ContainerReopenLog(ctx context.Context, name string) error {
	c, err := d.containers.get(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	mon := c.mon
	running := c.running()
	c.mu.Unlock()
	if !running || mon == nil {
		return errdefs.Conflictf("container %s is not running", c.ID)
	}
	return mon.ReopenLog(ctx)
}
