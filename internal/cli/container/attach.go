package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

// AttachCmdOptions are attach's flags.
type AttachCmdOptions struct {
	NoStdin, SigProxy bool
	DetachKeys        string
}

func newAttachCmd(e *Env) *cobra.Command {
	var o AttachCmdOptions
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  command.ExactArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Attach(cmd.Context(), c, e.Streams, o, args[0])
		}),
	}
	cmd.Flags().BoolVar(&o.NoStdin, "no-stdin", false, "Do not attach STDIN")
	cmd.Flags().BoolVar(&o.SigProxy, "sig-proxy", true, "Proxy all received signals to the process")
	cmd.Flags().StringVar(&o.DetachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// Attach connects the streams to a running container until it ends.
func Attach(ctx context.Context, c *client.Client, s command.Streams, o AttachCmdOptions, name string) error {
	ct, err := c.ContainerInspect(ctx, name)
	if err != nil {
		return err
	}
	if ct.State == nil || !ct.State.Running {
		return errors.New("You cannot attach to a stopped container, start it first")
	}
	if ct.State.Paused {
		return errors.New("You cannot attach to a paused container, unpause it first")
	}
	ao := AttachOptions{Stdout: true, Stderr: true, Stdin: !o.NoStdin && ct.Config.OpenStdin,
		TTY: ct.Config.Tty, DetachKeys: o.DetachKeys}
	if ao.TTY && ao.Stdin && !command.IsTerminal(s.In) {
		return errNotTTY
	}
	return AttachAndStart(ctx, c, s, ct.ID, ao, false, o.SigProxy && !ct.Config.Tty, false)
}

// ExecOptions are exec's flags (compose exec sets the same).
type ExecOptions struct {
	Interactive, TTY, Detach, Privileged bool
	Env, EnvFile                         []string
	Workdir, User, DetachKeys            string
}

func newExecCmd(e *Env) *cobra.Command {
	var o ExecOptions
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  command.MinArgs(2),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Exec(cmd.Context(), c, e.Streams, o, args[0], args[1:])
		}),
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	fs.BoolVarP(&o.Interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	fs.BoolVarP(&o.TTY, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVarP(&o.Detach, "detach", "d", false, "Detached mode: run command in the background")
	fs.BoolVar(&o.Privileged, "privileged", false, "Give extended privileges to the command")
	fs.StringArrayVarP(&o.Env, "env", "e", nil, "Set environment variables")
	fs.StringArrayVar(&o.EnvFile, "env-file", nil, "Read in a file of environment variables")
	fs.StringVarP(&o.Workdir, "workdir", "w", "", "Working directory inside the container")
	fs.StringVarP(&o.User, "user", "u", "", "Username or UID (format: \"<name|uid>[:<group|gid>]\")")
	fs.StringVar(&o.DetachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// Exec runs argv in the container target, attached unless Detach, and
// exits with the command's status.
func Exec(ctx context.Context, c *client.Client, s command.Streams, o ExecOptions, target string, argv []string) error {
	if !o.Detach && o.TTY && o.Interactive && !command.IsTerminal(s.In) {
		return errNotTTY
	}
	env, err := readEnv(o.EnvFile, o.Env)
	if err != nil {
		return err
	}
	if _, err := c.ContainerInspect(ctx, target); err != nil {
		return err
	}
	req := container.ExecCreateRequest{
		User: o.User, Privileged: o.Privileged, Tty: o.TTY, AttachStdin: o.Interactive && !o.Detach,
		AttachStdout: !o.Detach, AttachStderr: !o.Detach, DetachKeys: o.DetachKeys,
		Env: env, WorkingDir: o.Workdir, Cmd: argv,
	}
	size := consoleSize(s.Out)
	if o.TTY && size != [2]uint{} {
		req.ConsoleSize = &size
	}
	created, err := c.ExecCreate(ctx, target, req)
	if err != nil {
		return err
	}
	start := container.ExecStartRequest{Detach: o.Detach, Tty: o.TTY, ConsoleSize: req.ConsoleSize}
	if o.Detach {
		return c.ExecStart(ctx, created.ID, start)
	}
	conn, err := c.ExecAttach(ctx, created.ID, start)
	if err != nil {
		return err
	}
	if o.TTY {
		defer startResize(s.Out, func(h, w uint) error { return c.ExecResize(ctx, created.ID, h, w) })()
	}
	ao := AttachOptions{Stdin: req.AttachStdin, Stdout: true, Stderr: true, TTY: o.TTY, DetachKeys: o.DetachKeys}
	res, err := pump(s, conn, ao)
	if err != nil || res.detached {
		return err
	}
	ins, err := c.ExecInspect(ctx, created.ID)
	if err != nil {
		return err
	}
	if ins.ExitCode != nil && *ins.ExitCode != 0 {
		return &command.StatusError{Code: *ins.ExitCode}
	}
	return nil
}

// LogsOptions are logs' flags; Since and Until as the user wrote them.
type LogsOptions struct {
	Follow, Timestamps, Details bool
	Tail, Since, Until          string
}

func newLogsCmd(e *Env) *cobra.Command {
	var o LogsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  command.ExactArgs(1),
		RunE: e.WithClient(func(cmd *cobra.Command, c *client.Client, args []string) error {
			return Logs(cmd.Context(), c, e.Out, e.Err, o, args[0], time.Now())
		}),
	}
	fs := cmd.Flags()
	fs.BoolVarP(&o.Follow, "follow", "f", false, "Follow log output")
	fs.BoolVarP(&o.Timestamps, "timestamps", "t", false, "Show timestamps")
	fs.BoolVar(&o.Details, "details", false, "Show extra details provided to logs")
	fs.StringVarP(&o.Tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	fs.StringVar(&o.Since, "since", "", "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	fs.StringVar(&o.Until, "until", "", "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	return cmd
}

// Logs copies the container's log to out and errOut (a TTY container's
// all to out); relative --since/--until count back from now.
func Logs(ctx context.Context, c *client.Client, out, errOut io.Writer, o LogsOptions, name string, now time.Time) error {
	ct, err := c.ContainerInspect(ctx, name)
	if err != nil {
		return err
	}
	lo := client.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: o.Tail,
		Follow: o.Follow, Timestamps: o.Timestamps, Details: o.Details}
	if o.Since != "" {
		if lo.Since, err = command.ParseTimestamp(o.Since, now); err != nil {
			return fmt.Errorf("invalid value for \"since\": %w", err)
		}
	}
	if o.Until != "" {
		if lo.Until, err = command.ParseTimestamp(o.Until, now); err != nil {
			return fmt.Errorf("invalid value for \"until\": %w", err)
		}
	}
	body, err := c.ContainerLogs(ctx, ct.ID, lo)
	if err != nil {
		return err
	}
	defer body.Close()
	if ct.Config.Tty {
		_, err = io.Copy(out, body)
		return err
	}
	_, err = stdcopy.StdCopy(out, errOut, body)
	return err
}
