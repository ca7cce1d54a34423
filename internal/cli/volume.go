package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/volume"
	"github.com/spf13/cobra"
)

const volumesDefaultFormat = "table {{.Driver}}\t{{.Name}}"

var volumeHeaders = map[string]string{
	"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
	"Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "Group": "GROUP",
	"Availability": "AVAILABILITY", "Status": "STATUS",
}

// volumeCommands are `berth volume ...`.
func volumeCommands(a *app) []*cobra.Command {
	return []*cobra.Command{newVolumeCreateCmd(a), newVolumeLsCmd(a), newVolumeInspectCmd(a), newVolumeRmCmd(a), newVolumePruneCmd(a)}
}

// newVolumeCommand is the `volume` group for the root command.
func newVolumeCommand(a *app) *cobra.Command {
	return groupCommand("volume", "Manage volumes", volumeCommands(a))
}

// volumeRow is one line of `volume ls`, with docker's fields.
type volumeRow struct{ v volume.Volume }

func (r volumeRow) Name() string       { return r.v.Name }
func (r volumeRow) Driver() string     { return r.v.Driver }
func (r volumeRow) Scope() string      { return r.v.Scope }
func (r volumeRow) Mountpoint() string { return r.v.Mountpoint }
func (r volumeRow) Group() string      { return "N/A" }

// Availability and Status are cluster-volume fields; local ones have none.
func (r volumeRow) Availability() string { return "N/A" }
func (r volumeRow) Status() string       { return "N/A" }

// Labels is "k=v,k2=v2", sorted so the output is stable.
func (r volumeRow) Labels() string {
	kv := make([]string, 0, len(r.v.Labels))
	for k, v := range r.v.Labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// Label returns one label's value ({{.Label "k"}}).
func (r volumeRow) Label(name string) string { return r.v.Labels[name] }

func (r volumeRow) Links() string {
	if r.v.UsageData == nil {
		return "N/A"
	}
	return fmt.Sprint(r.v.UsageData.RefCount)
}

func (r volumeRow) Size() string {
	if r.v.UsageData == nil || r.v.UsageData.Size < 0 {
		return "N/A"
	}
	return humanSize(r.v.UsageData.Size)
}

// MarshalJSON gives --format json and {{json .}} the row's fields.
func (r volumeRow) MarshalJSON() ([]byte, error) {
	return marshalRow(map[string]any{"Name": r.Name(), "Driver": r.Driver(), "Scope": r.Scope(),
		"Mountpoint": r.Mountpoint(), "Labels": r.Labels(), "Links": r.Links(), "Size": r.Size(),
		"Group": r.Group(), "Availability": r.Availability(), "Status": r.Status()})
}

// renderVolumes prints volumes sorted by name, as docker's CLI does.
func renderVolumes(a *app, list []volume.Volume, format string, quiet bool) error {
	switch {
	case quiet:
		format = "{{.Name}}"
	case format == "" || format == "table":
		format = volumesDefaultFormat
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	rows := make([]any, len(list))
	for i, v := range list {
		rows[i] = volumeRow{v}
	}
	return table{format: format, headers: volumeHeaders}.render(a.Out, rows)
}

func newVolumeCreateCmd(a *app) *cobra.Command {
	var driver, name string
	var labels []string
	var opts map[string]string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if name != "" {
					return &StatusError{Status: "conflicting options: cannot specify a volume-name through both --name and as a positional arg", Code: 1}
				}
				name = args[0]
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			req := volume.CreateRequest{Driver: driver, DriverOpts: opts, Labels: labelMap(labels), Name: name}
			v, err := c.VolumeCreate(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.Out, v.Name)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&driver, "driver", "d", "local", "Specify volume driver name")
	fs.StringVar(&name, "name", "", "Specify volume name")
	_ = fs.MarkHidden("name")
	fs.StringArrayVar(&labels, "label", nil, "Set metadata for a volume")
	fs.VarP(mapValue{&opts}, "opt", "o", "Set driver specific options")
	return cmd
}

// mapValue is docker's map option: repeated key=value flags, split at the
// first "=" only, so "-o o=size=10m,uid=1000" keeps its commas.
type mapValue struct{ m *map[string]string }

func (v mapValue) Set(s string) error {
	k, val, _ := strings.Cut(s, "=")
	if *v.m == nil {
		*v.m = map[string]string{}
	}
	(*v.m)[k] = val
	return nil
}

func (v mapValue) Type() string { return "map" }

func (v mapValue) String() string {
	if v.m == nil || len(*v.m) == 0 {
		return "map[]"
	}
	return fmt.Sprint(*v.m)
}

// labelMap turns --label k=v (or a bare k) into a map.
func labelMap(labels []string) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

func newVolumeLsCmd(a *app) *cobra.Command {
	var quiet bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			resp, err := c.VolumeList(cmd.Context(), client.ParseFilters(filters))
			if err != nil {
				return err
			}
			for _, w := range resp.Warnings {
				fmt.Fprintln(a.Err, w)
			}
			return renderVolumes(a, resp.Volumes, format, quiet)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	fs.StringVar(&format, "format", "", "Format output using a custom template")
	fs.StringArrayVarP(&filters, "filter", "f", nil, "Provide filter values (e.g. \"dangling=true\")")
	return cmd
}

func newVolumeInspectCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.inspect(cmd.Context(), args, []inspectKind{volumeKind}, inspectOpts{format: format}, "volume")
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func newVolumeRmCmd(a *app) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Long:    "Remove one or more volumes. You cannot remove a volume that is in use by a container.",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return forEach(cmd.Context(), a, args, func(ctx context.Context, n string) error {
				return c.VolumeRemove(ctx, n, force)
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

func newVolumePruneCmd(a *app) *cobra.Command {
	var all, force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, f := range filters {
				if k, _, _ := strings.Cut(f, "="); all && strings.EqualFold(strings.TrimSpace(k), "all") {
					return &StatusError{Status: "conflicting options: cannot specify both --all and --filter all=1", Code: 1}
				}
			}
			if all {
				filters = append(filters, "all=true")
			}
			warning := "WARNING! This will remove anonymous local volumes not used by at least one container."
			if all {
				warning = "WARNING! This will remove all local volumes not used by at least one container."
			}
			if !force && !a.confirm(warning) {
				return nil
			}
			n, err := a.pruneVolumes(cmd.Context(), filters)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.Out, "Total reclaimed space:", humanSize(n))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Provide filter values (e.g. \"label=<label>\")")
	return cmd
}

func (a *app) pruneVolumes(ctx context.Context, filters []string) (int64, error) {
	return a.postPrune(ctx, "/volumes/prune", filters, "VolumesDeleted", "Deleted Volumes:")
}
