package image

import (
	"context"
	"fmt"
	"io"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/spf13/cobra"
)

// PruneOptions are `image prune`'s flags.
type PruneOptions struct {
	All bool
	command.PruneFlags
}

func newPruneCmd(e *command.Env) *cobra.Command {
	var o PruneOptions
	cmd := command.NewPruneCommand(e, &o.PruneFlags, command.PruneCommand{
		Short:         "Remove unused images",
		FilterExample: "until=<timestamp>",
		Warning: func() string {
			if o.All {
				return "WARNING! This will remove all images without at least one container associated to them."
			}
			return "WARNING! This will remove all dangling images."
		},
		Prune: func(ctx context.Context, c *client.Client, out io.Writer) (int64, error) {
			return Prune(ctx, c, o.All, o.Filter, out)
		},
	})
	cmd.Flags().BoolVarP(&o.All, "all", "a", false, "Remove all unused images, not just dangling ones")
	return cmd
}

// Prune removes the dangling images (all unused ones with all) that the
// filters select, lists what went as docker does, and returns the bytes
// reclaimed. `system prune` runs it too.
func Prune(ctx context.Context, c *client.Client, all bool, filters []string, out io.Writer) (int64, error) {
	dangling := "dangling=true"
	if all {
		dangling = "dangling=false"
	}
	rep, err := c.ImagesPrune(ctx, client.ParseFilters(append([]string{dangling}, filters...)))
	if err != nil {
		return 0, err
	}
	if len(rep.ImagesDeleted) > 0 {
		fmt.Fprintln(out, "Deleted Images:")
		for _, d := range rep.ImagesDeleted {
			if d.Untagged != "" {
				fmt.Fprintln(out, "untagged:", d.Untagged)
			}
			if d.Deleted != "" {
				fmt.Fprintln(out, "deleted:", d.Deleted)
			}
		}
		fmt.Fprintln(out)
	}
	return int64(rep.SpaceReclaimed), nil
}
