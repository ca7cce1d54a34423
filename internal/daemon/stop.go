package daemon

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"golang.org/x/sys/unix"
)

const defaultStopTimeout = 10

// ContainerStop sends the stop signal, then SIGKILL after the timeout.
func (d *Daemon) ContainerStop(ctx context.Context, name, signal string, timeout *int) error {
	c, err := d.containers.get(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	run := c.running()
	if !run {
		// A created container's prepared start goes: nothing of a stopped
		// pod may wait to run.
		d.dropPrestart(ctx, c)
	}
	c.mu.Unlock()
	if !run {
		return errdefs.NotModified(fmt.Errorf("container %s is already stopped", c.ID))
	}
	return d.stopContainer(ctx, c, signal, timeout, true)
}

func (d *Daemon) stopContainer(ctx context.Context, c *Container, signal string, timeout *int, byUser bool) error {
	ctx = context.WithoutCancel(ctx)
	c.mu.Lock()
	if !c.running() {
		c.mu.Unlock()
		return nil
	}
	if byUser {
		c.State.StoppedByUser = true
	}
	if signal == "" {
		signal = c.Config.StopSignal
	}
	t := defaultStopTimeout
	if c.Config.StopTimeout != nil {
		t = *c.Config.StopTimeout
	}
	if timeout != nil {
		t = *timeout
	}
	exitCh := c.exitCh
	paused := c.State.Paused
	c.mu.Unlock()

	sig, err := parseSignal(signal)
	if err != nil {
		return err
	}
	if err := d.signal(ctx, c, sig, paused); err != nil {
		return err
	}
	if t >= 0 {
		select {
		case <-exitCh:
			d.emit(c, events.ActionStop, nil)
			return nil
		case <-time.After(time.Duration(t) * time.Second):
		}
	} else {
		<-exitCh
		d.emit(c, events.ActionStop, nil)
		return nil
	}
	if err := d.signal(ctx, c, syscall.SIGKILL, false); err != nil {
		return err
	}
	select {
	case <-exitCh:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("container %s did not exit after SIGKILL", c.ID)
	}
	d.emit(c, events.ActionStop, nil)
	return nil
}

// signal delivers sig to the container's init; a paused container is
// thawed so the signal takes effect.
func (d *Daemon) signal(ctx context.Context, c *Container, sig syscall.Signal, thaw bool) error {
	rt, err := d.runtimeFor(c.Runtime)
	if err != nil {
		return err
	}
	d.emit(c, events.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))})
	if err := rt.Kill(ctx, c.ID, sig, sig == syscall.SIGKILL); err != nil {
		// The process may have exited between our check and the kill.
		if c.pid() == 0 {
			return nil
		}
		return fmt.Errorf("cannot kill container %s: %w", c.ID, err)
	}
	if thaw {
		if err := rt.Resume(ctx, c.ID); err == nil {
			c.mu.Lock()
			c.State.Paused, c.State.PausedFor = false, ""
			if c.running() {
				c.State.Status = container.StateRunning
			}
			c.mu.Unlock()
		}
	}
	return nil
}

// ContainerKill sends a signal (SIGKILL by default).
func (d *Daemon) ContainerKill(ctx context.Context, name, signal string) error {
	c, err := d.containers.get(name)
	if err != nil {
		return err
	}
	sig := syscall.SIGKILL
	if signal != "" {
		if sig, err = parseSignal(signal); err != nil {
			return err
		}
	}
	c.mu.Lock()
	run, paused, exitCh := c.running(), c.State.Paused, c.exitCh
	if run {
		// Like dockerd: a killed container counts as stopped by the user,
		// so its restart policy does not bring it back.
		c.State.StoppedByUser = true
		c.saveState(d.containerDir(c.ID))
	}
	c.mu.Unlock()
	if !run {
		return errdefs.Conflictf("Cannot kill container: %s: container %s is not running", name, c.ID)
	}
	if err := d.signal(ctx, c, sig, paused && sig == syscall.SIGKILL); err != nil {
		return err
	}
	if sig == syscall.SIGKILL {
		// dockerd returns once a SIGKILLed container is gone.
		select {
		case <-exitCh:
		case <-time.After(10 * time.Second):
		}
	}
	return nil
}

// ContainerRestart stops (if running) and starts the container.
func (d *Daemon) ContainerRestart(ctx context.Context, name, signal string, timeout *int) error {
	c, err := d.containers.get(name)
	if err != nil {
		return err
	}
	if err := d.stopContainer(ctx, c, signal, timeout, false); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running() {
		return nil
	}
	if err := d.startLocked(ctx, c); err != nil {
		// dockerd's words (and its 500) for a restart whose start failed.
		return fmt.Errorf("Cannot restart container %s: %v", name, err)
	}
	c.RestartCount = 0
	d.emit(c, events.ActionRestart, nil)
	return nil
}

// ContainerWait implements the three wait conditions. The waiter is
// registered before returning, so an exit right after is not missed.
func (d *Daemon) ContainerWait(ctx context.Context, name string, cond container.WaitCondition) (<-chan container.WaitResponse, error) {
	c, err := d.containers.get(name)
	if err != nil {
		return nil, err
	}
	out := make(chan container.WaitResponse, 1)
	c.mu.Lock()
	var ch chan struct{}
	switch cond {
	case container.WaitConditionNextExit:
		ch = c.exitCh
	case container.WaitConditionRemoved:
		ch = c.removeCh
	case "", container.WaitConditionNotRunning:
		if !c.running() {
			out <- container.WaitResponse{StatusCode: int64(c.State.ExitCode)}
			c.mu.Unlock()
			return out, nil
		}
		ch = c.exitCh
	default:
		c.mu.Unlock()
		return nil, errdefs.Invalidf("invalid condition: %q", cond)
	}
	c.mu.Unlock()
	go func() {
		select {
		case <-ch:
			c.mu.Lock()
			// No Error field: a failed start is already reported by the
			// start call, and the CLI would print it a second time.
			resp := container.WaitResponse{StatusCode: int64(c.State.ExitCode)}
			c.mu.Unlock()
			out <- resp
		case <-ctx.Done():
			close(out)
		}
	}()
	return out, nil
}

// ContainerRemove deletes a container; a running one only with force.
func (d *Daemon) ContainerRemove(ctx context.Context, name string, force, removeVolumes bool) error {
	c, err := d.containers.get(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	run, paused, exitCh := c.running(), c.State.Paused, c.exitCh
	c.mu.Unlock()
	if run {
		if !force {
			state := "running"
			if paused {
				state = "paused"
			}
			return errdefs.Conflictf("cannot remove container %q: container is %s: stop the container before removing or force remove", c.Name, state)
		}
		c.mu.Lock()
		c.State.StoppedByUser = true
		c.mu.Unlock()
		if err := d.signal(ctx, c, syscall.SIGKILL, paused); err != nil {
			return err
		}
		select {
		case <-exitCh:
		case <-time.After(30 * time.Second):
			return fmt.Errorf("could not kill running container %s, cannot remove", c.ID)
		}
	}
	return d.removeContainer(ctx, c, removeVolumes)
}

// removeContainer deletes the record, rw layer and directories. Concurrent
// callers (force rm racing AutoRemove) wait for the first to finish.
func (d *Daemon) removeContainer(ctx context.Context, c *Container, removeVolumes bool) error {
	ctx = context.WithoutCancel(ctx)
	c.mu.Lock()
	if c.removing {
		ch := c.removeCh
		c.mu.Unlock()
		<-ch
		return nil
	}
	if c.running() {
		c.mu.Unlock()
		return errdefs.Conflictf("cannot remove container %q: container is running", c.Name)
	}
	c.removing = true
	d.dropPrestart(ctx, c)
	c.mu.Unlock()
	if err := d.images.RemoveRW(ctx, c.ID); err != nil {
		c.mu.Lock()
		c.removing = false
		c.mu.Unlock()
		return fmt.Errorf("remove rw layer of %s: %w", c.ID, err)
	}
	d.crashPoint("rm-after-rw")
	os.RemoveAll(d.bundleDir(c.ID))
	if err := os.RemoveAll(d.containerDir(c.ID)); err != nil {
		d.log.Warn("remove container dir", "id", c.ID, "err", err)
	}
	d.forgetNetwork(ctx, c)
	d.releaseLinkNames(c)
	d.containers.remove(c)
	d.forgetLinkChild(c)
	d.execs.dropContainer(c.ID)
	d.releaseVolumes(ctx, c, removeVolumes)
	c.mu.Lock()
	close(c.removeCh)
	c.mu.Unlock()
	d.emit(c, events.ActionDestroy, nil)
	return nil
}

// parseSignal accepts "TERM", "SIGTERM", "term" and "15".
func parseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return syscall.SIGTERM, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, errdefs.Invalidf("Invalid signal: %s", s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, errdefs.Invalidf("Invalid signal: %s", s)
}
