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

// NewCommands returns the container commands, each made anew (the root
// registers them twice: under "container" and as top-level shortcuts).
func NewCommands(e *Env) []*cobra.Command {
	return []*cobra.Command{
		newRunCmd(e), newCreateCmd(e), newStartCmd(e), newStopCmd(e), newKillCmd(e),
		newRestartCmd(e), newRmCmd(e), newPsCmd(e), newAttachCmd(e), newExecCmd(e),
		newLogsCmd(e), newInspectCmd(e), newTopCmd(e), newWaitCmd(e), newRenameCmd(e),
		newPauseCmd(e, "pause", "Pause all processes within one or more containers"),
		newPauseCmd(e, "unpause", "Unpause all processes within one or more containers"),
		newCpCmd(e), newDiffCmd(e), newExportCmd(e), newCommitCmd(e), newStatsCmd(e),
		newUpdateCmd(e), newPortCmd(e), newPruneCmd(e),
	}
}

// NewCommand is "berth container".
func NewCommand(e *Env) *cobra.Command {
	return command.Group("container", "Manage containers", NewCommands(e)...)
}

// run is a RunE body that gets the client first.
func run(e *Env, fn func(cmd *cobra.Command, c *client.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := e.Client()
		if err != nil {
			return err
		}
		return fn(cmd, c, args)
	}
}
