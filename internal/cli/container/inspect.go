package container

import (
	"context"
	"encoding/json"
	"io"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

// InspectOptions are container inspect's flags.
type InspectOptions struct {
	Format string
	Size   bool
}

func newInspectCmd(e *Env) *cobra.Command {
	var o InspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Display detailed information on one or more containers",
		Args:  command.MinArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Inspect(cmd.Context(), c, e.Out, o, args)
		}),
	}
	cmd.Flags().StringVarP(&o.Format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolVarP(&o.Size, "size", "s", false, "Display total file sizes if the type is container")
	return cmd
}

// InspectKind looks up containers for command.Inspect (container inspect
// and the top-level inspect); size asks for their sizes. A body that does
// not decode is still shown, as the daemon sent it.
func InspectKind(size bool) command.InspectKind {
	return command.InspectKind{Name: "container", Fetch: command.Typed(func(c *client.Client, ctx context.Context, ref string) (container.InspectResponse, json.RawMessage, error) {
		return c.ContainerInspectWithRaw(ctx, ref, size)
	})}
}

// Inspect prints the containers as an indented JSON array, or one template
// result each; the missing ones are reported at the end (exit 1).
func Inspect(ctx context.Context, c *client.Client, out io.Writer, o InspectOptions, names []string) error {
	return command.Inspect(ctx, c, out, names, []command.InspectKind{InspectKind(o.Size)}, o.Format, "container")
}
