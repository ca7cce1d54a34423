package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/safepath"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"golang.org/x/sys/unix"
)

// docker cp sees the container's filesystem as the container sees it,
// volumes and bind mounts included. A running container's root
// (/proc/<pid>/root) already has them; for a stopped one, mountArchiveRoot
// binds each volume and bind mount onto the temporarily mounted rootfs, as
// dockerd does, and the returned release undoes it.
//
// Both ends of every bind are opened first with openat2 RESOLVE_BENEATH
// (the mount point inside the rootfs, a volume subpath inside its volume)
// and mounted through /proc/self/fd, so no symlink in the rootfs or in a
// shared volume can point a mount outside its root.

// errVolumeReadonly is dockerd's answer to a copy into a read-only mount.
var errVolumeReadonly = errdefs.Forbidden(errors.New("mounted volume is marked read-only"))

// mountArchiveRoot mounts the stopped container c's rootfs with its
// volumes and bind mounts and returns the root and a release function.
func (d *Daemon) mountArchiveRoot(ctx context.Context, c *Container) (root string, release func(), err error) {
	root, err = d.images.Mount(ctx, c.ID)
	if err != nil {
		return "", nil, err
	}
	var undo []func()
	release = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		d.images.Unmount(context.WithoutCancel(ctx), c.ID)
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	mps := slices.Clone(c.Mounts)
	// Parents before children, as the runtime mounts them.
	slices.SortStableFunc(mps, func(a, b container.MountPoint) int {
		return strings.Count(path.Clean(a.Destination), "/") - strings.Count(path.Clean(b.Destination), "/")
	})
	for _, mp := range mps {
		u, err := d.bindForArchive(ctx, c, root, mp)
		if err != nil {
			return "", nil, err
		}
		if u != nil {
			undo = append(undo, u)
		}
	}
	return root, release, nil
}

// bindForArchive binds one mount point's source onto root; nil, nil for
// mounts that have nothing on disk while the container is stopped (tmpfs).
func (d *Daemon) bindForArchive(ctx context.Context, c *Container, root string, mp container.MountPoint) (func(), error) {
	var src *os.File
	var undoSrc func()
	switch mp.Type {
	case mount.TypeBind:
		f, err := os.OpenFile(mp.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			// dockerd skips a bind whose source went away.
			return nil, nil
		}
		src = f
	case mount.TypeVolume:
		if mp.Name == "" {
			return nil, nil
		}
		dir, err := d.volumes.Mount(ctx, mp.Name, c.ID)
		if err != nil {
			return nil, err
		}
		undoSrc = func() { d.volumes.Unmount(context.WithoutCancel(ctx), mp.Name, c.ID) }
		f, err := safepath.OpenBeneath(dir, path.Clean(subpath(c.HostConfig, mp.Destination)))
		if err != nil {
			undoSrc()
			return nil, fmt.Errorf("open volume %s: %w", mp.Name, err)
		}
		src = f
	default:
		return nil, nil
	}
	defer src.Close()
	fail := func(err error) (func(), error) {
		if undoSrc != nil {
			undoSrc()
		}
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return fail(err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	dst := path.Clean("/" + mp.Destination)
	parent := dst
	if !isDir {
		parent = path.Dir(dst)
	}
	if err := archive.MkdirAll(ctx, root, parent, 0, 0); err != nil {
		return fail(err)
	}
	if !isDir {
		if err := createFileBeneath(root, dst); err != nil {
			return fail(err)
		}
	}
	tgt, err := safepath.OpenBeneath(root, strings.TrimPrefix(dst, "/"))
	if err != nil {
		return fail(fmt.Errorf("mount point %s: %w", dst, err))
	}
	defer tgt.Close()
	// The resolved target, to unmount by path later: the container is
	// stopped, so nothing can change it meanwhile.
	where, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", tgt.Fd()))
	if err != nil {
		return fail(err)
	}
	if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", src.Fd()), fmt.Sprintf("/proc/self/fd/%d", tgt.Fd()), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fail(fmt.Errorf("bind %s at %s: %w", mp.Source, dst, err))
	}
	return func() {
		if err := unix.Unmount(where, unix.MNT_DETACH); err != nil {
			d.log.Warn("unmount archive bind", "container", c.ID, "path", where, "err", err)
		}
		if undoSrc != nil {
			undoSrc()
		}
	}, nil
}

// createFileBeneath makes an empty file at p inside root for a file bind
// to land on, unless something is there already.
func createFileBeneath(root, p string) error {
	dir, err := safepath.OpenBeneath(root, strings.TrimPrefix(path.Dir(p), "/"))
	if err != nil {
		return err
	}
	defer dir.Close()
	fd, err := unix.Openat(int(dir.Fd()), path.Base(p), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// readOnlyMountAt tells whether container path p lies in a read-only
// volume or bind mount (the deepest mount that holds it decides).
func readOnlyMountAt(c *Container, p string) bool {
	p = path.Clean("/" + p)
	best, ro := -1, false
	for _, mp := range c.Mounts {
		dst := path.Clean("/" + mp.Destination)
		if p != dst && !strings.HasPrefix(p, strings.TrimSuffix(dst, "/")+"/") {
			continue
		}
		if n := len(dst); n > best {
			best, ro = n, !mp.RW && mp.Type != mount.TypeTmpfs
		}
	}
	return ro
}

// inWritableMount tells whether container path p lies in a writable
// volume or bind mount, which a read-only rootfs does not make read-only.
func inWritableMount(c *Container, p string) bool {
	p = path.Clean("/" + p)
	for _, mp := range c.Mounts {
		dst := path.Clean("/" + mp.Destination)
		if mp.RW && (p == dst || strings.HasPrefix(p, strings.TrimSuffix(dst, "/")+"/")) {
			return true
		}
	}
	return false
}
