package cli

import (
	"fmt"

	"github.com/berth-project/berth/internal/cli/command"
	containercmd "github.com/berth-project/berth/internal/cli/container"
	imagecmd "github.com/berth-project/berth/internal/cli/image"
	networkcmd "github.com/berth-project/berth/internal/cli/network"
	volumecmd "github.com/berth-project/berth/internal/cli/volume"
	"github.com/spf13/cobra"
)

// inspectKinds are what `berth inspect` tries, in docker's order.
func inspectKinds(size bool) []command.InspectKind {
	return []command.InspectKind{containercmd.InspectKind(size), imagecmd.InspectKind, networkcmd.InspectKind, volumecmd.InspectKind}
}

type inspectOpts struct {
	format string
	size   bool
	kind   string
}

func newInspectCmd(a *app) *cobra.Command {
	var o inspectOpts
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on Docker objects",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kinds := inspectKinds(o.size)
			if o.kind != "" {
				var found []command.InspectKind
				for _, k := range kinds {
					if k.Name == o.kind {
						found = append(found, k)
					}
				}
				if len(found) == 0 {
					return fmt.Errorf("%q is not a valid value for --type", o.kind)
				}
				kinds = found
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return command.Inspect(cmd.Context(), c, a.Out, args, kinds, o.format, "object")
		},
	}
	cmd.Flags().StringVarP(&o.format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolVarP(&o.size, "size", "s", false, "Display total file sizes if the type is container")
	cmd.Flags().StringVar(&o.kind, "type", "", "Only inspect objects of the given type")
	return cmd
}
