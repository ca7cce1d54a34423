package cli

import (
	"context"
	"fmt"

	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

func containerCommands(a *app) []*cobra.Command {
	return []*cobra.Command{
		newRunCmd(a), newCreateCmd(a), newStartCmd(a), newStopCmd(a), newKillCmd(a),
		newRestartCmd(a), newRmCmd(a), newPsCmd(a), newAttachCmd(a), newExecCmd(a),
		newLogsCmd(a), newContainerInspectCmd(a), newTopCmd(a), newWaitCmd(a), newRenameCmd(a),
		newPauseCmd(a, "pause", "Pause all processes within one or more containers"),
		newPauseCmd(a, "unpause", "Unpause all processes within one or more containers"),
		newCpCmd(a), newDiffCmd(a), newExportCmd(a), newCommitCmd(a), newStatsCmd(a),
		newUpdateCmd(a), newPortCmd(a), newContainerPruneCmd(a),
	}
}

func newStartCmd(a *app) *cobra.Command {
	var attach, interactive bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if !attach && !interactive {
				return forEach(ctx, a, args, func(ctx context.Context, n string) error {
					return c.ContainerStart(ctx, n)
				})
			}
			if len(args) > 1 {
				return fmt.Errorf("you cannot start and attach multiple containers at once")
			}
			ct, err := c.ContainerInspect(ctx, args[0])
			if err != nil {
				return err
			}
			ao := attachOpts{stdout: attach, stderr: attach, stdin: interactive && ct.Config.OpenStdin,
				tty: ct.Config.Tty, detachKeys: detachKeys}
			if ao.tty && ao.stdin && !isTerminal(a.In) {
				return errNotTTY
			}
			return a.attachAndStart(ctx, c, ct.ID, ao, false, attach && !ct.Config.Tty, true)
		},
	}
	cmd.Flags().BoolVarP(&attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "Attach container's STDIN")
	cmd.Flags().StringVar(&detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
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

// simplePost makes a command that calls do for each container named.
func simplePost(a *app, use, short string, do func(ctx context.Context, c *client.Client, cmd *cobra.Command, n string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use + " [OPTIONS] CONTAINER [CONTAINER...]",
		Short: short,
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return forEach(cmd.Context(), a, args, func(ctx context.Context, n string) error {
				return do(ctx, c, cmd, n)
			})
		},
	}
}

func newStopCmd(a *app) *cobra.Command {
	var s stopFlags
	cmd := simplePost(a, "stop", "Stop one or more running containers", func(ctx context.Context, c *client.Client, cmd *cobra.Command, n string) error {
		return c.ContainerStop(ctx, n, s.options(cmd))
	})
	s.add(cmd)
	return cmd
}

func newRestartCmd(a *app) *cobra.Command {
	var s stopFlags
	cmd := simplePost(a, "restart", "Restart one or more containers", func(ctx context.Context, c *client.Client, cmd *cobra.Command, n string) error {
		return c.ContainerRestart(ctx, n, s.options(cmd))
	})
	s.add(cmd)
	return cmd
}

func newKillCmd(a *app) *cobra.Command {
	var sig string
	cmd := simplePost(a, "kill", "Kill one or more running containers", func(ctx context.Context, c *client.Client, _ *cobra.Command, n string) error {
		return c.ContainerKill(ctx, n, sig)
	})
	cmd.Flags().StringVarP(&sig, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func newPauseCmd(a *app, action, short string) *cobra.Command {
	do := func(ctx context.Context, c *client.Client, _ *cobra.Command, n string) error {
		return c.ContainerPause(ctx, n)
	}
	if action == "unpause" {
		do = func(ctx context.Context, c *client.Client, _ *cobra.Command, n string) error {
			return c.ContainerUnpause(ctx, n)
		}
	}
	cmd := simplePost(a, action, short, do)
	cmd.Use = action + " CONTAINER [CONTAINER...]"
	return cmd
}

func newRmCmd(a *app) *cobra.Command {
	var force, volumes, link bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more containers",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			opts := client.ContainerRemoveOptions{Force: force, RemoveVolumes: volumes, RemoveLinks: link}
			return forEach(cmd.Context(), a, args, func(ctx context.Context, n string) error {
				return c.ContainerRemove(ctx, n, opts)
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	cmd.Flags().BoolVarP(&link, "link", "l", false, "Remove the specified link")
	return cmd
}

func newWaitCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			failed := false
			for _, n := range args {
				ch, err := c.ContainerWait(cmd.Context(), n, "")
				if err == nil {
					w := <-ch
					err = w.Err
					if err == nil {
						fmt.Fprintln(a.Out, w.Response.StatusCode)
						continue
					}
				}
				fmt.Fprintln(a.Err, err)
				failed = true
			}
			if failed {
				return &StatusError{Code: 1}
			}
			return nil
		},
	}
}

func newRenameCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return c.ContainerRename(cmd.Context(), args[0], args[1])
		},
	}
}

func newUpdateCmd(a *app) *cobra.Command {
	var o runOpts
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var u container.UpdateConfig
			if err := o.resources(cmd.Flags(), &u.Resources); err != nil {
				return err
			}
			u.MemorySwappiness = nil
			if cmd.Flags().Changed("restart") {
				if u.RestartPolicy, err = parseRestart(o.restart); err != nil {
					return err
				}
			}
			return forEach(cmd.Context(), a, args, func(ctx context.Context, n string) error {
				resp, err := c.ContainerUpdate(ctx, n, u)
				if err != nil {
					return err
				}
				for _, w := range resp.Warnings {
					fmt.Fprintln(a.Err, w)
				}
				return nil
			})
		},
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

func newContainerPruneCmd(a *app) *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !force && !a.confirm("WARNING! This will remove all stopped containers.") {
				return nil
			}
			n, err := a.pruneContainers(cmd.Context(), filters)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.Out, "Total reclaimed space:", humanSize(n))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Provide filter values (e.g. \"until=<timestamp>\")")
	return cmd
}

func (a *app) pruneContainers(ctx context.Context, filters []string) (int64, error) {
	c, err := a.client()
	if err != nil {
		return 0, err
	}
	rep, err := c.ContainersPrune(ctx, client.ParseFilters(filters))
	if err != nil {
		return 0, err
	}
	if len(rep.ContainersDeleted) > 0 {
		fmt.Fprintln(a.Out, "Deleted Containers:")
		for _, n := range rep.ContainersDeleted {
			fmt.Fprintln(a.Out, n)
		}
		fmt.Fprintln(a.Out)
	}
	return int64(rep.SpaceReclaimed), nil
}
