package daemon

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/berth-project/berth/internal/cgroups"
	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/imageref"
	"github.com/berth-project/berth/internal/oci"
	"github.com/berth-project/berth/internal/runtime"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// runningContainer returns c and its runtime when c is running.
func (d *Daemon) runningContainer(name string) (*Container, *runtime.Runtime, error) {
	c, err := d.containers.get(name)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	run := c.running()
	c.mu.Unlock()
	if !run {
		return nil, nil, errdefs.Conflictf("Container %s is not running", c.ID)
	}
	rt, err := d.runtimeFor(c.Runtime)
	if err != nil {
		return nil, nil, err
	}
	return c, rt, nil
}

// ContainerTop lists the container's processes with the host's ps.
func (d *Daemon) ContainerTop(ctx context.Context, name, psArgs string) (*container.TopResponse, error) {
	c, rt, err := d.runningContainer(name)
	if err != nil {
		return nil, err
	}
	pids, err := rt.Ps(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	resp, err := runtime.Top(ctx, pids, psArgs)
	if err != nil {
		return nil, err
	}
	d.emit(c, events.ActionTop, nil)
	return resp, nil
}

// ContainerPause freezes the container's processes.
func (d *Daemon) ContainerPause(ctx context.Context, name string) error {
	return d.pause(ctx, name, "")
}

// pause freezes the container, for the user (forOp "") or for the
// operation forOp, which thaws it when it is done.
func (d *Daemon) pause(ctx context.Context, name, forOp string) error {
	c, rt, err := d.runningContainer(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.State.Paused {
		return errdefs.Conflictf("Container %s is already paused", c.ID)
	}
	if err := rt.Pause(ctx, c.ID); err != nil {
		return err
	}
	d.crashPoint("pause-after-freeze")
	c.State.Paused = true
	c.State.PausedFor = forOp
	c.State.Status = container.StatePaused
	c.save(d.containerDir(c.ID))
	d.emit(c, events.ActionPause, nil)
	return nil
}

// ContainerUnpause thaws a paused container.
func (d *Daemon) ContainerUnpause(ctx context.Context, name string) error {
	c, rt, err := d.runningContainer(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.State.Paused {
		return errdefs.Conflictf("Container %s is not paused", c.ID)
	}
	if err := rt.Resume(ctx, c.ID); err != nil {
		return err
	}
	d.crashPoint("unpause-after-thaw")
	c.State.Paused = false
	c.State.PausedFor = ""
	c.State.Status = container.StateRunning
	c.save(d.containerDir(c.ID))
	d.emit(c, events.ActionUnPause, nil)
	return nil
}

// ContainerUpdate changes resources (live when running) and the restart policy.
func (d *Daemon) ContainerUpdate(ctx context.Context, name string, u *container.UpdateConfig) (*container.UpdateResponse, error) {
	c, err := d.containers.get(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	hc := *c.HostConfig
	applyResources(&hc.Resources, &u.Resources)
	if u.RestartPolicy.Name != "" {
		if hc.AutoRemove && !u.RestartPolicy.IsNone() {
			return nil, errdefs.Invalidf("Restart policy cannot be updated because AutoRemove is enabled for the container")
		}
		hc.RestartPolicy = u.RestartPolicy
	}
	if _, err := d.validateHostConfig(&hc); err != nil {
		return nil, err
	}
	// A prepared start has the old limits in its spec: it is made again
	// at the start.
	d.dropPrestart(ctx, c)
	if c.running() {
		rt, err := d.runtimeFor(c.Runtime)
		if err != nil {
			return nil, err
		}
		res := oci.Resources(&hc.Resources)
		unlimitPids := u.PidsLimit != nil && *u.PidsLimit <= 0
		if u.PidsLimit == nil || unlimitPids {
			// Leave pids.max to us: crun cannot write an unlimited -1.
			res.Pids = nil
		}
		if err := rt.Update(ctx, c.ID, res); err != nil {
			return nil, fmt.Errorf("Cannot update container %s: %w", c.ID, err)
		}
		if unlimitPids {
			if err := cgroups.SetPidsMax(d.cgroupsPath(c), "max"); err != nil {
				return nil, fmt.Errorf("Cannot update container %s: %w", c.ID, err)
			}
		}
	}
	c.HostConfig = &hc
	c.save(d.containerDir(c.ID))
	d.emit(c, events.ActionUpdate, nil)
	return &container.UpdateResponse{Warnings: []string{}}, nil
}

// applyResources copies the fields the update request set (non-zero).
func applyResources(dst, src *container.Resources) {
	setIf(&dst.Memory, src.Memory)
	setIf(&dst.MemorySwap, src.MemorySwap)
	setIf(&dst.MemoryReservation, src.MemoryReservation)
	setIf(&dst.NanoCPUs, src.NanoCPUs)
	setIf(&dst.CPUShares, src.CPUShares)
	setIf(&dst.CPUPeriod, src.CPUPeriod)
	setIf(&dst.CPUQuota, src.CPUQuota)
	setIf(&dst.CpusetCpus, src.CpusetCpus)
	setIf(&dst.CpusetMems, src.CpusetMems)
	setIf(&dst.BlkioWeight, src.BlkioWeight)
	if src.PidsLimit != nil {
		dst.PidsLimit = src.PidsLimit
	}
}

// setIf stores v in *dst unless v is the zero value ("not set").
func setIf[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

// ContainerRename changes the name; the old one is free again at once.
func (d *Daemon) ContainerRename(ctx context.Context, name, newName string) error {
	c, err := d.containers.get(name)
	if err != nil {
		return err
	}
	if newName == "" || !validName.MatchString(newName) {
		return errdefs.Invalidf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", newName)
	}
	newName = "/" + strings.TrimPrefix(newName, "/")
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.Name
	if old == newName {
		return errdefs.Invalidf("Renaming a container with the same name as its current name")
	}
	if err := d.containers.reserveName(newName, c.ID); err != nil {
		return err
	}
	c.Name = newName
	if err := c.save(d.containerDir(c.ID)); err != nil {
		c.Name = old
		d.containers.releaseName(newName, c.ID)
		return err
	}
	d.containers.releaseName(old, c.ID)
	d.renameLinks(c, old)
	if err := d.networks.Rename(c.ID, newName); err != nil {
		d.log.Warn("rename in network records", "id", c.ID, "err", err)
	}
	d.emit(c, events.ActionRename, map[string]string{"oldName": old})
	return nil
}

// ContainerChanges lists the rw layer's changes (docker diff).
func (d *Daemon) ContainerChanges(ctx context.Context, name string) ([]container.FilesystemChange, error) {
	c, err := d.containers.get(name)
	if err != nil {
		return nil, err
	}
	return d.images.Changes(ctx, c.ID)
}

// ContainerExport streams the flattened rootfs.
func (d *Daemon) ContainerExport(ctx context.Context, name string, w io.Writer) error {
	c, err := d.containers.get(name)
	if err != nil {
		return err
	}
	// The tar walker reads the live overlay through host paths: a running
	// container that swaps a directory for a symlink between the walker's
	// lstat and open would have host files read into the tar (the
	// CVE-2018-15664 class). Frozen, it cannot; dockerd gets the same from
	// tarring inside a chroot of the rootfs.
	c.mu.Lock()
	run := c.running() && !c.State.Paused
	c.mu.Unlock()
	if run {
		if err := d.pause(ctx, c.ID, "export"); err == nil {
			defer d.ContainerUnpause(context.WithoutCancel(ctx), c.ID)
		} else if stillRunning(c) {
			return fmt.Errorf("export %s: pause the running container: %w", name, err)
		}
	}
	if err := d.images.Export(ctx, c.ID, w); err != nil {
		return err
	}
	d.emit(c, events.ActionExport, nil)
	return nil
}

// ContainersPrune removes stopped containers matching label/until filters.
func (d *Daemon) ContainersPrune(ctx context.Context, f filters.Args) (*container.PruneReport, error) {
	for k := range f {
		if k != "label" && k != "label!" && k != "until" {
			return nil, errdefs.Invalidf("invalid filter '%s'", k)
		}
	}
	until, err := f.Until()
	if err != nil {
		return nil, err
	}
	rep := &container.PruneReport{ContainersDeleted: []string{}}
	for _, c := range d.containers.list() {
		c.mu.Lock()
		skip := c.running() || c.removing || !matchLabels(f["label"], c.Config.Labels) ||
			(len(f["label!"]) > 0 && matchLabels(f["label!"], c.Config.Labels)) ||
			(!until.IsZero() && !c.Created.Before(until))
		c.mu.Unlock()
		if skip {
			continue
		}
		size, _ := d.images.RWSize(ctx, c.ID)
		if err := d.removeContainer(ctx, c, false); err != nil {
			d.log.Warn("prune", "id", c.ID, "err", err)
			continue
		}
		rep.ContainersDeleted = append(rep.ContainersDeleted, c.ID)
		rep.SpaceReclaimed += uint64(size)
	}
	d.events.Publish(events.Message{Type: events.ContainerEventType, Action: events.ActionPrune,
		Actor: events.Actor{Attributes: map[string]string{"reclaimed": fmt.Sprint(rep.SpaceReclaimed)}}})
	return rep, nil
}

// ContainerCommit makes an image from the container's rw layer.
func (d *Daemon) ContainerCommit(ctx context.Context, opts engine.CommitOptions) (string, error) {
	c, err := d.containers.get(opts.Container)
	if err != nil {
		return "", err
	}
	parent, err := d.images.Resolve(ctx, c.ImageID)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	cfg := *c.Config
	run := c.running() && !c.State.Paused
	c.mu.Unlock()
	if opts.Pause && run {
		// As dockerd: committing a running container is only safe frozen
		// (the diff walker reads the live upper dir through host paths).
		if err := d.pause(ctx, c.ID, "commit"); err == nil {
			defer d.ContainerUnpause(context.WithoutCancel(ctx), c.ID)
			d.crashPoint("commit-after-pause")
		} else if stillRunning(c) {
			return "", fmt.Errorf("commit %s: pause the running container: %w", opts.Container, err)
		}
	}
	// As dockerd: the request's config (or else the container's) takes
	// the changes, then the container's config fills what it leaves unset.
	co := image.CommitOptions{Config: &cfg, Comment: opts.Comment, Author: opts.Author, Changes: opts.Changes,
		ContainerID: c.ID, ContainerCmd: cfg.Cmd}
	if opts.Config != nil {
		co.Config, co.Defaults = opts.Config, &cfg
	}
	img, err := d.images.Commit(ctx, c.ID, parent, co)
	if err != nil {
		return "", err
	}
	imageRef := ""
	if opts.Repo != "" {
		ref := opts.Repo
		if opts.Tag != "" {
			ref += ":" + opts.Tag
		}
		if err := d.images.Tag(ctx, img.ID, ref); err != nil {
			return "", err
		}
		imageRef = familiarTag(ref)
	}
	d.emit(c, events.ActionCommit, map[string]string{"comment": opts.Comment, "imageID": img.ID.String(), "imageRef": imageRef})
	return img.ID.String(), nil
}

// familiarTag is ref as dockerd's events name it: short, with its tag
// ("img" → "img:latest").
func familiarTag(ref string) string {
	full, err := imageref.NormalizeTag(ref)
	if err != nil {
		return ref
	}
	named, err := reference.ParseNormalizedNamed(full)
	if err != nil {
		return ref
	}
	return reference.FamiliarString(named)
}

// stillRunning tells a pause that failed because the container just
// exited (nothing left to freeze) from one that failed on a live container.
func stillRunning(c *Container) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running()
}
