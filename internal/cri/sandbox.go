package cri

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/atomicfile"
	"github.com/berth-project/berth/internal/cni"
	"github.com/berth-project/berth/internal/etcfiles"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// RunPodSandbox pins the pod's namespaces, writes its /etc files and
// attaches its network through CNI. Whatever step fails, everything done
// before it is undone: no netns, veth, IP, record or directory is left.
func (s *Server) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (resp *runtimeapi.RunPodSandboxResponse, err error) {
	cfg := req.GetConfig()
	if err := validateSandboxConfig(cfg); err != nil {
		return nil, err
	}
	switch req.GetRuntimeHandler() {
	case "", RuntimeName, "runc", "crun":
	default:
		return nil, notFoundf("runtime_handler: no runtime handler %q (berth has \"\", %q, \"runc\" and \"crun\")", req.GetRuntimeHandler(), RuntimeName)
	}
	ctx = context.WithoutCancel(ctx) // a kubelet that gives up must not leave half a pod
	id := newID()
	name := sandboxName(cfg.GetMetadata())
	if other, ok := s.sandboxes.reserve(name, id); !ok {
		return nil, status.Errorf(codes.AlreadyExists, "metadata: a pod sandbox named %q already exists (%s)", name, other)
	}
	defer func() {
		if err != nil {
			s.sandboxes.release(name, id)
		}
	}()
	unlock := s.lockPod(id)
	defer unlock()

	raw, err := proto.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	sb := &sandbox{
		ID: id, Config: raw, cfg: cfg, Created: time.Now().UnixNano(),
		State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY, RuntimeHandler: req.GetRuntimeHandler(),
		dir: filepath.Join(s.sandboxes.dir, id),
	}
	if err := os.MkdirAll(sb.dir, 0o711); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(sb.dir)
		}
	}()
	nsOpts := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	hostNet := nsOpts.GetNetwork() == runtimeapi.NamespaceMode_NODE
	hostname := cfg.GetHostname()
	if hostNet {
		hostname, _ = os.Hostname()
	}
	var kinds []string
	sb.NetNS, sb.IpcNS, sb.UtsNS = "host", "host", "host"
	if !hostNet {
		// A pod on the host's network shares its UTS namespace too, as
		// with every Kubernetes runtime.
		kinds = append(kinds, "net", "uts")
	}
	if nsOpts.GetIpc() != runtimeapi.NamespaceMode_NODE {
		kinds = append(kinds, "ipc")
	}
	nsDir := filepath.Join(s.opts.RunDir, "ns", id)
	t0 := time.Now()
	paths, err := pinNamespaces(nsDir, kinds, hostname)
	if err != nil {
		return nil, fmt.Errorf("pod namespaces: %w", err)
	}
	defer func() {
		if err != nil {
			unpinNamespaces(nsDir)
		}
	}()
	if p, ok := paths["net"]; ok {
		sb.NetNS = p
	}
	if p, ok := paths["uts"]; ok {
		sb.UtsNS = p
	}
	if p, ok := paths["ipc"]; ok {
		sb.IpcNS = p
	}
	tPin := time.Now()
	// CNI ADD is most of a pod's start (a process per plugin, the bridge
	// plugin's iptables commands): the pause process, the files that do
	// not need the pod's IPs and the pod's durable record are made
	// meanwhile.
	type sideResult struct {
		pausePid int
		err      error
	}
	side := make(chan sideResult, 1)
	go func() {
		var r sideResult
		if nsOpts.GetPid() == runtimeapi.NamespaceMode_POD {
			if r.pausePid, r.err = startPause(s.opts.PausePath); r.err != nil {
				side <- r
				return
			}
		}
		if r.err = writePodFiles(sb, hostname); r.err != nil {
			side <- r
			return
		}
		r.err = writeIntent(sb, r.pausePid, !hostNet)
		side <- r
	}()
	var ips []net.IP
	var cniErr error
	if !hostNet {
		ips, cniErr = s.cni.Setup(ctx, s.cniPod(sb))
	}
	tCNI := time.Now()
	sr := <-side
	sb.PausePid = sr.pausePid
	defer func() {
		if err != nil {
			stopPause(sb.PausePid)
		}
	}()
	if cniErr != nil {
		return nil, status.Errorf(codes.Unknown, "failed to set up pod network: %v", cniErr)
	}
	if !hostNet {
		sb.NetworkUp = true
		defer func() {
			if err != nil {
				s.cni.Teardown(ctx, s.cniPod(sb))
			}
		}()
		for _, ip := range ips {
			sb.IPs = append(sb.IPs, ip.String())
		}
	}
	if sr.err != nil {
		return nil, sr.err
	}
	if !hostNet {
		if err := etcfiles.WriteHosts(sb.hostsPath(), hostname, "", sb.IPs, nil); err != nil {
			return nil, err
		}
	}
	tFiles := time.Now()
	defer func() {
		if err == nil {
			s.log.Debug("pod sandbox timing", "id", id[:12], "namespaces", tPin.Sub(t0), "network", tCNI.Sub(tPin),
				"files", tFiles.Sub(tCNI), "save", time.Since(tFiles))
		}
	}()
	sb.State = runtimeapi.PodSandboxState_SANDBOX_READY
	// No fsync: the intent record is durable already, and READY and the
	// IPs only hold while the pod's namespaces do, which a machine crash
	// ends.
	if err := sb.saveNoSync(); err != nil {
		return nil, err
	}
	s.sandboxes.add(sb)
	s.eng.PodContainersSoon()
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: id}, nil
}

// writeIntent durably records a pod whose network is being set up, as
// NOTREADY with what a StopPodSandbox must undo (the namespaces, the
// pause process and, when withNetwork, a CNI DEL, which is idempotent).
// It runs while CNI ADD does, so the fsyncs are off the pod's start;
// a berthd or machine crash before RunPodSandbox returns then leaves a
// record the kubelet stops and removes, not an IP and namespaces that
// nothing names.
func writeIntent(sb *sandbox, pausePid int, withNetwork bool) error {
	rec := *sb
	rec.State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	rec.PausePid = pausePid
	rec.NetworkUp = withNetwork
	return rec.save()
}

func validateSandboxConfig(cfg *runtimeapi.PodSandboxConfig) error {
	if cfg == nil {
		return invalidf("config: a pod sandbox config is required")
	}
	md := cfg.GetMetadata()
	switch {
	case md == nil:
		return invalidf("config.metadata: required")
	case md.GetName() == "":
		return invalidf("config.metadata.name: required")
	case md.GetNamespace() == "":
		return invalidf("config.metadata.namespace: required")
	case md.GetUid() == "":
		return invalidf("config.metadata.uid: required")
	}
	nsOpts := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	if nsOpts.GetNetwork() == runtimeapi.NamespaceMode_NODE {
		for k := range cfg.GetLinux().GetSysctls() {
			if strings.HasPrefix(k, "net.") {
				return invalidf("config.linux.sysctls: %s cannot be set in the host's network namespace (host_network)", k)
			}
		}
	}
	if nsOpts.GetNetwork() == runtimeapi.NamespaceMode_TARGET || nsOpts.GetIpc() == runtimeapi.NamespaceMode_TARGET || nsOpts.GetPid() == runtimeapi.NamespaceMode_TARGET {
		return invalidf("config.linux.security_context.namespace_options: TARGET is only valid for a container's pid namespace")
	}
	if ur := nsOpts.GetUsernsOptions(); ur != nil && ur.GetMode() != runtimeapi.NamespaceMode_NODE {
		return status.Errorf(codes.Unimplemented, "config.linux.security_context.namespace_options.userns_options: user namespaces are not supported")
	}
	for _, pm := range cfg.GetPortMappings() {
		if pm.GetContainerPort() <= 0 || pm.GetContainerPort() > 65535 || pm.GetHostPort() < 0 || pm.GetHostPort() > 65535 {
			return invalidf("config.port_mappings: invalid port mapping %d:%d", pm.GetHostPort(), pm.GetContainerPort())
		}
	}
	if dns := cfg.GetDnsConfig(); dns != nil {
		for _, ip := range dns.GetServers() {
			if net.ParseIP(ip) == nil {
				return invalidf("config.dns_config.servers: %q is not an IP address", ip)
			}
		}
	}
	return nil
}

func (s *Server) cniPod(sb *sandbox) *cni.Pod {
	md := sb.cfg.GetMetadata()
	p := &cni.Pod{ID: sb.ID, NetNS: sb.NetNS, Name: md.GetName(), Namespace: md.GetNamespace(), UID: md.GetUid()}
	for _, pm := range sb.cfg.GetPortMappings() {
		if pm.GetHostPort() <= 0 {
			continue // only host ports need the portmap plugin
		}
		proto := strings.ToLower(pm.GetProtocol().String())
		p.Ports = append(p.Ports, cni.PortMapping{HostPort: pm.GetHostPort(), ContainerPort: pm.GetContainerPort(), Protocol: proto, HostIP: pm.GetHostIp()})
	}
	return p
}

// writePodFiles writes the hostname and resolv.conf every container of the
// pod bind-mounts, and the hosts file of a pod on the host's network (a
// pod with its own network gets its hosts file once its IPs are known).
// The kubelet may mount its own hosts. No fsync: the files are remade
// with the pod, and a machine crash ends the pod.
func writePodFiles(sb *sandbox, hostname string) error {
	if err := etcfiles.WriteHostname(sb.hostnamePath(), hostname); err != nil {
		return err
	}
	if sb.NetNS == "host" {
		b, err := os.ReadFile("/etc/hosts")
		if err != nil {
			return err
		}
		if err := atomicfile.WriteNoSync(sb.hostsPath(), b, 0o644); err != nil {
			return err
		}
	}
	dns := sb.cfg.GetDnsConfig()
	if dns == nil || (len(dns.GetServers()) == 0 && len(dns.GetSearches()) == 0 && len(dns.GetOptions()) == 0) {
		b, err := os.ReadFile("/etc/resolv.conf")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return atomicfile.WriteNoSync(sb.resolvConfPath(), b, 0o644)
	}
	var b strings.Builder
	if len(dns.GetSearches()) > 0 {
		b.WriteString("search " + strings.Join(dns.GetSearches(), " ") + "\n")
	}
	for _, s := range dns.GetServers() {
		b.WriteString("nameserver " + s + "\n")
	}
	if len(dns.GetOptions()) > 0 {
		b.WriteString("options " + strings.Join(dns.GetOptions(), " ") + "\n")
	}
	return atomicfile.WriteNoSync(sb.resolvConfPath(), []byte(b.String()), 0o644)
}

func (s *Server) getSandbox(id string) (*sandbox, error) {
	if id == "" {
		return nil, invalidf("pod_sandbox_id: required")
	}
	sb, err := s.sandboxes.get(id)
	if errors.Is(err, errAmbiguous) {
		return nil, invalidf("pod_sandbox_id: %q matches more than one pod sandbox", id)
	}
	if err != nil {
		return nil, notFoundf("pod sandbox %q not found", id)
	}
	return sb, nil
}

// StopPodSandbox stops the pod's containers and releases its network; the
// record stays (NOTREADY) until RemovePodSandbox. Unknown ids are fine.
func (s *Server) StopPodSandbox(ctx context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	sb, err := s.getSandbox(req.GetPodSandboxId())
	if status.Code(err) == codes.NotFound {
		return &runtimeapi.StopPodSandboxResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx)
	unlock := s.lockPod(sb.ID)
	defer unlock()
	if err := s.stopPod(ctx, sb); err != nil {
		return nil, grpcError(err)
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

func (s *Server) stopPod(ctx context.Context, sb *sandbox) error {
	ctrs, err := s.podContainers(ctx, sb.ID)
	if err != nil {
		return err
	}
	for _, c := range ctrs {
		// A created container's start may be prepared ahead, its init
		// waiting in the pod's namespaces: the stop drops that too.
		if c.State == "running" || c.State == "paused" || c.State == "created" {
			if err := s.stopContainer(ctx, c.ID, 0); err != nil {
				return fmt.Errorf("stop container %s: %w", c.ID, err)
			}
		}
	}
	if sb.NetworkUp {
		if err := s.cni.Teardown(ctx, s.cniPod(sb)); err != nil {
			return fmt.Errorf("failed to destroy pod network: %w", err)
		}
	}
	if err := unpinNamespaces(filepath.Join(s.opts.RunDir, "ns", sb.ID)); err != nil {
		return err
	}
	stopPause(sb.PausePid)
	return s.sandboxes.update(sb, func(sb *sandbox) {
		sb.State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
		sb.NetworkUp = false
		sb.PausePid = 0
	})
}

// RemovePodSandbox removes the pod's containers and everything the pod
// had. Unknown ids are fine.
func (s *Server) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	sb, err := s.getSandbox(req.GetPodSandboxId())
	if status.Code(err) == codes.NotFound {
		return &runtimeapi.RemovePodSandboxResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx)
	unlock := s.lockPod(sb.ID)
	defer unlock()
	if err := s.stopPod(ctx, sb); err != nil {
		return nil, grpcError(err)
	}
	ctrs, err := s.podContainers(ctx, sb.ID)
	if err != nil {
		return nil, grpcError(err)
	}
	for _, c := range ctrs {
		if err := s.eng.ContainerRemove(ctx, c.ID, true, false); err != nil && !isGone(err) {
			return nil, grpcError(fmt.Errorf("remove container %s: %w", c.ID, err))
		}
	}
	if err := os.RemoveAll(sb.dir); err != nil {
		return nil, grpcError(err)
	}
	s.sandboxes.remove(sb)
	s.podMu.Delete(sb.ID)
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

// PodSandboxStatus reports a pod's state, IPs and config.
func (s *Server) PodSandboxStatus(ctx context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	sb, err := s.getSandbox(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	v := s.sandboxes.view(sb)
	cfg := v.cfg
	st := &runtimeapi.PodSandboxStatus{
		Id:             v.ID,
		Metadata:       cfg.GetMetadata(),
		State:          v.State,
		CreatedAt:      v.Created,
		Labels:         cfg.GetLabels(),
		Annotations:    cfg.GetAnnotations(),
		RuntimeHandler: v.RuntimeHandler,
		Network:        &runtimeapi.PodSandboxNetworkStatus{},
		Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{
			Options: cfg.GetLinux().GetSecurityContext().GetNamespaceOptions(),
		}},
	}
	if len(v.IPs) > 0 && v.State == runtimeapi.PodSandboxState_SANDBOX_READY {
		st.Network.Ip = v.IPs[0]
		for _, ip := range v.IPs[1:] {
			st.Network.AdditionalIps = append(st.Network.AdditionalIps, &runtimeapi.PodIP{Ip: ip})
		}
	}
	resp := &runtimeapi.PodSandboxStatusResponse{Status: st}
	if req.GetVerbose() {
		resp.Info = map[string]string{"info": fmt.Sprintf(`{"pid":0,"netns":%q,"ipcns":%q,"utsns":%q,"runtimeHandler":%q,"sandbox":"pinned namespaces"}`,
			v.NetNS, v.IpcNS, v.UtsNS, v.RuntimeHandler)}
	}
	return resp, nil
}

// ListPodSandbox lists pods matching the filter (id prefix, state, labels).
func (s *Server) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	f := req.GetFilter()
	resp := &runtimeapi.ListPodSandboxResponse{Items: []*runtimeapi.PodSandbox{}}
	for _, sb := range s.sandboxes.list() {
		v := s.sandboxes.view(sb)
		if f != nil {
			if f.GetId() != "" && !strings.HasPrefix(v.ID, f.GetId()) {
				continue
			}
			if f.GetState() != nil && f.GetState().GetState() != v.State {
				continue
			}
			if !labelsMatch(f.GetLabelSelector(), v.cfg.GetLabels()) {
				continue
			}
		}
		resp.Items = append(resp.Items, &runtimeapi.PodSandbox{
			Id: v.ID, Metadata: v.cfg.GetMetadata(), State: v.State, CreatedAt: v.Created,
			Labels: v.cfg.GetLabels(), Annotations: v.cfg.GetAnnotations(), RuntimeHandler: v.RuntimeHandler,
		})
	}
	return resp, nil
}

func labelsMatch(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// startPause starts berth-pause as PID 1 of a new PID namespace, in its
// own session so it outlives a berthd restart like the containers do.
func startPause(path string) (int, error) {
	cmd := exec.Command(path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("pod PID namespace: %w", err)
	}
	go cmd.Wait()
	return cmd.Process.Pid, nil
}

// stopPause kills a pod's berth-pause, checking first that pid still is one.
func stopPause(pid int) {
	if pid <= 0 {
		return
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(b), "berth-pause") {
		return
	}
	syscall.Kill(pid, syscall.SIGKILL)
}
