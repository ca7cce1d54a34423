package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/berth-project/berth/internal/detachkeys"
	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/logs"
	"github.com/berth-project/berth/internal/monitor"
	"github.com/moby/moby/api/types/events"
)

type attachReq struct {
	stdin, stdout, stderr bool
	ch                    chan attachResult
}

type attachResult struct {
	a   *monitor.Attachment
	err error
}

// errDetached ends an attach whose client typed the detach keys.
var errDetached = errors.New("detached from container")

// ContainerAttach connects the client's streams to the container. For a
// container that is not running yet the attach waits for the next start.
func (d *Daemon) ContainerAttach(ctx context.Context, name string, cfg *engine.StreamConfig) error {
	c, err := d.containers.get(name)
	if err != nil {
		return err
	}
	keys, err := parseDetachKeys(cfg.DetachKeys)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.State.Paused {
		c.mu.Unlock()
		return errdefs.Conflictf("You cannot attach to a paused container, unpause it first")
	}
	tty := c.Config.Tty
	// As in dockerd, the end of the client's input ends the attach unless
	// it ends the container's input (StdinOnce without a terminal).
	endOnEOF := tty || !c.Config.StdinOnce
	useStdin := cfg.UseStdin && c.Config.OpenStdin
	var att *monitor.Attachment
	var req *attachReq
	exited := false
	if cfg.Stream {
		if c.mon != nil && c.running() {
			att, err = c.mon.Attach(ctx, useStdin, cfg.UseStdout, cfg.UseStderr)
			if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
				// The container exited between the check and the dial (its
				// monitor is gone): like dockerd, attach then replays the
				// log if asked and ends.
				att, err, exited = nil, nil, true
			}
			if err != nil {
				c.mu.Unlock()
				return fmt.Errorf("attach to container %s: %w", c.ID, err)
			}
		} else {
			req = &attachReq{stdin: useStdin, stdout: cfg.UseStdout, stderr: cfg.UseStderr, ch: make(chan attachResult, 1)}
			c.pending = append(c.pending, req)
		}
	}
	logPath := c.LogPath
	c.mu.Unlock()

	stdin, stdout, stderr, err := cfg.GetStreams(!tty)
	if err != nil {
		d.dropPending(c, req)
		if att != nil {
			att.Close()
		}
		return err
	}
	if !cfg.UseStdout {
		stdout = io.Discard
	}
	if !cfg.UseStderr {
		stderr = io.Discard
	}
	if cfg.Logs && logPath != "" {
		replayLogs(ctx, logPath, stdout, stderr)
	}
	if !cfg.Stream || exited {
		return nil
	}
	d.emit(c, events.ActionAttach, nil)
	if req != nil {
		select {
		case r := <-req.ch:
			if r.err != nil {
				return r.err
			}
			att = r.a
		case <-ctx.Done():
			d.dropPending(c, req)
			return ctx.Err()
		}
	}
	defer att.Close()
	return pump(att, stdin, stdout, stderr, useStdin, endOnEOF, keys)
}

// pump copies until the container's output ends or the client detaches.
// The client's stdin EOF (CloseWrite) half-closes the container's stdin
// (which the monitor closes for StdinOnce), and with endOnEOF ends the
// attach too, the container running on.
func pump(att *monitor.Attachment, stdin io.Reader, stdout, stderr io.Writer, useStdin, endOnEOF bool, keys []byte) error {
	outDone := make(chan error, 1)
	go func() { outDone <- att.CopyOutput(stdout, stderr) }()
	inDone := make(chan error, 1)
	if useStdin && stdin != nil {
		go func() {
			_, err := io.Copy(att.Stdin, newDetachReader(stdin, keys))
			if errors.Is(err, errDetached) {
				inDone <- err
				return
			}
			att.Stdin.Close()
			if endOnEOF {
				inDone <- nil
			}
		}()
	}
	select {
	case err := <-outDone:
		return err
	case <-inDone:
		return nil
	}
}

// dropPending withdraws req. A start that already connected it has left
// the attachment in req.ch: it is closed, since a client that never reads
// would otherwise hold the container's output (the monitor waits for
// every attached client).
func (d *Daemon) dropPending(c *Container, req *attachReq) {
	if req == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range c.pending {
		if r == req {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return
		}
	}
	select {
	case r := <-req.ch:
		if r.a != nil {
			r.a.Close()
		}
	default:
	}
}

func replayLogs(ctx context.Context, path string, stdout, stderr io.Writer) {
	entries, _ := logs.Read(ctx, path, logs.ReadOptions{Tail: -1})
	for e := range entries {
		w := stdout
		if e.Stream == "stderr" {
			w = stderr
		}
		w.Write(e.Line)
	}
}

// ContainerResize sets the container's terminal size.
func (d *Daemon) ContainerResize(ctx context.Context, name string, height, width uint) error {
	c, err := d.containers.get(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	mon, run := c.mon, c.running()
	c.mu.Unlock()
	if !run || mon == nil {
		return errdefs.Conflictf("Container %s is not running", c.ID)
	}
	if err := mon.Resize(ctx, height, width); err != nil {
		if c.pid() == 0 {
			// The process exited between the check and the resize.
			return errdefs.Conflictf("Container %s is not running", c.ID)
		}
		return err
	}
	return nil
}

// parseDetachKeys turns "ctrl-p,ctrl-q" into bytes; empty means Docker's default.
func parseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		s = detachkeys.Default
	}
	keys, err := detachkeys.Parse(s)
	if err != nil {
		return nil, errdefs.Invalid(err)
	}
	return keys, nil
}

// detachReader passes bytes through until the detach sequence is typed.
// A partial match is held back and released if the next byte breaks it.
type detachReader struct {
	r        io.Reader
	keys     []byte
	matched  int
	buf      bytes.Buffer
	detached bool
}

func newDetachReader(r io.Reader, keys []byte) io.Reader {
	if len(keys) == 0 {
		return r
	}
	return &detachReader{r: r, keys: keys}
}

func (d *detachReader) Read(p []byte) (int, error) {
	if d.buf.Len() > 0 {
		return d.buf.Read(p)
	}
	if d.detached {
		return 0, errDetached
	}
	tmp := make([]byte, len(p))
	n, err := d.r.Read(tmp)
	for _, b := range tmp[:n] {
		if b == d.keys[d.matched] {
			d.matched++
			if d.matched == len(d.keys) {
				// Deliver what came before the keys, then detach.
				d.detached = true
				if d.buf.Len() > 0 {
					return d.buf.Read(p)
				}
				return 0, errDetached
			}
			continue
		}
		if d.matched > 0 {
			d.buf.Write(d.keys[:d.matched])
			d.matched = 0
		}
		if b == d.keys[0] {
			d.matched = 1
			continue
		}
		d.buf.WriteByte(b)
	}
	if d.buf.Len() > 0 {
		m, _ := d.buf.Read(p)
		return m, err
	}
	return 0, err
}
