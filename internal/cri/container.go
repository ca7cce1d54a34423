package cri

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels berthd adds to a pod container's engine record. They are the
// CRI's bookkeeping and are not shown back to the kubelet; the kubelet's
// own io.kubernetes.* labels are ordinary labels.
const (
	labelSandbox = "io.berth.cri.sandbox-id"
	labelName    = "io.berth.cri.name"
	labelAttempt = "io.berth.cri.attempt"
	labelImage   = "io.berth.cri.image"
	labelLogPath = "io.berth.cri.log-path"
	labelPrefix  = "io.berth.cri."
)

// CreateContainer creates a container in a ready pod. The engine record
// carries the CRI metadata as labels and the pod's namespaces as
// engine.PodOptions; nothing is created when a field is invalid.
func (s *Server) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	sb, err := s.getSandbox(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	cfg := req.GetConfig()
	if cfg == nil {
		return nil, invalidf("config: a container config is required")
	}
	if cfg.GetMetadata().GetName() == "" {
		return nil, invalidf("config.metadata.name: required")
	}
	if cfg.GetImage().GetImage() == "" {
		return nil, invalidf("config.image.image: required")
	}
	ctx = context.WithoutCancel(ctx)
	unlock := s.lockPod(sb.ID)
	defer unlock()
	v := s.sandboxes.view(sb)
	if v.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		return nil, status.Errorf(codes.FailedPrecondition, "pod_sandbox_id: pod sandbox %s is not ready", sb.ID)
	}
	img, err := s.eng.ImageInspect(ctx, cfg.GetImage().GetImage())
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, notFoundf("config.image.image: image %q not found", cfg.GetImage().GetImage())
		}
		return nil, grpcError(err)
	}
	creq, pod, err := s.translate(ctx, &v, cfg, img.ID)
	if err != nil {
		return nil, err
	}
	name := containerName(cfg.GetMetadata(), v.cfg.GetMetadata())
	if _, err := s.eng.ContainerInspect(ctx, name, false); err == nil {
		return nil, status.Errorf(codes.AlreadyExists, "config.metadata: a container named %q already exists in pod %s", cfg.GetMetadata().GetName(), sb.ID)
	}
	resp, err := s.eng.ContainerCreatePod(ctx, name, creq, pod)
	if err != nil {
		if errdefs.IsConflict(err) {
			return nil, status.Error(codes.AlreadyExists, err.Error())
		}
		return nil, grpcError(err)
	}
	return &runtimeapi.CreateContainerResponse{ContainerId: resp.ID}, nil
}

// containerName is the engine's name for a pod container (the shape
// dockershim used), unique per pod and attempt.
func containerName(c *runtimeapi.ContainerMetadata, p *runtimeapi.PodSandboxMetadata) string {
	return strings.Join([]string{"k8s", c.GetName(), p.GetName(), p.GetNamespace(), p.GetUid(), strconv.Itoa(int(c.GetAttempt()))}, "_")
}

// translate maps the CRI container config onto the engine's create
// request: the same fields `docker run` would set.
func (s *Server) translate(ctx context.Context, sb *sandbox, cfg *runtimeapi.ContainerConfig, imageID string) (*container.CreateRequest, *engine.PodOptions, error) {
	lin := cfg.GetLinux()
	sc := lin.GetSecurityContext()
	labels := map[string]string{}
	for k, v := range cfg.GetLabels() {
		if strings.HasPrefix(k, labelPrefix) {
			return nil, nil, invalidf("config.labels: %s is reserved", k)
		}
		labels[k] = v
	}
	logPath := ""
	if dir := sb.cfg.GetLogDirectory(); dir != "" && cfg.GetLogPath() != "" {
		logPath = filepath.Join(dir, cfg.GetLogPath())
		// The monitor creates the file, not its directory.
		if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
			return nil, nil, invalidf("config.log_path: %v", err)
		}
	}
	labels[labelSandbox] = sb.ID
	labels[labelName] = cfg.GetMetadata().GetName()
	labels[labelAttempt] = strconv.Itoa(int(cfg.GetMetadata().GetAttempt()))
	labels[labelImage] = cfg.GetImage().GetImage()
	if u := cfg.GetImage().GetUserSpecifiedImage(); u != "" {
		// The kubelet asks for the image by id and says what the pod named.
		labels[labelImage] = u
	}
	labels[labelLogPath] = logPath

	env := make([]string, 0, len(cfg.GetEnvs()))
	for _, kv := range cfg.GetEnvs() {
		if kv.GetKey() == "" {
			return nil, nil, invalidf("config.envs: a variable has no name")
		}
		env = append(env, kv.GetKey()+"="+string(kv.GetValue()))
	}
	user, err := userOf(sc)
	if err != nil {
		return nil, nil, err
	}
	hostname := sb.cfg.GetHostname()
	if sb.UtsNS == "host" {
		hostname = ""
	}
	c := &container.Config{
		Image:      imageID,
		Hostname:   hostname,
		User:       user,
		Env:        env,
		WorkingDir: cfg.GetWorkingDir(),
		Tty:        cfg.GetTty(),
		OpenStdin:  cfg.GetStdin(),
		StdinOnce:  cfg.GetStdinOnce(),
		Labels:     labels,
	}
	if len(cfg.GetCommand()) > 0 {
		c.Entrypoint = cfg.GetCommand()
	}
	if len(cfg.GetArgs()) > 0 {
		c.Cmd = cfg.GetArgs()
	}
	hc := &container.HostConfig{
		NetworkMode:    "none",
		Privileged:     sc.GetPrivileged(),
		CapAdd:         sc.GetCapabilities().GetAddCapabilities(),
		CapDrop:        sc.GetCapabilities().GetDropCapabilities(),
		ReadonlyRootfs: sc.GetReadonlyRootfs(),
		Sysctls:        sb.cfg.GetLinux().GetSysctls(),
		Annotations:    cfg.GetAnnotations(),
		Runtime:        runtimeFor(sb.RuntimeHandler),
	}
	hc.CgroupParent = sb.cfg.GetLinux().GetCgroupParent()
	if len(sc.GetCapabilities().GetAddAmbientCapabilities()) > 0 {
		return nil, nil, status.Error(codes.Unimplemented, "config.linux.security_context.capabilities.add_ambient_capabilities: not supported")
	}
	for _, g := range sc.GetSupplementalGroups() {
		hc.GroupAdd = append(hc.GroupAdd, strconv.FormatInt(g, 10))
	}
	if !sc.GetPrivileged() {
		// The kubelet sends the paths for the pod's procMount; an empty
		// list (Unmasked) means none.
		hc.MaskedPaths = nonNil(sc.GetMaskedPaths())
		hc.ReadonlyPaths = nonNil(sc.GetReadonlyPaths())
	}
	secOpts, err := seccompOpt(sc)
	if err != nil {
		return nil, nil, err
	}
	hc.SecurityOpt = secOpts
	if sc.GetNoNewPrivs() {
		hc.SecurityOpt = append(hc.SecurityOpt, "no-new-privileges")
	}
	if p := sc.GetApparmor(); p != nil && p.GetProfileType() == runtimeapi.SecurityProfile_Localhost {
		return nil, nil, status.Error(codes.Unimplemented, "config.linux.security_context.apparmor: AppArmor profiles are not supported")
	}
	if sc.GetSelinuxOptions() != nil && (sc.GetSelinuxOptions().GetType() != "" || sc.GetSelinuxOptions().GetLevel() != "") {
		return nil, nil, status.Error(codes.Unimplemented, "config.linux.security_context.selinux_options: SELinux is not supported")
	}
	if len(cfg.GetDevices()) > 0 {
		return nil, nil, status.Error(codes.Unimplemented, "config.devices: device mappings are not supported")
	}
	if len(cfg.GetCDIDevices()) > 0 {
		return nil, nil, status.Error(codes.Unimplemented, "config.cdi_devices: CDI devices are not supported")
	}
	if err := setResources(&hc.Resources, &hc.OomScoreAdj, lin.GetResources()); err != nil {
		return nil, nil, err
	}
	for i, m := range cfg.GetMounts() {
		bm, err := bindMount(m)
		if err != nil {
			return nil, nil, invalidf("config.mounts[%d]: %v", i, err)
		}
		hc.Mounts = append(hc.Mounts, bm)
		if m.GetPropagation() == runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL && hc.Runtime == "" {
			// On hybrid cgroup hosts crun runs in a mount namespace that
			// is a slave of the host's (bin/berth-crun), so mounts made in
			// the container could not reach the host: runc can.
			hc.Runtime = "runc"
		}
	}
	pod := &engine.PodOptions{
		NetNS: sb.NetNS, IpcNS: sb.IpcNS, UtsNS: sb.UtsNS,
		HostnamePath: sb.hostnamePath(), HostsPath: sb.hostsPath(), ResolvConfPath: sb.resolvConfPath(),
		LogPath: logPath,
	}
	pid, err := s.pidNamespace(ctx, sb, sc.GetNamespaceOptions())
	if err != nil {
		return nil, nil, err
	}
	pod.PidNS = pid
	if sb.IpcNS == "host" {
		hc.IpcMode = "host"
	}
	return &container.CreateRequest{Config: c, HostConfig: hc}, pod, nil
}

func runtimeFor(handler string) string {
	switch handler {
	case "runc", "crun":
		return handler
	}
	return "" // the daemon's default
}

// pidNamespace resolves the container's PID namespace: its own, the
// host's, the pod's (owned by the pod's berth-pause) or a target
// container's.
func (s *Server) pidNamespace(ctx context.Context, sb *sandbox, ns *runtimeapi.NamespaceOption) (string, error) {
	podNS := sb.cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	mode := ns.GetPid()
	if podNS.GetPid() == runtimeapi.NamespaceMode_NODE {
		mode = runtimeapi.NamespaceMode_NODE
	}
	switch mode {
	case runtimeapi.NamespaceMode_NODE:
		return "host", nil
	case runtimeapi.NamespaceMode_TARGET:
		t, err := s.eng.ContainerInspect(ctx, ns.GetTargetId(), false)
		if err != nil || t.State == nil || t.State.Pid == 0 {
			return "", status.Errorf(codes.NotFound, "config.linux.security_context.namespace_options.target_id: no running container %q", ns.GetTargetId())
		}
		return fmt.Sprintf("/proc/%d/ns/pid", t.State.Pid), nil
	case runtimeapi.NamespaceMode_POD:
		if sb.PausePid > 0 {
			return fmt.Sprintf("/proc/%d/ns/pid", sb.PausePid), nil
		}
		ctrs, err := s.podContainers(ctx, sb.ID)
		if err != nil {
			return "", grpcError(err)
		}
		for i := len(ctrs) - 1; i >= 0; i-- {
			if ctrs[i].State != "running" {
				continue
			}
			if t, err := s.eng.ContainerInspect(ctx, ctrs[i].ID, false); err == nil && t.State != nil && t.State.Pid > 0 {
				return fmt.Sprintf("/proc/%d/ns/pid", t.State.Pid), nil
			}
		}
	}
	return "", nil
}

func userOf(sc *runtimeapi.LinuxContainerSecurityContext) (string, error) {
	var user string
	switch {
	case sc.GetRunAsUser() != nil:
		user = strconv.FormatInt(sc.GetRunAsUser().GetValue(), 10)
	case sc.GetRunAsUsername() != "":
		user = sc.GetRunAsUsername()
	}
	if sc.GetRunAsGroup() != nil {
		if user == "" {
			return "", invalidf("config.linux.security_context.run_as_group: set without run_as_user or run_as_username")
		}
		user += ":" + strconv.FormatInt(sc.GetRunAsGroup().GetValue(), 10)
	}
	return user, nil
}

// seccompOpt maps the CRI profile to the engine's security option. No
// profile means unconfined in the CRI (the kubelet sends RuntimeDefault
// when the pod asks for it).
func seccompOpt(sc *runtimeapi.LinuxContainerSecurityContext) ([]string, error) {
	p := sc.GetSeccomp()
	if p == nil {
		switch path := sc.GetSeccompProfilePath(); {
		case path == "" || path == "unconfined":
			return []string{"seccomp=unconfined"}, nil
		case path == "runtime/default" || path == "docker/default":
			return nil, nil
		case strings.HasPrefix(path, "localhost/"):
			p = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: strings.TrimPrefix(path, "localhost/")}
		default:
			return nil, invalidf("config.linux.security_context.seccomp_profile_path: unknown profile %q", path)
		}
	}
	switch p.GetProfileType() {
	case runtimeapi.SecurityProfile_Unconfined:
		return []string{"seccomp=unconfined"}, nil
	case runtimeapi.SecurityProfile_RuntimeDefault:
		return nil, nil
	case runtimeapi.SecurityProfile_Localhost:
		ref := p.GetLocalhostRef()
		if !filepath.IsAbs(ref) {
			return nil, invalidf("config.linux.security_context.seccomp.localhost_ref: %q is not an absolute path", ref)
		}
		b, err := os.ReadFile(ref)
		if err != nil {
			return nil, invalidf("config.linux.security_context.seccomp.localhost_ref: %v", err)
		}
		return []string{"seccomp=" + string(b)}, nil
	}
	return nil, invalidf("config.linux.security_context.seccomp: unknown profile type %v", p.GetProfileType())
}

// setResources maps the CRI's Linux resources (the kubelet's view of
// requests and limits) onto the engine's.
func setResources(r *container.Resources, oom *int, lr *runtimeapi.LinuxContainerResources) error {
	if lr == nil {
		return nil
	}
	if lr.GetMemoryLimitInBytes() < 0 || lr.GetCpuQuota() < -1 || lr.GetCpuPeriod() < 0 || lr.GetCpuShares() < 0 {
		return invalidf("config.linux.resources: negative limit")
	}
	r.CPUPeriod = lr.GetCpuPeriod()
	r.CPUQuota = lr.GetCpuQuota()
	if r.CPUQuota == -1 {
		r.CPUQuota = 0
	}
	r.CPUShares = lr.GetCpuShares()
	r.Memory = lr.GetMemoryLimitInBytes()
	r.MemorySwap = lr.GetMemorySwapLimitInBytes()
	if r.Memory > 0 && r.MemorySwap == 0 {
		// No swap unless asked: the engine's Docker default would be
		// twice the memory limit.
		r.MemorySwap = r.Memory
	}
	r.CpusetCpus = lr.GetCpusetCpus()
	r.CpusetMems = lr.GetCpusetMems()
	*oom = restrictOOMScoreAdj(int(lr.GetOomScoreAdj()))
	return nil
}

// restrictOOMScoreAdj keeps the score at or above berthd's own: lowering
// it needs CAP_SYS_RESOURCE, which a sandboxed daemon may lack (the same
// choice as containerd's restrict_oom_score_adj).
func restrictOOMScoreAdj(v int) int {
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return v
	}
	cur, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err == nil && v < cur {
		return cur
	}
	return v
}

func bindMount(m *runtimeapi.Mount) (mount.Mount, error) {
	if m.GetContainerPath() == "" || !filepath.IsAbs(m.GetContainerPath()) {
		return mount.Mount{}, fmt.Errorf("container_path %q must be an absolute path", m.GetContainerPath())
	}
	if m.GetHostPath() == "" {
		return mount.Mount{}, errors.New("host_path is required")
	}
	if m.GetImage() != nil && m.GetImage().GetImage() != "" {
		return mount.Mount{}, status.Error(codes.Unimplemented, "image volumes are not supported")
	}
	if m.GetRecursiveReadOnly() {
		if !m.GetReadonly() {
			return mount.Mount{}, errors.New("recursive_read_only needs readonly")
		}
		if m.GetPropagation() != runtimeapi.MountPropagation_PROPAGATION_PRIVATE {
			return mount.Mount{}, errors.New("recursive_read_only needs private propagation")
		}
	}
	src := m.GetHostPath()
	if _, err := os.Lstat(src); errors.Is(err, os.ErrNotExist) {
		// As containerd: a missing host path is made a directory.
		if err := os.MkdirAll(src, 0o755); err != nil {
			return mount.Mount{}, err
		}
	}
	if r, err := filepath.EvalSymlinks(src); err == nil {
		src = r
	}
	bm := mount.Mount{Type: mount.TypeBind, Source: src, Target: m.GetContainerPath(), ReadOnly: m.GetReadonly(), BindOptions: &mount.BindOptions{}}
	switch m.GetPropagation() {
	case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
		bm.BindOptions.Propagation = mount.PropagationRSlave
	case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
		bm.BindOptions.Propagation = mount.PropagationRShared
	default:
		bm.BindOptions.Propagation = mount.PropagationRPrivate
	}
	return bm, nil
}

// StartContainer starts a created container.
func (s *Server) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	c, err := s.getContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if c.State.Status != container.StateCreated {
		return nil, status.Errorf(codes.FailedPrecondition, "container_id: container %s is %s, not created", c.ID, c.State.Status)
	}
	if err := s.eng.ContainerStart(context.WithoutCancel(ctx), c.ID); err != nil {
		return nil, grpcError(err)
	}
	return &runtimeapi.StartContainerResponse{}, nil
}

// StopContainer stops a container with SIGTERM (or its image's stop
// signal), then SIGKILL after timeout seconds. Stopped or unknown
// containers are fine.
func (s *Server) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	c, err := s.getContainer(ctx, req.GetContainerId())
	if status.Code(err) == codes.NotFound {
		return &runtimeapi.StopContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := s.stopContainer(context.WithoutCancel(ctx), c.ID, int(max(req.GetTimeout(), 0))); err != nil {
		return nil, grpcError(err)
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

// exitWait bounds how long a failed stop waits for the container's exit to
// be recorded before the failure counts.
var exitWait = 5 * time.Second

// stopContainer stops a container; one that is stopped or gone is fine. A
// stop can lose a race with the container's own end (the kubelet and a
// user, or the process exiting by itself): the runtime's kill then finds no
// process ("open pidfd: No such process") while the exit is not recorded
// yet. Such a failure waits for the exit and counts as done; the error
// stands only if the container still runs after exitWait.
func (s *Server) stopContainer(ctx context.Context, id string, timeout int) error {
	err := s.eng.ContainerStop(ctx, id, "", &timeout)
	if err == nil || isGone(err) {
		return nil
	}
	for deadline := time.Now().Add(exitWait); ; time.Sleep(20 * time.Millisecond) {
		c, ierr := s.eng.ContainerInspect(ctx, id, false)
		if errdefs.IsNotFound(ierr) || (ierr == nil && c.State != nil && !c.State.Running) {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// RemoveContainer removes a container, stopping it first if it runs.
func (s *Server) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	c, err := s.getContainer(ctx, req.GetContainerId())
	if status.Code(err) == codes.NotFound {
		return &runtimeapi.RemoveContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := s.eng.ContainerRemove(context.WithoutCancel(ctx), c.ID, true, false); err != nil && !errdefs.IsNotFound(err) {
		return nil, grpcError(err)
	}
	return &runtimeapi.RemoveContainerResponse{}, nil
}

// isGone reports errors that mean "already stopped or removed".
func isGone(err error) bool {
	return errdefs.IsNotFound(err) || errdefs.IsNotModified(err) ||
		(errdefs.IsConflict(err) && strings.Contains(err.Error(), "is not running"))
}

// getContainer inspects a pod container by id or unique id prefix.
func (s *Server) getContainer(ctx context.Context, id string) (*container.InspectResponse, error) {
	if id == "" {
		return nil, invalidf("container_id: required")
	}
	c, err := s.eng.ContainerInspect(ctx, id, false)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, notFoundf("container %q not found", id)
		}
		return nil, grpcError(err)
	}
	if c.Config == nil || c.Config.Labels[labelSandbox] == "" {
		// A plain Docker container is not the kubelet's to see.
		return nil, notFoundf("container %q not found", id)
	}
	return c, nil
}

// podContainers lists the engine's containers of one pod ("" = all pods).
func (s *Server) podContainers(ctx context.Context, sandboxID string) ([]container.Summary, error) {
	f := filters.Args{}
	if sandboxID != "" {
		f.Add("label", labelSandbox+"="+sandboxID)
	} else {
		f.Add("label", labelSandbox)
	}
	return s.eng.ContainerList(ctx, engine.ContainerListOptions{All: true, Filters: f})
}

func criState(st container.ContainerState) runtimeapi.ContainerState {
	switch st {
	case container.StateCreated:
		return runtimeapi.ContainerState_CONTAINER_CREATED
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		return runtimeapi.ContainerState_CONTAINER_RUNNING
	case container.StateExited, container.StateDead:
		return runtimeapi.ContainerState_CONTAINER_EXITED
	}
	return runtimeapi.ContainerState_CONTAINER_UNKNOWN
}

func criLabels(l map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range l {
		if !strings.HasPrefix(k, labelPrefix) {
			out[k] = v
		}
	}
	return out
}

func criMetadata(l map[string]string) *runtimeapi.ContainerMetadata {
	a, _ := strconv.Atoi(l[labelAttempt])
	return &runtimeapi.ContainerMetadata{Name: l[labelName], Attempt: uint32(a)}
}

// ListContainers lists pod containers matching the filter.
func (s *Server) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	list, err := s.podContainers(ctx, "")
	if err != nil {
		return nil, grpcError(err)
	}
	f := req.GetFilter()
	resp := &runtimeapi.ListContainersResponse{Containers: []*runtimeapi.Container{}}
	for i := len(list) - 1; i >= 0; i-- { // oldest first
		c := list[i]
		st := criState(container.ContainerState(c.State))
		if f != nil {
			if f.GetId() != "" && !strings.HasPrefix(c.ID, f.GetId()) {
				continue
			}
			if f.GetPodSandboxId() != "" && !strings.HasPrefix(c.Labels[labelSandbox], f.GetPodSandboxId()) {
				continue
			}
			if f.GetState() != nil && f.GetState().GetState() != st {
				continue
			}
			if !labelsMatch(f.GetLabelSelector(), c.Labels) {
				continue
			}
		}
		item := &runtimeapi.Container{
			Id: c.ID, PodSandboxId: c.Labels[labelSandbox], Metadata: criMetadata(c.Labels),
			Image: &runtimeapi.ImageSpec{Image: c.Labels[labelImage]}, ImageRef: c.ImageID, ImageId: c.ImageID,
			State: st, CreatedAt: c.Created * int64(time.Second), Labels: criLabels(c.Labels),
		}
		if full, err := s.eng.ContainerInspect(ctx, c.ID, false); err == nil {
			item.Annotations = full.HostConfig.Annotations
			if t, err := time.Parse(time.RFC3339Nano, full.Created); err == nil {
				item.CreatedAt = t.UnixNano()
			}
		}
		resp.Containers = append(resp.Containers, item)
	}
	return resp, nil
}

func parseTime(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return 0
	}
	return t.UnixNano()
}

// ContainerStatus reports a container's state, exit and mounts.
func (s *Server) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	c, err := s.getContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	st := criState(c.State.Status)
	cs := &runtimeapi.ContainerStatus{
		Id:          c.ID,
		Metadata:    criMetadata(c.Config.Labels),
		State:       st,
		CreatedAt:   parseTime(c.Created),
		Image:       &runtimeapi.ImageSpec{Image: c.Config.Labels[labelImage]},
		ImageRef:    c.Image,
		ImageId:     c.Image,
		Labels:      criLabels(c.Config.Labels),
		Annotations: c.HostConfig.Annotations,
		LogPath:     c.Config.Labels[labelLogPath],
		Resources: &runtimeapi.ContainerResources{Linux: &runtimeapi.LinuxContainerResources{
			CpuPeriod: c.HostConfig.CPUPeriod, CpuQuota: c.HostConfig.CPUQuota, CpuShares: c.HostConfig.CPUShares,
			MemoryLimitInBytes: c.HostConfig.Memory, OomScoreAdj: int64(c.HostConfig.OomScoreAdj),
			CpusetCpus: c.HostConfig.CpusetCpus, CpusetMems: c.HostConfig.CpusetMems, MemorySwapLimitInBytes: c.HostConfig.MemorySwap,
		}},
	}
	if st != runtimeapi.ContainerState_CONTAINER_CREATED {
		cs.StartedAt = parseTime(c.State.StartedAt)
	}
	if st == runtimeapi.ContainerState_CONTAINER_EXITED {
		cs.FinishedAt = parseTime(c.State.FinishedAt)
		cs.ExitCode = int32(c.State.ExitCode)
		switch {
		case c.State.OOMKilled:
			cs.Reason = "OOMKilled"
		case c.State.ExitCode == 0:
			cs.Reason = "Completed"
		default:
			cs.Reason = "Error"
		}
		cs.Message = c.State.Error
	}
	for _, m := range c.Mounts {
		cm := &runtimeapi.Mount{ContainerPath: m.Destination, HostPath: m.Source, Readonly: !m.RW}
		switch m.Propagation {
		case mount.PropagationRSlave, mount.PropagationSlave:
			cm.Propagation = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
		case mount.PropagationRShared, mount.PropagationShared:
			cm.Propagation = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
		}
		cs.Mounts = append(cs.Mounts, cm)
	}
	resp := &runtimeapi.ContainerStatusResponse{Status: cs}
	if req.GetVerbose() {
		resp.Info = map[string]string{"info": fmt.Sprintf(`{"pid":%d,"sandboxID":%q,"runtime":%q}`, c.State.Pid, c.Config.Labels[labelSandbox], c.HostConfig.Runtime)}
	}
	return resp, nil
}

// UpdateContainerResources changes a container's cgroup limits.
func (s *Server) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	c, err := s.getContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	var r container.Resources
	var oom int
	if err := setResources(&r, &oom, req.GetLinux()); err != nil {
		return nil, err
	}
	if _, err := s.eng.ContainerUpdate(ctx, c.ID, &container.UpdateConfig{Resources: r}); err != nil {
		return nil, grpcError(err)
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}

// ReopenContainerLog makes the container's monitor start a new log file
// at the same path (after the kubelet rotated the old one).
func (s *Server) ReopenContainerLog(ctx context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	c, err := s.getContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if c.State.Status != container.StateRunning {
		return nil, status.Errorf(codes.FailedPrecondition, "container_id: container %s is not running", c.ID)
	}
	if err := s.eng.ContainerReopenLog(ctx, c.ID); err != nil {
		return nil, grpcError(err)
	}
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}
