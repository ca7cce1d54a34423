// Package deploy is `berth stack deploy`: a compose file read with
// compose-go and converted as docker stack deploy converts it (STACK_name
// objects labelled com.docker.stack.namespace) into swarm networks,
// secrets, configs and services. It is linked into bin/berth-compose only,
// with the compose commands, so bin/berth does not pay compose-go's start-up.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/service"
	stackcmd "github.com/berth-project/berth/internal/cli/stack"
	"github.com/berth-project/berth/internal/client"
	"github.com/berth-project/berth/internal/compose"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

// DeployOptions are `stack deploy`'s flags.
type DeployOptions struct {
	Files          []string
	Prune          bool
	Detach, Quiet  bool
	DetachExplicit bool
}

// NewCommand is `stack deploy`.
func NewCommand(e *command.Env) *cobra.Command {
	var o DeployOptions
	cmd := &cobra.Command{
		Use:     "deploy [OPTIONS] STACK",
		Aliases: []string{"up"},
		Short:   "Deploy a new stack or update an existing stack",
		Args:    command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := stackcmd.ValidName(args[0]); err != nil {
				return err
			}
			o.DetachExplicit = cmd.Flags().Changed("detach")
			c, err := e.Client()
			if err != nil {
				return err
			}
			return Deploy(cmd.Context(), c, args[0], o, e.Out, e.Err)
		},
	}
	fs := cmd.Flags()
	fs.StringSliceVarP(&o.Files, "compose-file", "c", nil, `Path to a Compose file, or "-" to read from stdin`)
	fs.Bool("with-registry-auth", false, "Send registry authentication details to Swarm agents")
	fs.BoolVar(&o.Prune, "prune", false, "Prune services that are no longer referenced")
	fs.String("resolve-image", "always", `Query the registry to resolve image digest and supported platforms ("always", "changed", "never")`)
	fs.BoolVarP(&o.Detach, "detach", "d", true, "Exit immediately instead of waiting for the stack services to converge")
	fs.BoolVarP(&o.Quiet, "quiet", "q", false, "Suppress progress output")
	return cmd
}

// Deploy is `stack deploy`: networks, secrets and configs first (those
// that exist are kept or updated), then each service created or updated
// in place with its current version.
func Deploy(ctx context.Context, c *client.Client, stack string, o DeployOptions, out, errOut io.Writer) error {
	if len(o.Files) == 0 {
		return errors.New("specify a Compose file (with --compose-file)")
	}
	// compose-go warns through logrus (the obsolete version: key...);
	// docker stack deploy's loader does not, so neither does this.
	level := logrus.GetLevel()
	logrus.SetLevel(logrus.ErrorLevel)
	p, err := compose.Load(ctx, compose.LoadOptions{Files: o.Files, Name: stack})
	logrus.SetLevel(level)
	if err != nil {
		return err
	}
	if u := unsupported(p); len(u) > 0 {
		fmt.Fprintf(errOut, "Ignoring unsupported options: %s\n\n", strings.Join(u, ", "))
	}
	names := make([]string, 0, len(p.Services))
	for n, s := range p.Services {
		if s.Image == "" {
			return fmt.Errorf("invalid image reference for service %s: no image specified", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	if o.Detach && !o.DetachExplicit {
		fmt.Fprintln(errOut, "Since --detach=false was not specified, tasks will be created in the background.\n"+
			"In a future release, --detach=false will become the default.")
	}
	info, err := c.SwarmInfo(ctx)
	if err != nil {
		return err
	}
	if !info.ControlAvailable {
		return errors.New(`this node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again`)
	}
	if o.Prune {
		keep := map[string]bool{}
		for _, n := range names {
			keep[scope(stack, n)] = true
		}
		old, err := c.ServiceList(ctx, stackcmd.Filter(stack, nil), false)
		if err != nil {
			fmt.Fprintln(errOut, "Failed to list services:", err)
		}
		var gone []swarm.Service
		for _, s := range old {
			if !keep[s.Spec.Name] {
				gone = append(gone, s)
			}
		}
		stackcmd.RemoveServices(ctx, c, gone, out, errOut)
	}
	if err := createNetworks(ctx, c, stack, p, out); err != nil {
		return err
	}
	secretIDs, err := createFileObjects(stack, secretObjects(p.Secrets), secretAPI(ctx, c), out)
	if err != nil {
		return err
	}
	configIDs, err := createFileObjects(stack, configObjects(p.Configs), configAPI(ctx, c), out)
	if err != nil {
		return err
	}
	existing, err := c.ServiceList(ctx, stackcmd.Filter(stack, nil), false)
	if err != nil {
		return err
	}
	byName := map[string]swarm.Service{}
	for _, s := range existing {
		byName[s.Spec.Name] = s
	}
	var ids []string
	for _, n := range names {
		spec, err := serviceSpec(stack, p, p.Services[n], secretIDs, configIDs)
		if err != nil {
			return err
		}
		name := spec.Name
		if cur, ok := byName[name]; ok {
			fmt.Fprintf(out, "Updating service %s (id: %s)\n", name, cur.ID)
			spec.TaskTemplate.ForceUpdate = cur.Spec.TaskTemplate.ForceUpdate
			resp, err := c.ServiceUpdate(ctx, cur.ID, cur.Version, spec, client.ServiceUpdateOptions{})
			if err != nil {
				return fmt.Errorf("failed to update service %s: %w", name, err)
			}
			for _, w := range resp.Warnings {
				fmt.Fprintln(errOut, w)
			}
			ids = append(ids, cur.ID)
			continue
		}
		fmt.Fprintln(out, "Creating service", name)
		resp, err := c.ServiceCreate(ctx, spec, "")
		if err != nil {
			return fmt.Errorf("failed to create service %s: %w", name, err)
		}
		ids = append(ids, resp.ID)
	}
	if o.Detach {
		return nil
	}
	var errs []error
	for _, id := range ids {
		if err := service.WaitOnService(ctx, c, id, o.Quiet, out); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

func createNetworks(ctx context.Context, c *client.Client, stack string, p *types.Project, out io.Writer) error {
	existing, err := c.NetworkList(ctx, stackcmd.Filter(stack, nil))
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, n := range existing {
		have[n.Name] = true
	}
	var keys []string
	for k := range usedNetworks(p) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		nc := p.Networks[k]
		name := networkName(stack, k, nc)
		if nc.External {
			n, err := c.NetworkInspect(ctx, name)
			switch {
			case client.StatusOf(err) == http.StatusNotFound:
				return fmt.Errorf("network %q is declared as external, but could not be found. You need to create a swarm-scoped network before the stack is deployed", name)
			case err != nil:
				return err
			case n.Scope != "swarm":
				return fmt.Errorf("network %q is declared as external, but it is not in the right scope: %q instead of \"swarm\"", name, n.Scope)
			}
			continue
		}
		if have[name] {
			continue
		}
		driver := nc.Driver
		if driver == "" {
			driver = "overlay"
		}
		req := network.CreateRequest{Name: name, Driver: driver, Options: nc.DriverOpts, Internal: nc.Internal,
			Attachable: nc.Attachable, Labels: withStack(stack, nc.Labels)}
		fmt.Fprintln(out, "Creating network", name)
		if _, err := c.NetworkCreate(ctx, req); err != nil {
			return fmt.Errorf("failed to create network %s: %w", name, err)
		}
	}
	return nil
}

// fileAPI is how a stack reaches its secrets or configs.
type fileAPI struct {
	what    string
	create  func(swarm.Annotations, []byte) (string, error)
	inspect func(string) (string, swarm.Version, error)
	update  func(string, swarm.Version, swarm.Annotations, []byte) error
}

func secretAPI(ctx context.Context, c *client.Client) fileAPI {
	return fileAPI{what: "secret",
		create: func(a swarm.Annotations, data []byte) (string, error) {
			return c.SecretCreate(ctx, swarm.SecretSpec{Annotations: a, Data: data})
		},
		inspect: func(name string) (string, swarm.Version, error) {
			s, _, err := c.SecretInspect(ctx, name)
			return s.ID, s.Version, err
		},
		update: func(id string, v swarm.Version, a swarm.Annotations, data []byte) error {
			return c.SecretUpdate(ctx, id, v, swarm.SecretSpec{Annotations: a, Data: data})
		}}
}

func configAPI(ctx context.Context, c *client.Client) fileAPI {
	return fileAPI{what: "config",
		create: func(a swarm.Annotations, data []byte) (string, error) {
			return c.ConfigCreate(ctx, swarm.ConfigSpec{Annotations: a, Data: data})
		},
		inspect: func(name string) (string, swarm.Version, error) {
			s, _, err := c.ConfigInspect(ctx, name)
			return s.ID, s.Version, err
		},
		update: func(id string, v swarm.Version, a swarm.Annotations, data []byte) error {
			return c.ConfigUpdate(ctx, id, v, swarm.ConfigSpec{Annotations: a, Data: data})
		}}
}

// createFileObjects creates the stack's secrets or configs, or updates
// the ones that exist, and answers the IDs by name (external ones are
// looked up).
func createFileObjects(stack string, objs map[string]types.FileObjectConfig, api fileAPI, out io.Writer) (map[string]string, error) {
	ids := map[string]string{}
	keys := make([]string, 0, len(objs))
	for k := range objs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o := objs[k]
		name := fileObjectName(stack, k, o)
		id, version, err := api.inspect(name)
		if o.External {
			if err == nil {
				ids[name] = id
			}
			continue
		}
		data, rerr := fileData(o)
		if rerr != nil {
			return nil, rerr
		}
		a := swarm.Annotations{Name: name, Labels: withStack(stack, o.Labels)}
		switch {
		case err == nil:
			if err := api.update(id, version, a, data); err != nil {
				return nil, fmt.Errorf("failed to update %s %s: %w", api.what, name, err)
			}
		case client.StatusOf(err) == http.StatusNotFound:
			fmt.Fprintf(out, "Creating %s %s\n", api.what, name)
			if id, err = api.create(a, data); err != nil {
				return nil, fmt.Errorf("failed to create %s %s: %w", api.what, name, err)
			}
		default:
			return nil, err
		}
		ids[name] = id
	}
	return ids, nil
}

func secretObjects(m types.Secrets) map[string]types.FileObjectConfig {
	out := map[string]types.FileObjectConfig{}
	for k, v := range m {
		out[k] = types.FileObjectConfig(v)
	}
	return out
}

func configObjects(m types.Configs) map[string]types.FileObjectConfig {
	out := map[string]types.FileObjectConfig{}
	for k, v := range m {
		out[k] = types.FileObjectConfig(v)
	}
	return out
}
