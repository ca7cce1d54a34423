// Package stack is `berth stack`: deploy a compose file as swarm services
// (read with compose-go, converted as docker stack deploy converts it:
// STACK_name objects labelled com.docker.stack.namespace), and ls, ps,
// services and rm over the objects so labelled.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/service"
	"github.com/berth-project/berth/internal/client"
	"github.com/berth-project/berth/internal/compose"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

// NewCommand is `berth stack`.
func NewCommand(e *command.Env) *cobra.Command {
	return command.Group("stack", "Manage Swarm stacks",
		newDeployCmd(e), newListCmd(e), newPsCmd(e), newRemoveCmd(e), newServicesCmd(e))
}

func validName(ns string) error {
	if strings.TrimFunc(ns, func(r rune) bool { return unicode.IsSpace(r) || r == '"' || r == '\'' }) == "" {
		return fmt.Errorf("invalid stack name: %q", ns)
	}
	return nil
}

func stackFilter(stack string, f client.Filters) client.Filters {
	if f == nil {
		f = client.Filters{}
	}
	f["label"] = append(f["label"], LabelNamespace+"="+stack)
	return f
}

// DeployOptions are `stack deploy`'s flags.
type DeployOptions struct {
	Files          []string
	Prune          bool
	Detach, Quiet  bool
	DetachExplicit bool
}

func newDeployCmd(e *command.Env) *cobra.Command {
	var o DeployOptions
	cmd := &cobra.Command{
		Use:     "deploy [OPTIONS] STACK",
		Aliases: []string{"up"},
		Short:   "Deploy a new stack or update an existing stack",
		Args:    command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validName(args[0]); err != nil {
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
		old, err := c.ServiceList(ctx, stackFilter(stack, nil), false)
		if err != nil {
			fmt.Fprintln(errOut, "Failed to list services:", err)
		}
		var gone []swarm.Service
		for _, s := range old {
			if !keep[s.Spec.Name] {
				gone = append(gone, s)
			}
		}
		removeServices(ctx, c, gone, out, errOut)
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
	existing, err := c.ServiceList(ctx, stackFilter(stack, nil), false)
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
	existing, err := c.NetworkList(ctx, stackFilter(stack, nil))
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

func removeServices(ctx context.Context, c *client.Client, services []swarm.Service, out, errOut io.Writer) bool {
	failed := false
	sort.Slice(services, func(i, j int) bool { return services[i].Spec.Name < services[j].Spec.Name })
	for _, s := range services {
		fmt.Fprintln(out, "Removing service", s.Spec.Name)
		if err := c.ServiceRemove(ctx, s.ID); err != nil {
			failed = true
			fmt.Fprintf(errOut, "Failed to remove service %s: %s", s.ID, err)
		}
	}
	return failed
}

func newListCmd(e *command.Env) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List stacks",
		Args:    command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.Client()
			if err != nil {
				return err
			}
			l, err := c.ServiceList(cmd.Context(), client.Filters{"label": {LabelNamespace}}, false)
			if err != nil {
				return err
			}
			count := map[string]int{}
			var names []string
			for _, s := range l {
				n, ok := s.Spec.Labels[LabelNamespace]
				if !ok {
					return errors.New("cannot get label " + LabelNamespace + " for service " + s.ID)
				}
				if count[n] == 0 {
					names = append(names, n)
				}
				count[n]++
			}
			sort.SliceStable(names, func(i, j int) bool { return command.NaturalLess(names[i], names[j]) })
			rows := make([]any, len(names))
			for i, n := range names {
				rows[i] = stackRow{n, count[n]}
			}
			if format == "" || format == "table" {
				format = "table {{.Name}}\t{{.Services}}"
			}
			return command.Table{Format: format, Headers: map[string]string{"Name": "NAME", "Services": "SERVICES"}}.Render(e.Out, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", command.FormatHelp)
	return cmd
}

type stackRow struct {
	name     string
	services int
}

func (r stackRow) Name() string     { return r.name }
func (r stackRow) Services() string { return strconv.Itoa(r.services) }
func (r stackRow) MarshalJSON() ([]byte, error) {
	return command.MarshalRow(map[string]any{"Name": r.Name(), "Services": r.Services()})
}

func newPsCmd(e *command.Env) *cobra.Command {
	var o service.TaskOptions
	var filter []string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] STACK",
		Short: "List the tasks in the stack",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validName(args[0]); err != nil {
				return err
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			tasks, err := c.TaskList(cmd.Context(), stackFilter(args[0], client.ParseFilters(filter)))
			if err != nil {
				return err
			}
			if len(tasks) == 0 {
				return fmt.Errorf("nothing found in stack: %s", args[0])
			}
			return service.PrintTasks(cmd.Context(), c, e.Out, tasks, o)
		},
	}
	service.AddTaskFlags(cmd, &o, &filter)
	return cmd
}

func newServicesCmd(e *command.Env) *cobra.Command {
	var quiet bool
	var format string
	var filter []string
	cmd := &cobra.Command{
		Use:   "services [OPTIONS] STACK",
		Short: "List the services in the stack",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validName(args[0]); err != nil {
				return err
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			l, err := c.ServiceList(cmd.Context(), stackFilter(args[0], client.ParseFilters(filter)), !quiet)
			if err != nil {
				return err
			}
			if len(l) == 0 {
				fmt.Fprintln(e.Err, "Nothing found in stack:", args[0])
				return nil
			}
			return service.WriteList(e.Out, l, format, quiet)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	cmd.Flags().StringVar(&format, "format", "", command.FormatHelp)
	cmd.Flags().StringArrayVarP(&filter, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

func newRemoveCmd(e *command.Env) *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] STACK [STACK...]",
		Aliases: []string{"remove", "down"},
		Short:   "Remove one or more stacks",
		Args:    command.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if err := validName(a); err != nil {
					return err
				}
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			return Remove(cmd.Context(), c, args, detach, e.Out, e.Err)
		},
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", true, "Do not wait for stack removal")
	return cmd
}

// Remove is `stack rm`: services, secrets, configs, then networks of each
// stack; a stack with nothing is reported on stderr, not as an error.
func Remove(ctx context.Context, c *client.Client, stacks []string, detach bool, out, errOut io.Writer) error {
	var errs []error
	for _, st := range stacks {
		f := stackFilter(st, nil)
		services, err := c.ServiceList(ctx, f, false)
		if err != nil {
			return err
		}
		networks, err := c.NetworkList(ctx, f)
		if err != nil {
			return err
		}
		secrets, err := c.SecretList(ctx, f)
		if err != nil {
			return err
		}
		configs, err := c.ConfigList(ctx, f)
		if err != nil {
			return err
		}
		if len(services)+len(networks)+len(secrets)+len(configs) == 0 {
			fmt.Fprintln(errOut, "Nothing found in stack:", st)
			continue
		}
		failed := removeServices(ctx, c, services, out, errOut)
		for _, s := range secrets {
			fmt.Fprintln(out, "Removing secret", s.Spec.Name)
			if err := c.SecretRemove(ctx, s.ID); err != nil {
				failed = true
				fmt.Fprintf(errOut, "Failed to remove secret %s: %s", s.ID, err)
			}
		}
		for _, s := range configs {
			fmt.Fprintln(out, "Removing config", s.Spec.Name)
			if err := c.ConfigRemove(ctx, s.ID); err != nil {
				failed = true
				fmt.Fprintf(errOut, "Failed to remove config %s: %s", s.ID, err)
			}
		}
		for _, n := range networks {
			fmt.Fprintln(out, "Removing network", n.Name)
			if err := c.NetworkRemove(ctx, n.ID); err != nil {
				failed = true
				fmt.Fprintf(errOut, "Failed to remove network %s: %s", n.ID, err)
			}
		}
		if failed {
			errs = append(errs, errors.New("failed to remove some resources from stack: "+st))
			continue
		}
		if !detach {
			if err := waitGone(ctx, c, st); err != nil {
				errs = append(errs, fmt.Errorf("failed to wait on tasks of stack: %s: %w", st, err))
			}
		}
	}
	return errors.Join(errs...)
}

// waitGone waits until no task of the stack is left running.
func waitGone(ctx context.Context, c *client.Client, stack string) error {
	for {
		tasks, err := c.TaskList(ctx, stackFilter(stack, nil))
		if err != nil {
			return fmt.Errorf("failed to get tasks: %w", err)
		}
		live := 0
		for _, t := range tasks {
			switch t.Status.State {
			case swarm.TaskStateComplete, swarm.TaskStateShutdown, swarm.TaskStateFailed, swarm.TaskStateRejected:
			default:
				live++
			}
		}
		if live == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
