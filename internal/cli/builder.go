package cli

import (
	"context"
	"fmt"
	"net/url"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/build"
	"github.com/spf13/cobra"
)

// newBuilderCommand is `berth builder`: the build cache.
func newBuilderCommand(a *app) *cobra.Command {
	return groupCommand("builder", "Manage builds", []*cobra.Command{newBuilderPruneCmd(a), newBuildCmd(a)})
}

func newBuilderPruneCmd(a *app) *cobra.Command {
	var all, force bool
	var filters []string
	var keep string
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove build cache",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			warning := "WARNING! This will remove all dangling build cache."
			if all {
				warning = "WARNING! This will remove all build cache."
			}
			if !force && !a.confirm(warning) {
				return nil
			}
			n, err := a.pruneBuildCache(cmd.Context(), all, keep, filters)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.Out, "Total reclaimed space:", humanSize(n))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused build cache, not just dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Provide filter values (e.g. \"until=24h\")")
	cmd.Flags().StringVar(&keep, "keep-storage", "", "Amount of disk space to keep for cache")
	return cmd
}

// pruneBuildCache posts /build/prune and lists the deleted cache entries
// as docker does; it returns the reclaimed bytes.
func (a *app) pruneBuildCache(ctx context.Context, all bool, keep string, filters []string) (int64, error) {
	c, err := a.client()
	if err != nil {
		return 0, err
	}
	q := filterQuery(filters)
	if all {
		q.Set("all", "1")
	}
	if keep != "" {
		n, err := units.RAMInBytes(keep)
		if err != nil {
			return 0, fmt.Errorf("invalid argument %q for \"--keep-storage\" flag: %w", keep, err)
		}
		q.Set("keep-storage", fmt.Sprint(n))
	}
	var rep build.CachePruneReport
	if err := c.Post(ctx, "/build/prune", url.Values(q), nil, &rep); err != nil {
		return 0, err
	}
	if len(rep.CachesDeleted) > 0 {
		fmt.Fprintln(a.Out, "Deleted build cache objects:")
		for _, id := range rep.CachesDeleted {
			fmt.Fprintln(a.Out, id)
		}
		fmt.Fprintln(a.Out)
	}
	return int64(rep.SpaceReclaimed), nil
}
