package engine

import (
	"context"

	"github.com/moby/moby/api/types/container"
)

// PodBackend is what the CRI front end needs beyond the container and
// exec backends: containers that join a pod's namespaces and write the
// kubelet's log format.
type PodBackend interface {
	// ContainerCreatePod creates a container of a pod. req.HostConfig's
	// NetworkMode must be "none": the pod's network is joined through pod.
	ContainerCreatePod(ctx context.Context, name string, req *container.CreateRequest, pod *PodOptions) (container.CreateResponse, error)
	// ContainerReopenLog makes a running pod container's monitor reopen its
	// log file after the kubelet rotated it.
	ContainerReopenLog(ctx context.Context, name string) error
	// PodContainersSoon says a pod is ready and its containers will be
	// created and started next: the engine may get what their starts need
	// (a monitor process) ready meanwhile. It does not block.
	PodContainersSoon()
}

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

// BuildStepBackend creates the containers of build RUN steps that the
// build removes when the step ends: marked so, a container that a crash of
// the daemon left half way through a step is removed when it starts again.
type BuildStepBackend interface {
	ContainerCreateBuildStep(ctx context.Context, req *container.CreateRequest) (container.CreateResponse, error)
}
