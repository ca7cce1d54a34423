package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/atomicfile"
	"github.com/berth-project/berth/internal/cgroups"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/etcfiles"
	"github.com/berth-project/berth/internal/logs"
	"github.com/berth-project/berth/internal/monitor"
	"github.com/berth-project/berth/internal/oci"
	"github.com/berth-project/berth/internal/runtime"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// ContainerStart starts a created or exited container.
func (d *Daemon) ContainerStart(ctx context.Context, name string) error {
	c, err := d.containers.get(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	switch {
	case c.removing:
		c.mu.Unlock()
		return errdefs.Conflictf("container is marked for removal and cannot be started")
	case c.State.Paused:
		c.mu.Unlock()
		return errdefs.Conflictf("cannot start a paused container, try unpause instead")
	case c.running():
		c.mu.Unlock()
		return errdefs.NotModified(fmt.Errorf("container %s is already started", c.ID))
	}
	err = d.startLocked(ctx, c)
	autoRemove := c.HostConfig.AutoRemove
	c.mu.Unlock()
	if err != nil && autoRemove {
		// Like dockerd: a --rm container that cannot start is removed, and
		// the client's wait?condition=removed returns.
		if rerr := d.removeContainer(ctx, c, true); rerr != nil {
			d.log.Warn("auto-remove after failed start", "id", c.ID, "err", rerr)
		}
	}
	return err
}

// startLocked brings c from created/exited to running: it prepares the
// start (prepareStart) unless a prepared one waits (prestart.go), then
// starts the process (finishStart). c.mu is held.
func (d *Daemon) startLocked(ctx context.Context, c *Container) (err error) {
	// A client that hangs up mid-start must not leave a half-started container.
	ctx = context.WithoutCancel(ctx)
	defer func() {
		if err != nil {
			d.monitors.Cool()
			c.State.Error = err.Error()
			c.State.ExitCode = runtime.ExitCode(err)
			c.saveState(d.containerDir(c.ID))
			d.failPending(c, err)
		}
	}()
	p := c.prestart
	c.prestart = nil
	if p == nil {
		if p, err = d.prepareStart(ctx, c); err != nil {
			return err
		}
	}
	return d.finishStart(ctx, c, p)
}

// preparedStart is a start done up to the runtime's create: the rootfs
// and volumes are mounted, the network set up, the bundle written, and
// the container's init waits in the runtime for `start`.
type preparedStart struct {
	rt       *runtime.Runtime
	mon      *monitor.Monitor
	netSetup bool
	t0       time.Time // timing, for the debug log
	tMount   time.Time
	tNet     time.Time
	tSpec    time.Time
	tCreate  time.Time
}

// prepareStart does everything of a start but the start itself. On
// failure it undoes what it made. c.mu is held.
func (d *Daemon) prepareStart(ctx context.Context, c *Container) (p *preparedStart, err error) {
	d.cgWarm.Warm()
	// A monitor supervisor starts, when none is there, while the rootfs is
	// mounted and the spec written.
	d.monitors.Warm()
	p = &preparedStart{t0: time.Now()}
	rt, err := d.runtimeFor(c.Runtime)
	if err != nil {
		return nil, err
	}
	p.rt = rt
	in, err := d.specInput(c)
	if err != nil {
		return nil, err
	}
	rootfs, err := d.images.Mount(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("mount rootfs: %w", err)
	}
	defer func() {
		if err != nil {
			d.images.Unmount(ctx, c.ID)
		}
	}()
	in.Rootfs = rootfs
	specMounts, err := d.prepareVolumeMounts(ctx, c, rootfs)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			d.unmountVolumes(ctx, c)
		}
	}()
	in.Mounts = specMounts
	if err := oci.EnsureBindSources(c.Mounts); err != nil {
		return nil, err
	}
	p.tMount = time.Now()
	netSetup, err := d.setupNetwork(ctx, c)
	if err != nil {
		return nil, err
	}
	p.netSetup = netSetup != nil
	defer func() {
		if err != nil && netSetup != nil {
			d.teardownNetwork(ctx, c)
		}
	}()
	if c.Pod != nil {
		// The pod's files, written by the CRI front end, shared by its containers.
		err = nil
	} else if netSetup != nil {
		in.NetNS = netSetup.NetNS
		err = d.writeNetworkEtcFiles(c, in, netSetup)
	} else {
		err = d.writeEtcFiles(c, in)
	}
	if err != nil {
		return nil, err
	}
	p.tNet = time.Now()
	bundle := d.bundleDir(c.ID)
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(bundle)
		}
	}()
	spec, err := oci.Generate(ctx, in)
	if err != nil {
		return nil, err
	}
	seccompKey := rt.PrecompileSeccomp(spec)
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	// The bundle lives on the exec root, lost at reboot anyway: no fsync.
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		return nil, err
	}
	clearStaleRuntimeState(ctx, rt, c.ID)
	maxSize, maxFiles, err := logs.ParseOptions(d.logOpts(c.HostConfig))
	if err != nil {
		return nil, err
	}
	var h, w uint
	if cs := c.HostConfig.ConsoleSize; cs[0] > 0 && cs[1] > 0 {
		h, w = cs[0], cs[1]
	}
	p.tSpec = time.Now()
	d.crashPoint("start-before-monitor")
	inner, monExe := rt.ForMonitor()
	mon, err := monitor.Create(ctx, monitor.Config{
		ID:               c.ID,
		Dir:              bundle,
		Bundle:           bundle,
		MonitorPath:      d.cfg.MonitorPath,
		RuntimePath:      rt.Path,
		RuntimeExe:       monExe,
		HideCgroup2Path:  inner,
		RuntimeRoot:      rt.Root,
		LogPath:          c.LogPath,
		LogFormat:        c.logFormat(),
		LogMaxSize:       maxSize,
		LogMaxFiles:      maxFiles,
		Tty:              c.Config.Tty,
		OpenStdin:        c.Config.OpenStdin,
		StdinOnce:        c.Config.StdinOnce,
		ConsoleHeight:    h,
		ConsoleWidth:     w,
		CgroupMemoryPath: cgroups.Dir("memory", in.CgroupsPath),
		Pool:             d.monitors,
	})
	if err != nil {
		return nil, runtime.CreateFailed(err)
	}
	rt.LearnSeccomp(seccompKey, c.ID)
	p.mon = mon
	p.tCreate = time.Now()
	return p, nil
}

// undoPrepare removes what prepareStart made once the runtime's
// container is gone: bundle, network, volume and rootfs mounts.
func (d *Daemon) undoPrepare(ctx context.Context, c *Container, p *preparedStart) {
	os.RemoveAll(d.bundleDir(c.ID))
	if p.netSetup {
		d.teardownNetwork(ctx, c)
	}
	d.unmountVolumes(ctx, c)
	d.images.Unmount(ctx, c.ID)
}

// finishStart starts the prepared container's process and records it as
// running. On failure the prepared start is undone. c.mu is held.
func (d *Daemon) finishStart(ctx context.Context, c *Container, p *preparedStart) error {
	mon := p.mon
	// Attaches opened before start (docker run) connect now, while the
	// process still waits in the runtime's init: no output can be missed.
	for _, r := range c.pending {
		a, aerr := mon.Attach(ctx, r.stdin, r.stdout, r.stderr)
		r.ch <- attachResult{a: a, err: aerr}
	}
	c.pending = nil
	d.crashPoint("start-after-create")
	tReady := time.Now()
	if err := mon.Start(ctx); err != nil {
		p.rt.Kill(ctx, c.ID, 9, true)
		mon.Wait(ctx)
		mon.Close()
		d.undoPrepare(ctx, c, p)
		return runtime.CreateFailed(err)
	}
	tStart := time.Now()
	d.crashPoint("start-after-monitor")
	c.mon = mon
	c.State = State{
		Status:     container.StateRunning,
		Pid:        mon.Pid(),
		StartedAt:  time.Now().UTC(),
		FinishedAt: c.State.FinishedAt,
	}
	d.startHealth(c)
	if err := c.saveState(d.containerDir(c.ID)); err != nil {
		d.log.Warn("save container", "id", c.ID, "err", err)
	}
	d.log.Debug("start timing", "id", c.ID[:12], "mount", p.tMount.Sub(p.t0), "net", p.tNet.Sub(p.tMount),
		"spec", p.tSpec.Sub(p.tNet), "monitor-create", p.tCreate.Sub(p.tSpec), "prepared-ahead", tReady.Sub(p.tCreate),
		"monitor-start", tStart.Sub(tReady), "save", time.Since(tStart))
	d.emit(c, events.ActionStart, nil)
	d.wg.Add(1)
	go d.watchExit(c, mon)
	d.wg.Add(1)
	go func(id, name string) {
		defer d.wg.Done()
		d.updateParentsHosts(id, name)
	}(c.ID, c.Name)
	return nil
}

func (d *Daemon) failPending(c *Container, err error) {
	for _, r := range c.pending {
		r.ch <- attachResult{err: err}
	}
	c.pending = nil
}

// specInput resolves what the spec needs besides the rootfs: namespaces to
// join and the /etc files' paths.
func (d *Daemon) specInput(c *Container) (*oci.Input, error) {
	dir := d.containerDir(c.ID)
	in := &oci.Input{
		ID:             c.ID,
		Config:         c.Config,
		HostConfig:     c.HostConfig,
		Args:           append([]string{c.Path}, c.Args...),
		HostnamePath:   filepath.Join(dir, "hostname"),
		HostsPath:      filepath.Join(dir, "hosts"),
		ResolvConfPath: filepath.Join(dir, "resolv.conf"),
		CgroupsPath:    d.cgroupsPath(c),
		Mounts:         c.Mounts,
		InitPath:       d.cfg.InitPath,
	}
	nm := container.NetworkMode(c.HostConfig.NetworkMode)
	switch {
	case nm.IsHost():
		in.NetNS = "host"
	case nm.IsContainer():
		other, err := d.containers.get(nm.ConnectedContainer())
		if err != nil {
			return nil, err
		}
		pid := other.pid()
		if pid == 0 {
			return nil, errdefs.Conflictf("cannot join network namespace of a non running container: %s", strings.TrimPrefix(other.Name, "/"))
		}
		in.NetNS = fmt.Sprintf("/proc/%d/ns/net", pid)
		odir := d.containerDir(other.ID)
		in.HostnamePath = filepath.Join(odir, "hostname")
		in.HostsPath = filepath.Join(odir, "hosts")
		in.ResolvConfPath = filepath.Join(odir, "resolv.conf")
	}
	if pm := container.PidMode(c.HostConfig.PidMode); pm.IsHost() {
		in.PidNS = "host"
	} else if pm.IsContainer() {
		other, err := d.containers.get(pm.Container())
		if err != nil {
			return nil, err
		}
		if pid := other.pid(); pid > 0 {
			in.PidNS = fmt.Sprintf("/proc/%d/ns/pid", pid)
		}
	}
	if im := container.IpcMode(c.HostConfig.IpcMode); im.IsHost() {
		in.IpcNS = "host"
	}
	if um := container.UTSMode(c.HostConfig.UTSMode); um.IsHost() {
		in.UtsNS = "host"
	}
	if c.Pod != nil {
		applyPod(c.Pod, in)
	}
	ls, err := d.links(c)
	if err != nil {
		return nil, err
	}
	if ls != nil && len(ls.Env) > 0 {
		// Link variables come before the container's own, which win.
		cfg := *c.Config
		cfg.Env = append(ls.Env, c.Config.Env...)
		in.Config = &cfg
	}
	return in, nil
}

func (c *Container) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running() {
		return 0
	}
	return c.State.Pid
}

func (d *Daemon) cgroupsPath(c *Container) string {
	parent := c.HostConfig.CgroupParent
	if parent == "" {
		parent = d.cfg.CgroupParent
	}
	return cgroups.ContainerPath(parent, c.ID)
}

// writeEtcFiles writes hostname, hosts and resolv.conf unless the container
// shares them with another container.
func (d *Daemon) writeEtcFiles(c *Container, in *oci.Input) error {
	if container.NetworkMode(c.HostConfig.NetworkMode).IsContainer() {
		return nil
	}
	hostname := c.Config.Hostname
	if container.NetworkMode(c.HostConfig.NetworkMode).IsHost() && hostname == "" {
		hostname, _ = os.Hostname()
	}
	if err := etcfiles.WriteHostname(in.HostnamePath, hostname); err != nil {
		return err
	}
	if container.NetworkMode(c.HostConfig.NetworkMode).IsHost() {
		// Docker gives host-network containers the host's own hosts file.
		if err := copyFile("/etc/hosts", in.HostsPath); err != nil {
			return err
		}
	} else if err := etcfiles.WriteHosts(in.HostsPath, hostname, c.Config.Domainname, nil, c.HostConfig.ExtraHosts); err != nil {
		return err
	}
	dns := make([]string, 0, len(c.HostConfig.DNS))
	for _, a := range c.HostConfig.DNS {
		dns = append(dns, a.String())
	}
	return etcfiles.WriteResolvConf(in.ResolvConfPath, "/etc/resolv.conf", dns, c.HostConfig.DNSSearch, c.HostConfig.DNSOptions)
}

// watchExit waits for the container's process and records its end.
func (d *Daemon) watchExit(c *Container, mon *monitor.Monitor) {
	defer d.wg.Done()
	st, err := mon.Wait(context.Background())
	if err != nil {
		if st2, rerr := monitor.ReadExit(d.bundleDir(c.ID)); rerr == nil {
			st = st2
		} else {
			st = &monitor.ExitStatus{Code: 255, ExitedAt: time.Now()}
		}
	}
	d.handleExit(c, st)
}

// handleExit records an exit, releases the rootfs and bundle, wakes
// waiters, and applies AutoRemove or the restart policy.
func (d *Daemon) handleExit(c *Container, st *monitor.ExitStatus) {
	ctx := context.Background()
	c.mu.Lock()
	if c.mon != nil {
		c.mon.Close()
		c.mon = nil
	}
	c.State.Status = container.StateExited
	c.State.Pid = 0
	c.State.Paused, c.State.PausedFor = false, ""
	c.State.ExitCode = st.Code
	c.State.OOMKilled = st.OOMKilled
	c.State.FinishedAt = st.ExitedAt.UTC()
	if c.State.FinishedAt.IsZero() {
		c.State.FinishedAt = time.Now().UTC()
	}
	if err := d.images.Unmount(ctx, c.ID); err != nil {
		d.log.Warn("unmount rootfs", "id", c.ID, "err", err)
	}
	d.teardownNetwork(ctx, c)
	d.unmountVolumes(ctx, c)
	os.RemoveAll(d.bundleDir(c.ID))
	if err := c.saveState(d.containerDir(c.ID)); err != nil {
		d.log.Warn("save container", "id", c.ID, "err", err)
	}
	close(c.exitCh)
	c.exitCh = make(chan struct{})
	if st.OOMKilled {
		d.emit(c, events.ActionOOM, nil)
	}
	d.emit(c, events.ActionDie, map[string]string{"exitCode": fmt.Sprint(st.Code)})
	autoRemove := c.HostConfig.AutoRemove
	restart := d.shouldRestart(c)
	c.mu.Unlock()
	switch {
	case autoRemove:
		if err := d.removeContainer(ctx, c, true); err != nil {
			d.log.Warn("auto-remove", "id", c.ID, "err", err)
		}
	case restart:
		d.scheduleRestart(c)
	}
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return atomicfile.Write(dst, b, 0o644)
}

// clearStaleRuntimeState removes what the runtime still holds for id: the
// previous run's monitor deletes it after reporting the exit, so a quick
// restart can get here first.
func clearStaleRuntimeState(ctx context.Context, rt *runtime.Runtime, id string) {
	state := filepath.Join(rt.Root, id)
	if _, err := os.Stat(state); err != nil {
		return
	}
	rt.Delete(ctx, id, true)
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(state); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
