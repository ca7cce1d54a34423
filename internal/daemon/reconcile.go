package daemon

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/cgroups"
	"github.com/berth-project/berth/internal/crashpoint"
	"github.com/berth-project/berth/internal/monitor"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"golang.org/x/sys/unix"
)

// Crash windows. berthd can be killed (SIGKILL, OOM) between any two steps
// of an operation; each step is atomic on its own (records are written
// temp+rename, layers renamed into place) but a sequence is not. The
// repairs below run once at start, before the API is served, while nothing
// is in flight, and each is logged as "repair":
//
//   - create: the rw layer (and a network record) exist but the record was
//     never written → the layer, network record and directory go;
//   - start: the monitor runs but the record still says created/exited →
//     the container is adopted as running; or the start stopped before the
//     runtime's start → rootfs mount, volume mounts, runtime state, bundle
//     and cgroups are undone and the record keeps its state;
//   - rm: the rw layer was removed but not the record → the removal is
//     finished;
//   - anything left with no record at all: rw layers, bundles (and their
//     monitors, killed), network records, cgroup directories;
//   - an anonymous volume a create cut short made (the volume names its
//     container) and nobody uses → removed;
//   - a build RUN step's container (BuildStep) → killed and removed, with
//     its volumes: the build that would have removed it died with us;
//   - a pause, resume, or a commit's or export's own pause cut short →
//     the freezer and the record agree again (syncPaused).
//
// Image store leftovers (ingest temp files, half-unpacked layers, load
// dirs, unreferenced blobs and layers) are the image store's, swept when it
// opens; build layers and contexts are the builder's, swept when it opens.

var hexID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// repairRecord handles one container directory before it is loaded. It
// reports false when the directory was a crash leftover and is gone.
func (d *Daemon) repairRecord(ctx context.Context, id string) bool {
	dir := d.containerDir(id)
	if _, err := os.Stat(filepath.Join(dir, "config.json")); !errors.Is(err, fs.ErrNotExist) {
		return true
	}
	// Records are written whole (temp + rename): no record means the
	// create never finished.
	d.log.Warn("repair: removing a container whose create was cut short", "id", id)
	d.dropOrphan(ctx, id)
	os.RemoveAll(dir)
	return false
}

// removeCutShortVolumes removes the anonymous volumes that creates cut
// short by a crash made (ids are those creates' containers), unless a
// container uses them now. Named volumes stay, as a volume create would
// have left them.
func (d *Daemon) removeCutShortVolumes(ctx context.Context, ids []string) {
	for _, id := range ids {
		for _, name := range d.volumes.OwnedBy(id) {
			if d.volumes.RefCount(name) != 0 {
				continue
			}
			if err := d.volumes.Remove(ctx, name, false); err != nil {
				d.log.Warn("repair: remove anonymous volume", "volume", name, "err", err)
				continue
			}
			d.log.Warn("repair: removed the anonymous volume of a container whose create was cut short", "volume", name, "id", id)
			d.vols.Announce(name, events.ActionDestroy, nil)
		}
	}
}

// removeBuildSteps removes the containers of build RUN steps that a
// crash left: the build that would have removed them is gone with the
// daemon (its client got an error), so nothing else ever will. They go
// with their rw layers, mounts and anonymous volumes, killed first if
// they still run.
func (d *Daemon) removeBuildSteps(ctx context.Context, cs []*Container) {
	for _, c := range cs {
		d.log.Warn("repair: removing the container of a build step cut short", "id", c.ID)
		if err := d.ContainerRemove(ctx, c.ID, true, true); err != nil {
			d.log.Warn("repair: remove build step container", "id", c.ID, "err", err)
		}
	}
}

// repairHalfRemoved finishes an rm that a crash cut short after the rw
// layer went: such a record can never start again.
func (d *Daemon) repairHalfRemoved(ctx context.Context, c *Container) bool {
	if c.running() || d.images.HasRW(c.ID) {
		return false
	}
	d.log.Warn("repair: finishing the removal of a container whose rw layer is gone", "id", c.ID)
	d.dropOrphan(ctx, c.ID)
	os.RemoveAll(d.containerDir(c.ID))
	return true
}

// adoptOrUndoStart looks at a container whose record says it is not
// running. A monitor still serving it means the start got past the runtime
// but not to the state save: the container is adopted. A bundle without a
// live (started) monitor means the start was cut short: what it made is
// undone. It reports whether the container was adopted.
func (d *Daemon) adoptOrUndoStart(ctx context.Context, c *Container) bool {
	bundle := d.bundleDir(c.ID)
	if _, err := os.Stat(bundle); err != nil && !d.images.IsMounted(c.ID) {
		return false
	}
	if mon, err := monitor.Reconnect(ctx, bundle); err == nil {
		st, serr := mon.State(ctx)
		if serr == nil && st.Running && !st.StartedAt.IsZero() {
			d.log.Warn("repair: adopting a running container whose start was not recorded", "id", c.ID, "pid", st.Pid)
			c.mon = mon
			c.State = State{Status: container.StateRunning, Pid: st.Pid, StartedAt: st.StartedAt.UTC(), FinishedAt: c.State.FinishedAt}
			if err := c.saveState(d.containerDir(c.ID)); err != nil {
				d.log.Warn("save container", "id", c.ID, "err", err)
			}
			// The rootfs is mounted already; count the mount as held.
			if _, err := d.images.Mount(ctx, c.ID); err != nil {
				d.log.Warn("adopt rootfs mount", "id", c.ID, "err", err)
			}
			return true
		}
		// Created but never started, or exited: stop it for good.
		d.killMonitor(ctx, c.ID, mon, c.Runtime)
	}
	d.log.Warn("repair: undoing a start that was cut short", "id", c.ID)
	d.undoStart(ctx, c.ID, c.Runtime, c)
	return false
}

// killMonitor ends the container a monitor serves and waits (bounded) for
// the monitor to exit.
func (d *Daemon) killMonitor(ctx context.Context, id string, mon *monitor.Monitor, runtimeName string) {
	if rt, err := d.runtimeFor(runtimeName); err == nil {
		rt.Kill(ctx, id, unix.SIGKILL, true)
	}
	if pid := mon.Pid(); pid > 0 {
		unix.Kill(pid, unix.SIGKILL)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	mon.Wait(wctx)
	cancel()
	mon.Close()
}

// undoStart removes what a start makes: runtime state, rootfs mount,
// volume mounts, bundle, network sandbox and cgroups. c may be nil (no
// record left).
func (d *Daemon) undoStart(ctx context.Context, id, runtimeName string, c *Container) {
	// A monitor killed with its daemon mid-create may still be running the
	// runtime's create, with no socket yet: end whatever names the bundle.
	killProcsNaming(d.bundleDir(id))
	for _, rt := range d.runtimes {
		if runtimeName == "" || rt.Name == runtimeName || c == nil {
			clearStaleRuntimeState(ctx, rt, id)
		}
	}
	if d.images.IsMounted(id) {
		if err := d.images.Unmount(ctx, id); err != nil {
			d.log.Warn("repair: unmount rootfs", "id", id, "err", err)
		}
	}
	if c != nil {
		d.unmountVolumes(ctx, c)
		d.removeCgroups(d.cgroupsPath(c))
	}
	os.RemoveAll(d.bundleDir(id))
	if err := d.networks.Teardown(ctx, id); err != nil {
		d.log.Warn("repair: network teardown", "id", id, "err", err)
	}
}

// dropOrphan removes everything of container id that has no record.
func (d *Daemon) dropOrphan(ctx context.Context, id string) {
	if mon, err := monitor.Reconnect(ctx, d.bundleDir(id)); err == nil {
		d.killMonitor(ctx, id, mon, "")
	}
	d.undoStart(ctx, id, "", nil)
	d.removeCgroups(cgroups.ContainerPath(d.cfg.CgroupParent, id))
	if err := d.images.RemoveRW(ctx, id); err != nil {
		d.log.Warn("repair: remove rw layer", "id", id, "err", err)
	}
	if err := d.networks.Forget(ctx, id); err != nil {
		d.log.Warn("repair: forget network record", "id", id, "err", err)
	}
}

// removeCgroups removes path's directory below every hierarchy; a cgroup
// still holding processes stays (rmdir fails).
func (d *Daemon) removeCgroups(path string) {
	dirs := cgroups.Dirs(path)
	for _, dir := range dirs {
		killCgroupProcs(dir)
	}
	// The killed processes leave their cgroups asynchronously.
	for try := 0; try < 50 && len(dirs) > 0; try++ {
		var left []string
		for _, dir := range dirs {
			if err := os.Remove(dir); err == nil || errors.Is(err, fs.ErrNotExist) {
				continue
			}
			left = append(left, dir)
		}
		if dirs = left; len(dirs) > 0 {
			time.Sleep(40 * time.Millisecond)
		}
	}
	for _, dir := range dirs {
		d.log.Warn("repair: cgroup still busy", "dir", dir)
	}
}

// killCgroupProcs SIGKILLs every process in one cgroup directory: only a
// container that is not running (by its record) or has no record gets
// here, so what is inside is a leftover of a start cut short.
func killCgroupProcs(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// killProcsNaming SIGKILLs the processes whose command line has an
// argument inside dir (a monitor's config, the runtime's --bundle).
func killProcsNaming(dir string) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	prefix := dir + "/"
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, arg := range strings.Split(string(b), "\x00") {
			if arg == dir || strings.HasPrefix(arg, prefix) {
				unix.Kill(pid, unix.SIGKILL)
				break
			}
		}
	}
}

// sweepOrphans runs after every record is loaded: rw layers, bundles,
// network records and cgroups of containers with no record go.
func (d *Daemon) sweepOrphans(ctx context.Context) {
	known := map[string]bool{}
	for _, c := range d.containers.list() {
		known[c.ID] = true
	}
	orphans := map[string]bool{}
	if ids, err := d.images.RWCandidates(); err == nil {
		for _, id := range ids {
			if !known[id] {
				orphans[id] = true
			}
		}
	}
	if ents, err := os.ReadDir(d.cfg.ExecRoot); err == nil {
		for _, e := range ents {
			if e.IsDir() && hexID.MatchString(e.Name()) && !known[e.Name()] {
				orphans[e.Name()] = true
			}
		}
	}
	for _, id := range d.networks.ContainerIDs() {
		if !known[id] && hexID.MatchString(id) {
			orphans[id] = true
		}
	}
	for id := range orphans {
		d.log.Warn("repair: removing what a container without a record left", "id", id)
		d.dropOrphan(ctx, id)
	}
	// Cgroup directories of containers that are gone (the runtime's
	// delete did not run); pods' cgroups are the kubelet's.
	for _, dir := range cgroups.Dirs(cgroups.ContainerPath(d.cfg.CgroupParent, "*")) {
		if id := filepath.Base(dir); hexID.MatchString(id) && !known[id] {
			if err := os.Remove(dir); err == nil {
				d.log.Warn("repair: removed the cgroup of a container without a record", "dir", dir)
			}
		}
	}
}

// crashPoint kills the daemon outright at the named point when the
// crash-consistency tests ask for it, so each crash window is hit for sure
// rather than by timing.
func (d *Daemon) crashPoint(name string) {
	if d.crashAt != "" && d.crashAt == name {
		crashpoint.Kill(d.log, name)
	}
}

// syncPaused makes a live container's freezer agree with its record after
// a crash between the runtime's pause (or resume) and the record's save:
// the request was never answered, so the record wins for a pause (the
// container is thawed: commit and export pause for their own sake) and the
// runtime wins for a resume. A pause that a commit or export made for its
// own sake is undone too: the operation died with the daemon and nobody
// else would thaw the container. A user's pause stays.
func (d *Daemon) syncPaused(ctx context.Context, c *Container) {
	rt, err := d.runtimeFor(c.Runtime)
	if err != nil {
		return
	}
	st, err := rt.State(ctx, c.ID)
	if err != nil {
		return
	}
	frozen := st.Status == "paused"
	switch {
	case frozen && c.State.Paused && c.State.PausedFor != "":
		d.log.Warn("repair: thawing a container paused by an operation cut short", "id", c.ID, "operation", c.State.PausedFor)
		if err := rt.Resume(ctx, c.ID); err != nil {
			d.log.Warn("repair: resume", "id", c.ID, "err", err)
			return
		}
		c.State.Paused, c.State.PausedFor = false, ""
		c.State.Status = container.StateRunning
		c.saveState(d.containerDir(c.ID))
	case frozen && !c.State.Paused:
		d.log.Warn("repair: thawing a container whose pause was not recorded", "id", c.ID)
		if err := rt.Resume(ctx, c.ID); err != nil {
			d.log.Warn("repair: resume", "id", c.ID, "err", err)
		}
	case !frozen && c.State.Paused && st.Status == "running":
		d.log.Warn("repair: recording the resume of a container", "id", c.ID)
		c.State.Paused, c.State.PausedFor = false, ""
		c.State.Status = container.StateRunning
		c.saveState(d.containerDir(c.ID))
	}
}
