package daemon

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-project/berth/internal/monitor"
	"github.com/moby/moby/api/types/container"
)

// restore loads every container record. Containers that were running are
// reattached to their monitor (live restore); if the monitor is gone, its
// exit file (or, failing that, code 255) closes the run. Afterwards restart
// policies "always" and "unless-stopped" start what should be running.
// What a crash left half done is repaired on the way (reconcile.go).
func (d *Daemon) restore(ctx context.Context) error {
	dirs, err := os.ReadDir(filepath.Join(d.cfg.DataRoot, "containers"))
	if err != nil {
		return err
	}
	var toStart, buildSteps []*Container
	var cutShort []string
	for _, de := range dirs {
		if !de.IsDir() {
			continue
		}
		if !d.repairRecord(ctx, de.Name()) {
			cutShort = append(cutShort, de.Name())
			continue
		}
		c, err := loadContainer(filepath.Join(d.cfg.DataRoot, "containers", de.Name()))
		if err != nil {
			d.log.Warn("skip unreadable container record", "id", de.Name(), "err", err)
			continue
		}
		if d.repairHalfRemoved(ctx, c) {
			continue
		}
		d.containers.add(c)
		if c.BuildStep {
			buildSteps = append(buildSteps, c)
		}
		d.restoreLinkNames(c)
		d.restoreVolumeRefs(ctx, c)
		if !c.running() && c.State.Status != container.StateRestarting {
			if d.adoptOrUndoStart(ctx, c) {
				d.wg.Add(1)
				go d.watchExit(c, c.mon)
				d.startHealth(c)
				continue
			}
			d.teardownNetwork(ctx, c)
			if shouldStartOnBoot(c) {
				toStart = append(toStart, c)
			}
			continue
		}
		if mon, err := monitor.Reconnect(ctx, d.bundleDir(c.ID)); err == nil {
			d.syncPaused(ctx, c)
			c.mon = mon
			d.wg.Add(1)
			go d.watchExit(c, mon)
			d.startHealth(c)
			continue
		}
		st, err := monitor.ReadExit(d.bundleDir(c.ID))
		if err != nil {
			st = &monitor.ExitStatus{Code: 255, ExitedAt: time.Now()}
		}
		d.handleExit(c, st)
		if shouldStartOnBoot(c) {
			toStart = append(toStart, c)
		}
	}
	d.sweepOrphans(ctx)
	// Every record's volume references are restored by now: what a create
	// cut short made and nobody uses can go.
	d.removeCutShortVolumes(ctx, cutShort)
	d.removeBuildSteps(ctx, buildSteps)
	for _, c := range toStart {
		c.mu.Lock()
		if !c.running() {
			if err := d.startLocked(ctx, c); err != nil {
				d.log.Warn("restart on boot", "id", c.ID, "err", err)
			}
		}
		c.mu.Unlock()
	}
	return nil
}

func shouldStartOnBoot(c *Container) bool {
	rp := c.HostConfig.RestartPolicy
	return rp.IsAlways() || (rp.IsUnlessStopped() && !c.State.StoppedByUser)
}
