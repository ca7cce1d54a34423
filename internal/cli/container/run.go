package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

// errNotTTY is docker's refusal to run -it with piped stdin.
var errNotTTY = &command.StatusError{Status: "the input device is not a TTY", Code: 1}

// CreateOptions is what create needs: the request made from the flags,
// the name, and the image as the user wrote it with the pull policy.
type CreateOptions struct {
	Name    string
	Image   string
	Pull    string // "missing", "always" or "never"
	Request *container.CreateRequest
}

// RunOptions is run's: create's, then how to start and attach.
type RunOptions struct {
	CreateOptions
	Detach, Rm, SigProxy bool
	// Attach lists -a's streams; empty attaches stdout and stderr, and
	// stdin with Interactive.
	Attach      []string
	Interactive bool
	DetachKeys  string
}

func newRunCmd(e *Env) *cobra.Command {
	var o runOpts
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  command.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExitError(cmd, runCmd(cmd, e, &o, args))
		},
	}
	o.addFlags(cmd.Flags())
	cmd.Flags().BoolVarP(&o.detach, "detach", "d", false, "Run container in background and print container ID")
	cmd.Flags().BoolVar(&o.rm, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")
	cmd.Flags().BoolVar(&o.sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	return cmd
}

// runCmd checks run's flags against each other, in docker's words, and runs.
func runCmd(cmd *cobra.Command, e *Env, o *runOpts, args []string) error {
	if !o.detach && o.tty && o.interactive && !command.IsTerminal(e.In) {
		return errNotTTY
	}
	if o.rm && o.restart != "" && o.restart != "no" {
		return &command.StatusError{Code: 125, Status: fmt.Sprintf("%s: conflicting options: cannot specify both --restart and --rm\n\nRun '%s --help' for more information",
			cmd.Root().Name(), cmd.CommandPath())}
	}
	switch o.pull {
	case "missing", "always", "never":
	default:
		return &command.StatusError{Code: 125, Status: fmt.Sprintf("%s: invalid pull option: '%s': must be one of \"always\", \"missing\" or \"never\"", cmd.Root().Name(), o.pull)}
	}
	co, err := o.createOptions(cmd, e, args)
	if err != nil {
		return err
	}
	c, err := e.Client()
	if err != nil {
		return err
	}
	ro := RunOptions{CreateOptions: co, Detach: o.detach, Rm: o.rm, SigProxy: o.sigProxy,
		Attach: o.attach, Interactive: o.interactive, DetachKeys: o.detachKeys}
	return Run(cmd.Context(), c, e.Streams, e.Pull, ro)
}

func newCreateCmd(e *Env) *cobra.Command {
	var o runOpts
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  command.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			co, err := o.createOptions(cmd, e, args)
			if err != nil {
				return runExitError(cmd, err)
			}
			c, err := e.Client()
			if err != nil {
				return runExitError(cmd, err)
			}
			id, err := Create(cmd.Context(), c, e.Err, e.Pull, co)
			if err != nil {
				return runExitError(cmd, err)
			}
			fmt.Fprintln(e.Out, id)
			return nil
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// createOptions builds the request from the flags; a TTY container starts
// at the local terminal's size.
func (o *runOpts) createOptions(cmd *cobra.Command, e *Env, args []string) (CreateOptions, error) {
	req, err := o.build(cmd.Flags(), args[0], args[1:])
	if err != nil {
		return CreateOptions{}, err
	}
	if o.tty {
		req.HostConfig.ConsoleSize = consoleSize(e.Out)
	}
	return CreateOptions{Name: o.name, Image: args[0], Pull: o.pull, Request: req}, nil
}

// runExitError maps a run/create failure to docker's exit codes: 127 for a
// missing executable, 126 for one that cannot be run, 125 otherwise.
func runExitError(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	var se *command.StatusError
	if errors.As(err, &se) {
		return err
	}
	msg := err.Error()
	code := 125
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		code = 127
	case strings.Contains(msg, "permission denied"):
		code = 126
	}
	return &command.StatusError{Code: code, Status: fmt.Sprintf("%s: %s\n\nRun '%s --help' for more information", cmd.Root().Name(), msg, cmd.CommandPath())}
}

// Create creates the container, pulling its image first when the daemon
// has none and the policy allows, and returns its ID; the daemon's
// warnings and the pull's progress go to errOut.
func Create(ctx context.Context, c *client.Client, errOut io.Writer, pull PullFunc, o CreateOptions) (string, error) {
	resp, err := c.ContainerCreate(ctx, o.Name, o.Request)
	if client.StatusOf(err) == http.StatusNotFound && strings.Contains(err.Error(), "No such image") && o.Pull != "never" {
		fmt.Fprintf(errOut, "Unable to find image '%s' locally\n", command.NormalizeRef(o.Image))
		if perr := pull(ctx, c, o.Image, errOut); perr != nil {
			return "", perr
		}
		resp, err = c.ContainerCreate(ctx, o.Name, o.Request)
	}
	if err != nil {
		return "", err
	}
	for _, w := range resp.Warnings {
		fmt.Fprintf(errOut, "WARNING: %s\n", w)
	}
	return resp.ID, nil
}

// Run is docker run: pull (with --pull always), create, then start
// detached printing the ID, or attach and exit with the container's status.
func Run(ctx context.Context, c *client.Client, s command.Streams, pull PullFunc, o RunOptions) error {
	if o.Pull == "always" {
		if err := pull(ctx, c, o.Image, s.Err); err != nil {
			return err
		}
	}
	id, err := Create(ctx, c, s.Err, pull, o.CreateOptions)
	if err != nil {
		return err
	}
	if o.Detach {
		// The docker CLI prints the ID as the start goes out, so a start
		// that fails (a busy port) still names the container it created.
		fmt.Fprintln(s.Out, id)
		return c.ContainerStart(ctx, id)
	}
	tty := o.Request.Config.Tty
	ao := AttachOptions{TTY: tty, DetachKeys: o.DetachKeys, Stdout: true, Stderr: true, Stdin: o.Interactive}
	if len(o.Attach) > 0 {
		ao.Stdin, ao.Stdout, ao.Stderr = hasStream(o.Attach, "stdin"), hasStream(o.Attach, "stdout"), hasStream(o.Attach, "stderr")
	}
	return AttachAndStart(ctx, c, s, id, ao, o.Rm, o.SigProxy && !tty, true)
}

func hasStream(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// waitResult is the exit status read from a wait body.
type waitResult struct {
	code int
	err  error
}

// startWait sends the wait and returns once the daemon has acknowledged
// it (headers), so a following start cannot outrun it.
func startWait(ctx context.Context, c *client.Client, id string, condition container.WaitCondition) (<-chan waitResult, error) {
	wait, err := c.ContainerWait(ctx, id, condition)
	if err != nil {
		return nil, err
	}
	ch := make(chan waitResult, 1)
	go func() {
		w := <-wait
		switch {
		case w.Err != nil:
			ch <- waitResult{code: 125, err: fmt.Errorf("wait: %w", w.Err)}
		case w.Response.Error != nil && w.Response.Error.Message != "":
			ch <- waitResult{code: 125, err: errors.New(w.Response.Error.Message)}
		default:
			ch <- waitResult{code: int(w.Response.StatusCode)}
		}
	}()
	return ch, nil
}

// AttachAndStart is docker's run/start -a sequence: attach, wait, start
// (unless start is false: docker attach), stream, then exit with the
// status from the wait body. rm waits for the removal (--rm); sigProxy
// forwards the CLI's signals to the container.
func AttachAndStart(ctx context.Context, c *client.Client, s command.Streams, id string, ao AttachOptions, rm, sigProxy, start bool) error {
	var conn *client.HijackedConn
	var err error
	if ao.Stdin || ao.Stdout || ao.Stderr {
		if conn, err = hijackAttach(ctx, c, id, ao); err != nil {
			return err
		}
	}
	cond := container.WaitConditionNextExit
	if rm {
		cond = container.WaitConditionRemoved
	}
	waitCh, err := startWait(ctx, c, id, cond)
	if err != nil {
		return err
	}
	if start {
		if err := c.ContainerStart(ctx, id); err != nil {
			if conn != nil {
				conn.Close()
			}
			return err
		}
	}
	if ao.TTY {
		defer startResize(s.Out, func(h, w uint) error { return c.ContainerResize(ctx, id, h, w) })()
	}
	if sigProxy {
		defer proxySignals(ctx, c, id)()
	}
	if conn != nil {
		res, err := pump(s, conn, ao)
		if err != nil {
			return err
		}
		if res.detached {
			if !start {
				// docker attach exits 1 after the detach keys ("read
				// escape sequence"); docker run -it exits 0.
				return &command.StatusError{Code: 1}
			}
			return nil
		}
	}
	w := <-waitCh
	if w.err != nil {
		return &command.StatusError{Status: w.err.Error(), Code: w.code}
	}
	if w.code != 0 {
		return &command.StatusError{Code: w.code}
	}
	return nil
}
