package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

func newAttachCmd(a *app) *cobra.Command {
	var noStdin, sigProxy bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			ct, err := c.ContainerInspect(ctx, args[0])
			if err != nil {
				return err
			}
			if ct.State == nil || !ct.State.Running {
				return errors.New("You cannot attach to a stopped container, start it first")
			}
			if ct.State.Paused {
				return errors.New("You cannot attach to a paused container, unpause it first")
			}
			ao := attachOpts{stdout: true, stderr: true, stdin: !noStdin && ct.Config.OpenStdin,
				tty: ct.Config.Tty, detachKeys: detachKeys}
			if ao.tty && ao.stdin && !isTerminal(a.In) {
				return errNotTTY
			}
			return a.attachAndStart(ctx, c, ct.ID, ao, false, sigProxy && !ct.Config.Tty, false)
		},
	}
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "Do not attach STDIN")
	cmd.Flags().BoolVar(&sigProxy, "sig-proxy", true, "Proxy all received signals to the process")
	cmd.Flags().StringVar(&detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

type execOpts struct {
	interactive, tty, detach, privileged bool
	env, envFile                         []string
	workdir, user, detachKeys            string
}

func newExecCmd(a *app) *cobra.Command {
	var o execOpts
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  minArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runExec(cmd.Context(), &o, args[0], args[1:])
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	fs.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	fs.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVarP(&o.detach, "detach", "d", false, "Detached mode: run command in the background")
	fs.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to the command")
	fs.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	fs.StringArrayVar(&o.envFile, "env-file", nil, "Read in a file of environment variables")
	fs.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.StringVarP(&o.user, "user", "u", "", "Username or UID (format: \"<name|uid>[:<group|gid>]\")")
	fs.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

func (a *app) runExec(ctx context.Context, o *execOpts, target string, argv []string) error {
	if !o.detach && o.tty && o.interactive && !isTerminal(a.In) {
		return errNotTTY
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	env, err := readEnv(o.envFile, o.env)
	if err != nil {
		return err
	}
	if _, err := c.ContainerInspect(ctx, target); err != nil {
		return err
	}
	req := container.ExecCreateRequest{
		User: o.user, Privileged: o.privileged, Tty: o.tty, AttachStdin: o.interactive && !o.detach,
		AttachStdout: !o.detach, AttachStderr: !o.detach, DetachKeys: o.detachKeys,
		Env: env, WorkingDir: o.workdir, Cmd: argv,
	}
	size := a.consoleSize()
	if o.tty && size != [2]uint{} {
		req.ConsoleSize = &size
	}
	created, err := c.ExecCreate(ctx, target, req)
	if err != nil {
		return err
	}
	start := container.ExecStartRequest{Detach: o.detach, Tty: o.tty, ConsoleSize: req.ConsoleSize}
	if o.detach {
		return c.ExecStart(ctx, created.ID, start)
	}
	conn, err := c.ExecAttach(ctx, created.ID, start)
	if err != nil {
		return err
	}
	if o.tty {
		defer a.startResize(ctx, func(h, w uint) error { return c.ExecResize(ctx, created.ID, h, w) })()
	}
	ao := attachOpts{stdin: req.AttachStdin, stdout: true, stderr: true, tty: o.tty, detachKeys: o.detachKeys}
	res, err := a.pump(conn, ao)
	if err != nil || res.detached {
		return err
	}
	ins, err := c.ExecInspect(ctx, created.ID)
	if err != nil {
		return err
	}
	if ins.ExitCode != nil && *ins.ExitCode != 0 {
		return &StatusError{Code: *ins.ExitCode}
	}
	return nil
}

func newLogsCmd(a *app) *cobra.Command {
	var follow, timestamps, details bool
	var tail, sinceF, until string
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			ct, err := c.ContainerInspect(ctx, args[0])
			if err != nil {
				return err
			}
			lo := client.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: tail,
				Follow: follow, Timestamps: timestamps, Details: details}
			now := nowFunc()
			if sinceF != "" {
				if lo.Since, err = parseTimestamp(sinceF, now); err != nil {
					return fmt.Errorf("invalid value for \"since\": %w", err)
				}
			}
			if until != "" {
				if lo.Until, err = parseTimestamp(until, now); err != nil {
					return fmt.Errorf("invalid value for \"until\": %w", err)
				}
			}
			body, err := c.ContainerLogs(ctx, ct.ID, lo)
			if err != nil {
				return err
			}
			defer body.Close()
			return copyLogs(a, body, ct.Config.Tty)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&follow, "follow", "f", false, "Follow log output")
	fs.BoolVarP(&timestamps, "timestamps", "t", false, "Show timestamps")
	fs.BoolVar(&details, "details", false, "Show extra details provided to logs")
	fs.StringVarP(&tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	fs.StringVar(&sinceF, "since", "", "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	fs.StringVar(&until, "until", "", "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	return cmd
}

func setFlag(q url.Values, k string, on bool) {
	if on {
		q.Set(k, "1")
	}
}
