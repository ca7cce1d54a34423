package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// withRoot gives fn a host path to the container's filesystem: the live
// root (with its mounts) when running, else a temporary rootfs mount with
// the container's volumes and bind mounts on it.
func (d *Daemon) withRoot(ctx context.Context, name string, fn func(c *Container, root string) error) error {
	c, err := d.containers.get(name)
	if err != nil {
		return err
	}
	if pid := c.pid(); pid > 0 {
		return fn(c, fmt.Sprintf("/proc/%d/root", pid))
	}
	root, release, err := d.mountArchiveRoot(ctx, c)
	if err != nil {
		return err
	}
	defer release()
	return fn(c, root)
}

func notFoundInContainer(err error, path string, c *Container) error {
	if errdefs.IsNotFound(err) {
		return errdefs.NotFound(fmt.Errorf("Could not find the file %s in container %s", path, c.Name[1:]))
	}
	return err
}

// ContainerStatPath answers HEAD /containers/{id}/archive.
func (d *Daemon) ContainerStatPath(ctx context.Context, name, path string) (st *container.PathStat, err error) {
	err = d.withRoot(ctx, name, func(c *Container, root string) error {
		st, err = archive.Stat(ctx, root, path)
		return notFoundInContainer(err, path, c)
	})
	return st, err
}

// ContainerArchive answers GET /containers/{id}/archive with a tar stream.
// The rootfs stays mounted until the stream is closed.
func (d *Daemon) ContainerArchive(ctx context.Context, name, path string) (io.ReadCloser, *container.PathStat, error) {
	c, err := d.containers.get(name)
	if err != nil {
		return nil, nil, err
	}
	root := ""
	release := func() {}
	if pid := c.pid(); pid > 0 {
		root = fmt.Sprintf("/proc/%d/root", pid)
	} else {
		if root, release, err = d.mountArchiveRoot(ctx, c); err != nil {
			return nil, nil, err
		}
	}
	rc, st, err := archive.TarPath(ctx, root, path)
	if err != nil {
		release()
		return nil, nil, notFoundInContainer(err, path, c)
	}
	d.emit(c, events.ActionArchivePath, map[string]string{"path": path})
	return &releaseCloser{ReadCloser: rc, release: release}, st, nil
}

type releaseCloser struct {
	io.ReadCloser
	release func()
}

func (r *releaseCloser) Close() error {
	err := r.ReadCloser.Close()
	r.release()
	return err
}

// ContainerExtract answers PUT /containers/{id}/archive.
func (d *Daemon) ContainerExtract(ctx context.Context, name string, opts engine.ArchiveOptions, content io.Reader) error {
	return d.withRoot(ctx, name, func(c *Container, root string) error {
		if readOnlyMountAt(c, opts.Path) {
			return errVolumeReadonly
		}
		if c.HostConfig.ReadonlyRootfs && !inWritableMount(c, opts.Path) {
			return errdefs.Forbidden(errors.New("container rootfs is marked read-only"))
		}
		if err := archive.Extract(ctx, root, opts.Path, content, opts.NoOverwriteDirNonDir, opts.CopyUIDGID); err != nil {
			return notFoundInContainer(err, opts.Path, c)
		}
		d.emit(c, events.ActionExtractToDir, map[string]string{"path": opts.Path})
		return nil
	})
}
