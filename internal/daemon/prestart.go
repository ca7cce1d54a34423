package daemon

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/container"
)

// Prepared starts of pod containers.
//
// The kubelet starts a container right after creating it, and crictl's
// start is a new process whose own start-up takes tens of milliseconds.
// So a pod container's start is prepared as soon as it is created, in the
// background: rootfs mounted, spec written and the runtime's create done
// (CRI-O runs `runc create` at CreateContainer too). The container's
// init then waits in the runtime, before the user's process is executed,
// until ContainerStart runs `start`; until then the record says created
// and nothing of the container's own program has run. Whatever changes
// the container before its start (update, stop, remove, shutdown) drops
// the prepared start first, and a daemon restart undoes one
// (adoptOrUndoStart: a monitor whose container never started).

// prestartTimeout bounds a background preparation; a start after it
// failed prepares again and reports the error.
const prestartTimeout = 2 * time.Minute

// prestartAsync prepares c's start in the background.
func (d *Daemon) prestartAsync(c *Container) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), prestartTimeout)
		defer cancel()
		c.mu.Lock()
		defer c.mu.Unlock()
		// A start, stop or remove that got the lock first wins.
		if c.removing || c.prestart != nil || c.running() || c.State.Status != container.StateCreated || d.closing.Load() {
			return
		}
		p, err := d.prepareStart(ctx, c)
		if err != nil {
			// Not recorded: ContainerStart prepares again and reports it.
			d.monitors.Cool()
			d.log.Debug("prepare start ahead", "id", c.ID, "err", err)
			return
		}
		c.prestart = p
	}()
}

// dropPrestart undoes c's prepared start, if any: the waiting init is
// killed and what the preparation made is removed. c.mu is held.
func (d *Daemon) dropPrestart(ctx context.Context, c *Container) {
	p := c.prestart
	if p == nil {
		return
	}
	c.prestart = nil
	ctx = context.WithoutCancel(ctx)
	if err := p.rt.Kill(ctx, c.ID, 9, true); err != nil {
		d.log.Debug("kill prepared container", "id", c.ID, "err", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	p.mon.Wait(wctx)
	cancel()
	p.mon.Close()
	// The monitor deletes the runtime's state after reporting the exit;
	// the caller (a remove, a pod's stop) wants it gone now.
	clearStaleRuntimeState(ctx, p.rt, c.ID)
	d.undoPrepare(ctx, c, p)
}
