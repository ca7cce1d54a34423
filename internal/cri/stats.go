package cri

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// containerStats samples one container's cgroup through the engine.
func (s *Server) containerStats(ctx context.Context, c container.Summary) *runtimeapi.ContainerStats {
	attrs := &runtimeapi.ContainerAttributes{Id: c.ID, Metadata: criMetadata(c.Labels), Labels: criLabels(c.Labels)}
	if full, err := s.eng.ContainerInspect(ctx, c.ID, false); err == nil {
		attrs.Annotations = full.HostConfig.Annotations
	}
	now := time.Now().UnixNano()
	cs := &runtimeapi.ContainerStats{
		Attributes:    attrs,
		Cpu:           &runtimeapi.CpuUsage{Timestamp: now, UsageCoreNanoSeconds: &runtimeapi.UInt64Value{}},
		Memory:        &runtimeapi.MemoryUsage{Timestamp: now, WorkingSetBytes: &runtimeapi.UInt64Value{}},
		WritableLayer: &runtimeapi.FilesystemUsage{Timestamp: now, FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: s.opts.DataRoot}, UsedBytes: &runtimeapi.UInt64Value{}, InodesUsed: &runtimeapi.UInt64Value{}},
	}
	if c.State != "running" {
		return cs
	}
	s.eng.ContainerStats(ctx, c.ID, false, true, func(st *container.StatsResponse) error {
		cs.Cpu.UsageCoreNanoSeconds.Value = st.CPUStats.CPUUsage.TotalUsage
		usage := st.MemoryStats.Usage
		// The kubelet's working set: usage less inactive file pages.
		if inactive, ok := st.MemoryStats.Stats["total_inactive_file"]; ok && inactive < usage {
			usage -= inactive
		} else if inactive, ok := st.MemoryStats.Stats["inactive_file"]; ok && inactive < usage {
			usage -= inactive
		}
		cs.Memory.WorkingSetBytes.Value = usage
		cs.Memory.UsageBytes = &runtimeapi.UInt64Value{Value: st.MemoryStats.Usage}
		if rss, ok := st.MemoryStats.Stats["total_rss"]; ok {
			cs.Memory.RssBytes = &runtimeapi.UInt64Value{Value: rss}
		}
		return nil
	})
	return cs
}

// ContainerStats reports one container's CPU, memory and writable layer.
func (s *Server) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	c, err := s.getContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	list, err := s.podContainers(ctx, c.Config.Labels[labelSandbox])
	if err != nil {
		return nil, grpcError(err)
	}
	for _, sc := range list {
		if sc.ID == c.ID {
			return &runtimeapi.ContainerStatsResponse{Stats: s.containerStats(ctx, sc)}, nil
		}
	}
	return nil, notFoundf("container %q not found", req.GetContainerId())
}

// ListContainerStats reports the stats of the containers matching the filter.
func (s *Server) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	f := req.GetFilter()
	lf := &runtimeapi.ContainerFilter{Id: f.GetId(), PodSandboxId: f.GetPodSandboxId(), LabelSelector: f.GetLabelSelector()}
	list, err := s.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: lf})
	if err != nil {
		return nil, err
	}
	all, err := s.podContainers(ctx, "")
	if err != nil {
		return nil, grpcError(err)
	}
	byID := map[string]container.Summary{}
	for _, c := range all {
		byID[c.ID] = c
	}
	resp := &runtimeapi.ListContainerStatsResponse{Stats: []*runtimeapi.ContainerStats{}}
	for _, c := range list.Containers {
		if sc, ok := byID[c.Id]; ok {
			resp.Stats = append(resp.Stats, s.containerStats(ctx, sc))
		}
	}
	return resp, nil
}

func (s *Server) podStats(ctx context.Context, sb *sandbox) (*runtimeapi.PodSandboxStats, error) {
	v := s.sandboxes.view(sb)
	ctrs, err := s.podContainers(ctx, v.ID)
	if err != nil {
		return nil, grpcError(err)
	}
	now := time.Now().UnixNano()
	ps := &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{Id: v.ID, Metadata: v.cfg.GetMetadata(), Labels: v.cfg.GetLabels(), Annotations: v.cfg.GetAnnotations()},
		Linux: &runtimeapi.LinuxPodSandboxStats{
			Cpu:    &runtimeapi.CpuUsage{Timestamp: now, UsageCoreNanoSeconds: &runtimeapi.UInt64Value{}},
			Memory: &runtimeapi.MemoryUsage{Timestamp: now, WorkingSetBytes: &runtimeapi.UInt64Value{}},
		},
	}
	for _, c := range ctrs {
		cs := s.containerStats(ctx, c)
		ps.Linux.Containers = append(ps.Linux.Containers, cs)
		ps.Linux.Cpu.UsageCoreNanoSeconds.Value += cs.Cpu.UsageCoreNanoSeconds.Value
		ps.Linux.Memory.WorkingSetBytes.Value += cs.Memory.WorkingSetBytes.Value
	}
	return ps, nil
}

// PodSandboxStats sums the pod's containers (a pod has no process of its own).
func (s *Server) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	sb, err := s.getSandbox(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	ps, err := s.podStats(ctx, sb)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: ps}, nil
}

// ListPodSandboxStats reports the stats of the pods matching the filter.
func (s *Server) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	f := req.GetFilter()
	resp := &runtimeapi.ListPodSandboxStatsResponse{Stats: []*runtimeapi.PodSandboxStats{}}
	for _, sb := range s.sandboxes.list() {
		if f.GetId() != "" && sb.ID != f.GetId() {
			continue
		}
		if !labelsMatch(f.GetLabelSelector(), sb.cfg.GetLabels()) {
			continue
		}
		ps, err := s.podStats(ctx, sb)
		if err != nil {
			return nil, err
		}
		resp.Stats = append(resp.Stats, ps)
	}
	return resp, nil
}
