package container

import (
	"context"
	"fmt"
	"io"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

// StartOptions are start's flags.
type StartOptions struct {
	Attach, Interactive bool
	DetachKeys          string
}

func newStartCmd(e *Env) *cobra.Command {
	var o StartOptions
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  command.MinArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Start(cmd.Context(), c, e.Streams, o, args)
		}),
	}
	cmd.Flags().BoolVarP(&o.Attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	cmd.Flags().BoolVarP(&o.Interactive, "interactive", "i", false, "Attach container's STDIN")
	cmd.Flags().StringVar(&o.DetachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// Start starts the containers; with -a or -i it attaches to the one named
// and exits with its status.
func Start(ctx context.Context, c *client.Client, s command.Streams, o StartOptions, names []string) error {
	if !o.Attach && !o.Interactive {
		return command.ForEach(ctx, s.Out, s.Err, names, func(ctx context.Context, n string) error {
			return c.ContainerStart(ctx, n)
		})
	}
	if len(names) > 1 {
		return fmt.Errorf("you cannot start and attach multiple containers at once")
	}
	ct, err := c.ContainerInspect(ctx, names[0])
	if err != nil {
		return err
	}
	ao := AttachOptions{Stdout: o.Attach, Stderr: o.Attach, Stdin: o.Interactive && ct.Config.OpenStdin,
		TTY: ct.Config.Tty, DetachKeys: o.DetachKeys}
	if ao.TTY && ao.Stdin && !command.IsTerminal(s.In) {
		return errNotTTY
	}
	return AttachAndStart(ctx, c, s, ct.ID, ao, false, o.Attach && !ct.Config.Tty, true)
}

// stopFlags are -t/--time and -s/--signal, shared by stop and restart.
type stopFlags struct {
	timeout int
	signal  string
}

func (s *stopFlags) add(cmd *cobra.Command) {
	cmd.Flags().IntVarP(&s.timeout, "time", "t", 0, "Seconds to wait before killing the container")
	cmd.Flags().StringVarP(&s.signal, "signal", "s", "", "Signal to send to the container")
}

func (s *stopFlags) options(cmd *cobra.Command) client.StopOptions {
	o := client.StopOptions{Signal: s.signal}
	if cmd.Flags().Changed("time") {
		o.Timeout = &s.timeout
	}
	return o
}

// eachCmd makes a command that calls do for each container named, printing
// the names done and the errors, as docker's stop, kill, pause... do.
func eachCmd(e *Env, use, short string, do func(ctx context.Context, c *client.Client, cmd *cobra.Command, n string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use + " [OPTIONS] CONTAINER [CONTAINER...]",
		Short: short,
		Args:  command.MinArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return command.ForEach(cmd.Context(), e.Out, e.Err, args, func(ctx context.Context, n string) error {
				return do(ctx, c, cmd, n)
			})
		}),
	}
}

func newStopCmd(e *Env) *cobra.Command {
	var s stopFlags
	cmd := eachCmd(e, "stop", "Stop one or more running containers", func(ctx context.Context, c *client.Client, cmd *cobra.Command, n string) error {
		return c.ContainerStop(ctx, n, s.options(cmd))
	})
	s.add(cmd)
	return cmd
}

func newRestartCmd(e *Env) *cobra.Command {
	var s stopFlags
	cmd := eachCmd(e, "restart", "Restart one or more containers", func(ctx context.Context, c *client.Client, cmd *cobra.Command, n string) error {
		return c.ContainerRestart(ctx, n, s.options(cmd))
	})
	s.add(cmd)
	return cmd
}

func newKillCmd(e *Env) *cobra.Command {
	var sig string
	cmd := eachCmd(e, "kill", "Kill one or more running containers", func(ctx context.Context, c *client.Client, _ *cobra.Command, n string) error {
		return c.ContainerKill(ctx, n, sig)
	})
	cmd.Flags().StringVarP(&sig, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func newPauseCmd(e *Env, action, short string) *cobra.Command {
	do := func(ctx context.Context, c *client.Client, _ *cobra.Command, n string) error {
		return c.ContainerPause(ctx, n)
	}
	if action == "unpause" {
		do = func(ctx context.Context, c *client.Client, _ *cobra.Command, n string) error {
			return c.ContainerUnpause(ctx, n)
		}
	}
	cmd := eachCmd(e, action, short, do)
	cmd.Use = action + " CONTAINER [CONTAINER...]"
	return cmd
}

func newRmCmd(e *Env) *cobra.Command {
	var o client.ContainerRemoveOptions
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more containers",
		Args:    command.MinArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return command.ForEach(cmd.Context(), e.Out, e.Err, args, func(ctx context.Context, n string) error {
				return c.ContainerRemove(ctx, n, o)
			})
		}),
	}
	cmd.Flags().BoolVarP(&o.Force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	cmd.Flags().BoolVarP(&o.RemoveVolumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	cmd.Flags().BoolVarP(&o.RemoveLinks, "link", "l", false, "Remove the specified link")
	return cmd
}

func newWaitCmd(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  command.MinArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Wait(cmd.Context(), c, e.Out, e.Err, args)
		}),
	}
}

// Wait prints each container's exit code once it has stopped.
func Wait(ctx context.Context, c *client.Client, out, errOut io.Writer, names []string) error {
	failed := false
	for _, n := range names {
		ch, err := c.ContainerWait(ctx, n, "")
		if err == nil {
			w := <-ch
			if err = w.Err; err == nil {
				fmt.Fprintln(out, w.Response.StatusCode)
				continue
			}
		}
		fmt.Fprintln(errOut, err)
		failed = true
	}
	if failed {
		return &command.StatusError{Code: 1}
	}
	return nil
}

func newRenameCmd(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  command.ExactArgs(2),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return c.ContainerRename(cmd.Context(), args[0], args[1])
		}),
	}
}

func newUpdateCmd(e *Env) *cobra.Command {
	var o runOpts
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  command.MinArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			u, err := o.updateConfig(cmd.Flags())
			if err != nil {
				return err
			}
			return Update(cmd.Context(), c, e.Streams, u, args)
		}),
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.memory, "memory", "m", "", "Memory limit")
	fs.StringVar(&o.memorySwap, "memory-swap", "", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	fs.StringVar(&o.cpus, "cpus", "", "Number of CPUs")
	fs.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.Int64Var(&o.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	fs.StringVar(&o.restart, "restart", "", "Restart policy to apply when a container exits")
	return cmd
}

// Update applies u to each container, printing the daemon's warnings.
func Update(ctx context.Context, c *client.Client, s command.Streams, u container.UpdateConfig, names []string) error {
	return command.ForEach(ctx, s.Out, s.Err, names, func(ctx context.Context, n string) error {
		resp, err := c.ContainerUpdate(ctx, n, u)
		if err != nil {
			return err
		}
		for _, w := range resp.Warnings {
			fmt.Fprintln(s.Err, w)
		}
		return nil
	})
}

func newPruneCmd(e *Env) *cobra.Command {
	var f command.PruneFlags
	return command.NewPruneCommand(e.Env, &f, command.PruneCommand{
		Short:         "Remove all stopped containers",
		FilterExample: "until=<timestamp>",
		Warning:       func() string { return "WARNING! This will remove all stopped containers." },
		Prune: func(ctx context.Context, c *client.Client, out io.Writer) (int64, error) {
			return Prune(ctx, c, out, client.ParseFilters(f.Filter))
		},
	})
}

// Prune removes the stopped containers, listing them under docker's
// heading, and returns the space reclaimed (system prune adds it up).
func Prune(ctx context.Context, c *client.Client, out io.Writer, f client.Filters) (int64, error) {
	rep, err := c.ContainersPrune(ctx, f)
	if err != nil {
		return 0, err
	}
	if len(rep.ContainersDeleted) > 0 {
		fmt.Fprintln(out, "Deleted Containers:")
		for _, n := range rep.ContainersDeleted {
			fmt.Fprintln(out, n)
		}
		fmt.Fprintln(out)
	}
	return int64(rep.SpaceReclaimed), nil
}
