// Package swarm is `berth swarm`: init, join, join-token, leave, update,
// unlock and unlock-key, as docker CLI 28 has them, over the Engine API's
// /swarm endpoints (berthd carries them out on Kubernetes, dockerd with
// swarmkit; the commands work against either).
package swarm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/swarm"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// NewCommand is `berth swarm`.
func NewCommand(e *command.Env) *cobra.Command {
	return command.Group("swarm", "Manage Swarm",
		newInitCmd(e), newJoinCmd(e), newJoinTokenCmd(e), newLeaveCmd(e), newUpdateCmd(e),
		newUnlockCmd(e), newUnlockKeyCmd(e))
}

// InitOptions are `swarm init`'s flags.
type InitOptions struct {
	ListenAddr, AdvertiseAddr, DataPathAddr string
	ForceNewCluster, Autolock               bool
	Availability                            string // "" unless given
	Spec                                    specOptions
}

// specOptions are the swarm spec flags init and update share.
type specOptions struct {
	taskHistoryLimit    int64
	dispatcherHeartbeat time.Duration
	certExpiry          time.Duration
}

func addSpecFlags(fs *pflag.FlagSet, o *specOptions) {
	fs.Int64Var(&o.taskHistoryLimit, "task-history-limit", 5, "Task history retention limit")
	fs.DurationVar(&o.dispatcherHeartbeat, "dispatcher-heartbeat", 5*time.Second, "Dispatcher heartbeat period (ns|us|ms|s|m|h)")
	fs.DurationVar(&o.certExpiry, "cert-expiry", 90*24*time.Hour, "Validity period for node certificates (ns|us|ms|s|m|h)")
}

// apply sets the spec fields whose flags were given.
func (o specOptions) apply(fs *pflag.FlagSet, s *swarm.Spec) {
	if fs.Changed("task-history-limit") {
		s.Orchestration.TaskHistoryRetentionLimit = &o.taskHistoryLimit
	}
	if fs.Changed("dispatcher-heartbeat") {
		s.Dispatcher.HeartbeatPeriod = o.dispatcherHeartbeat
	}
	if fs.Changed("cert-expiry") {
		s.CAConfig.NodeCertExpiry = o.certExpiry
	}
}

func availability(a string) (swarm.NodeAvailability, error) {
	if a == "" {
		return "", nil
	}
	switch v := swarm.NodeAvailability(strings.ToLower(a)); v {
	case swarm.NodeAvailabilityActive, swarm.NodeAvailabilityPause, swarm.NodeAvailabilityDrain:
		return v, nil
	}
	return "", fmt.Errorf("invalid availability %q, only active, pause and drain are supported", a)
}

func newInitCmd(e *command.Env) *cobra.Command {
	var o InitOptions
	cmd := &cobra.Command{
		Use:   "init [OPTIONS]",
		Short: "Initialize a swarm",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("availability") {
				o.Availability = ""
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			var spec swarm.Spec
			o.Spec.apply(cmd.Flags(), &spec)
			return Init(cmd.Context(), c, o, spec, e.Out)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.ListenAddr, "listen-addr", "0.0.0.0:2377", `Listen address (format: "<ip|interface>[:port]")`)
	fs.StringVar(&o.AdvertiseAddr, "advertise-addr", "", `Advertised address (format: "<ip|interface>[:port]")`)
	fs.StringVar(&o.DataPathAddr, "data-path-addr", "", `Address or interface to use for data path traffic (format: "<ip|interface>")`)
	fs.BoolVar(&o.ForceNewCluster, "force-new-cluster", false, "Force create a new cluster from current state")
	fs.BoolVar(&o.Autolock, "autolock", false, "Enable manager autolocking (requiring an unlock key to start a stopped manager)")
	fs.StringVar(&o.Availability, "availability", "active", `Availability of the node ("active", "pause", "drain")`)
	addSpecFlags(fs, &o.Spec)
	return cmd
}

// Init is `swarm init`: it prints what docker prints, the worker join
// command included.
func Init(ctx context.Context, c *client.Client, o InitOptions, spec swarm.Spec, out io.Writer) error {
	av, err := availability(o.Availability)
	if err != nil {
		return err
	}
	id, err := c.SwarmInit(ctx, swarm.InitRequest{
		ListenAddr: o.ListenAddr, AdvertiseAddr: o.AdvertiseAddr, DataPathAddr: o.DataPathAddr,
		ForceNewCluster: o.ForceNewCluster, Spec: spec, AutoLockManagers: o.Autolock, Availability: av,
	})
	if err != nil {
		if strings.Contains(err.Error(), "could not choose an IP address to advertise") || strings.Contains(err.Error(), "could not find the system's IP address") {
			return fmt.Errorf("%w - specify one with --advertise-addr", err)
		}
		return err
	}
	fmt.Fprintf(out, "Swarm initialized: current node (%s) is now a manager.\n\n", id)
	if err := printJoinCommand(ctx, c, id, true, false, out); err != nil {
		return err
	}
	fmt.Fprintln(out, "To add a manager to this swarm, run 'docker swarm join-token manager' and follow the instructions.")
	if o.Autolock {
		k, err := c.SwarmUnlockKey(ctx)
		if err != nil {
			return fmt.Errorf("could not fetch unlock key: %w", err)
		}
		printUnlockCommand(out, k.UnlockKey)
	}
	return nil
}

func printJoinCommand(ctx context.Context, c *client.Client, nodeID string, worker, manager bool, out io.Writer) error {
	n, _, err := c.NodeInspect(ctx, nodeID)
	if err != nil {
		return err
	}
	sw, err := c.SwarmInspect(ctx)
	if err != nil {
		return err
	}
	if n.ManagerStatus == nil {
		return nil
	}
	if worker {
		fmt.Fprintf(out, "To add a worker to this swarm, run the following command:\n\n    docker swarm join --token %s %s\n\n", sw.JoinTokens.Worker, n.ManagerStatus.Addr)
	}
	if manager {
		fmt.Fprintf(out, "To add a manager to this swarm, run the following command:\n\n    docker swarm join --token %s %s\n\n", sw.JoinTokens.Manager, n.ManagerStatus.Addr)
	}
	return nil
}

func printUnlockCommand(out io.Writer, key string) {
	if key == "" {
		return
	}
	fmt.Fprintf(out, "To unlock a swarm manager after it restarts, run the `docker swarm unlock`\n"+
		"command and provide the following key:\n\n    %s\n\n"+
		"Remember to store this key in a password manager, since without it you\n"+
		"will not be able to restart the manager.\n", key)
}

func newJoinCmd(e *command.Env) *cobra.Command {
	var req swarm.JoinRequest
	var av string
	cmd := &cobra.Command{
		Use:   "join [OPTIONS] HOST:PORT",
		Short: "Join a swarm as a node and/or manager",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("availability") {
				av = ""
			}
			a, err := availability(av)
			if err != nil {
				return err
			}
			req.Availability = a
			req.RemoteAddrs = []string{args[0]}
			c, err := e.Client()
			if err != nil {
				return err
			}
			if err := c.SwarmJoin(cmd.Context(), req); err != nil {
				return err
			}
			info, err := c.SwarmInfo(cmd.Context())
			if err != nil {
				return err
			}
			if info.ControlAvailable {
				fmt.Fprintln(e.Out, "This node joined a swarm as a manager.")
			} else {
				fmt.Fprintln(e.Out, "This node joined a swarm as a worker.")
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&req.ListenAddr, "listen-addr", "0.0.0.0:2377", `Listen address (format: "<ip|interface>[:port]")`)
	fs.StringVar(&req.AdvertiseAddr, "advertise-addr", "", `Advertised address (format: "<ip|interface>[:port]")`)
	fs.StringVar(&req.DataPathAddr, "data-path-addr", "", `Address or interface to use for data path traffic (format: "<ip|interface>")`)
	fs.StringVar(&req.JoinToken, "token", "", "Token for entry into the swarm")
	fs.StringVar(&av, "availability", "active", `Availability of the node ("active", "pause", "drain")`)
	return cmd
}

func newJoinTokenCmd(e *command.Env) *cobra.Command {
	var rotate, quiet bool
	cmd := &cobra.Command{
		Use:   "join-token [OPTIONS] (worker|manager)",
		Short: "Manage join tokens",
		Args:  command.ExactArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return JoinToken(cmd.Context(), c, args[0], rotate, quiet, e.Out)
		}),
	}
	cmd.Flags().BoolVar(&rotate, "rotate", false, "Rotate join token")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display token")
	return cmd
}

// JoinToken is `swarm join-token`.
func JoinToken(ctx context.Context, c *client.Client, role string, rotate, quiet bool, out io.Writer) error {
	worker, manager := role == "worker", role == "manager"
	if !worker && !manager {
		return errors.New("unknown role " + role)
	}
	if rotate {
		sw, err := c.SwarmInspect(ctx)
		if err != nil {
			return err
		}
		if err := c.SwarmUpdate(ctx, sw.Version, sw.Spec, client.SwarmUpdateFlags{RotateWorkerToken: worker, RotateManagerToken: manager}); err != nil {
			return err
		}
		if !quiet {
			fmt.Fprintf(out, "Successfully rotated %s join token.\n\n", role)
		}
	}
	sw, err := c.SwarmInspect(ctx)
	if err != nil {
		return err
	}
	if quiet {
		if worker {
			fmt.Fprintln(out, sw.JoinTokens.Worker)
		} else {
			fmt.Fprintln(out, sw.JoinTokens.Manager)
		}
		return nil
	}
	info, err := c.SwarmInfo(ctx)
	if err != nil {
		return err
	}
	return printJoinCommand(ctx, c, info.NodeID, worker, manager, out)
}

func newLeaveCmd(e *command.Env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "leave [OPTIONS]",
		Short: "Leave the swarm",
		Args:  command.NoArgs,
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			if err := c.SwarmLeave(cmd.Context(), force); err != nil {
				return err
			}
			fmt.Fprintln(e.Out, "Node left the swarm.")
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force this node to leave the swarm, ignoring warnings")
	return cmd
}

func newUpdateCmd(e *command.Env) *cobra.Command {
	var o specOptions
	var autolock bool
	cmd := &cobra.Command{
		Use:   "update [OPTIONS]",
		Short: "Update the swarm",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().NFlag() == 0 {
				return &command.StatusError{Status: "\"docker swarm update\" requires at least one flag\n\nUsage:  " + cmd.CommandPath() + " [OPTIONS]\n\nRun '" + cmd.CommandPath() + " --help' for more information", Code: 1}
			}
			c, err := e.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			sw, err := c.SwarmInspect(ctx)
			if err != nil {
				return err
			}
			prevAutolock := sw.Spec.EncryptionConfig.AutoLockManagers
			o.apply(cmd.Flags(), &sw.Spec)
			if cmd.Flags().Changed("autolock") {
				sw.Spec.EncryptionConfig.AutoLockManagers = autolock
			}
			if err := c.SwarmUpdate(ctx, sw.Version, sw.Spec, client.SwarmUpdateFlags{}); err != nil {
				return err
			}
			fmt.Fprintln(e.Out, "Swarm updated.")
			if cmd.Flags().Changed("autolock") && autolock && !prevAutolock {
				k, err := c.SwarmUnlockKey(ctx)
				if err != nil {
					return fmt.Errorf("could not fetch unlock key: %w", err)
				}
				printUnlockCommand(e.Out, k.UnlockKey)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&autolock, "autolock", false, "Change manager autolocking setting (true|false)")
	addSpecFlags(cmd.Flags(), &o)
	return cmd
}

func newUnlockCmd(e *command.Env) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock",
		Short: "Unlock swarm",
		Args:  command.NoArgs,
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			info, err := c.SwarmInfo(cmd.Context())
			if err != nil {
				return err
			}
			switch info.LocalNodeState {
			case swarm.LocalNodeStateInactive:
				return errors.New("error: this node is not part of a swarm")
			case swarm.LocalNodeStateLocked:
			default:
				return errors.New("error: swarm is not locked")
			}
			key, err := bufio.NewReader(e.In).ReadString('\n')
			if err != nil && err != io.EOF {
				return err
			}
			return c.SwarmUnlock(cmd.Context(), swarm.UnlockRequest{UnlockKey: strings.TrimSpace(key)})
		}),
	}
}

func newUnlockKeyCmd(e *command.Env) *cobra.Command {
	var rotate, quiet bool
	cmd := &cobra.Command{
		Use:   "unlock-key [OPTIONS]",
		Short: "Manage the unlock key",
		Args:  command.NoArgs,
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			ctx := cmd.Context()
			if rotate {
				sw, err := c.SwarmInspect(ctx)
				if err != nil {
					return err
				}
				if !sw.Spec.EncryptionConfig.AutoLockManagers {
					return errors.New("cannot rotate because autolock is not turned on")
				}
				if err := c.SwarmUpdate(ctx, sw.Version, sw.Spec, client.SwarmUpdateFlags{RotateManagerUnlockKey: true}); err != nil {
					return err
				}
				if !quiet {
					fmt.Fprint(e.Out, "Successfully rotated manager unlock key.\n\n")
				}
			}
			k, err := c.SwarmUnlockKey(ctx)
			if err != nil {
				return fmt.Errorf("could not fetch unlock key: %w", err)
			}
			if k.UnlockKey == "" {
				return errors.New("no unlock key is set")
			}
			if quiet {
				fmt.Fprintln(e.Out, k.UnlockKey)
				return nil
			}
			printUnlockCommand(e.Out, k.UnlockKey)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&rotate, "rotate", false, "Rotate unlock key")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display token")
	return cmd
}
