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
	if _, err := d.links(c); err != nil {
		// dockerd refuses the exec while a linked container is down.
		return "", err
	}
	e := &execState{id: newID(), containerID: c.ID, req: *req}
	d.execs.add(e)
	d.emit(c, events.Action("exec_create: "+joinCmd(req.Cmd)), map[string]string{"execID": e.id})
	return e.id, nil
}

// ExecStart runs the exec's process via the runtime and streams its I/O.
// As with dockerd, the streams are taken (the connection hijacked) as soon
// as the exec is known, so only an unknown exec fails before them; every
// failure after the start was accepted leaves exit code 126.
func (d *Daemon) ExecStart(ctx context.Context, id string, sreq *container.ExecStartRequest, cfg *engine.StreamConfig) error {
	e, err := d.execs.get(id)
	if err != nil {
		return err
	}
	d.cgWarm.Warm()
	var start container.ExecStartRequest
	if sreq != nil {
		start = *sreq
	}
	if start.Detach {
		return d.execRun(ctx, e, &start, nil)
	}
	st, err := openExecStreams(cfg, &e.req, &start)
	if err != nil {
		return err
	}
	return d.execRun(ctx, e, &start, st)
}

// execRun starts the process; with streams it returns when the process
// has exited or the client ended the stream (see execStreams), without
// them (Detach) once the process runs.
func (d *Daemon) execRun(ctx context.Context, e *execState, start *container.ExecStartRequest, st *execStreams) (err error) {
	e.mu.Lock()
	switch {
	case e.running:
		e.mu.Unlock()
		return errdefs.Conflictf("Error: Exec command %s is already running", e.id)
	case e.started:
		e.mu.Unlock()
		return errdefs.Conflictf("Error: Exec command %s has already run", e.id)
	}
	e.started = true
	e.mu.Unlock()
	defer func() {
		if err != nil {
			code := 126 // dockerd's code for every exec that did not start
			e.mu.Lock()
			e.exitCode = &code
			e.mu.Unlock()
		}
	}()
	c, err := d.containers.get(e.containerID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	run := c.running()
	c.mu.Unlock()
	if !run {
		return errdefs.Conflictf("container %s is not running", c.ID)
	}
	p, scratch, err := d.execSpawn(ctx, c, e, start, st)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.proc, e.pid, e.running = p, p.Pid(), true
	e.mu.Unlock()
	d.emit(c, events.Action("exec_start: "+joinCmd(e.req.Cmd)), map[string]string{"execID": e.id})
	done := make(chan struct{})
	go func() {
		defer close(done)
		code, _ := p.Wait()
		os.RemoveAll(scratch)
		e.mu.Lock()
		e.exitCode, e.running, e.proc = &code, false, nil
		e.mu.Unlock()
		d.emit(c, events.ActionExecDie, map[string]string{"execID": e.id, "exitCode": fmt.Sprint(code)})
	}()
	if st != nil {
		select {
		case <-done:
		case <-st.ended:
		}
	}
	return nil
}

// execSpawn builds the process from the exec's create request (its Tty
// decides the terminal; the start request's Tty only the stream's framing,
// see openExecStreams) and runs it through the runtime.
func (d *Daemon) execSpawn(ctx context.Context, c *Container, e *execState, start *container.ExecStartRequest, st *execStreams) (*runtime.Process, string, error) {
	in, err := d.specInput(c)
	if err != nil {
		return nil, "", err
	}
	in.Rootfs = "/proc/" + fmt.Sprint(c.pid()) + "/root"
	req := e.req
	if start.ConsoleSize != nil {
		req.ConsoleSize = start.ConsoleSize
	}
	proc, err := oci.ExecProcess(ctx, in, &req)
	if err != nil {
		return nil, "", err
	}
	rt, err := d.runtimeFor(c.Runtime)
	if err != nil {
		return nil, "", err
	}
	scratch := filepath.Join(d.bundleDir(c.ID), "exec-"+e.id[:12])
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return nil, "", err
	}
	opts := runtime.ExecOpts{Process: proc, Tty: req.Tty, Stdout: io.Discard, Stderr: io.Discard, Dir: scratch}
	if req.ConsoleSize != nil {
		opts.ConsoleHeight, opts.ConsoleWidth = req.ConsoleSize[0], req.ConsoleSize[1]
	}
	if st != nil {
		opts.Stdout, opts.Stderr = st.stdout, st.stderr
		if st.stdin != nil {
			opts.Stdin = st.stdin
		}
	}
	p, err := rt.Exec(context.WithoutCancel(ctx), c.ID, opts)
	if err != nil {
		os.RemoveAll(scratch)
		return nil, "", runtime.ExecFailed(err)
	}
	return p, scratch, nil
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
