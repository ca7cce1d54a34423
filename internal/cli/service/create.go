package service

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/swarm"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// createOptions are `service create`'s flags beyond the shared spec flags.
type createOptions struct {
	spec                                  specFlags
	name                                  string
	env, labels, containerLabels, publish []string
	networks, constraints, secrets        []string
	configs, groups, dns, hosts, capAdd   []string
	capDrop, mounts, envFiles, ulimits    []string
	placementPrefs                        []string
}

func newCreateCmd(e *command.Env) *cobra.Command {
	var o createOptions
	cmd := newSpecCmd(e, &o.spec, "create [OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new service", command.MinArgs(1),
		func(ctx context.Context, c *client.Client, fs *pflag.FlagSet, args []string) error {
			return Create(ctx, c, fs, &o, args, e.Out, e.Err)
		})
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	fs.StringVar(&o.name, "name", "", "Service name")
	fs.StringVar(&o.spec.mode, "mode", "replicated", `Service mode ("replicated", "global", "replicated-job", "global-job")`)
	fs.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	fs.StringArrayVar(&o.envFiles, "env-file", nil, "Read in a file of environment variables")
	fs.StringArrayVarP(&o.labels, "label", "l", nil, "Service labels")
	fs.StringArrayVar(&o.containerLabels, "container-label", nil, "Container labels")
	fs.StringArrayVarP(&o.publish, "publish", "p", nil, "Publish a port as a node port")
	fs.StringArrayVar(&o.networks, "network", nil, "Network attachments")
	fs.StringArrayVar(&o.constraints, "constraint", nil, "Placement constraints")
	prefFlag(fs, &o.placementPrefs, "placement-pref", "Add a placement preference")
	fs.StringArrayVar(&o.secrets, "secret", nil, "Specify secrets to expose to the service")
	fs.StringArrayVar(&o.configs, "config", nil, "Specify configurations to expose to the service")
	mountFlag(fs, &o.mounts, "mount", "Attach a filesystem mount to the service")
	ulimitFlag(fs, &o.ulimits, "ulimit", "Ulimit options")
	fs.StringArrayVar(&o.groups, "group", nil, "Set one or more supplementary user groups for the container")
	fs.StringArrayVar(&o.dns, "dns", nil, "Set custom DNS servers")
	fs.StringArrayVar(&o.hosts, "host", nil, "Set one or more custom host-to-IP mappings (host:ip)")
	fs.StringArrayVar(&o.capAdd, "cap-add", nil, "Add Linux capabilities")
	fs.StringArrayVar(&o.capDrop, "cap-drop", nil, "Drop Linux capabilities")
	return cmd
}

// Create is `service create`: it prints the new service's ID (and the
// daemon's warnings on stderr), then waits for it unless detached.
func Create(ctx context.Context, c *client.Client, fs *pflag.FlagSet, o *createOptions, args []string, out, errOut io.Writer) error {
	env, err := readEnvFiles(o.envFiles)
	if err != nil {
		return err
	}
	spec := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: o.name, Labels: kvMap(o.labels)},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: args[0], Args: args[1:], Env: append(env, o.env...), Labels: kvMap(o.containerLabels), Groups: o.groups, CapabilityAdd: o.capAdd, CapabilityDrop: o.capDrop}},
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP},
	}
	switch o.spec.mode {
	case "replicated":
		one := uint64(1)
		spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &one}
	case "global":
		if fs.Changed("replicas") {
			return fmt.Errorf("replicas can only be used with replicated or replicated-job mode")
		}
		spec.Mode.Global = &swarm.GlobalService{}
	case "replicated-job":
		one := uint64(1)
		spec.Mode.ReplicatedJob = &swarm.ReplicatedJob{MaxConcurrent: &one, TotalCompletions: &one}
	case "global-job":
		spec.Mode.GlobalJob = &swarm.GlobalJob{}
	default:
		return fmt.Errorf("invalid mode: %q", o.spec.mode)
	}
	if err := o.spec.apply(fs, &spec); err != nil {
		return err
	}
	cs := spec.TaskTemplate.ContainerSpec
	if len(o.dns) > 0 {
		cs.DNSConfig = &swarm.DNSConfig{}
		for _, d := range o.dns {
			a, err := parseAddr(d)
			if err != nil {
				return err
			}
			cs.DNSConfig.Nameservers = append(cs.DNSConfig.Nameservers, a)
		}
	}
	for _, h := range o.hosts {
		name, ip, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("bad format for add-host: %q", h)
		}
		cs.Hosts = append(cs.Hosts, ip+" "+name)
	}
	for _, p := range o.publish {
		ports, err := parsePort(p)
		if err != nil {
			return err
		}
		spec.EndpointSpec.Ports = append(spec.EndpointSpec.Ports, ports...)
	}
	for _, n := range o.networks {
		spec.TaskTemplate.Networks = append(spec.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: n})
	}
	if len(o.constraints) > 0 || len(o.placementPrefs) > 0 {
		if spec.TaskTemplate.Placement == nil {
			spec.TaskTemplate.Placement = &swarm.Placement{}
		}
		spec.TaskTemplate.Placement.Constraints = o.constraints
		if spec.TaskTemplate.Placement.Preferences, err = updatePreferences(nil, o.placementPrefs, nil); err != nil {
			return err
		}
	}
	if cs.Mounts, err = parseMounts(o.mounts); err != nil {
		return err
	}
	if cs.Ulimits, err = updateUlimits(nil, o.ulimits, nil); err != nil {
		return err
	}
	if cs.Secrets, err = ParseSecrets(ctx, c, o.secrets); err != nil {
		return err
	}
	if cs.Configs, err = ParseConfigs(ctx, c, o.configs); err != nil {
		return err
	}
	resp, err := c.ServiceCreate(ctx, spec, "")
	if err != nil {
		return err
	}
	return o.spec.done(ctx, c, resp.ID, resp.ID, resp.Warnings, out, errOut)
}

// fileRef is a --secret or --config value: "NAME" or
// "source=NAME,target=PATH,uid=0,gid=0,mode=0444".
type fileRef struct {
	source, target, uid, gid string
	mode                     uint32
}

func parseFileRef(v string) (fileRef, error) {
	r := fileRef{uid: "0", gid: "0", mode: 0o444}
	if !strings.Contains(v, "=") {
		r.source, r.target = v, v
		return r, nil
	}
	for _, f := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(f, "=")
		switch strings.ToLower(k) {
		case "source", "src":
			r.source = val
		case "target":
			r.target = val
		case "uid":
			r.uid = val
		case "gid":
			r.gid = val
		case "mode":
			m, err := strconv.ParseUint(val, 0, 32)
			if err != nil {
				return r, fmt.Errorf("invalid mode specified: %v", err)
			}
			r.mode = uint32(m)
		default:
			return r, fmt.Errorf("invalid field in secret request: %s", k)
		}
	}
	if r.source == "" {
		return r, fmt.Errorf("source is required")
	}
	if r.target == "" {
		r.target = r.source
	}
	return r, nil
}

// ParseSecrets resolves --secret values to references with the secrets' IDs.
func ParseSecrets(ctx context.Context, c *client.Client, values []string) ([]*swarm.SecretReference, error) {
	return parseRefs(ctx, values, "secret", func() (map[string]string, error) {
		l, err := c.SecretList(ctx, nil)
		ids := map[string]string{}
		for _, s := range l {
			ids[s.Spec.Name] = s.ID
		}
		return ids, err
	}, func(r fileRef, id string) *swarm.SecretReference {
		return &swarm.SecretReference{SecretName: r.source, SecretID: id,
			File: &swarm.SecretReferenceFileTarget{Name: r.target, UID: r.uid, GID: r.gid, Mode: os.FileMode(r.mode)}}
	})
}

// ParseConfigs resolves --config values to references with the configs' IDs.
func ParseConfigs(ctx context.Context, c *client.Client, values []string) ([]*swarm.ConfigReference, error) {
	return parseRefs(ctx, values, "config", func() (map[string]string, error) {
		l, err := c.ConfigList(ctx, nil)
		ids := map[string]string{}
		for _, s := range l {
			ids[s.Spec.Name] = s.ID
		}
		return ids, err
	}, func(r fileRef, id string) *swarm.ConfigReference {
		return &swarm.ConfigReference{ConfigName: r.source, ConfigID: id,
			File: &swarm.ConfigReferenceFileTarget{Name: r.target, UID: r.uid, GID: r.gid, Mode: os.FileMode(r.mode)}}
	})
}

// parseRefs reads the values and finds each one's ID among ids (by name).
func parseRefs[T any](_ context.Context, values []string, what string, ids func() (map[string]string, error), ref func(fileRef, string) T) ([]T, error) {
	if len(values) == 0 {
		return nil, nil
	}
	byName, err := ids()
	if err != nil {
		return nil, err
	}
	var out []T
	for _, v := range values {
		r, err := parseFileRef(v)
		if err != nil {
			return nil, err
		}
		id, ok := byName[r.source]
		if !ok {
			return nil, fmt.Errorf("%s not found: %s", what, r.source)
		}
		out = append(out, ref(r, id))
	}
	return out, nil
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, fmt.Errorf("%s is not an ip address", s)
	}
	return a, nil
}
