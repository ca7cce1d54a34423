package daemon

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/container"
)

// shouldRestart applies the restart policy to an exit. c.mu is held.
func (d *Daemon) shouldRestart(c *Container) bool {
	rp := c.HostConfig.RestartPolicy
	if c.State.StoppedByUser || c.removing {
		return false
	}
	switch {
	case rp.IsAlways(), rp.IsUnlessStopped():
		return true
	case rp.IsOnFailure():
		return c.State.ExitCode != 0 && (rp.MaximumRetryCount == 0 || c.RestartCount < rp.MaximumRetryCount)
	}
	return false
}

// scheduleRestart restarts c after Docker's doubling back-off (100 ms, 200 ms, ...
// capped at one minute), unless the user intervened meanwhile.
func (d *Daemon) scheduleRestart(c *Container) {
	c.mu.Lock()
	delay := 100 * time.Millisecond << min(c.RestartCount, 10)
	if delay > time.Minute {
		delay = time.Minute
	}
	c.State.Restarting = true
	c.State.Status = container.StateRestarting
	c.mu.Unlock()
	time.AfterFunc(delay, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.State.Restarting || c.removing || c.State.StoppedByUser {
			c.State.Restarting = false
			if c.State.Status == container.StateRestarting {
				c.State.Status = container.StateExited
			}
			return
		}
		c.State.Restarting = false
		c.RestartCount++
		if err := d.startLocked(context.Background(), c); err != nil {
			d.log.Warn("restart", "id", c.ID, "err", err)
			c.State.Status = container.StateExited
		}
	})
}
