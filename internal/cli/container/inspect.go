package container

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
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
		RunE: run(e, func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Inspect(cmd.Context(), c, e.Out, o, args)
		}),
	}
	cmd.Flags().StringVarP(&o.Format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().BoolVarP(&o.Size, "size", "s", false, "Display total file sizes if the type is container")
	return cmd
}

// Inspect prints the containers as an indented JSON array, or one template
// result each; the missing ones are reported at the end (exit 1).
func Inspect(ctx context.Context, c *client.Client, out io.Writer, o InspectOptions, names []string) error {
	var raws []json.RawMessage
	var typed []any
	var missing []string
	for _, n := range names {
		ct, raw, err := c.ContainerInspectWithRaw(ctx, n, o.Size)
		if raw == nil {
			if client.StatusOf(err) != http.StatusNotFound {
				return err
			}
			missing = append(missing, fmt.Sprintf("Error: No such container: %s", n))
			continue
		}
		raws = append(raws, raw)
		if err != nil {
			typed = append(typed, nil) // templates read the raw JSON
		} else {
			typed = append(typed, &ct)
		}
	}
	if o.Format == "" {
		if err := command.WriteJSONArray(out, raws); err != nil {
			return err
		}
	} else {
		for i, raw := range raws {
			if err := command.ExecInspectTemplate(out, o.Format, typed[i], raw); err != nil {
				return err
			}
		}
	}
	if len(missing) > 0 {
		return &command.StatusError{Status: strings.Join(missing, "\n"), Code: 1}
	}
	return nil
}
