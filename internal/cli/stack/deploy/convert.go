package deploy

import (
	"fmt"
	"math/big"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	stackcmd "github.com/berth-project/berth/internal/cli/stack"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

// labelImage keeps the image as written in the compose file.
const labelImage = "com.docker.stack.image"

// scope is a stack object's name: STACK_name.
func scope(stack, name string) string { return stack + "_" + name }

func withStack(stack string, labels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		out[k] = v
	}
	out[stackcmd.LabelNamespace] = stack
	return out
}

// networkName is the swarm name of a compose network: its name: key or
// STACK_key (compose-go fills name: with PROJECT_key already).
func networkName(stack, key string, nw types.NetworkConfig) string {
	if nw.Name != "" {
		return nw.Name
	}
	return scope(stack, key)
}

// fileObjectName is the swarm name of a compose secret or config.
func fileObjectName(stack, key string, o types.FileObjectConfig) string {
	if o.Name != "" {
		return o.Name
	}
	return scope(stack, key)
}

// unsupported are the service keys swarm mode ignores, as docker stack
// deploy reports them ("Ignoring unsupported options: ...").
func unsupported(p *types.Project) []string {
	seen := map[string]bool{}
	for _, s := range p.Services {
		for key, set := range map[string]bool{
			"build": s.Build != nil, "cgroup_parent": s.CgroupParent != "", "devices": len(s.Devices) > 0,
			"domainname": s.DomainName != "", "external_links": len(s.ExternalLinks) > 0, "ipc": s.Ipc != "",
			"links": len(s.Links) > 0, "mac_address": s.MacAddress != "", "network_mode": s.NetworkMode != "",
			"pid": s.Pid != "", "privileged": s.Privileged, "restart": s.Restart != "",
			"security_opt": len(s.SecurityOpt) > 0, "shm_size": s.ShmSize != 0, "userns_mode": s.UserNSMode != "",
		} {
			if set {
				seen[key] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// usedNetworks are the compose network keys the services attach to.
func usedNetworks(p *types.Project) map[string]bool {
	out := map[string]bool{}
	for _, s := range p.Services {
		if len(s.Networks) == 0 {
			out["default"] = true
		}
		for n := range s.Networks {
			out[n] = true
		}
	}
	return out
}

func parseCPUs(v types.NanoCPUs) int64 {
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(float64(v), 'f', -1, 32))
	if !ok {
		return 0
	}
	r.Mul(r, big.NewRat(1e9, 1))
	f, _ := r.Float64()
	return int64(f)
}

func durationPtr(d *types.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v := time.Duration(*d)
	return &v
}

// serviceSpec converts one compose service to a swarm service spec, as
// docker's compose converter does for the keys swarm has.
func serviceSpec(stack string, p *types.Project, s types.ServiceConfig, secretIDs, configIDs map[string]string) (swarm.ServiceSpec, error) {
	d := s.Deploy
	if d == nil {
		d = &types.DeployConfig{}
	}
	cs := &swarm.ContainerSpec{
		Image: s.Image, Command: s.Entrypoint, Args: s.Command, Hostname: s.Hostname,
		Labels: withStack(stack, s.Labels), Dir: s.WorkingDir, User: s.User, StopSignal: s.StopSignal,
		TTY: s.Tty, OpenStdin: s.StdinOpen, ReadOnly: s.ReadOnly, Init: s.Init, Sysctls: s.Sysctls,
		CapabilityAdd: s.CapAdd, CapabilityDrop: s.CapDrop, StopGracePeriod: durationPtr(s.StopGracePeriod),
		Groups: s.GroupAdd,
	}
	for k, v := range s.Environment {
		if v == nil {
			cs.Env = append(cs.Env, k)
		} else {
			cs.Env = append(cs.Env, k+"="+*v)
		}
	}
	sort.Strings(cs.Env)
	for _, h := range s.ExtraHosts.AsList(" ") {
		// docker's order is "IP HOST"; compose-go gives "HOST IP".
		if host, ip, ok := strings.Cut(h, " "); ok {
			cs.Hosts = append(cs.Hosts, ip+" "+host)
		}
	}
	if hc := s.HealthCheck; hc != nil {
		h := &container.HealthConfig{Test: hc.Test}
		if hc.Disable {
			h.Test = []string{"NONE"}
		}
		if hc.Interval != nil {
			h.Interval = time.Duration(*hc.Interval)
		}
		if hc.Timeout != nil {
			h.Timeout = time.Duration(*hc.Timeout)
		}
		if hc.StartPeriod != nil {
			h.StartPeriod = time.Duration(*hc.StartPeriod)
		}
		if hc.Retries != nil {
			h.Retries = int(*hc.Retries)
		}
		cs.Healthcheck = h
	}
	for _, v := range s.Volumes {
		m := mount.Mount{Type: mount.Type(v.Type), Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
		if v.Type == types.VolumeTypeVolume && v.Source != "" {
			if vc, ok := p.Volumes[v.Source]; ok && !bool(vc.External) {
				m.Source = scope(stack, v.Source)
				if vc.Name != "" {
					m.Source = vc.Name
				}
				m.VolumeOptions = &mount.VolumeOptions{Labels: withStack(stack, vc.Labels)}
			}
		}
		cs.Mounts = append(cs.Mounts, m)
	}
	for _, r := range s.Secrets {
		obj, ok := p.Secrets[r.Source]
		if !ok {
			return swarm.ServiceSpec{}, fmt.Errorf("undefined secret %q", r.Source)
		}
		name := fileObjectName(stack, r.Source, types.FileObjectConfig(obj))
		t := fileTarget(types.FileReferenceConfig(r))
		// compose-go writes the default target out as /run/secrets/NAME;
		// docker's loader sends NAME, which swarm puts in /run/secrets.
		if rest, ok := strings.CutPrefix(t.name, "/run/secrets/"); ok && !strings.Contains(rest, "/") {
			t.name = rest
		}
		cs.Secrets = append(cs.Secrets, &swarm.SecretReference{SecretName: name, SecretID: secretIDs[name],
			File: &swarm.SecretReferenceFileTarget{Name: t.name, UID: t.uid, GID: t.gid, Mode: t.mode}})
	}
	sort.SliceStable(cs.Secrets, func(i, j int) bool { return cs.Secrets[i].SecretName < cs.Secrets[j].SecretName })
	for _, r := range s.Configs {
		obj, ok := p.Configs[r.Source]
		if !ok {
			return swarm.ServiceSpec{}, fmt.Errorf("undefined config %q", r.Source)
		}
		name := fileObjectName(stack, r.Source, types.FileObjectConfig(obj))
		t := fileTarget(types.FileReferenceConfig(r))
		cs.Configs = append(cs.Configs, &swarm.ConfigReference{ConfigName: name, ConfigID: configIDs[name],
			File: &swarm.ConfigReferenceFileTarget{Name: t.name, UID: t.uid, GID: t.gid, Mode: t.mode}})
	}
	sort.SliceStable(cs.Configs, func(i, j int) bool { return cs.Configs[i].ConfigName < cs.Configs[j].ConfigName })
	if len(s.DNS) > 0 || len(s.DNSSearch) > 0 {
		cs.DNSConfig = &swarm.DNSConfig{Search: s.DNSSearch}
	}

	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: scope(stack, s.Name), Labels: withStack(stack, d.Labels)},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: cs,
			Resources:     &swarm.ResourceRequirements{},
			Placement:     &swarm.Placement{Constraints: d.Placement.Constraints, MaxReplicas: d.Placement.MaxReplicas},
		},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionMode(strings.ToLower(d.EndpointMode))},
	}
	spec.Labels[labelImage] = s.Image
	for _, pr := range d.Placement.Preferences {
		spec.TaskTemplate.Placement.Preferences = append(spec.TaskTemplate.Placement.Preferences,
			swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: pr.Spread}})
	}
	if l := d.Resources.Limits; l != nil {
		spec.TaskTemplate.Resources.Limits = &swarm.Limit{NanoCPUs: parseCPUs(l.NanoCPUs), MemoryBytes: int64(l.MemoryBytes), Pids: l.Pids}
	}
	if r := d.Resources.Reservations; r != nil {
		spec.TaskTemplate.Resources.Reservations = &swarm.Resources{NanoCPUs: parseCPUs(r.NanoCPUs), MemoryBytes: int64(r.MemoryBytes)}
	}
	if rp := d.RestartPolicy; rp != nil {
		spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyCondition(rp.Condition),
			Delay: durationPtr(rp.Delay), MaxAttempts: rp.MaxAttempts, Window: durationPtr(rp.Window)}
	}
	spec.UpdateConfig = updateConfig(d.UpdateConfig)
	spec.RollbackConfig = updateConfig(d.RollbackConfig)
	switch d.Mode {
	case "global":
		if d.Replicas != nil {
			return swarm.ServiceSpec{}, fmt.Errorf("replicas can only be used with replicated or replicated-job mode")
		}
		spec.Mode.Global = &swarm.GlobalService{}
	case "replicated", "":
		var r *uint64
		if d.Replicas != nil {
			n := uint64(*d.Replicas)
			r = &n
		}
		spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: r}
	case "replicated-job":
		var r *uint64
		if d.Replicas != nil {
			n := uint64(*d.Replicas)
			r = &n
		}
		spec.Mode.ReplicatedJob = &swarm.ReplicatedJob{MaxConcurrent: r, TotalCompletions: r}
	case "global-job":
		spec.Mode.GlobalJob = &swarm.GlobalJob{}
	default:
		return swarm.ServiceSpec{}, fmt.Errorf("unknown mode: %s", d.Mode)
	}
	for _, pc := range s.Ports {
		proto := pc.Protocol
		if proto == "" {
			proto = "tcp"
		}
		mode := pc.Mode
		if mode == "" {
			mode = "ingress"
		}
		var pub uint64
		if pc.Published != "" {
			var err error
			if pub, err = strconv.ParseUint(pc.Published, 10, 16); err != nil {
				return swarm.ServiceSpec{}, fmt.Errorf("invalid published port %q", pc.Published)
			}
		}
		spec.EndpointSpec.Ports = append(spec.EndpointSpec.Ports, swarm.PortConfig{Protocol: network.IPProtocol(proto),
			TargetPort: pc.Target, PublishedPort: uint32(pub), PublishMode: swarm.PortConfigPublishMode(mode)})
	}
	nets := s.Networks
	if len(nets) == 0 {
		nets = map[string]*types.ServiceNetworkConfig{"default": nil}
	}
	for key, sn := range nets {
		nc, ok := p.Networks[key]
		if !ok && key != "default" {
			return swarm.ServiceSpec{}, fmt.Errorf("undefined network %q", key)
		}
		att := swarm.NetworkAttachmentConfig{Target: networkName(stack, key, nc)}
		if sn != nil {
			att.Aliases, att.DriverOpts = sn.Aliases, sn.DriverOpts
		}
		att.Aliases = append(att.Aliases, s.Name)
		spec.TaskTemplate.Networks = append(spec.TaskTemplate.Networks, att)
	}
	sort.Slice(spec.TaskTemplate.Networks, func(i, j int) bool {
		return spec.TaskTemplate.Networks[i].Target < spec.TaskTemplate.Networks[j].Target
	})
	return spec, nil
}

type target struct {
	name, uid, gid string
	mode           os.FileMode
}

func fileTarget(r types.FileReferenceConfig) target {
	t := target{name: r.Target, uid: r.UID, gid: r.GID, mode: 0o444}
	if t.name == "" {
		t.name = r.Source
	}
	if t.uid == "" {
		t.uid = "0"
	}
	if t.gid == "" {
		t.gid = "0"
	}
	if r.Mode != nil {
		t.mode = os.FileMode(*r.Mode)
	}
	return t
}

func updateConfig(u *types.UpdateConfig) *swarm.UpdateConfig {
	if u == nil {
		return nil
	}
	par := uint64(1)
	if u.Parallelism != nil {
		par = *u.Parallelism
	}
	return &swarm.UpdateConfig{Parallelism: par, Delay: time.Duration(u.Delay), FailureAction: swarm.FailureAction(u.FailureAction),
		Monitor: time.Duration(u.Monitor), MaxFailureRatio: u.MaxFailureRatio, Order: swarm.UpdateOrder(u.Order)}
}

// fileData is a compose secret's or config's content: its file, its
// inline content or an environment variable.
func fileData(o types.FileObjectConfig) ([]byte, error) {
	switch {
	case o.File != "":
		return os.ReadFile(o.File)
	case o.Content != "":
		return []byte(o.Content), nil
	case o.Environment != "":
		return []byte(os.Getenv(o.Environment)), nil
	}
	return []byte{}, nil
}
