package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/oci"
	"github.com/berth-project/berth/internal/runtime"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// execState is one `docker exec` instance; it lives until its container is removed.
type execState struct {
	mu          sync.Mutex
	id          string
	containerID string
	req         container.ExecCreateRequest
	running     bool
	started     bool
	exitCode    *int
	pid         int
	proc        *runtime.Process
}

type execStore struct {
	mu sync.Mutex
	m  map[string]*execState
}

func newExecStore() *execStore { return &execStore{m: map[string]*execState{}} }

func (s *execStore) get(id string) (*execState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[id]
	if !ok {
		return nil, errdefs.NotFoundf("No such exec instance: %s", id)
	}
	return e, nil
}

func (s *execStore) add(e *execState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[e.id] = e
}

func (s *execStore) dropContainer(cid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.m {
		if e.containerID == cid {
			delete(s.m, id)
		}
	}
}

func (s *execStore) forContainer(cid string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, e := range s.m {
		if e.containerID == cid {
			ids = append(ids, id)
		}
	}
	return ids
}

// ExecCreate registers an exec in a running container.
func (d *Daemon) ExecCreate(ctx context.Context, name string, req *container.ExecCreateRequest) (string, error) {
	c, err := d.containers.get(name)
	if err != nil {
		return "", err
	}
	// The exec's start, and its move into the container's cgroup, follow.
	d.cgWarm.Warm()
	if len(req.Cmd) == 0 {
		return "", errdefs.Invalidf("No exec command specified")
	}
	c.mu.Lock()
	run, paused := c.running(), c.State.Paused
	c.mu.Unlock()
	if !run {
		return "", errdefs.Conflictf("container %s is not running", c.ID)
	}
	if paused {
		return "", errdefs.Conflictf("Container %s is paused, unpause the container before exec", c.ID)
	}
	if _, err := parseDetachKeys(req.DetachKeys); err != nil {
		return "", err
	}
	e := &execState{id: newID(), containerID: c.ID, req: *req}
	d.execs.add(e)
	d.emit(c, events.Action("exec_create: "+joinCmd(req.Cmd)), map[string]string{"execID": e.id})
	return e.id, nil
}

// ExecStart runs the exec's process via the runtime and streams its I/O.
func (d *Daemon) ExecStart(ctx context.Context, id string, sreq *container.ExecStartRequest, cfg *engine.StreamConfig) error {
	e, err := d.execs.get(id)
	if err != nil {
		return err
	}
	d.cgWarm.Warm()
	c, err := d.containers.get(e.containerID)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errdefs.Conflictf("Error: Exec command %s has already run", id)
	}
	e.started = true
	e.mu.Unlock()
	c.mu.Lock()
	run := c.running()
	c.mu.Unlock()
	if !run {
		return errdefs.Conflictf("container %s is not running", c.ID)
	}
	in, err := d.specInput(c)
	if err != nil {
		return err
	}
	in.Rootfs = "/proc/" + fmt.Sprint(c.pid()) + "/root"
	req := e.req
	if sreq != nil {
		req.Tty = req.Tty || sreq.Tty
		if sreq.ConsoleSize != nil {
			req.ConsoleSize = sreq.ConsoleSize
		}
	}
	proc, err := oci.ExecProcess(ctx, in, &req)
	if err != nil {
		return err
	}
	rt, err := d.runtimeFor(c.Runtime)
	if err != nil {
		return err
	}
	var stdin io.ReadCloser
	var sout io.Writer
	stdout, stderr := io.Writer(io.Discard), io.Writer(io.Discard)
	detach := sreq != nil && sreq.Detach
	if !detach {
		var sin io.ReadCloser
		var serr io.Writer
		sin, sout, serr, err = cfg.GetStreams(!req.Tty)
		if err != nil {
			return err
		}
		if req.AttachStdout {
			stdout = sout
		}
		if req.AttachStderr {
			stderr = serr
		}
		if req.AttachStdin {
			stdin = sin
		}
	}
	scratch := filepath.Join(d.bundleDir(c.ID), "exec-"+id[:12])
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return err
	}
	opts := runtime.ExecOpts{Process: proc, Tty: req.Tty, Stdout: stdout, Stderr: stderr, Dir: scratch}
	if req.ConsoleSize != nil {
		opts.ConsoleHeight, opts.ConsoleWidth = req.ConsoleSize[0], req.ConsoleSize[1]
	}
	if stdin != nil {
		keys, _ := parseDetachKeys(req.DetachKeys)
		opts.Stdin = newDetachReader(stdin, keys)
	}
	p, err := rt.Exec(context.WithoutCancel(ctx), c.ID, opts)
	if err != nil {
		os.RemoveAll(scratch)
		code := runtime.ExitCode(err)
		e.mu.Lock()
		e.exitCode = &code
		e.mu.Unlock()
		if sout != nil {
			// The connection is already hijacked: like dockerd, report the
			// failure on the stream; the CLI reads the exit code from inspect.
			fmt.Fprintf(sout, "OCI runtime exec failed: exec failed: %v: unknown\r\n", err)
			return nil
		}
		return runtime.CreateFailed(err)
	}
	e.mu.Lock()
	e.proc, e.pid, e.running = p, p.Pid(), true
	e.mu.Unlock()
	d.emit(c, events.Action("exec_start: "+joinCmd(req.Cmd)), map[string]string{"execID": id})
	wait := func() {
		code, _ := p.Wait()
		os.RemoveAll(scratch)
		e.mu.Lock()
		e.exitCode, e.running, e.proc = &code, false, nil
		e.mu.Unlock()
		d.emit(c, events.ActionExecDie, map[string]string{"execID": id, "exitCode": fmt.Sprint(code)})
	}
	if detach {
		go wait()
		return nil
	}
	wait()
	return nil
}

// ExecInspect reports an exec's state.
func (d *Daemon) ExecInspect(ctx context.Context, id string) (*container.ExecInspectResponse, error) {
	e, err := d.execs.get(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var args []string
	if len(e.req.Cmd) > 1 {
		args = e.req.Cmd[1:]
	}
	priv := e.req.Privileged
	return &container.ExecInspectResponse{
		ID:          e.id,
		Running:     e.running,
		ExitCode:    e.exitCode,
		OpenStdin:   e.req.AttachStdin,
		OpenStdout:  e.req.AttachStdout,
		OpenStderr:  e.req.AttachStderr,
		ContainerID: e.containerID,
		DetachKeys:  []byte(e.req.DetachKeys),
		Pid:         e.pid,
		CanRemove:   !e.running && e.started,
		ProcessConfig: &container.ExecProcessConfig{
			Tty: e.req.Tty, Entrypoint: e.req.Cmd[0], Arguments: args, Privileged: &priv, User: e.req.User,
		},
	}, nil
}

// ExecResize resizes a running exec's terminal.
func (d *Daemon) ExecResize(ctx context.Context, id string, height, width uint) error {
	e, err := d.execs.get(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	p := e.proc
	e.mu.Unlock()
	if p == nil {
		return errdefs.Conflictf("Exec %s is not running", id)
	}
	return p.Resize(height, width)
}

func joinCmd(cmd []string) string { return strings.Join(cmd, " ") }
