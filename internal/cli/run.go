package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

// errNotTTY is docker's refusal to run -it with piped stdin.
var errNotTTY = &StatusError{Status: "the input device is not a TTY", Code: 1}

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

func newRunCmd(a *app) *cobra.Command {
	var o runOpts
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := a.runContainer(cmd, &o, args)
			return runExitError(cmd, err)
		},
	}
	o.addFlags(cmd.Flags())
	cmd.Flags().BoolVarP(&o.detach, "detach", "d", false, "Run container in background and print container ID")
	cmd.Flags().BoolVar(&o.rm, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")
	cmd.Flags().BoolVar(&o.sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	return cmd
}

func newCreateCmd(a *app) *cobra.Command {
	var o runOpts
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := a.createContainer(cmd, &o, args)
			if err != nil {
				return runExitError(cmd, err)
			}
			fmt.Fprintln(a.Out, id)
			return nil
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// runExitError maps a run/create failure to docker's exit codes: 127 for a
// missing executable, 126 for one that cannot be run, 125 otherwise.
func runExitError(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	var se *StatusError
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
	return &StatusError{Code: code, Status: fmt.Sprintf("%s: %s\n\nRun '%s --help' for more information", cmd.Root().Name(), msg, cmd.CommandPath())}
}

func (a *app) createContainer(cmd *cobra.Command, o *runOpts, args []string) (string, error) {
	c, err := a.client()
	if err != nil {
		return "", err
	}
	req, err := o.build(cmd.Flags(), args[0], args[1:])
	if err != nil {
		return "", err
	}
	if o.tty {
		req.HostConfig.ConsoleSize = a.consoleSize()
	}
	ctx := cmd.Context()
	resp, err := c.ContainerCreate(ctx, o.name, req)
	if client.StatusOf(err) == http.StatusNotFound && strings.Contains(err.Error(), "No such image") && o.pull != "never" {
		fmt.Fprintf(a.Err, "Unable to find image '%s' locally\n", normalizeRef(args[0]))
		if perr := a.pullImage(ctx, c, args[0]); perr != nil {
			return "", perr
		}
		resp, err = c.ContainerCreate(ctx, o.name, req)
	}
	if err != nil {
		return "", err
	}
	for _, w := range resp.Warnings {
		fmt.Fprintf(a.Err, "WARNING: %s\n", w)
	}
	return resp.ID, nil
}

// normalizeRef adds ":latest" when the reference has neither tag nor digest.
func normalizeRef(ref string) string {
	if strings.Contains(ref, "@") {
		return ref
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref
	}
	return ref + ":latest"
}

// pullImage asks the daemon to pull ref, printing its progress statuses.
func (a *app) pullImage(ctx context.Context, c *client.Client, ref string) error {
	name, tag := splitRepoTag(normalizeRef(ref))
	req := client.Request{Method: http.MethodPost, Path: "/images/create",
		Query: url.Values{"fromImage": {name}, "tag": {tag}}, Headers: http.Header{}}
	if h := registryAuthHeader(normalizeRef(ref)); h != "" {
		req.Headers.Set("X-Registry-Auth", h)
	}
	resp, err := c.Do(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return showProgress(resp.Body, a.Err)
}

func (a *app) runContainer(cmd *cobra.Command, o *runOpts, args []string) error {
	ctx := cmd.Context()
	if !o.detach && o.tty && o.interactive && !isTerminal(a.In) {
		return errNotTTY
	}
	if o.rm && o.restart != "" && o.restart != "no" {
		return &StatusError{Code: 125, Status: fmt.Sprintf("%s: conflicting options: cannot specify both --restart and --rm\n\nRun '%s --help' for more information",
			cmd.Root().Name(), cmd.CommandPath())}
	}
	switch o.pull {
	case "missing", "always", "never":
	default:
		return &StatusError{Code: 125, Status: fmt.Sprintf("%s: invalid pull option: '%s': must be one of \"always\", \"missing\" or \"never\"", cmd.Root().Name(), o.pull)}
	}
	if o.pull == "always" {
		c, err := a.client()
		if err != nil {
			return err
		}
		if err := a.pullImage(ctx, c, args[0]); err != nil {
			return err
		}
	}
	id, err := a.createContainer(cmd, o, args)
	if err != nil {
		return err
	}
	c, _ := a.client()
	if o.detach {
		if err := c.ContainerStart(ctx, id); err != nil {
			return err
		}
		fmt.Fprintln(a.Out, id)
		return nil
	}
	ao := attachOpts{tty: o.tty, detachKeys: o.detachKeys, stdout: true, stderr: true, stdin: o.interactive}
	if len(o.attach) > 0 {
		ao.stdin, ao.stdout, ao.stderr = hasStream(o.attach, "stdin"), hasStream(o.attach, "stdout"), hasStream(o.attach, "stderr")
	}
	return a.attachAndStart(ctx, c, id, ao, o.rm, o.sigProxy && !o.tty, true)
}

func hasStream(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// attachAndStart is docker's run/start -a sequence: attach, wait, start,
// stream, then exit with the status from the wait body.
func (a *app) attachAndStart(ctx context.Context, c *client.Client, id string, ao attachOpts, rm, sigProxy, start bool) error {
	var conn *client.HijackedConn
	var err error
	if ao.stdin || ao.stdout || ao.stderr {
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
	if ao.tty {
		defer a.startResize(ctx, func(h, w uint) error { return c.ContainerResize(ctx, id, h, w) })()
	}
	if sigProxy {
		defer proxySignals(ctx, c, id)()
	}
	if conn != nil {
		res, err := a.pump(conn, ao)
		if err != nil {
			return err
		}
		if res.detached {
			if !start {
				// docker attach exits 1 after the detach keys ("read
				// escape sequence"); docker run -it exits 0.
				return &StatusError{Code: 1}
			}
			return nil
		}
	}
	w := <-waitCh
	if w.err != nil {
		return &StatusError{Status: w.err.Error(), Code: w.code}
	}
	if w.code != 0 {
		return &StatusError{Code: w.code}
	}
	return nil
}
