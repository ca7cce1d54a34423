package builder

import (
	"context"
	"fmt"
	"io"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	units "github.com/docker/go-units"
	"github.com/spf13/cobra"
)

// PruneOptions are `builder prune`'s own flags (-f and --filter are
// every prune's, command.PruneFlags).
type PruneOptions struct {
	All         bool
	KeepStorage string
}

func newPruneCmd(e *command.Env) *cobra.Command {
	var o PruneOptions
	var f command.PruneFlags
	cmd := command.NewPruneCommand(e, &f, command.PruneCommand{
		Use:           "prune",
		Short:         "Remove build cache",
		FilterExample: "until=24h",
		Warning: func() string {
			if o.All {
				return "WARNING! This will remove all build cache."
			}
			return "WARNING! This will remove all dangling build cache."
		},
		Prune: func(ctx context.Context, c *client.Client, out io.Writer) (int64, error) {
			return Prune(ctx, c, o.All, o.KeepStorage, f.Filter, out)
		},
	})
	cmd.Flags().BoolVarP(&o.All, "all", "a", false, "Remove all unused build cache, not just dangling ones")
	cmd.Flags().StringVar(&o.KeepStorage, "keep-storage", "", "Amount of disk space to keep for cache")
	return cmd
}

// Prune removes build cache (all of it with all, down to keep bytes when
// given), lists the entries deleted as docker does and returns the bytes
// reclaimed. `system prune` runs it too.
func Prune(ctx context.Context, c *client.Client, all bool, keep string, filters []string, out io.Writer) (int64, error) {
	opts := client.BuildCachePruneOptions{All: all, Filters: client.ParseFilters(filters)}
	if keep != "" {
		n, err := units.RAMInBytes(keep)
		if err != nil {
			return 0, fmt.Errorf("invalid argument %q for \"--keep-storage\" flag: %w", keep, err)
		}
		opts.KeepStorage = n
	}
	rep, err := c.BuildCachePrune(ctx, opts)
	if err != nil {
		return 0, err
	}
	command.PrintDeleted(out, "Deleted build cache objects:", rep.CachesDeleted)
	return int64(rep.SpaceReclaimed), nil
}
