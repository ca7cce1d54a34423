// Package node is `berth node`: ls, inspect, update, ps, rm, promote and
// demote, with docker CLI 28's output, over the Engine API's /nodes.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/service"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/swarm"
	"github.com/spf13/cobra"
)

// NewCommand is `berth node`.
func NewCommand(e *command.Env) *cobra.Command {
	return command.Group("node", "Manage Swarm nodes",
		newRoleCmd(e, "demote", "Demote one or more nodes from manager in the swarm"),
		newInspectCmd(e), newListCmd(e),
		newRoleCmd(e, "promote", "Promote one or more nodes to manager in the swarm"),
		newPsCmd(e), newRemoveCmd(e), newUpdateCmd(e))
}

// DefaultListFormat is `node ls`'s table (the * marks this node).
const DefaultListFormat = "table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}"

var headers = map[string]string{
	"ID": "ID", "Self": "", "Hostname": "HOSTNAME", "Status": "STATUS", "Availability": "AVAILABILITY",
	"ManagerStatus": "MANAGER STATUS", "EngineVersion": "ENGINE VERSION", "TLSStatus": "TLS STATUS",
}

func newListCmd(e *command.Env) *cobra.Command {
	return command.ListCommand("List nodes in the swarm", func(cmd *cobra.Command, f command.ListFlags) error {
		c, err := e.Client()
		if err != nil {
			return err
		}
		return List(cmd.Context(), c, client.ParseFilters(f.Filter), f.Format, f.Quiet, e.Out)
	})
}

// List is `node ls`, sorted by hostname.
func List(ctx context.Context, c *client.Client, f client.Filters, format string, quiet bool, out io.Writer) error {
	nodes, err := c.NodeList(ctx, f)
	if err != nil {
		return err
	}
	var info swarm.Info
	if len(nodes) > 0 && !quiet {
		if info, err = c.SwarmInfo(ctx); err != nil {
			return err
		}
	}
	switch format {
	case "", "table":
		format = DefaultListFormat
		if quiet {
			format = "{{.ID}}"
		}
	case "raw":
		format = `node_id: {{.ID}}\nhostname: {{.Hostname}}\nstatus: {{.Status}}\navailability: {{.Availability}}\nmanager_status: {{.ManagerStatus}}\n`
		if quiet {
			format = `node_id: {{.ID}}`
		}
	}
	sort.SliceStable(nodes, func(i, j int) bool {
		return command.NaturalLess(nodes[i].Description.Hostname, nodes[j].Description.Hostname)
	})
	rows := make([]any, len(nodes))
	for i, n := range nodes {
		rows[i] = row{n: n, self: n.ID == info.NodeID}
	}
	return command.Table{Format: format, Headers: headers}.Render(out, rows)
}

type row struct {
	n    swarm.Node
	self bool
}

func (r row) ID() string           { return r.n.ID }
func (r row) Self() bool           { return r.self }
func (r row) Hostname() string     { return r.n.Description.Hostname }
func (r row) Status() string       { return command.PrettyPrint(string(r.n.Status.State)) }
func (r row) Availability() string { return command.PrettyPrint(string(r.n.Spec.Availability)) }
func (r row) EngineVersion() string {
	return r.n.Description.Engine.EngineVersion
}
func (r row) TLSStatus() string { return "Unknown" }

func (r row) ManagerStatus() string {
	if r.n.ManagerStatus == nil {
		return ""
	}
	if r.n.ManagerStatus.Leader {
		return "Leader"
	}
	return command.PrettyPrint(string(r.n.ManagerStatus.Reachability))
}

func (r row) MarshalJSON() ([]byte, error) {
	return command.MarshalRow(map[string]any{"ID": r.ID(), "Self": r.Self(), "Hostname": r.Hostname(), "Status": r.Status(),
		"Availability": r.Availability(), "ManagerStatus": r.ManagerStatus(), "EngineVersion": r.EngineVersion(), "TLSStatus": r.TLSStatus()})
}

func newInspectCmd(e *command.Env) *cobra.Command {
	var format string
	var pretty bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] self|NODE [NODE...]",
		Short: "Display detailed information on one or more nodes",
		Args:  command.MinArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			ctx := cmd.Context()
			if pretty {
				return inspectPretty(ctx, c, args, e.Out)
			}
			return service.Inspect(ctx, e.Out, args, format, func(ref string) (any, []byte, error) {
				id, err := service.NodeReference(ctx, c, ref)
				if err != nil {
					return nil, nil, err
				}
				n, raw, err := c.NodeInspect(ctx, id)
				return n, raw, err
			})
		}),
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", command.InspectFormatHelp)
	cmd.Flags().BoolVar(&pretty, "pretty", false, "Print the information in a human friendly format")
	return cmd
}

func newPsCmd(e *command.Env) *cobra.Command {
	var o service.TaskOptions
	var filter []string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] [NODE...]",
		Short: "List tasks running on one or more nodes, defaults to current node",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"self"}
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var errs []error
			var tasks []swarm.Task
			for _, ref := range args {
				id, err := service.NodeReference(ctx, c, ref)
				if err == nil {
					var n swarm.Node
					if n, _, err = c.NodeInspect(ctx, id); err == nil {
						f := client.ParseFilters(filter)
						if f == nil {
							f = client.Filters{}
						}
						f["node"] = append(f["node"], n.ID)
						var l []swarm.Task
						if l, err = c.TaskList(ctx, f); err == nil {
							tasks = append(tasks, l...)
						}
					}
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
			if len(errs) == 0 || len(tasks) > 0 {
				if err := service.PrintTasks(ctx, c, e.Out, tasks, o); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
	service.AddTaskFlags(cmd, &o, &filter)
	return cmd
}

func newRemoveCmd(e *command.Env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] NODE [NODE...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more nodes from the swarm",
		Args:    command.MinArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return command.RemoveEach(e.Out, args, func(id string) error { return c.NodeRemove(cmd.Context(), id, force) })
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force remove a node from the swarm")
	return cmd
}

// update reads a node, changes its spec with fn and writes it back with
// the version read.
func update(ctx context.Context, c *client.Client, ref string, fn func(*swarm.NodeSpec) error) error {
	id, err := service.NodeReference(ctx, c, ref)
	if err != nil {
		return err
	}
	n, _, err := c.NodeInspect(ctx, id)
	if err != nil {
		return err
	}
	if err := fn(&n.Spec); err != nil {
		return err
	}
	return c.NodeUpdate(ctx, n.ID, n.Version, n.Spec)
}

func newUpdateCmd(e *command.Env) *cobra.Command {
	var role, availability string
	var labelAdd, labelRm []string
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] NODE",
		Short: "Update a node",
		Args:  command.ExactArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			fs := cmd.Flags()
			err := update(cmd.Context(), c, args[0], func(s *swarm.NodeSpec) error {
				if fs.Changed("role") {
					s.Role = swarm.NodeRole(role)
				}
				if fs.Changed("availability") {
					s.Availability = swarm.NodeAvailability(availability)
				}
				if s.Labels == nil {
					s.Labels = map[string]string{}
				}
				for _, kv := range labelAdd {
					k, v, _ := strings.Cut(kv, "=")
					s.Labels[k] = v
				}
				for _, k := range labelRm {
					if _, ok := s.Labels[k]; !ok {
						return fmt.Errorf("key %s doesn't exist in node's labels", k)
					}
					delete(s.Labels, k)
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(e.Out, args[0])
			return nil
		}),
	}
	fs := cmd.Flags()
	fs.StringVar(&role, "role", "", `Role of the node ("worker", "manager")`)
	fs.StringVar(&availability, "availability", "", `Availability of the node ("active", "pause", "drain")`)
	fs.StringArrayVar(&labelAdd, "label-add", nil, "Add or update a node label (key=value)")
	fs.StringArrayVar(&labelRm, "label-rm", nil, "Remove a node label if exists")
	return cmd
}

// newRoleCmd is promote or demote: a role update, refused by berthd
// (Kubernetes owns the control plane) with the daemon's words.
func newRoleCmd(e *command.Env, verb, short string) *cobra.Command {
	to, already, done := swarm.NodeRoleManager, "Node %s is already a manager.\n", "Node %s promoted to a manager in the swarm.\n"
	if verb == "demote" {
		to, already, done = swarm.NodeRoleWorker, "Node %s is already a worker.\n", "Manager %s demoted in the swarm.\n"
	}
	return &cobra.Command{
		Use:   verb + " NODE [NODE...]",
		Short: short,
		Args:  command.MinArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			for _, ref := range args {
				err := update(cmd.Context(), c, ref, func(s *swarm.NodeSpec) error {
					if s.Role == to {
						fmt.Fprintf(e.Out, already, ref)
						return errNoChange
					}
					s.Role = to
					return nil
				})
				if errors.Is(err, errNoChange) {
					continue
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Out, done, ref)
			}
			return nil
		}),
	}
}

var errNoChange = errors.New("role was already set to the requested value")

// inspectPretty is `node inspect --pretty`: every node or the first
// error, as docker prints nothing when one of them fails.
func inspectPretty(ctx context.Context, c *client.Client, refs []string, out io.Writer) error {
	var b strings.Builder
	for _, ref := range refs {
		id, err := service.NodeReference(ctx, c, ref)
		var n swarm.Node
		if err == nil {
			n, _, err = c.NodeInspect(ctx, id)
		}
		if err != nil {
			return &command.StatusError{Status: err.Error(), Code: 1}
		}
		writePretty(&b, n)
	}
	_, err := io.WriteString(out, b.String())
	return err
}
