package daemon

import (
	"context"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/oci"
	"github.com/moby/moby/api/types/container"
)

// applyPod points the spec at the pod's namespaces and /etc files.
func applyPod(p *engine.PodOptions, in *oci.Input) {
	in.NetNS, in.IpcNS, in.UtsNS, in.PidNS = p.NetNS, p.IpcNS, p.UtsNS, p.PidNS
	in.HostnamePath, in.HostsPath, in.ResolvConfPath = p.HostnamePath, p.HostsPath, p.ResolvConfPath
}

func (c *Container) logFormat() string {
	if c.Pod != nil {
		return "cri"
	}
	return ""
}

// ContainerCreatePod implements engine.PodBackend.
func (d *Daemon) ContainerCreatePod(ctx context.Context, name string, req *container.CreateRequest, pod *engine.PodOptions) (container.CreateResponse, error) {
	if pod == nil {
		return container.CreateResponse{}, errdefs.Invalidf("pod options missing")
	}
	if req.HostConfig == nil {
		req.HostConfig = &container.HostConfig{}
	}
	req.HostConfig.NetworkMode = "none"
	resp, err := d.createContainer(ctx, name, req, pod, false)
	if err != nil {
		return resp, err
	}
	// The kubelet starts what it creates right away: the start is
	// prepared meanwhile (prestart.go).
	if c, gerr := d.containers.get(resp.ID); gerr == nil {
		d.prestartAsync(c)
	}
	return resp, nil
}

// PodContainersSoon implements engine.PodBackend: a monitor supervisor
// starts now, while the kubelet (or crictl, a new process per call) gets
// to CreateContainer, instead of in the prepared start of the pod's first
// container, where its process start-up (a Go runtime: 5-30 ms of CPU
// here) is on the way to StartContainer. One nobody asks exits after its
// idle limit.
func (d *Daemon) PodContainersSoon() {
	d.monitors.Warm()
}

// ContainerReopenLog implements engine.PodBackend.
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
