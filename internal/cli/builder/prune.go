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

// PruneOptions are `builder prune`'s flags.
type PruneOptions struct {
	All, Force  bool
	Filter      []string
	KeepStorage string
}

func newPruneCmd(e *command.Env) *cobra.Command {
	var o PruneOptions
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove build cache",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			warning := "WARNING! This will remove all dangling build cache."
			if o.All {
				warning = "WARNING! This will remove all build cache."
			}
			if !o.Force && !e.Confirm(warning) {
				return nil
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			n, err := Prune(cmd.Context(), c, o.All, o.KeepStorage, o.Filter, e.Out)
			if err != nil {
				return err
			}
			command.PrintReclaimed(e.Out, n)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&o.All, "all", "a", false, "Remove all unused build cache, not just dangling ones")
	cmd.Flags().BoolVarP(&o.Force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&o.Filter, "filter", nil, "Provide filter values (e.g. \"until=24h\")")
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
