package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// ServiceHash is the config-hash label: a digest of everything in the
// service that a container is made from. Keys that only steer Compose
// (scale, build, pull policy, depends_on, profiles) are left out, so
// changing them does not recreate containers.
func ServiceHash(s types.ServiceConfig) (string, error) {
	s.Build = nil
	s.PullPolicy = ""
	s.Scale = nil
	s.DependsOn = nil
	s.Profiles = nil
	if s.Deploy != nil {
		d := *s.Deploy
		d.Replicas = nil
		s.Deploy = &d
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("hash service %s: %w", s.Name, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// ContainerName is `<project>-<service>-<n>` unless container_name is set.
func ContainerName(p *types.Project, s types.ServiceConfig, n int) string {
	if s.ContainerName != "" {
		return s.ContainerName
	}
	return fmt.Sprintf("%s-%s-%d", p.Name, s.Name, n)
}

// ImageName is the service's image, or `<project>-<service>` for a service
// that is only built.
func ImageName(p *types.Project, s types.ServiceConfig) string {
	if s.Image != "" {
		return s.Image
	}
	return p.Name + "-" + s.Name
}

// resolver looks up the containers of other services, for links,
// volumes_from and network_mode: service:x.
type resolver func(service string) []string

// createSpec is one container to create: the request and the networks to
// connect after create (older APIs take one network at create time).
type createSpec struct {
	name  string
	req   container.CreateRequest
	extra map[string]*network.EndpointSettings
}

// buildSpec turns service s into the create request for container number n.
func buildSpec(p *types.Project, s types.ServiceConfig, n int, oneoff bool, hash string, others resolver) (*createSpec, error) {
	cfg := &container.Config{
		Image:       ImageName(p, s),
		Hostname:    s.Hostname,
		Domainname:  s.DomainName,
		User:        s.User,
		WorkingDir:  s.WorkingDir,
		Tty:         s.Tty,
		OpenStdin:   s.StdinOpen,
		StopSignal:  s.StopSignal,
		Env:         envList(s.Environment),
		Labels:      map[string]string{},
		AttachStdin: false,
	}
	if s.Command != nil {
		cfg.Cmd = []string(s.Command)
	}
	if s.Entrypoint != nil {
		cfg.Entrypoint = []string(s.Entrypoint)
	}
	if s.StopGracePeriod != nil {
		t := int(time.Duration(*s.StopGracePeriod).Seconds())
		cfg.StopTimeout = &t
	}
	if s.HealthCheck != nil {
		cfg.Healthcheck = healthConfig(s.HealthCheck)
	}
	for k, v := range s.Labels {
		cfg.Labels[k] = v
	}
	for k, v := range map[string]string{
		LabelProject: p.Name, LabelService: s.Name, LabelNumber: strconv.Itoa(n),
		LabelOneoff: capBool(oneoff), LabelConfigHash: hash, LabelVersion: ComposeVersion,
		LabelWorkingDir: workDirOr(p), LabelConfigFiles: strings.Join(p.ComposeFiles, ","),
		LabelDependsOn: dependsOnLabel(s),
	} {
		cfg.Labels[k] = v
	}
	hc, err := hostConfig(p, s, others)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", s.Name, err)
	}
	exposed, bindings, err := ports(s)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", s.Name, err)
	}
	cfg.ExposedPorts, hc.PortBindings = exposed, bindings
	cfg.Volumes = anonymousVolumes(s)
	spec := &createSpec{name: ContainerName(p, s, n)}
	if oneoff {
		spec.name = fmt.Sprintf("%s-%s-run-%s", p.Name, s.Name, randSuffix())
	}
	nc, extra, err := networking(p, s, hc)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", s.Name, err)
	}
	spec.req = container.CreateRequest{Config: cfg, HostConfig: hc, NetworkingConfig: nc}
	spec.extra = extra
	return spec, nil
}

func capBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// dependsOnLabel is docker compose's "svc:condition:restart" list.
func dependsOnLabel(s types.ServiceConfig) string {
	var out []string
	for name, d := range s.DependsOn {
		out = append(out, fmt.Sprintf("%s:%s:%t", name, d.Condition, d.Restart))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// envList turns the resolved environment into sorted K=V pairs; a variable
// with no value and none in the environment is left out, as Compose does.
func envList(m types.MappingWithEquals) []string {
	var out []string
	for k, v := range m {
		if v == nil {
			continue
		}
		out = append(out, k+"="+*v)
	}
	sort.Strings(out)
	return out
}

func healthConfig(h *types.HealthCheckConfig) *container.HealthConfig {
	if h.Disable {
		return &container.HealthConfig{Test: []string{"NONE"}}
	}
	hc := &container.HealthConfig{Test: h.Test}
	dur := func(d *types.Duration) time.Duration {
		if d == nil {
			return 0
		}
		return time.Duration(*d)
	}
	hc.Interval, hc.Timeout = dur(h.Interval), dur(h.Timeout)
	hc.StartPeriod, hc.StartInterval = dur(h.StartPeriod), dur(h.StartInterval)
	if h.Retries != nil {
		hc.Retries = int(*h.Retries)
	}
	return hc
}

func restartPolicy(s types.ServiceConfig) (container.RestartPolicy, error) {
	if s.Restart == "" && s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		rp := s.Deploy.RestartPolicy
		r := container.RestartPolicy{}
		switch rp.Condition {
		case "none":
			r.Name = container.RestartPolicyDisabled
		case "on-failure":
			r.Name = container.RestartPolicyOnFailure
		case "", "any":
			r.Name = container.RestartPolicyAlways
		default:
			return r, fmt.Errorf("invalid restart policy condition %q", rp.Condition)
		}
		if rp.MaxAttempts != nil {
			r.MaximumRetryCount = int(*rp.MaxAttempts)
		}
		return r, nil
	}
	name, count, _ := strings.Cut(s.Restart, ":")
	r := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	switch r.Name {
	case "", "no", "always", "unless-stopped", "on-failure":
	default:
		return r, fmt.Errorf("invalid restart policy %q", s.Restart)
	}
	if count != "" {
		n, err := strconv.Atoi(count)
		if err != nil {
			return r, fmt.Errorf("invalid restart policy %q", s.Restart)
		}
		r.MaximumRetryCount = n
	}
	return r, nil
}

func hostConfig(p *types.Project, s types.ServiceConfig, others resolver) (*container.HostConfig, error) {
	rp, err := restartPolicy(s)
	if err != nil {
		return nil, err
	}
	hc := &container.HostConfig{
		RestartPolicy:  rp,
		Init:           s.Init,
		Privileged:     s.Privileged,
		ReadonlyRootfs: s.ReadOnly,
		CapAdd:         s.CapAdd,
		CapDrop:        s.CapDrop,
		SecurityOpt:    s.SecurityOpt,
		DNSSearch:      s.DNSSearch,
		DNSOptions:     s.DNSOpts,
		ExtraHosts:     s.ExtraHosts.AsList(":"),
		GroupAdd:       s.GroupAdd,
		PidMode:        container.PidMode(s.Pid),
		IpcMode:        container.IpcMode(s.Ipc),
		ShmSize:        int64(s.ShmSize),
		Sysctls:        s.Sysctls,
		Runtime:        s.Runtime,
		CgroupnsMode:   container.CgroupnsMode(s.Cgroup),
		UTSMode:        container.UTSMode(s.Uts),
		OomScoreAdj:    int(s.OomScoreAdj),
	}
	for _, d := range s.DNS {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return nil, fmt.Errorf("invalid dns address %q", d)
		}
		hc.DNS = append(hc.DNS, a)
	}
	if s.Logging != nil {
		hc.LogConfig = container.LogConfig{Type: s.Logging.Driver, Config: s.Logging.Options}
	}
	resources(s, &hc.Resources)
	for _, t := range s.Tmpfs {
		if hc.Tmpfs == nil {
			hc.Tmpfs = map[string]string{}
		}
		path, opts, _ := strings.Cut(t, ":")
		hc.Tmpfs[path] = opts
	}
	if err := volumeBinds(p, s, hc); err != nil {
		return nil, err
	}
	for _, vf := range s.VolumesFrom {
		ref, mode, _ := strings.Cut(vf, ":")
		target := ""
		if c, ok := strings.CutPrefix(vf, "container:"); ok {
			ref, mode, _ = strings.Cut(c, ":")
			target = ref
		} else if cs := others(ref); len(cs) > 0 {
			target = cs[0]
		} else {
			return nil, fmt.Errorf("volumes_from: service %q has no container", ref)
		}
		if mode != "" {
			target += ":" + mode
		}
		hc.VolumesFrom = append(hc.VolumesFrom, target)
	}
	for _, l := range s.Links {
		svc, alias, ok := strings.Cut(l, ":")
		if !ok {
			alias = svc
		}
		for _, c := range others(svc) {
			hc.Links = append(hc.Links, c+":"+alias)
			if alias != c {
				hc.Links = append(hc.Links, c+":"+c)
			}
		}
	}
	for _, l := range s.ExternalLinks {
		if !strings.Contains(l, ":") {
			l += ":" + l
		}
		hc.Links = append(hc.Links, l)
	}
	if mode, ok := strings.CutPrefix(s.NetworkMode, "service:"); ok {
		cs := others(mode)
		if len(cs) == 0 {
			return nil, fmt.Errorf("network_mode: service %q has no container", mode)
		}
		hc.NetworkMode = container.NetworkMode("container:" + cs[0])
	}
	return hc, nil
}

// resources maps deploy.resources.limits and the legacy top-level keys.
func resources(s types.ServiceConfig, r *container.Resources) {
	r.Memory = int64(s.MemLimit)
	r.MemoryReservation = int64(s.MemReservation)
	r.MemorySwap = int64(s.MemSwapLimit)
	r.NanoCPUs = int64(float64(s.CPUS) * 1e9)
	r.CPUShares = s.CPUShares
	r.CPUQuota = s.CPUQuota
	r.CPUPeriod = s.CPUPeriod
	r.CpusetCpus = s.CPUSet
	if s.PidsLimit != 0 {
		pl := s.PidsLimit
		r.PidsLimit = &pl
	}
	for name, u := range s.Ulimits {
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		r.Ulimits = append(r.Ulimits, &container.Ulimit{Name: name, Soft: soft, Hard: hard})
	}
	if s.Deploy == nil || s.Deploy.Resources.Limits == nil {
		return
	}
	l := s.Deploy.Resources.Limits
	if l.MemoryBytes != 0 {
		r.Memory = int64(l.MemoryBytes)
	}
	if l.NanoCPUs != 0 {
		r.NanoCPUs = int64(float64(l.NanoCPUs.Value()) * 1e9)
	}
	if l.Pids != 0 {
		pl := l.Pids
		r.PidsLimit = &pl
	}
	if res := s.Deploy.Resources.Reservations; res != nil && res.MemoryBytes != 0 {
		r.MemoryReservation = int64(res.MemoryBytes)
	}
}

// volumeBinds maps volumes: named volumes and bind paths become Binds (a
// missing host directory is created, as docker-compose does), tmpfs mounts
// become Tmpfs; anonymous volumes go in Config.Volumes (anonymousVolumes).
func volumeBinds(p *types.Project, s types.ServiceConfig, hc *container.HostConfig) error {
	for _, v := range s.Volumes {
		mode := ""
		if v.ReadOnly {
			mode = "ro"
		}
		switch v.Type {
		case types.VolumeTypeVolume:
			if v.Source == "" {
				continue
			}
			src := v.Source
			if pv, ok := p.Volumes[v.Source]; ok {
				src = pv.Name
			}
			if v.Volume != nil && v.Volume.NoCopy {
				mode = strings.TrimPrefix(mode+",nocopy", ",")
			}
			hc.Binds = append(hc.Binds, joinBind(src, v.Target, mode))
		case types.VolumeTypeBind:
			if v.Bind != nil && v.Bind.Propagation != "" {
				mode = strings.TrimPrefix(mode+","+v.Bind.Propagation, ",")
			}
			hc.Binds = append(hc.Binds, joinBind(v.Source, v.Target, mode))
		case types.VolumeTypeTmpfs:
			if hc.Tmpfs == nil {
				hc.Tmpfs = map[string]string{}
			}
			opts := ""
			if v.Tmpfs != nil && v.Tmpfs.Size != 0 {
				opts = fmt.Sprintf("size=%d", int64(v.Tmpfs.Size))
			}
			hc.Tmpfs[v.Target] = opts
		default:
			return fmt.Errorf("volume type %q is not supported", v.Type)
		}
	}
	return nil
}

func joinBind(src, dst, mode string) string {
	if mode == "" {
		return src + ":" + dst
	}
	return src + ":" + dst + ":" + mode
}

func anonymousVolumes(s types.ServiceConfig) map[string]struct{} {
	var out map[string]struct{}
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source == "" {
			if out == nil {
				out = map[string]struct{}{}
			}
			out[v.Target] = struct{}{}
		}
	}
	return out
}
