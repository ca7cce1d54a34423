package service

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/swarm"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// updateOptions are `service update`'s flags beyond the shared spec flags.
type updateOptions struct {
	spec                                      specFlags
	image, args                               string
	force, rollback                           bool
	envAdd, envRm, labelAdd, labelRm          []string
	cLabelAdd, cLabelRm, publishAdd, publishR []string
	constraintAdd, constraintRm               []string
	prefAdd, prefRm, mountAdd, mountRm        []string
	ulimitAdd, ulimitRm                       []string
	secretAdd, secretRm, configAdd, configRm  []string
}

func newUpdateCmd(e *command.Env) *cobra.Command {
	var o updateOptions
	cmd := newSpecCmd(e, &o.spec, "update [OPTIONS] SERVICE", "Update a service", command.ExactArgs(1),
		func(ctx context.Context, c *client.Client, fs *pflag.FlagSet, args []string) error {
			return Update(ctx, c, fs, &o, args[0], e.Out, e.Err)
		})
	fs := cmd.Flags()
	fs.StringVar(&o.image, "image", "", "Service image tag")
	fs.StringVar(&o.args, "args", "", "Service command args")
	fs.BoolVar(&o.force, "force", false, "Force update even if no changes require it")
	fs.BoolVar(&o.rollback, "rollback", false, "Rollback to previous specification")
	for _, f := range []struct {
		dst        *[]string
		name, help string
	}{
		{&o.envAdd, "env-add", "Add or update an environment variable"},
		{&o.envRm, "env-rm", "Remove an environment variable"},
		{&o.labelAdd, "label-add", "Add or update a service label"},
		{&o.labelRm, "label-rm", "Remove a label by its key"},
		{&o.cLabelAdd, "container-label-add", "Add or update a container label"},
		{&o.cLabelRm, "container-label-rm", "Remove a container label by its key"},
		{&o.publishAdd, "publish-add", "Add or update a published port"},
		{&o.publishR, "publish-rm", "Remove a published port by its target port"},
		{&o.constraintAdd, "constraint-add", "Add or update a placement constraint"},
		{&o.constraintRm, "constraint-rm", "Remove a constraint"},
		{&o.prefRm, "placement-pref-rm", "Remove a placement preference"},
		{&o.mountRm, "mount-rm", "Remove a mount by its target path"},
		{&o.ulimitRm, "ulimit-rm", "Remove a ulimit option"},
		{&o.secretAdd, "secret-add", "Add or update a secret on a service"},
		{&o.secretRm, "secret-rm", "Remove a secret"},
		{&o.configAdd, "config-add", "Add or update a config file on a service"},
		{&o.configRm, "config-rm", "Remove a configuration file"},
	} {
		fs.StringArrayVar(f.dst, f.name, nil, f.help)
	}
	prefFlag(fs, &o.prefAdd, "placement-pref-add", "Add a placement preference")
	mountFlag(fs, &o.mountAdd, "mount-add", "Add or update a mount on a service")
	ulimitFlag(fs, &o.ulimitAdd, "ulimit-add", "Add or update a ulimit option")
	return cmd
}

// Update is `service update`: it changes the flags given in the current
// spec, sends it with the current version, prints the service's name and
// the daemon's warnings, then waits unless detached.
func Update(ctx context.Context, c *client.Client, fs *pflag.FlagSet, o *updateOptions, ref string, out, errOut io.Writer) error {
	s, _, err := c.ServiceInspect(ctx, ref, false)
	if err != nil {
		return err
	}
	spec := s.Spec
	opts := client.ServiceUpdateOptions{RegistryAuthFrom: "spec"}
	if o.rollback {
		if s.PreviousSpec == nil {
			return fmt.Errorf("service does not have a previous spec")
		}
		opts = client.ServiceUpdateOptions{Rollback: "previous", RegistryAuthFrom: "previous-spec"}
	} else {
		if spec.TaskTemplate.ContainerSpec == nil {
			spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{}
		}
		if err := o.spec.apply(fs, &spec); err != nil {
			return err
		}
		cs := spec.TaskTemplate.ContainerSpec
		if fs.Changed("image") {
			cs.Image = o.image
		}
		if fs.Changed("args") {
			cs.Args = strings.Fields(o.args)
		}
		if fs.Changed("env-add") || fs.Changed("env-rm") {
			cs.Env = mergeEnv(cs.Env, o.envAdd, o.envRm)
		}
		spec.Labels = mergeLabels(spec.Labels, o.labelAdd, o.labelRm)
		cs.Labels = mergeLabels(cs.Labels, o.cLabelAdd, o.cLabelRm)
		if len(o.publishAdd) > 0 || len(o.publishR) > 0 {
			if spec.EndpointSpec == nil {
				spec.EndpointSpec = &swarm.EndpointSpec{}
			}
			if err := updatePorts(spec.EndpointSpec, o.publishAdd, o.publishR); err != nil {
				return err
			}
		}
		if len(o.constraintAdd) > 0 || len(o.constraintRm) > 0 || len(o.prefAdd) > 0 || len(o.prefRm) > 0 {
			if spec.TaskTemplate.Placement == nil {
				spec.TaskTemplate.Placement = &swarm.Placement{}
			}
			p := spec.TaskTemplate.Placement
			p.Constraints = removeItems(p.Constraints, o.constraintRm, func(c string) string { return c })
			p.Constraints = append(p.Constraints, o.constraintAdd...)
			if p.Preferences, err = updatePreferences(p.Preferences, o.prefAdd, o.prefRm); err != nil {
				return err
			}
		}
		if len(o.mountAdd) > 0 || len(o.mountRm) > 0 {
			if cs.Mounts, err = updateMounts(cs.Mounts, o.mountAdd, o.mountRm); err != nil {
				return err
			}
		}
		if len(o.ulimitAdd) > 0 || len(o.ulimitRm) > 0 {
			if cs.Ulimits, err = updateUlimits(cs.Ulimits, o.ulimitAdd, o.ulimitRm); err != nil {
				return err
			}
		}
		if len(o.secretAdd) > 0 || len(o.secretRm) > 0 {
			add, err := ParseSecrets(ctx, c, o.secretAdd)
			if err != nil {
				return err
			}
			cs.Secrets = removeItems(cs.Secrets, o.secretRm, func(r *swarm.SecretReference) string { return r.SecretName })
			cs.Secrets = append(cs.Secrets, add...)
		}
		if len(o.configAdd) > 0 || len(o.configRm) > 0 {
			add, err := ParseConfigs(ctx, c, o.configAdd)
			if err != nil {
				return err
			}
			cs.Configs = removeItems(cs.Configs, o.configRm, func(r *swarm.ConfigReference) string { return r.ConfigName })
			cs.Configs = append(cs.Configs, add...)
		}
		if o.force {
			spec.TaskTemplate.ForceUpdate++
		}
	}
	resp, err := c.ServiceUpdate(ctx, s.ID, s.Version, spec, opts)
	if err != nil {
		return err
	}
	return o.spec.done(ctx, c, ref, ref, resp.Warnings, out, errOut)
}

func mergeLabels(m map[string]string, add, rm []string) map[string]string {
	if len(add) == 0 && len(rm) == 0 {
		return m
	}
	if m == nil {
		m = map[string]string{}
	}
	for _, k := range rm {
		delete(m, k)
	}
	for k, v := range kvMap(add) {
		m[k] = v
	}
	return m
}

// removeItems drops the items whose key is in rm.
func removeItems[T any](items []T, rm []string, key func(T) string) []T {
	if len(rm) == 0 {
		return items
	}
	drop := map[string]bool{}
	for _, r := range rm {
		drop[r] = true
	}
	var out []T
	for _, it := range items {
		if !drop[key(it)] {
			out = append(out, it)
		}
	}
	return out
}

// updatePorts removes ports by target ("80" or "80/tcp") and adds or
// replaces the ones given.
func updatePorts(ep *swarm.EndpointSpec, add, rm []string) error {
	var ports []swarm.PortConfig
	for _, p := range ep.Ports {
		keep := true
		for _, r := range rm {
			t, proto, _ := strings.Cut(r, "/")
			if proto == "" {
				proto = "tcp"
			}
			if fmt.Sprint(p.TargetPort) == t && string(p.Protocol) == proto {
				keep = false
			}
		}
		if keep {
			ports = append(ports, p)
		}
	}
	for _, a := range add {
		ps, err := parsePort(a)
		if err != nil {
			return err
		}
		for _, np := range ps {
			replaced := false
			for i, p := range ports {
				if p.PublishedPort != 0 && p.PublishedPort == np.PublishedPort && p.Protocol == np.Protocol {
					ports[i], replaced = np, true
				}
			}
			if !replaced {
				ports = append(ports, np)
			}
		}
	}
	ep.Ports = ports
	return nil
}
