package command

import (
	"context"
	"io"

	"github.com/berth-project/berth/internal/client"
	"github.com/spf13/cobra"
)

// PruneFlags are the flags every prune command has.
type PruneFlags struct {
	Force  bool
	Filter []string
}

// PruneCommand is one `X prune`'s own part; NewPruneCommand does the
// rest the way docker's prune commands all do.
type PruneCommand struct {
	Use           string // "" is "prune [OPTIONS]"
	Short         string
	FilterExample string // shown in --filter's help
	// Check refuses flag combinations before the warning (nil: none).
	Check func() error
	// Warning is what the confirmation asks about, for the flags given.
	Warning func() string
	// Prune prunes, lists what went on out and returns the bytes
	// reclaimed.
	Prune func(ctx context.Context, c *client.Client, out io.Writer) (int64, error)
	// NoTotal leaves out the "Total reclaimed space" line (network
	// prune, which reclaims no space).
	NoTotal bool
}

// NewPruneCommand is a prune command over f and p: the check, the
// warning and its confirmation unless --force, the prune, the total.
// Commands add their own flags (-a...) to the result.
func NewPruneCommand(e *Env, f *PruneFlags, p PruneCommand) *cobra.Command {
	use := p.Use
	if use == "" {
		use = "prune [OPTIONS]"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: p.Short,
		Args:  NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if p.Check != nil {
				if err := p.Check(); err != nil {
					return err
				}
			}
			if !f.Force && !e.Confirm(p.Warning()) {
				return nil
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			n, err := p.Prune(cmd.Context(), c, e.Out)
			if err != nil {
				return err
			}
			if !p.NoTotal {
				PrintReclaimed(e.Out, n)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&f.Force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&f.Filter, "filter", nil, `Provide filter values (e.g. "`+p.FilterExample+`")`)
	return cmd
}

// NewInspectCommand is `X inspect [OPTIONS] X [X...]` over one kind of
// object: -f/--format and Inspect. Commands add their own flags.
func NewInspectCommand(e *Env, use, short string, kind InspectKind) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  MinArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Inspect(cmd.Context(), c, e.Out, args, []InspectKind{kind}, format, kind.Name)
		}),
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

// RemoveCommand is one `X rm`'s own part: its usage and what --force
// means for it.
type RemoveCommand struct {
	Use, Short, Long, ForceHelp string
	// Remove removes the names, printing each one removed on out and
	// each failure on errOut (ForEach).
	Remove func(ctx context.Context, c *client.Client, names []string, force bool, out, errOut io.Writer) error
}

// NewRemoveCommand is `X rm [-f] X [X...]` (alias remove).
func NewRemoveCommand(e *Env, r RemoveCommand) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     r.Use,
		Aliases: []string{"remove"},
		Short:   r.Short,
		Long:    r.Long,
		Args:    MinArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return r.Remove(cmd.Context(), c, args, force, e.Out, e.Err)
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, r.ForceHelp)
	return cmd
}
