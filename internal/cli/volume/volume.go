// Package volume is `berth volume`: create, ls, inspect, rm and prune of
// volumes, with docker CLI 28's flags, output and exit statuses. Each
// command is a cobra definition over an options struct and a function
// that takes the client and writers, so the logic is tested without cobra.
package volume

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/volume"
	"github.com/spf13/cobra"
)

// NewCommand is `berth volume`.
func NewCommand(e *command.Env) *cobra.Command {
	return command.Group("volume", "Manage volumes",
		newCreateCmd(e), newListCmd(e), newInspectCmd(e), newRemoveCmd(e), newPruneCmd(e))
}

const defaultFormat = "table {{.Driver}}\t{{.Name}}"

var headers = map[string]string{
	"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
	"Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "Group": "GROUP",
	"Availability": "AVAILABILITY", "Status": "STATUS",
}

// row is one line of `volume ls`, with docker's fields.
type row struct{ v volume.Volume }

func (r row) Name() string       { return r.v.Name }
func (r row) Driver() string     { return r.v.Driver }
func (r row) Scope() string      { return r.v.Scope }
func (r row) Mountpoint() string { return r.v.Mountpoint }
func (r row) Group() string      { return "N/A" }

// Availability and Status are cluster-volume fields; local ones have none.
func (r row) Availability() string { return "N/A" }
func (r row) Status() string       { return "N/A" }

// Labels is "k=v,k2=v2", sorted so the output is stable.
func (r row) Labels() string {
	kv := make([]string, 0, len(r.v.Labels))
	for k, v := range r.v.Labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// Label returns one label's value ({{.Label "k"}}).
func (r row) Label(name string) string { return r.v.Labels[name] }

func (r row) Links() string {
	if r.v.UsageData == nil {
		return "N/A"
	}
	return fmt.Sprint(r.v.UsageData.RefCount)
}

func (r row) Size() string {
	if r.v.UsageData == nil || r.v.UsageData.Size < 0 {
		return "N/A"
	}
	return command.HumanSize(r.v.UsageData.Size)
}

// MarshalJSON gives --format json and {{json .}} the row's fields.
func (r row) MarshalJSON() ([]byte, error) {
	return command.MarshalRow(map[string]any{"Name": r.Name(), "Driver": r.Driver(), "Scope": r.Scope(),
		"Mountpoint": r.Mountpoint(), "Labels": r.Labels(), "Links": r.Links(), "Size": r.Size(),
		"Group": r.Group(), "Availability": r.Availability(), "Status": r.Status()})
}

// WriteList prints volumes sorted by name, as docker's CLI does.
func WriteList(w io.Writer, list []volume.Volume, format string, quiet bool) error {
	switch {
	case quiet:
		format = "{{.Name}}"
	case format == "" || format == "table":
		format = defaultFormat
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	rows := make([]any, len(list))
	for i, v := range list {
		rows[i] = row{v}
	}
	return command.Table{Format: format, Headers: headers}.Render(w, rows)
}

// CreateOptions are `volume create`'s flags and argument.
type CreateOptions struct {
	Name, Driver string
	Labels       []string
	DriverOpts   map[string]string
}

func newCreateCmd(e *command.Env) *cobra.Command {
	var o CreateOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  command.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if o.Name != "" {
					return &command.StatusError{Status: "conflicting options: cannot specify a volume-name through both --name and as a positional arg", Code: 1}
				}
				o.Name = args[0]
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			return Create(cmd.Context(), c, o, e.Out)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.Driver, "driver", "d", "local", "Specify volume driver name")
	fs.StringVar(&o.Name, "name", "", "Specify volume name")
	_ = fs.MarkHidden("name")
	fs.StringArrayVar(&o.Labels, "label", nil, "Set metadata for a volume")
	fs.VarP(command.MapValue{M: &o.DriverOpts}, "opt", "o", "Set driver specific options")
	return cmd
}

// Create is `volume create`: it prints the new volume's name.
func Create(ctx context.Context, c *client.Client, o CreateOptions, out io.Writer) error {
	req := volume.CreateRequest{Driver: o.Driver, DriverOpts: o.DriverOpts, Labels: command.LabelMap(o.Labels), Name: o.Name}
	v, err := c.VolumeCreate(ctx, req)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, v.Name)
	return nil
}

func newListCmd(e *command.Env) *cobra.Command {
	var f command.ListFlags
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    command.NoArgs,
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			return List(cmd.Context(), c, f, e.Out, e.Err)
		}),
	}
	fs := cmd.Flags()
	fs.BoolVarP(&f.Quiet, "quiet", "q", false, "Only display volume names")
	fs.StringVar(&f.Format, "format", "", "Format output using a custom template")
	fs.StringArrayVarP(&f.Filter, "filter", "f", nil, "Provide filter values (e.g. \"dangling=true\")")
	return cmd
}

// List is `volume ls`; the daemon's warnings go to errOut.
func List(ctx context.Context, c *client.Client, f command.ListFlags, out, errOut io.Writer) error {
	resp, err := c.VolumeList(ctx, client.ParseFilters(f.Filter))
	if err != nil {
		return err
	}
	for _, w := range resp.Warnings {
		fmt.Fprintln(errOut, w)
	}
	return WriteList(out, resp.Volumes, f.Format, f.Quiet)
}

// InspectKind looks up volumes for the inspect commands.
var InspectKind = command.InspectKind{Name: "volume", Fetch: command.Typed((*client.Client).VolumeInspectWithRaw),
	Missing: command.DaemonWords}

func newInspectCmd(e *command.Env) *cobra.Command {
	return command.NewInspectCommand(e, "inspect [OPTIONS] VOLUME [VOLUME...]", "Display detailed information on one or more volumes", InspectKind)
}

func newRemoveCmd(e *command.Env) *cobra.Command {
	return command.NewRemoveCommand(e, command.RemoveCommand{Use: "rm [OPTIONS] VOLUME [VOLUME...]", Short: "Remove one or more volumes",
		Long:      "Remove one or more volumes. You cannot remove a volume that is in use by a container.",
		ForceHelp: "Force the removal of one or more volumes", Remove: Remove})
}

// Remove is `volume rm`: each name removed is printed, each failure
// reported on errOut.
func Remove(ctx context.Context, c *client.Client, names []string, force bool, out, errOut io.Writer) error {
	return command.ForEach(ctx, out, errOut, names, func(ctx context.Context, n string) error {
		return c.VolumeRemove(ctx, n, force)
	})
}

// PruneOptions are `volume prune`'s flags.
type PruneOptions struct {
	All bool
	command.PruneFlags
}

func newPruneCmd(e *command.Env) *cobra.Command {
	var o PruneOptions
	cmd := command.NewPruneCommand(e, &o.PruneFlags, command.PruneCommand{
		Short:         "Remove unused local volumes",
		FilterExample: "label=<label>",
		Check: func() error {
			for _, f := range o.Filter {
				if k, _, _ := strings.Cut(f, "="); o.All && strings.EqualFold(strings.TrimSpace(k), "all") {
					return &command.StatusError{Status: "conflicting options: cannot specify both --all and --filter all=1", Code: 1}
				}
			}
			return nil
		},
		Warning: func() string {
			if o.All {
				return "WARNING! This will remove all local volumes not used by at least one container."
			}
			return "WARNING! This will remove anonymous local volumes not used by at least one container."
		},
		Prune: func(ctx context.Context, c *client.Client, out io.Writer) (int64, error) {
			filters := o.Filter
			if o.All {
				filters = append(filters, "all=true")
			}
			return Prune(ctx, c, filters, out)
		},
	})
	cmd.Flags().BoolVarP(&o.All, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	return cmd
}

// Prune removes the unused volumes the filters select, lists them on out
// and returns the bytes reclaimed.
func Prune(ctx context.Context, c *client.Client, filters []string, out io.Writer) (int64, error) {
	rep, err := c.VolumesPrune(ctx, client.ParseFilters(filters))
	if err != nil {
		return 0, err
	}
	command.PrintDeleted(out, "Deleted Volumes:", rep.VolumesDeleted)
	return int64(rep.SpaceReclaimed), nil
}
