// Package stack is `berth stack`: ls, ps, services and rm over the swarm
// objects labelled com.docker.stack.namespace. deploy, which reads compose
// files, is the package deploy beneath.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/service"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/swarm"
	"github.com/spf13/cobra"
)

// NewCommand is `berth stack`. deploy is `stack deploy`, which reads
// compose files: it lives in internal/cli/stack/deploy and is linked into
// bin/berth-compose only; bin/berth gets a stand-in that runs it there.
func NewCommand(e *command.Env, deploy *cobra.Command) *cobra.Command {
	return command.Group("stack", "Manage Swarm stacks",
		deploy, newListCmd(e), newPsCmd(e), newRemoveCmd(e), newServicesCmd(e))
}

// LabelNamespace marks every object of a stack, as docker stack deploy does.
const LabelNamespace = "com.docker.stack.namespace"

// ValidName rejects an empty or blank stack name in docker's words.
func ValidName(ns string) error {
	if strings.TrimFunc(ns, func(r rune) bool { return unicode.IsSpace(r) || r == '"' || r == '\'' }) == "" {
		return fmt.Errorf("invalid stack name: %q", ns)
	}
	return nil
}

// Filter adds the stack's label to f (a new filter set when nil).
func Filter(stack string, f client.Filters) client.Filters {
	if f == nil {
		f = client.Filters{}
	}
	f["label"] = append(f["label"], LabelNamespace+"="+stack)
	return f
}

// RemoveServices removes services in name order, reporting each on out
// and failures on errOut; it answers whether any failed.
func RemoveServices(ctx context.Context, c *client.Client, services []swarm.Service, out, errOut io.Writer) bool {
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
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, _ []string) error {
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
		}),
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
			c, err := stackClient(e, args...)
			if err != nil {
				return err
			}
			tasks, err := c.TaskList(cmd.Context(), Filter(args[0], client.ParseFilters(filter)))
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
			c, err := stackClient(e, args...)
			if err != nil {
				return err
			}
			l, err := c.ServiceList(cmd.Context(), Filter(args[0], client.ParseFilters(filter)), !quiet)
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

// stackClient checks the stack names a command was given, then makes its
// client.
func stackClient(e *command.Env, stacks ...string) (*client.Client, error) {
	for _, st := range stacks {
		if err := ValidName(st); err != nil {
			return nil, err
		}
	}
	return e.Client()
}

func newRemoveCmd(e *command.Env) *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] STACK [STACK...]",
		Aliases: []string{"remove", "down"},
		Short:   "Remove one or more stacks",
		Args:    command.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := stackClient(e, args...)
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
		f := Filter(st, nil)
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
		failed := RemoveServices(ctx, c, services, out, errOut)
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
		tasks, err := c.TaskList(ctx, Filter(stack, nil))
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
