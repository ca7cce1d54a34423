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
	detach, quiet, force, rollback            bool
	envAdd, envRm, labelAdd, labelRm          []string
	cLabelAdd, cLabelRm, publishAdd, publishR []string
	constraintAdd, constraintRm               []string
	secretAdd, secretRm, configAdd, configRm  []string
}

func newUpdateCmd(e *command.Env) *cobra.Command {
	var o updateOptions
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] SERVICE",
		Short: "Update a service",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.Client()
			if err != nil {
				return err
			}
			return Update(cmd.Context(), c, cmd.Flags(), &o, args[0], e.Out, e.Err)
		},
	}
	fs := cmd.Flags()
	addSpecFlags(fs, &o.spec)
	fs.StringVar(&o.image, "image", "", "Service image tag")
	fs.StringVar(&o.args, "args", "", "Service command args")
	fs.BoolVarP(&o.detach, "detach", "d", false, "Exit immediately instead of waiting for the service to converge")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress progress output")
	fs.BoolVar(&o.force, "force", false, "Force update even if no changes require it")
	fs.BoolVar(&o.rollback, "rollback", false, "Rollback to previous specification")
	fs.StringArrayVar(&o.envAdd, "env-add", nil, "Add or update an environment variable")
	fs.StringArrayVar(&o.envRm, "env-rm", nil, "Remove an environment variable")
	fs.StringArrayVar(&o.labelAdd, "label-add", nil, "Add or update a service label")
	fs.StringArrayVar(&o.labelRm, "label-rm", nil, "Remove a label by its key")
	fs.StringArrayVar(&o.cLabelAdd, "container-label-add", nil, "Add or update a container label")
	fs.StringArrayVar(&o.cLabelRm, "container-label-rm", nil, "Remove a container label by its key")
	fs.StringArrayVar(&o.publishAdd, "publish-add", nil, "Add or update a published port")
	fs.StringArrayVar(&o.publishR, "publish-rm", nil, "Remove a published port by its target port")
	fs.StringArrayVar(&o.constraintAdd, "constraint-add", nil, "Add or update a placement constraint")
	fs.StringArrayVar(&o.constraintRm, "constraint-rm", nil, "Remove a constraint")
	fs.StringArrayVar(&o.secretAdd, "secret-add", nil, "Add or update a secret on a service")
	fs.StringArrayVar(&o.secretRm, "secret-rm", nil, "Remove a secret")
	fs.StringArrayVar(&o.configAdd, "config-add", nil, "Add or update a config file on a service")
	fs.StringArrayVar(&o.configRm, "config-rm", nil, "Remove a configuration file")
	fs.Bool("with-registry-auth", false, "Send registry authentication details to swarm agents")
	fs.Bool("no-resolve-image", false, "Do not query the registry to resolve image digest and supported platforms")
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
		if len(o.constraintAdd) > 0 || len(o.constraintRm) > 0 {
			if spec.TaskTemplate.Placement == nil {
				spec.TaskTemplate.Placement = &swarm.Placement{}
			}
			p := spec.TaskTemplate.Placement
			p.Constraints = removeItems(p.Constraints, o.constraintRm, func(c string) string { return c })
			p.Constraints = append(p.Constraints, o.constraintAdd...)
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
	for _, w := range resp.Warnings {
		fmt.Fprintln(errOut, w)
	}
	fmt.Fprintln(out, ref)
	if o.detach {
		return nil
	}
	return WaitOnService(ctx, c, s.ID, o.quiet, out)
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
