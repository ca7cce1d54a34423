// Package container holds the berth container commands (run, create,
// start, stop, ps, logs, exec, cp, stats...), docker's "container" group
// and its top-level shortcuts. Each command is a thin cobra definition
// over an options struct and a function taking (ctx, client, streams,
// options), so its logic runs without cobra; every call to the daemon
// goes through a typed method of internal/client.
package container

import (
	"context"
	"io"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/spf13/cobra"
)

// PullFunc pulls ref, writing docker's progress to progress. run and
// create pull a missing image with it; the image group owns pulling, and
// the root hands it over so this group does not import that one.
type PullFunc func(ctx context.Context, c *client.Client, ref string, progress io.Writer) error

// Env is what the container commands run with.
type Env struct {
	*command.Env
	Pull PullFunc
}

// Named is one container command, built alone on demand.
type Named struct {
	Name    string
	Aliases []string
	New     func(*Env) *cobra.Command
}

// Catalogue lists the container commands in their order, each with what
// builds it alone: the root builds only the shortcut a command line names
// (`berth ps`), as building them all, run's and create's ~100 flags each
// twice over, was a fifth of the CLI's start-up.
func Catalogue() []Named {
	pause := func(action, short string) func(*Env) *cobra.Command {
		return func(e *Env) *cobra.Command { return newPauseCmd(e, action, short) }
	}
	return []Named{
		{"run", nil, newRunCmd}, {"create", nil, newCreateCmd}, {"start", nil, newStartCmd},
		{"stop", nil, newStopCmd}, {"kill", nil, newKillCmd}, {"restart", nil, newRestartCmd},
		{"rm", []string{"remove"}, newRmCmd}, {"ls", []string{"list", "ps"}, newPsCmd},
		{"attach", nil, newAttachCmd}, {"exec", nil, newExecCmd}, {"logs", nil, newLogsCmd},
		{"inspect", nil, newInspectCmd}, {"top", nil, newTopCmd}, {"wait", nil, newWaitCmd},
		{"rename", nil, newRenameCmd},
		{"pause", nil, pause("pause", "Pause all processes within one or more containers")},
		{"unpause", nil, pause("unpause", "Unpause all processes within one or more containers")},
		{"cp", nil, newCpCmd}, {"diff", nil, newDiffCmd}, {"export", nil, newExportCmd},
		{"commit", nil, newCommitCmd}, {"stats", nil, newStatsCmd}, {"update", nil, newUpdateCmd},
		{"port", nil, newPortCmd}, {"prune", nil, newPruneCmd},
	}
}

// NewCommands returns the container commands, each made anew (the root
// registers them twice: under "container" and as top-level shortcuts).
func NewCommands(e *Env) []*cobra.Command {
	cat := Catalogue()
	cmds := make([]*cobra.Command, len(cat))
	for i, n := range cat {
		cmds[i] = n.New(e)
	}
	return cmds
}

// NewCommand is "berth container".
func NewCommand(e *Env) *cobra.Command {
	return command.Group("container", "Manage containers", NewCommands(e)...)
}
