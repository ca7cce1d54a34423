package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/safepath"
	"github.com/berth-project/berth/internal/volume"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
)

// createVolumeMounts runs at container create: it adds --volumes-from and
// the image's VOLUMEs to c.Mounts, creates missing named and anonymous
// volumes, takes a reference on each for c and fills in Name and Source.
// On error, everything it took or made is given back.
func (d *Daemon) createVolumeMounts(ctx context.Context, c *Container) (err error) {
	var made []string
	defer func() {
		if err != nil {
			d.releaseVolumes(context.WithoutCancel(ctx), c, false)
			for _, n := range made {
				if d.volumes.Remove(context.WithoutCancel(ctx), n, false) == nil {
					d.vols.Announce(n, events.ActionDestroy, nil)
				}
			}
		}
	}()
	from, err := d.volumesFrom(c)
	if err != nil {
		return err
	}
	c.Mounts = append(c.Mounts, from...)
	c.Mounts = append(c.Mounts, imageVolumes(c)...)
	for i := range c.Mounts {
		mp := &c.Mounts[i]
		if mp.Type != mount.TypeVolume {
			continue
		}
		driver, opts, labels := volumeOptions(c.HostConfig, mp.Destination)
		v, created, err := d.vols.GetOrCreateFor(ctx, c.ID, mp.Name, driver, opts, labels)
		if err != nil {
			return err
		}
		if created && (mp.Name == "" || v.Anonymous()) {
			made = append(made, v.Name)
		}
		if err := d.volumes.Acquire(v.Name, c.ID); err != nil {
			return err
		}
		mp.Name, mp.Driver = v.Name, v.Driver
		if mp.Source, err = volumeSource(v.Mountpoint, subpath(c.HostConfig, mp.Destination)); err != nil {
			return err
		}
	}
	return nil
}

// imageVolumes turns the image's (and Config.Volumes') paths that no mount
// covers into anonymous volumes, as Docker's VOLUME does.
func imageVolumes(c *Container) []container.MountPoint {
	have := map[string]bool{}
	for _, mp := range c.Mounts {
		have[path.Clean(mp.Destination)] = true
	}
	for dst := range c.HostConfig.Tmpfs {
		have[path.Clean(dst)] = true
	}
	var dsts []string
	for dst := range c.Config.Volumes {
		if dst = path.Clean(dst); path.IsAbs(dst) && !have[dst] {
			have[dst] = true
			dsts = append(dsts, dst)
		}
	}
	sort.Strings(dsts)
	var out []container.MountPoint
	for _, dst := range dsts {
		out = append(out, container.MountPoint{Type: mount.TypeVolume, Driver: volume.LocalDriver, Destination: dst, RW: true})
	}
	return out
}

// volumesFrom copies the mounts of HostConfig.VolumesFrom ("ctr[:ro|rw]")
// that the container does not mount something else over.
func (d *Daemon) volumesFrom(c *Container) ([]container.MountPoint, error) {
	have := map[string]bool{}
	for _, mp := range c.Mounts {
		have[path.Clean(mp.Destination)] = true
	}
	var out []container.MountPoint
	for _, spec := range c.HostConfig.VolumesFrom {
		ref, mode, _ := strings.Cut(spec, ":")
		if mode != "" && mode != "ro" && mode != "rw" {
			return nil, errdefs.Invalidf("invalid mode: %s", mode)
		}
		other, err := d.containers.get(ref)
		if err != nil {
			return nil, err
		}
		other.mu.Lock()
		mps := append([]container.MountPoint(nil), other.Mounts...)
		other.mu.Unlock()
		for _, mp := range mps {
			if have[mp.Destination] || (mp.Type != mount.TypeVolume && mp.Type != mount.TypeBind) {
				continue
			}
			have[mp.Destination] = true
			if mode != "" {
				mp.RW, mp.Mode = mode == "rw", mode
			}
			out = append(out, mp)
		}
	}
	return out, nil
}

// volumeOptions finds the --mount entry for dst and returns the volume
// driver, driver options and labels it asks for.
func volumeOptions(hc *container.HostConfig, dst string) (string, map[string]string, map[string]string) {
	for _, m := range hc.Mounts {
		if m.Type != mount.TypeVolume || path.Clean(m.Target) != dst || m.VolumeOptions == nil {
			continue
		}
		vo := m.VolumeOptions
		if vo.DriverConfig != nil {
			return vo.DriverConfig.Name, vo.DriverConfig.Options, vo.Labels
		}
		return "", nil, vo.Labels
	}
	// Binds and the image's volumes use --volume-driver, as in dockerd.
	return hc.VolumeDriver, nil, nil
}

func mountSpecFor(hc *container.HostConfig, dst string) *mount.Mount {
	for i := range hc.Mounts {
		if m := &hc.Mounts[i]; m.Type == mount.TypeVolume && path.Clean(m.Target) == dst {
			return m
		}
	}
	return nil
}

func subpath(hc *container.HostConfig, dst string) string {
	if m := mountSpecFor(hc, dst); m != nil && m.VolumeOptions != nil {
		return m.VolumeOptions.Subpath
	}
	return ""
}

// volumeSource is the volume's data directory or a subpath inside it, as
// inspect shows it. The subpath must exist and may not leave the volume,
// its symlinks included; this is a check for a clear error at create and
// start, not what gets mounted (see stageSubpath).
func volumeSource(mountpoint, sub string) (string, error) {
	if sub == "" {
		return mountpoint, nil
	}
	rel := path.Clean(sub)
	if path.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", errdefs.Invalidf("subpath must be a relative path within the volume")
	}
	p := filepath.Join(mountpoint, rel)
	f, err := safepath.OpenBeneath(mountpoint, rel)
	if errors.Is(err, safepath.ErrEscapes) {
		return "", errdefs.Invalidf("cannot access path %s: subpath escapes the volume", p)
	}
	if err != nil {
		return "", errdefs.Invalid(fmt.Errorf("cannot access path %s: %w", p, err))
	}
	f.Close()
	return p, nil
}

// subpathStage is where a container's volume subpaths are bind-mounted for
// the runtime to pick up: outside the bundle, which is removed recursively.
func (d *Daemon) subpathStage(id string) string {
	return filepath.Join(d.cfg.ExecRoot, "subpaths", id)
}

// stageSubpath opens sub inside the volume without leaving it and binds
// the opened directory or file at a private path that only berthd can
// change; the runtime mounts that path into the container. A container
// sharing the volume can swap components for symlinks (x -> /) all it
// likes: what is mounted is what was opened, and it is inside the volume.
func (d *Daemon) stageSubpath(id string, n int, mountpoint, sub string) (string, error) {
	f, err := safepath.OpenBeneath(mountpoint, path.Clean(sub))
	if err != nil {
		p := filepath.Join(mountpoint, sub)
		if errors.Is(err, safepath.ErrEscapes) {
			return "", errdefs.Invalidf("cannot access path %s: subpath escapes the volume", p)
		}
		return "", errdefs.Invalid(fmt.Errorf("cannot access path %s: %w", p, err))
	}
	defer f.Close()
	target := filepath.Join(d.subpathStage(id), fmt.Sprint(n))
	if err := safepath.BindFd(f, target); err != nil {
		return "", err
	}
	return target, nil
}

// unstageSubpaths removes the staged subpath mounts of container id.
func (d *Daemon) unstageSubpaths(id string) {
	dir := d.subpathStage(id)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if err := safepath.Unbind(filepath.Join(dir, e.Name())); err != nil {
			d.log.Warn("unmount volume subpath", "id", id, "err", err)
			return
		}
	}
	os.Remove(dir)
}

// copyData reports whether the mount wants Docker's copy-up (not "nocopy").
func copyData(hc *container.HostConfig, mp container.MountPoint) bool {
	for _, o := range strings.Split(mp.Mode, ",") {
		if o == "nocopy" {
			return false
		}
	}
	if m := mountSpecFor(hc, mp.Destination); m != nil && m.VolumeOptions != nil && (m.VolumeOptions.NoCopy || m.VolumeOptions.Subpath != "") {
		return false
	}
	return true
}

// prepareVolumeMounts runs at start, with the container's root mounted at
// rootfs: it mounts volumes that have driver options, fills each volume
// mount's Source, and on the first start copies the image's content into
// new (empty) volumes. It returns the mounts to give the runtime: c.Mounts
// with each volume subpath replaced by its staged bind. Callers hold c.mu.
func (d *Daemon) prepareVolumeMounts(ctx context.Context, c *Container, rootfs string) (spec []container.MountPoint, err error) {
	defer func() {
		if err != nil {
			d.unmountVolumes(context.WithoutCancel(ctx), c)
		}
	}()
	firstStart := c.State.StartedAt.IsZero()
	spec = slices.Clone(c.Mounts)
	for i := range c.Mounts {
		mp := &c.Mounts[i]
		if mp.Type != mount.TypeVolume {
			continue
		}
		if mp.Name == "" {
			// A record made before volumes existed: create it now.
			v, _, err := d.vols.GetOrCreateFor(ctx, c.ID, "", "", nil, nil)
			if err != nil {
				return nil, err
			}
			mp.Name = v.Name
		}
		if err := d.volumes.Acquire(mp.Name, c.ID); err != nil {
			return nil, err
		}
		dir, err := d.volumes.Mount(ctx, mp.Name, c.ID)
		if err != nil {
			return nil, err
		}
		sub := subpath(c.HostConfig, mp.Destination)
		if mp.Source, err = volumeSource(dir, sub); err != nil {
			return nil, err
		}
		spec[i].Source = mp.Source
		if sub != "" {
			if spec[i].Source, err = d.stageSubpath(c.ID, i, dir, sub); err != nil {
				return nil, err
			}
		}
		d.vols.Announce(mp.Name, events.ActionMount, map[string]string{"container": c.ID, "destination": mp.Destination,
			"propagation": string(mp.Propagation), "read/write": fmt.Sprint(mp.RW)})
		if firstStart && copyData(c.HostConfig, *mp) {
			if _, err := d.volumes.CopyUp(ctx, mp.Name, rootfs, mp.Destination); err != nil {
				return nil, err
			}
		}
	}
	return spec, nil
}

// unmountVolumes runs when the container stops (and when a start fails):
// volumes with driver options are unmounted after their last user.
func (d *Daemon) unmountVolumes(ctx context.Context, c *Container) {
	d.unstageSubpaths(c.ID)
	for _, mp := range c.Mounts {
		if mp.Type != mount.TypeVolume || mp.Name == "" {
			continue
		}
		if err := d.volumes.Unmount(ctx, mp.Name, c.ID); err != nil {
			d.log.Warn("unmount volume", "volume", mp.Name, "container", c.ID, "err", err)
		}
		d.vols.Announce(mp.Name, events.ActionUnmount, map[string]string{"container": c.ID})
	}
}

// releaseVolumes runs when the container is removed: it drops c's
// references and, for rm -v and --rm, removes the anonymous volumes nothing
// else uses. Named volumes are never removed here.
func (d *Daemon) releaseVolumes(ctx context.Context, c *Container, removeAnonymous bool) {
	for _, mp := range c.Mounts {
		if mp.Type != mount.TypeVolume || mp.Name == "" {
			continue
		}
		if err := d.volumes.Release(ctx, mp.Name, c.ID); err != nil {
			d.log.Warn("release volume", "volume", mp.Name, "container", c.ID, "err", err)
		}
		if !removeAnonymous {
			continue
		}
		v, err := d.volumes.Get(ctx, mp.Name)
		if err != nil || !v.Anonymous() || d.volumes.RefCount(v.Name) > 0 {
			continue
		}
		if err := d.volumes.Remove(ctx, v.Name, false); err != nil {
			if !errdefs.IsConflict(err) && !errors.Is(err, os.ErrNotExist) {
				d.log.Warn("remove anonymous volume", "volume", v.Name, "err", err)
			}
			continue
		}
		d.vols.Announce(v.Name, events.ActionDestroy, nil)
	}
}

// restoreVolumeRefs rebuilds c's references (and mount users for running
// containers) when the daemon loads its records.
func (d *Daemon) restoreVolumeRefs(ctx context.Context, c *Container) {
	for _, mp := range c.Mounts {
		if mp.Type != mount.TypeVolume || mp.Name == "" {
			continue
		}
		if err := d.volumes.Acquire(mp.Name, c.ID); err != nil {
			d.log.Warn("container uses a missing volume", "container", c.ID, "volume", mp.Name)
			continue
		}
		if c.running() {
			if _, err := d.volumes.Mount(ctx, mp.Name, c.ID); err != nil {
				d.log.Warn("remount volume", "volume", mp.Name, "container", c.ID, "err", err)
			}
		}
	}
}
