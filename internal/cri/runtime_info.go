package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RuntimeName is what Version reports; the kubelet shows it as the node's
// container runtime ("berth://<version>").
const RuntimeName = "berth"

// Version answers the CRI version and ours.
func (s *Server) Version(ctx context.Context, req *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{
		Version:           "0.1.0",
		RuntimeName:       RuntimeName,
		RuntimeVersion:    s.opts.RuntimeVersion,
		RuntimeApiVersion: "v1",
	}, nil
}

// Status reports RuntimeReady (the engine answers) and NetworkReady (a CNI
// config is present).
func (s *Server) Status(ctx context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	runtimeCond := &runtimeapi.RuntimeCondition{Type: runtimeapi.RuntimeReady, Status: true}
	if _, err := s.eng.DiskUsage(ctx); err != nil {
		runtimeCond.Status, runtimeCond.Reason, runtimeCond.Message = false, "EngineNotReady", err.Error()
	}
	netCond := &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Status: true}
	if err := s.cni.Ready(); err != nil {
		netCond.Status, netCond.Reason, netCond.Message = false, "NetworkPluginNotReady", "Network plugin returns error: "+err.Error()
	}
	resp := &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{runtimeCond, netCond}}}
	if req.GetVerbose() {
		resp.Info = map[string]string{"cniConfDir": s.cniConfDir(), "sandbox": "pinned namespaces, no infra process"}
	}
	return resp, nil
}

func (s *Server) cniConfDir() string {
	if s.opts.CNIConfDir != "" {
		return s.opts.CNIConfDir
	}
	return "/etc/cni/net.d"
}

// RuntimeConfig tells the kubelet which cgroup driver to use: berthd
// manages cgroups through cgroupfs (no systemd here).
func (s *Server) RuntimeConfig(ctx context.Context, req *runtimeapi.RuntimeConfigRequest) (*runtimeapi.RuntimeConfigResponse, error) {
	return &runtimeapi.RuntimeConfigResponse{Linux: &runtimeapi.LinuxRuntimeConfiguration{CgroupDriver: runtimeapi.CgroupDriver_CGROUPFS}}, nil
}

// UpdateRuntimeConfig takes the pod CIDR the kubelet sends; the CNI config
// carries the range here, so there is nothing to change.
func (s *Server) UpdateRuntimeConfig(ctx context.Context, req *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}
